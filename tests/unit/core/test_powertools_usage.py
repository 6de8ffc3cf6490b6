"""Issue 22 item 5: every log line of the functions goes through the Powertools logger (JSON with
the invocation's keys), and nothing reads Powertools' private attributes outside one wrapper."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(
    [*(ROOT / "layers" / "verification" / "countersign").rglob("*.py"), *(ROOT / "functions").glob("*/app.py")]
)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_shipped_module_logs_with_the_standard_library_logger(path: Path) -> None:
    tree = ast.parse(path.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "logging" not in imported, "log through aws_lambda_powertools.Logger (child=True), not logging"


#: The Powertools version `api.route_path_parameters` was checked against (its private `_route_args`).
CHECKED_POWERTOOLS = "3.37.0"


def test_only_the_one_wrapper_reads_powertools_private_route_args() -> None:
    readers = [path for path in SHIPPED if "_route_args" in path.read_text()]
    assert readers == [ROOT / "layers" / "verification" / "countersign" / "api.py"]
    source = readers[0].read_text()
    wrapper = source[source.index("def route_path_parameters") :]
    assert source.count("_route_args") == wrapper[: wrapper.index("\ndef ", 1)].count("_route_args")


def test_the_wrapper_is_pinned_to_the_powertools_version_it_was_checked_against() -> None:
    """A Powertools upgrade fails here first: check that `_route_args` still holds the matched
    route's parameters, then move CHECKED_POWERTOOLS (and the pins in constraints.txt and the
    layer's requirements.txt) together."""
    from importlib.metadata import version

    assert version("aws_lambda_powertools") == CHECKED_POWERTOOLS
    pins = {(ROOT / name).read_text() for name in ("constraints.txt", "layers/verification/requirements.txt")}
    assert all(f"=={CHECKED_POWERTOOLS}" in pin for pin in pins)


def test_the_wrapper_gives_the_matched_routes_parameters_to_a_middleware() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from countersign.api import route_path_parameters

    app = APIGatewayRestResolver()
    seen: list[dict[str, str]] = []

    def capture(resolver: APIGatewayRestResolver, next_middleware: Any) -> Any:
        seen.append(route_path_parameters(resolver))
        return next_middleware(resolver)

    @app.get("/v1/apps/<appId>/things/<thing>", middlewares=[capture])
    def thing(appId: str, thing: str) -> dict[str, str]:
        return {"appId": appId, "thing": thing}

    event = {
        "resource": "/v1/apps/{appId}/things/{thing}",
        "path": "/v1/apps/app_1/things/t%201",
        "httpMethod": "GET",
        "headers": {},
        "pathParameters": {"appId": "decoded-by-the-gateway", "thing": "t 1"},
        "requestContext": {"identity": {"sourceIp": "192.0.2.1"}, "stage": "api"},
        "body": None,
    }
    answer = app.resolve(event, None)  # type: ignore[arg-type]
    assert answer["statusCode"] == 200
    assert seen == [{"appId": "app_1", "thing": "t%201"}]  # what the route itself receives
