"""Every route fuzzed from the generated OpenAPI document, and junk on every route, over HTTP (SPEC 3).

The local stack serves the document of the whole API at /openapi.json (a local-only path, not part
of the API and not fuzzed); schemathesis turns each operation's parameters and request body schema
(`countersign.openapi_schemas`) into Hypothesis strategies, in positive mode (what the schema
allows) and negative mode (what it does not), with a valid admin token and the fuzzed
application's own id, and without one. Whatever is sent, the API must answer: never a 5xx, never a
traceback in the stack's log, every 4xx in SPEC's error shape with a code of the one table, and
every documented answer matching its schema.

`make test` runs a bounded number of examples per operation and mode (FUZZ_EXAMPLES, default 5:
about 260 requests), derandomized so that CI is reproducible; `make fuzz` runs the same test
deeper with fresh random data each time (FUZZ_RANDOM=1), which is where new findings come from.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from countersign.strict_json import SDK_BODY_DEPTH_GUARD
from countersign_dev.admin_api import api_session
from tests.support.local import LocalApi, error_shape_problem
from tests.support.routes import APP_PREFIX, app_routes, body_routes

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
FUZZ_RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
BODY_ROUTES = body_routes()  # the routes whose documented request body is required


@dataclass(frozen=True)
class Target:
    """The fuzzed application: its id and token, a key and a session the fuzzer may aim at."""

    app_id: str
    token: str
    key_name: str
    session_id: str

    def path(self, template: str) -> str:
        return (
            "/v1/apps/"
            + self.app_id
            + template.replace("{keyName}", self.key_name).replace("{sessionId}", self.session_id)
        )


@pytest.fixture(scope="module")
def target(local: LocalApi) -> Target:
    app = local.create_app("fuzzed")
    base, token = f"/v1/apps/{app['appId']}", app["adminToken"]
    assert local.call("PATCH", base + "/settings", json_body={"useSignedMetadata": True}, token=token).status == 200
    key = local.call("POST", base + "/keys", json_body={"description": "fuzz"}, token=token).body
    session = local.call("POST", base + "/sessions", json_body={"metadata": {"visitor": {"id": "v"}}}).body
    return Target(app["appId"], token, key["keyName"], session["sessionId"])


@pytest.fixture(scope="module")
def operations(local: LocalApi) -> list[Any]:
    document = local.call("GET", "/openapi.json").body
    schema = schemathesis.openapi.from_dict(document)
    found = [result.ok() for result in schema.get_all_operations()]
    return [operation for operation in found if operation.path != "/openapi.json"]


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """The CLI's session: a 429 from the shared application's busy second is waited out, so each
    check sees the answer to its junk (the rate limiter has its own tests)."""
    with api_session() as session:
        yield session


def test_the_document_describes_every_route(operations: list[Any]) -> None:
    routes = {(operation.method.upper(), operation.path.removeprefix(APP_PREFIX)) for operation in operations}
    assert routes == set(app_routes()) and routes >= BODY_ROUTES  # every route template.yaml declares
    for operation in operations:
        raw = operation.definition.raw
        key = (operation.method.upper(), operation.path.removeprefix(APP_PREFIX))
        if key in BODY_ROUTES:
            assert raw["requestBody"]["content"]["application/json"]["schema"]["type"] == "object", key
        sdk = key[1].startswith(("/sessions", "/events"))
        assert raw["security"] == ([] if sdk else [{"adminToken": []}]), key
        error = raw["responses"]["503"]["content"]["application/json"]["schema"]
        assert error["required"] == ["error"], key


@pytest.mark.parametrize("authorized", [True, False], ids=["with-admin-token", "without-admin-token"])
def test_fuzz_every_route(
    local: LocalApi, target: Target, operations: list[Any], http: requests.Session, authorized: bool
) -> None:
    mark = local.log_mark()
    sent: Counter[str] = Counter()

    def send(case: Any, aim: bool) -> None:
        # Aim at the real application (its id, key and session) or keep the generated values.
        params = case.path_parameters
        if (authorized or aim) and "appId" in params:
            params["appId"] = target.app_id
        if authorized and aim:
            params.update(
                {k: v for k, v in (("keyName", target.key_name), ("sessionId", target.session_id)) if k in params}
            )
            if isinstance(case.body, dict) and "sessionId" in case.body:
                case.body["sessionId"] = target.session_id
        headers = {"Authorization": f"Bearer {target.token}"} if authorized else None
        response = case.call(base_url=local.url, session=http, headers=headers, timeout=30)
        sent[f"{case.method} {case.path}"] += 1
        status = response.status_code
        assert status < 500, (status, response.text[:500])
        if status >= 400:
            problem = error_shape_problem(status, response.json())
            assert problem is None, (case.method, case.formatted_path, problem)
        case.validate_response(response, checks=[response_schema_conformance, status_code_conformance])

    for operation in operations:
        for mode in MODES:
            run_examples(operation.as_strategy(generation_mode=mode), send)

    # Hypothesis may stop early on a small search space, never on these bodies.
    assert sum(sent.values()) >= len(operations) * len(MODES) * FUZZ_EXAMPLES * 3 // 4, sent
    assert len(sent) == len(operations), sent
    log = local.log_since(mark)
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 : log.index("Traceback") + 3000]


def run_examples(strategy: st.SearchStrategy[Any], send: Callable[[Any, bool], None]) -> None:
    @settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=not FUZZ_RANDOM,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, aim=st.booleans())
    def examples(case: Any, aim: bool) -> None:
        send(case, aim)

    examples()


# ---------------------------------------------------------------------------------- junk on every route

JUNK_BODIES: dict[str, bytes] = {
    "empty": b"",
    "invalid-utf8": b'{"description": "\xff\xfe"}',
    "lone-surrogate-escape": b'{"description": "x\\ud800", "type": "\\udfff"}',
    "infinite-number": b'{"version": 1e999, "timestamp": 1e999}',
    "nan": b'{"version": NaN}',
    "huge-integer": b'{"version": ' + b"9" * 5000 + b"}",
    # Past every route's depth bound, POST /events' body guard included (its events have their own).
    "deeply-nested": b'{"a":' * (SDK_BODY_DEPTH_GUARD + 8) + b"1" + b"}" * (SDK_BODY_DEPTH_GUARD + 8),
    "recursion-bomb": b"[" * 15_000,  # under the 16 KiB admin limit, far over any parser stack
    "truncated": b'{"description": "x"',
    "json-string": b'"a string"',
    "json-array": b"[]",
    "nul-bytes": b"\x00\x00\x00",
}


IGNORED_BODY_SAMPLES = ("invalid-utf8", "lone-surrogate-escape", "recursion-bomb")


def _routes(target: Target) -> list[tuple[str, str, bool]]:
    """Every route of the fuzzed application (template.yaml's): (method, path, whether it reads a body)."""
    # Well-formed names of things that do not exist: those routes answer 404 whatever the body.
    unknown = {
        "{keyName}": "key_000000000000",
        "{erasureId}": "er_0000000000000_000000000000",
        "{kind}": "visitors",
        "{subjectId}": "nobody-suppressed",
    }

    def concrete(suffix: str) -> str:
        for parameter, value in unknown.items():
            suffix = suffix.replace(parameter, value)
        return suffix

    return [(method, target.path(concrete(suffix)), (method, suffix) in BODY_ROUTES) for method, suffix in app_routes()]


@pytest.mark.parametrize("junk", JUNK_BODIES)
def test_junk_bodies_on_every_route(local: LocalApi, target: Target, http: requests.Session, junk: str) -> None:
    mark = local.log_mark()
    for method, path, reads_body in _routes(target):
        if not reads_body and junk not in IGNORED_BODY_SAMPLES:
            continue  # a route that takes no body is sent a few junk bodies, not every one
        response = http.request(
            method,
            local.url + path,
            data=JUNK_BODIES[junk],
            headers={"Authorization": f"Bearer {target.token}", "Content-Type": "application/json"},
            timeout=30,
        )
        if reads_body:
            assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_json"), (method, path)
        else:  # GETs, reveal and revoke take no body: the junk is ignored
            assert response.status_code in (200, 404), (method, path, response.status_code)
        if response.status_code >= 400:
            assert error_shape_problem(response.status_code, response.json()) is None
    assert "Traceback" not in local.log_since(mark)


@pytest.mark.parametrize(
    ("method", "suffix", "size", "status"),
    [
        ("PATCH", "/settings", 16 * 1024 + 1, 413),
        ("POST", "/keys", 20_000, 413),
        ("POST", "/jwks-uri/test", 20_000, 413),
        ("POST", "/sessions", 1024 * 1024 + 1, 413),
        ("POST", "/events", 2 * 1024 * 1024, 413),
        ("POST", "/events", 11 * 1024 * 1024, 413),  # over API Gateway's own 10 MB
    ],
)
def test_oversized_bodies_are_413(
    local: LocalApi, target: Target, http: requests.Session, method: str, suffix: str, size: int, status: int
) -> None:
    body = b'{"pad": "' + b"x" * (size - 11) + b'"}'
    response = http.request(
        method, local.url + target.path(suffix), data=body, headers={"Authorization": f"Bearer {target.token}"}
    )
    assert response.status_code == status
    assert error_shape_problem(status, response.json()) is None
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("limit=%C2%B2", 400),  # "²" is a digit to str.isdigit(), not to int()
        ("limit=%D9%A1%D9%A2", 400),  # Arabic-Indic "12"
        ("limit=0", 400),
        ("limit=101", 400),
        ("limit=-1", 400),
        ("limit=1e2", 400),
        ("limit=", 400),
        ("limit=%205", 400),
        ("limit=" + "9" * 4_301, 400),  # past the 4,300 digits int() converts
        ("limit=" + "0" * 4_400 + "7", 200),  # leading zeros: still 7
        ("limit=100", 200),
        ("visitorId=", 400),
        ("visitorId=" + "v" * 257, 400),
        ("visitorId=%00%FF", 200),
        ("visitorId=%F0%9F%98%80&limit=1", 200),
        ("limit=1&limit=2", 200),
    ],
)
def test_junk_queries_on_raw_events(
    local: LocalApi, target: Target, http: requests.Session, query: str, status: int
) -> None:
    response = http.get(
        local.url + target.path("/raw-events") + "?" + query, headers={"Authorization": f"Bearer {target.token}"}
    )
    assert response.status_code == status, response.text
    if status >= 400:
        assert error_shape_problem(status, response.json()) is None


