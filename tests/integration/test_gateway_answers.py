"""Answers API Gateway gives itself, as the local stack emulates them from template.yaml: the SPEC
error shape and the CORS header, so a browser SDK can read them (issue 15)."""

from __future__ import annotations

import json

from countersign_dev.emulation import template as tpl
from countersign_dev.emulation.gateway import GatewayResponses
from tests.support.local import LocalApi, error_shape_problem

BROWSER = {"Origin": "https://shop.example"}


def test_an_unknown_path_is_404_in_the_spec_shape_with_cors(local: LocalApi) -> None:
    reply = local.call("GET", "/v2/nothing/here", headers=BROWSER)
    assert reply.status == 404
    assert error_shape_problem(404, reply.body) is None and reply.error_code == "not_found"
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


def test_a_body_over_api_gateways_limit_is_413_in_the_spec_shape_with_cors(local: LocalApi) -> None:
    reply = local.call("POST", "/v1/apps/app_x/events", data=b"x" * (10 * 1024 * 1024 + 1), headers=BROWSER)
    assert reply.status == 413
    assert error_shape_problem(413, reply.body) is None and reply.error_code == "payload_too_large"
    assert reply.headers["Access-Control-Allow-Origin"] == "*"


def test_the_emulation_reads_every_answer_from_the_template() -> None:
    gateway = GatewayResponses.from_template(tpl.load_template())
    status, headers, body = gateway.answer("THROTTLED")
    assert status == 429 and headers["Retry-After"] == ["1"] and headers["Access-Control-Allow-Origin"] == ["*"]
    assert error_shape_problem(429, json.loads(body)) is None
    status, headers, body = gateway.answer("DEFAULT_5XX", status=502)  # a function that crashed
    assert status == 502 and b'"service_unavailable"' in body and headers["Access-Control-Allow-Origin"] == ["*"]
    without = GatewayResponses({})  # no GatewayResponses: API Gateway's own {"message"} answers
    assert without.answer("MISSING_AUTHENTICATION_TOKEN")[0] == 403
