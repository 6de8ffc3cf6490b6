"""What every function's HTTP surface shares: the Powertools resolver with its body limit, admin
authorization, error mapping and reading the request (JSON body, query parameters).

Admin authorization is middleware in this layer, not an API Gateway authorizer: see README,
"Architecture".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from countersign import container, snapstart, tenancy
from countersign.admin_tokens import hash_admin_token, looks_like_admin_token
from countersign.errors import ApiError
from countersign.observability import logger, metrics
from countersign.store.control import control_store
from countersign.strict_json import MAX_BODY_DEPTH, BodyRefused, request_body
from countersign.ttl_cache import TtlCache

# Every handler imports this module: its SnapStart hooks are registered with Lambda's runtime here.
snapstart.register()

#: Body limits per function kind (API Gateway's own limit is 10 MB).
ADMIN_BODY_LIMIT = 16 * 1024
INGEST_BODY_LIMIT = 1024 * 1024


class CountersignResolver(APIGatewayRestResolver):
    """Powertools' REST resolver that refuses a body over `max_body_bytes` before any route runs
    (so before admin authorization too): the limit is part of the resolver, not of each handler."""

    def __init__(self, *, max_body_bytes: int, cors: CORSConfig) -> None:
        super().__init__(cors=cors)
        self.max_body_bytes = max_body_bytes
        #: The methods of each API Gateway resource ("/v1/apps/{appId}/sessions") this resolver
        #: routes, as its routes declare them: what a 405's Allow header lists (RFC 9110 15.5.6).
        self.methods_by_resource: dict[str, set[str]] = {}

    def route(self, rule: str, method: str | list[str] | tuple[str], *args: Any, **kwargs: Any) -> Any:
        resource = re.sub(r"<(\w+)>", r"{\1}", rule)
        methods = self.methods_by_resource.setdefault(resource, set())
        methods.update(m.upper() for m in ([method] if isinstance(method, str) else method))
        if kwargs.get("cors", args[0] if args else None) is not False:
            methods.add("OPTIONS")  # the CORS preflight Powertools answers for this route
        return super().route(rule, method, *args, **kwargs)

    def allowed_methods(self, resource: str) -> str:
        """The Allow header's value for `resource`: its methods, comma-separated, sorted."""
        return ", ".join(sorted(self.methods_by_resource.get(resource, set())))

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        if len(_body_bytes_or_empty(event)) > self.max_body_bytes:
            error = ApiError("payload_too_large", f"The request body is larger than {self.max_body_bytes} bytes.")
            return {
                "statusCode": error.status,
                "headers": {"Content-Type": content_types.APPLICATION_JSON, "Access-Control-Allow-Origin": "*"},
                "body": json.dumps(error.body()),
                "isBase64Encoded": False,
            }
        return super().resolve(event, context)


def make_resolver(*, admin: bool, max_body_bytes: int) -> CountersignResolver:
    """A REST resolver with SPEC error mapping and a body limit; admin resolvers check the bearer
    token first. A function's `lambda_handler` is then only `app.resolve(event, context)`."""
    app = CountersignResolver(
        max_body_bytes=max_body_bytes,
        # Browsers may read Retry-After and Date only if exposed: the SDK waits at least Retry-After
        # (SPEC 8) and corrects a wrong client clock by the API's Date (issue 21).
        cors=CORSConfig(
            allow_origin="*",
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After", "Date"],
            max_age=600,
        ),
    )

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response[str]:
        if error.status >= 500:
            metrics.add_metric(name="DependencyFailures", unit=MetricUnit.Count, value=1)
        return error_response(error)

    @app.not_found
    def _no_route(_: NotFoundError) -> Response[str]:
        # API Gateway only sends a function the paths it declares (every path also has an ANY
        # method), so a path we were given without a matching route is a wrong method.
        resource = app.current_event.resource or ""
        if resource and "{proxy+}" not in resource:
            return error_response(ApiError("method_not_allowed"), Allow=app.allowed_methods(resource))
        return error_response(ApiError("not_found"))

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        # A bug must still answer in the SPEC's shape, never with a traceback.
        logger.exception("unhandled error")
        return Response(
            status_code=500,
            content_type=content_types.APPLICATION_JSON,
            body=json.dumps({"error": {"code": "internal_error", "message": "Something went wrong on our side."}}),
        )

    def _rate_limit(app: APIGatewayRestResolver, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
        # Per-application limits (SPEC 4, countersign.tenancy): every request passes the door and,
        # on SDK routes, its client's share; SDK routes count their verified requests themselves.
        app_id = route_path_parameters(app).get("appId")
        if app.current_event.http_method == "OPTIONS" or not app_id:
            return next_middleware(app)
        if not admin:
            tenancy.admit(app_id, "sdk", client=app.current_event.request_context.identity.source_ip)
            return next_middleware(app)
        tenancy.admit(app_id, "admin")
        try:
            response = next_middleware(app)
        except ApiError as error:
            if error.status < 500:  # a dependency failure is not the application's doing
                tenancy.count_request(app_id, "admin", {}, best_effort=True)
            raise
        tenancy.count_request(app_id, "admin", {}, best_effort=True)
        return response

    app.use(middlewares=[_require_admin, _rate_limit] if admin else [_rate_limit])
    return app


def error_response(error: ApiError, **headers: str) -> Response[str]:
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(error.body()),
        headers={**error.headers(), **headers},
    )