JUNK_PATH_PARAMS = ["a" * 3000, "%00", "..%2F..%2Fsettings", "app_%27%20OR%201%3D1", "%F0%9F%98%80", "APP%23x"]


@pytest.mark.parametrize("junk", JUNK_PATH_PARAMS)
def test_junk_path_parameters(local: LocalApi, target: Target, http: requests.Session, junk: str) -> None:
    auth = {"Authorization": f"Bearer {target.token}"}
    sdk_session = {"metadata": {"visitor": {"id": "v"}}}
    for method, path, body, headers, status, code in [
        ("POST", f"/v1/apps/{junk}/sessions", sdk_session, {}, 404, "app_not_found"),
        (
            "POST",
            f"/v1/apps/{junk}/events",
            {"sessionId": target.session_id, "events": []},
            {},
            404,
            "session_not_found",
        ),
        ("PATCH", f"/v1/apps/{junk}/sessions/{target.session_id}", sdk_session, {}, 404, "session_not_found"),
        ("GET", f"/v1/apps/{junk}/settings", None, auth, 403, "forbidden"),
        ("GET", f"/v1/apps/{junk}/settings", None, {}, 401, "unauthorized"),
        ("POST", target.path(f"/keys/{junk}/reveal"), None, auth, 404, "key_not_found"),
        ("POST", target.path(f"/keys/{junk}/revoke"), None, auth, 404, "key_not_found"),
        ("PATCH", target.path(f"/sessions/{junk}"), sdk_session, {}, 404, "session_not_found"),
    ]:
        response = http.request(method, local.url + path, data=json.dumps(body) if body else None, headers=headers)
        assert response.status_code == status, (method, path[:120], response.text[:300])
        assert error_shape_problem(status, response.json()) is None
        assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer csa_" + "x" * 5000,
        "Bearer csa_\u00e9\u00e9",
        "bearer  csa_notatoken",
        "Bearer csa_a, Bearer csa_b",
        "csa_notatoken",
    ],
)
def test_junk_authorization_headers(
    local: LocalApi, target: Target, http: requests.Session, authorization: str
) -> None:
    response = http.get(local.url + target.path("/settings"), headers={"Authorization": authorization.encode("utf-8")})
    assert response.status_code == 401
    assert error_shape_problem(401, response.json()) is None


def test_wrong_methods_and_unknown_paths(local: LocalApi, target: Target, http: requests.Session) -> None:
    auth = {"Authorization": f"Bearer {target.token}"}
    for method, path, status in [
        ("DELETE", target.path("/settings"), 405),
        ("PUT", target.path("/keys"), 405),
        ("GET", target.path("/sessions"), 405),
        ("DELETE", target.path("/sessions/{sessionId}"), 405),
        ("GET", target.path("/events"), 405),
        ("POST", target.path("/diagnostics"), 405),
        ("GET", target.path("/nothing-here"), 404),
        ("GET", "/v1/apps", 404),
        ("GET", "/", 404),
    ]:
        response = http.request(method, local.url + path, headers=auth)
        assert response.status_code == status, (method, path)
        assert error_shape_problem(status, response.json()) is None
