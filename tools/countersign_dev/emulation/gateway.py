"""The answers API Gateway gives itself (no function runs), emulated from template.yaml's
`GatewayResponses`: status, headers and body exactly as the template declares them.

API Gateway picks the response of the answer's type (THROTTLED, REQUEST_TOO_LARGE, ...), else
DEFAULT_4XX / DEFAULT_5XX by status, and keeps the type's own status when the template sets none.
Header values in the template are mapping expressions: static values are quoted ('*').
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from countersign_dev.emulation import template as tpl

#: The status API Gateway gives each answer type the local stack can meet, before any override.
DEFAULT_STATUS = {
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "REQUEST_TOO_LARGE": 413,
    "THROTTLED": 429,
    "BAD_REQUEST_BODY": 400,
    "INTEGRATION_FAILURE": 504,
    "DEFAULT_4XX": 400,
    "DEFAULT_5XX": 500,
}
#: API Gateway's messages, which `$context.error.messageString` quotes.
DEFAULT_MESSAGE = {
    "MISSING_AUTHENTICATION_TOKEN": "Missing Authentication Token",
    "REQUEST_TOO_LARGE": "Request Too Long",
    "THROTTLED": "Too Many Requests",
    "DEFAULT_5XX": "Internal server error",
}

#: (status, headers, body) of an HTTP answer, as the local front end writes it.
Answer = tuple[int, dict[str, list[str]], bytes]


@dataclass(frozen=True)
class GatewayResponse:
    status: int | None  # None: keep the answer type's own status
    headers: dict[str, str]
    body: str | None  # the application/json template; None: API Gateway's {"message": ...}


class GatewayResponses:
    """`answer(kind)` gives what the deployed API answers for a gateway-generated response."""

    def __init__(self, responses: dict[str, GatewayResponse]) -> None:
        self.responses = responses

    @classmethod
    def from_template(cls, template: dict[str, Any]) -> GatewayResponses:
        found = {}
        for api in tpl.resources_of_type(template, "AWS::Serverless::Api").values():
            for kind, spec in api["Properties"].get("GatewayResponses", {}).items():
                headers = spec.get("ResponseParameters", {}).get("Headers", {})
                found[kind] = GatewayResponse(
                    status=int(spec["StatusCode"]) if "StatusCode" in spec else None,
                    headers={name: _static_value(name, value) for name, value in headers.items()},
                    body=spec.get("ResponseTemplates", {}).get("application/json"),
                )
        return cls(found)

    def answer(self, kind: str, *, status: int | None = None) -> Answer:
        """The answer of type `kind`; `status` when the type's own status is another (a 502)."""
        own_status = status or DEFAULT_STATUS[kind]
        fallback = "DEFAULT_5XX" if own_status >= 500 else "DEFAULT_4XX"
        response = self.responses.get(kind) or self.responses.get(fallback)
        message = DEFAULT_MESSAGE.get(kind, DEFAULT_MESSAGE["DEFAULT_5XX"] if own_status >= 500 else "Bad Request")
        if response is None:
            return own_status, {"Content-Type": ["application/json"]}, json.dumps({"message": message}).encode()
        body = (response.body or '{"message": $context.error.messageString}').replace(
            "$context.error.messageString", json.dumps(message)
        )
        headers = {"Content-Type": ["application/json"], **{name: [value] for name, value in response.headers.items()}}
        return response.status or own_status, headers, body.encode()


def _static_value(name: str, value: Any) -> str:
    if not (isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'"):
        raise tpl.TemplateError(f"gateway response header {name} is not a static value ('...'): {value!r}")
    return value[1:-1]
