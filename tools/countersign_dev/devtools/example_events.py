"""Write example API Gateway events into events/ (how the files there were made).

    .venv/bin/python -m countersign_dev.devtools.example_events \\
        '[["settings-get", "GET", "/v1/apps/{appId}/settings", "/v1/apps/app_0123456789abcdef/settings"]]'

Each spec is [file stem, method, resource, path, body (or null), with admin token (default true),
query string (default "")]. Events address the example application of events/README.md; fixed
request ids and times keep the files stable.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from countersign_dev.emulation import template as tpl
from countersign_dev.emulation.local_stack import proxy_event

EXAMPLE_ADMIN_TOKEN = "csa_example-admin-token-for-events-0000000000000"  # noqa: S105 - documented example
API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"


def write_event(
    name: str, method: str, resource: str, path: str, body: Any = None, auth: bool = True, query: str = ""
) -> None:
    routes = {(r.method, r.resource): r for r in tpl.routes(tpl.load_template())}
    route = routes.get((method, resource)) or routes[("ANY", resource)]
    headers = [("Host", API_HOST), ("User-Agent", "curl/8.5.0"), ("Accept", "application/json")]
    if body is not None:
        headers.append(("Content-Type", "application/json"))
    if auth:
        headers.append(("Authorization", f"Bearer {EXAMPLE_ADMIN_TOKEN}"))
    params = route.match(path) or {}
    payload = json.dumps(body).encode() if body is not None else b""
    event = proxy_event(route, method, path, query, headers, payload, params, "203.0.113.10")
    context = event["requestContext"]
    context["requestId"] = context["extendedRequestId"] = f"example-{name}"
    context["requestTime"], context["requestTimeEpoch"] = "21/Nov/2026:00:00:00 +0000", 1795219200000
    context["domainName"], context["apiId"] = API_HOST, "abc123"
    (tpl.REPO_ROOT / "events" / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")


def main(argv: list[str]) -> int:
    for spec in json.loads(argv[0]):
        write_event(*spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
