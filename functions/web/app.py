"""Web function: the browser SDK (SPEC 8) and the admin console's files (SPEC 7), served as they are.

Only files listed in the manifest built at import from `static/` can be answered: a request path
is a key looked up in that dictionary, never joined to a directory, so no path can reach a file
outside it. The serving rules (content types, caching, security headers) live in `countersign.static_files`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign.api import ADMIN_BODY_LIMIT, make_resolver
from countersign.observability import logger, metrics
from countersign.static_files import Site

app = make_resolver(admin=False, max_body_bytes=ADMIN_BODY_LIMIT)
site = Site.from_directory(Path(__file__).resolve().parent / "static")


def _if_none_match() -> str | None:
    return app.current_event.headers.get("if-none-match") or app.current_event.headers.get("If-None-Match")


def _answer(name: str) -> Response[Any]:
    # HEAD: the same status and headers as GET, no body (a CDN or a link checker asks so).
    head = app.current_event.http_method == "HEAD"
    return site.answer(name, if_none_match=_if_none_match(), head=head)


# Module scripts are fetched with CORS: SDK files carry `Access-Control-Allow-Origin: *` themselves.
@app.route("/sdk/<file>", ["GET", "HEAD"], cors=False, include_in_schema=False)
def sdk_file(file: str) -> Response[Any]:
    return _answer(f"sdk/{file}")


@app.route("/console", ["GET", "HEAD"], cors=False, include_in_schema=False)
def console_index() -> Response[Any]:
    return _answer("console/index.html")


# `.+`: a console asset path may have several segments (/console/{proxy+} in the template).
@app.route("/console/.+", ["GET", "HEAD"], cors=False, include_in_schema=False)
def console_asset() -> Response[Any]:
    return _answer(app.current_event.path.removeprefix("/"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
