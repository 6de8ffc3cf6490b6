"""A full scenario of one application, through any transport, collecting every secret it handles.

Used to prove that secrets, tokens and admin tokens never reach a log (SPEC 4): the tests run it
against the local stack (reading its local.log) and in-process (capturing every log record), then
search the logs for each value in `Secrets.values`.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from tests.support.tokens import hs256_token, with_nonce

#: (method, path, JSON body or None, admin token or None) -> (status, parsed body)
Call = Callable[[str, str, Any, str | None], tuple[int, Any]]

CONFIRM = {"confirmation": "I understand"}


@dataclass
class Secrets:
    """Everything secret the scenario used: none of it may appear in a log."""

    values: list[str] = field(default_factory=list)

    def add(self, *values: str) -> None:
        for value in values:
            self.values.append(value)
            signature = value.rsplit(".", 1)[1] if value.count(".") == 2 else ""
            if signature:  # a signed JWT: its signature alone is as secret as the whole
                self.values.append(signature)
            elif value.startswith("css_"):  # a signing secret, also in the encodings a log might use
                self.values.append(base64.b64encode(value.encode()).decode())
                self.values.append(value.encode().hex())


def run_scenario(call: Call, app_id: str, token: str, other_token: str) -> Secrets:
    """Settings, keys (create, reveal, revoke), HS256 and unsigned sessions, events, errors."""
    secrets = Secrets()
    secrets.add(token, other_token)
    base = f"/v1/apps/{app_id}"

    def ok(method: str, suffix: str, body: Any = None, *, admin: bool = True, status: int = 200) -> Any:
        answer_status, answer = call(method, base + suffix, body, token if admin else None)
        assert answer_status == status, (method, suffix, answer_status, answer)
        return answer

    ok("GET", "/settings")
    ok("PATCH", "/settings", {"useSignedMetadata": True})
    keys = [ok("POST", "/keys", {"description": f"server {index}"}, status=201)["keyName"] for index in range(2)]
    revealed = [ok("POST", f"/keys/{name}/reveal")["secret"] for name in keys]
    secrets.add(*revealed)
    ok("GET", "/keys")

    def signed(secret: str, **claims: Any) -> str:
        value = hs256_token(with_nonce(claims), secret)
        secrets.add(value)
        return value

    visitor = {"id": "v-scenario", "email": "someone@example.com"}
    session = ok(
        "POST",
        "/sessions",
        {"jwt": signed(revealed[0], visitor=visitor), "signingKeyName": keys[0]},
        admin=False,
        status=201,
    )
    now = int(time.time() * 1000)
    events = [{"type": "page_view", "timestamp": now, "insertId": "scenario-1"}]
    ok("POST", "/events", {"sessionId": session["sessionId"], "events": events}, admin=False)
    update = {"jwt": signed(revealed[0], visitor={"id": "v-scenario", "plan": "pro"}), "signingKeyName": keys[0]}
    ok("PATCH", f"/sessions/{session['sessionId']}", update, admin=False)

    wrong_secret = "css_" + uuid.uuid4().hex + "-not-the-secret"
    secrets.add(wrong_secret)
    bad_signature = {"jwt": signed(wrong_secret, visitor=visitor), "signingKeyName": keys[0]}
    ok("POST", "/sessions", bad_signature, admin=False, status=401)
    ok(
        "POST",
        "/sessions",
        {"jwt": signed(revealed[1], visitor=visitor), "signingKeyName": "key_unknown00000"},
        admin=False,
        status=401,
    )
    expired = {"jwt": signed(revealed[0], visitor=visitor, exp=int(time.time()) - 3600), "signingKeyName": keys[0]}
    ok("POST", "/sessions", expired, admin=False, status=401)
    unsigned_token = jwt.encode({"nonce": "n", "visitor": visitor}, None, algorithm="none")
    secrets.add(unsigned_token)
    ok("POST", "/sessions", {"jwt": unsigned_token, "signingKeyName": keys[0]}, admin=False, status=401)

    anonymous = ok("POST", "/sessions", {"metadata": {"visitor": {"id": "v-unsigned"}}}, admin=False, status=201)
    ok(
        "POST",
        "/events",
        {"sessionId": anonymous["sessionId"], "events": [{"type": "tap", "timestamp": now}]},
        admin=False,
    )
    ok("POST", f"/keys/{keys[1]}/revoke")
    ok("POST", f"/keys/{keys[1]}/reveal", status=409)

    # Admin errors: another application's token, a well-formed token that is nobody's, no token.
    assert call("GET", base + "/settings", None, other_token)[0] == 403
    stranger = "csa_" + uuid.uuid4().hex + uuid.uuid4().hex[:11]
    secrets.add(stranger)
    assert call("GET", base + "/keys", None, stranger)[0] == 401
    assert call("GET", base + "/diagnostics", None, None)[0] == 401

    # JWKS URIs: only the host is ever logged, never a path or userinfo.
    private_path = "private-path-" + uuid.uuid4().hex
    password = "pw-" + uuid.uuid4().hex
    secrets.add(private_path, password)
    ok("POST", "/jwks-uri/test", {"uri": f"https://192.0.2.1/{private_path}/jwks.json"}, status=422)
    ok("POST", "/jwks-uri/test", {"uri": f"https://user:{password}@192.0.2.1/jwks.json"}, status=422)

    ok("GET", "/raw-events", None)
    ok("GET", "/diagnostics", None)
    ok("PATCH", "/settings", {"onlyAllowSignedMetadata": True, **CONFIRM})
    ok("PATCH", "/settings", {"onlyAllowSignedMetadata": False})
    return secrets


#: Log lines the scenario must produce, so that a capture that saw nothing cannot pass.
EXPECTED_IN_LOGS = ("signing key action", "session started", "dropped", "jwks uri test", "settings changed")