def json_response(status: int, body: Any) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


#: How long an admin token hash that owns no application is answered 401 without a read. Safe:
#: tokens are 256 random bits, so none is looked up before it is issued.
UNKNOWN_TOKEN_TTL_SECONDS = 5.0


def _require_admin(app: APIGatewayRestResolver, next_middleware: Callable[..., Response[Any]]) -> Response[Any]:
    event = app.current_event
    if event.http_method == "OPTIONS":  # CORS preflight carries no credentials
        return next_middleware(app)
    token = _bearer_token(event.headers.get("authorization") or event.headers.get("Authorization"))
    if token is None:
        raise ApiError("unauthorized")
    token_hash = hash_admin_token(token)
    if _unknown_tokens().get_or_load(token_hash, lambda: False):
        raise ApiError("unauthorized")
    # Each lookup of a token that owns nothing costs a read: a client collecting them is bounded.
    client = event.request_context.identity.source_ip
    tenancy.admit_client(client)
    owner = control_store().app_id_for_admin_token(token_hash)
    if owner is None:
        _unknown_tokens().put(token_hash, True)
        tenancy.note_refusal(client)
        raise ApiError("unauthorized")
    if owner != route_path_parameters(app).get("appId"):
        raise ApiError("forbidden")
    logger.append_keys(app_id=owner)
    return next_middleware(app)


def route_path_parameters(app: APIGatewayRestResolver) -> dict[str, str]:
    """The path parameters the matched route receives (`appId`, ...), as the resolver parsed them
    from the path; API Gateway's decoded pathParameters where no route matched (the 405 answer).

    The one place that reads Powertools' private `_route_args` (the resolver offers no public
    accessor to middlewares): tests/unit/core/test_powertools_usage.py pins it to the installed
    Powertools version and checks what it returns.
    """
    route_args = app.context.get("_route_args")
    return dict(route_args or app.current_event.path_parameters or {})


def _bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not looks_like_admin_token(token):
        return None
    return token


def json_body(app: APIGatewayRestResolver, *, max_depth: int = MAX_BODY_DEPTH) -> dict[str, Any]:
    """The request body as a JSON object, or 400 invalid_json (the rules: `countersign.strict_json`;
    `max_depth` is wider only where the route bounds the depth of each part itself)."""
    try:
        return request_body(body_bytes(app.current_event.raw_event), max_depth=max_depth)
    except BodyRefused as refusal:
        raise ApiError("invalid_json", str(refusal) or None) from refusal


def optional_json_body(app: APIGatewayRestResolver) -> dict[str, Any]:
    """The body of a route that takes none by default (revoke): its JSON object, or {} for no body or
    anything else, which such a route ignores as it always did."""
    try:
        return json_body(app)
    except ApiError:
        return {}


def body_bytes(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ApiError("invalid_json") from error
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else b""


def path_param(app: APIGatewayRestResolver, name: str, routed: str) -> str:
    """A path parameter as API Gateway decoded it (`pathParameters`): the resolver's own capture
    (`routed`) is still percent-encoded, so an id with `@` or a space would not match itself."""
    return (app.current_event.path_parameters or {}).get(name) or routed


def query_param(app: APIGatewayRestResolver, name: str) -> str | None:
    return (app.current_event.query_string_parameters or {}).get(name)


def _body_bytes_or_empty(event: Mapping[str, Any]) -> bytes:
    try:
        return body_bytes(event)
    except ApiError:
        return b""


@lru_cache(maxsize=1)
def _unknown_tokens() -> TtlCache[bool]:
    return TtlCache(UNKNOWN_TOKEN_TTL_SECONDS, max_entries=10_000)


container.on_reset(_unknown_tokens.cache_clear)
