"""The local stack: moto server (DynamoDB, KMS, S3, SQS) and an API Gateway emulation on loopback.

Everything is read from template.yaml: tables and the KMS key are created from their resource
definitions, each request is routed to the handler the template declares for its path and method,
and each function gets the environment the template gives it (Refs resolved to the local names).
DataTable's stream feeds the export function as its event source mapping says (stream_poller.py).

How a request travels, and where to hook in:

- The HTTP front end (`_GatewayRequestHandler`) reads one request as API Gateway's edge does: body
  by Content-Length or chunked, 10 MB at most, request line and headers 10,240 bytes at most, a
  read timeout for silent clients; what it refuses is answered in the SPEC error shape.
- `LocalStack.invoke(method, path, headers, body, source_ip)` routes it like API Gateway; then
  every `LocalStack.gateway_filters` entry sees the routed `GatewayRequest` and may answer in
  the gateway's place (a throttle, an injected fault) by returning (status, headers, body).
- `LocalStack.functions.invoke(function, event)` runs any function of the template (an API
  proxy event, a stream batch, ...) in a container of its own pool: one OS process per
  container, one request at a time, as Lambda does (`countersign_dev.emulation.containers`). It returns
  the handler's answer or raises `InvocationError`; use it for every invocation, so nothing
  runs a handler in this process.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from countersign.errors import ErrorCode
from countersign.numerals import decimal_at_most
from countersign_dev.emulation import template as tpl
from countersign_dev.emulation.containers import Functions, InvocationError, Zygote
from countersign_dev.emulation.faults import SdkFaults
from countersign_dev.emulation.gateway import Answer, GatewayResponses
from countersign_dev.emulation.provision import ACCOUNT_ID, REGION, provision
from countersign_dev.emulation.schedules import scheduled_only, start_schedule_runners
from countersign_dev.emulation.stream_poller import start_stream_pollers

STAGE = "api"
# API Gateway's own limits: payload, and request line plus headers (the functions apply the
# SPEC's smaller body limits themselves).
GATEWAY_BODY_LIMIT = 10 * 1024 * 1024
GATEWAY_HEAD_LIMIT = 10_240
#: Seconds a client connection may stay silent (idle keep-alive, or a stalled request) before
#: the front end closes it, so that silent clients cannot hold its threads.
READ_TIMEOUT_SECONDS = 30.0
OPENAPI_PATH = "/openapi.json"


@dataclass(frozen=True)
class GatewayRequest:
    """A request API Gateway has routed, as a gateway filter sees it (before the integration)."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    route: tpl.Route
    path_parameters: dict[str, str]


#: Answers in API Gateway's place (e.g. 429, an injected 503), or None to let the request through.
GatewayFilter = Callable[[GatewayRequest], Answer | None]


@dataclass
class LocalOptions:
    host: str = "127.0.0.1"
    port: int = 3000
    state_dir: Path = Path(".countersign")
    allow_private_jwks_hosts: bool = False
    jwks_ca_bundle: str | None = None
    quiet: bool = False
    #: Local testing only: the share of SDK requests answered 503/429 or whose answer is lost.
    sdk_fault_rate: float = 0.0
    fault_seed: int | None = None
    read_timeout: float = READ_TIMEOUT_SECONDS


@dataclass
class LocalState:
    api_url: str
    aws_endpoint_url: str
    region: str
    control_table: str
    data_table: str
    kms_key_id: str
    demo_app: dict[str, str] = field(default_factory=dict)
    export_bucket: str = ""
    export_dead_letter_queue: str = ""
    #: The tables of SPEC 6.2: the embedded catalog (SQLite) and the warehouse in the emulation's S3.
    tables: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "apiUrl": self.api_url,
            "awsEndpointUrl": self.aws_endpoint_url,
            "region": self.region,
            "controlTable": self.control_table,
            "dataTable": self.data_table,
            "kmsKeyId": self.kms_key_id,
            "demoApp": self.demo_app,
            "exportBucket": self.export_bucket,
            "exportDeadLetterQueueUrl": self.export_dead_letter_queue,
            "tables": self.tables,
        }


class LocalStack:
    """Start with `start()`, stop with `stop()` (or use as a context manager)."""

    def __init__(self, options: LocalOptions) -> None:
        self.options = options
        self.template = tpl.load_template()
        self.routes = tpl.routes(self.template)
        self.gateway = GatewayResponses.from_template(self.template)
        self.gateway_filters: list[GatewayFilter] = []
        self.functions: Functions | None = None
        self._zygote: Zygote | None = None
        self._moto: Any = None
        self._http: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stream_pollers: list[Any] = []
        self._schedules: list[Any] = []
        self._tables: dict[str, str] = {}
        self.state: LocalState | None = None
        self.faults = SdkFaults(options.sdk_fault_rate, options.fault_seed) if options.sdk_fault_rate else None

    # lifecycle ---------------------------------------------------------------------------------

    def start(self) -> LocalState:
        self._zygote = Zygote()  # it imports the libraries while moto starts and the tables are made
        endpoint = self._start_moto()
        self._set_process_environment(endpoint)
        refs, attrs, names = self._provision(endpoint)
        self._load_functions(refs, attrs)
        assert self.functions is not None
        self._stream_pollers = start_stream_pollers(
            self.template, refs, attrs, _emulation_clients(endpoint), self.functions.invoke
        )
        api_url = self.start_front_end()
        self.state = LocalState(
            api_url=api_url,
            aws_endpoint_url=endpoint,
            region=REGION,
            control_table=names["control"],
            data_table=names["data"],
            kms_key_id=names["kms"],
            export_bucket=refs["ExportBucket"],
            export_dead_letter_queue=refs["ExportDeadLetterQueue"],
            tables=self._tables,
        )
        self.state.demo_app = create_app(self.state, "Demo application")
        self._write_state_file()
        # After the banner's state is written: the first fold waits one (local) period anyway.
        self._schedules = start_schedule_runners(self.template, self.functions.invoke)
        return self.state

    def stop(self) -> None:
        # Every background loop is told first, then each is waited for: a run in progress in one
        # (a fold, an erasure) no longer adds its wait to the others' before Ctrl-C returns.
        for loop in [*self._schedules, *self._stream_pollers]:
            loop.request_stop()
        for runner in self._schedules:
            runner.stop()
        for poller in self._stream_pollers:
            poller.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._moto is not None:
            self._moto.shutdown()
            self._moto.server_close()
        if self.functions is not None:
            self.functions.stop()
        if self._zygote is not None:
            self._zygote.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        state_file = self.options.state_dir / "local.json"
        if self.state is not None and state_file.exists():
            state_file.unlink()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until Ctrl-C (or SIGTERM), then stop everything."""
        # A shell starting us in the background may have set SIGINT to "ignore", which Python
        # keeps; stopping must work however we were started, and `kill` must be as clean.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # moto --------------------------------------------------------------------------------------

    def _start_moto(self) -> str:
        from moto.server import DomainDispatcherApplication, create_backend_app  # type: ignore[attr-defined]
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per moto call is noise
        moto_app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        # moto's in-memory backends are not thread-safe (a transaction deep-copies tables that a
        # concurrent write is changing); one request at a time gives DynamoDB's per-item atomicity.
        def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            with lock:
                return list(moto_app(environ, start_response))

        # A free port: local.json says where it is (awsEndpointUrl).
        self._moto = make_server(self.options.host, 0, serialized, threaded=True)
        self._spawn(self._moto.serve_forever, "moto-server")
        host, bound = self._moto.server_address[:2]  # a str host: we bind to a name, not bytes
        return f"http://{host}:{bound}"

    def _set_process_environment(self, endpoint: str) -> None:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "countersign-local",
                "AWS_SECRET_ACCESS_KEY": "countersign-local",
                # No X-Ray daemon here; logs and metrics still print as they would on Lambda.
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        if self.options.allow_private_jwks_hosts:
            os.environ["ALLOW_PRIVATE_JWKS_HOSTS"] = "true"
        if self.options.jwks_ca_bundle:
            os.environ["JWKS_CA_BUNDLE"] = str(Path(self.options.jwks_ca_bundle).resolve())

    def _provision(self, endpoint: str) -> tuple[dict[str, str], dict[tuple[str, str], str], dict[str, str]]:

        clients = _emulation_clients(endpoint)
        resolved = provision(self.template, clients("dynamodb"), clients("kms"), s3=clients("s3"), sqs=clients("sqs"))
        names = {
            "control": resolved.refs["ControlTable"],
            "data": resolved.refs["DataTable"],
            "kms": resolved.attrs[("SecretsKey", "Arn")],
        }
        return resolved.refs, resolved.attrs, names

    # functions ---------------------------------------------------------------------------------

    def _load_functions(self, refs: dict[str, str], attrs: dict[tuple[str, str], str]) -> None:
        specs = tpl.functions(self.template)
        environments = {
            name: {str(key): tpl.resolve(value, refs, attrs) for key, value in spec.environment.items()}
            for name, spec in specs.items()
        }
        self._local_tables(refs, environments)
        assert self._zygote is not None
        self.functions = Functions(self._zygote, specs, environments)
        # Functions only schedules invoke start with their first run, not with the stack.
        self.functions.warm(skip=scheduled_only(self.template))

    def _local_tables(self, refs: dict[str, str], environments: dict[str, dict[str, str]]) -> None:
        """The tables' catalog is an SQLite file of this run (the emulation's S3 starts empty too)."""
        folder = (self.options.state_dir / "tables").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        catalog = folder / "catalog.db"
        catalog.unlink(missing_ok=True)
        self._tables = {
            "catalog": f"sqlite:///{catalog}",
            "warehouse": f"s3://{refs['ExportBucket']}/tables",
            "namespace": refs.get("TablesDatabase", "countersign"),
        }
        for environment in environments.values():
            if "TABLES_CATALOG" in environment:
                environment.update(
                    TABLES_CATALOG="sql",
                    TABLES_CATALOG_URI=self._tables["catalog"],
                    TABLES_WAREHOUSE=self._tables["warehouse"],
                )

    # HTTP --------------------------------------------------------------------------------------

    def start_front_end(self) -> str:
        """Serve the HTTP front end (start() does; its own tests run it without the rest); its URL."""
        stack = self

        class Handler(_GatewayRequestHandler):
            local_stack = stack
            timeout = stack.options.read_timeout

        self._http = _GatewayServer((self.options.host, self.options.port), Handler)
        self._http.daemon_threads = True
        self._spawn(self._http.serve_forever, "api-gateway")
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _write_state_file(self) -> None:
        assert self.state is not None
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.options.state_dir / "local.json"
        path.write_text(json.dumps(self.state.to_json(), indent=2) + "\n")
        path.chmod(0o600)  # it holds the demo admin token

    def invoke(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str) -> Answer:
        """Route one HTTP request like API Gateway and return (status, headers, body)."""
        parts = urlsplit(raw_path)
        path = parts.path or "/"
        if method == "GET" and path == OPENAPI_PATH:
            return 200, {"Content-Type": ["application/json"]}, json.dumps(self.openapi()).encode()
        if len(body) > GATEWAY_BODY_LIMIT:
            return self.gateway.answer("REQUEST_TOO_LARGE")
        for route in self.routes:
            params = route.match(path)
            if params is None or route.method not in (method, "ANY"):
                continue
            fault = self.faults.pick(method, path) if self.faults else None
            if fault and fault.before_function:
                return fault.answer()
            request = GatewayRequest(method, path, parts.query, headers, body, source_ip, route, params)
            for gateway_filter in self.gateway_filters:
                answer = gateway_filter(request)
                if answer is not None:
                    return answer
            event = proxy_event(route, method, path, parts.query, headers, body, params, source_ip)
            assert self.functions is not None, "start() the stack first"
            try:
                result = self.functions.invoke(route.function, event)
            except InvocationError as error:  # a Lambda failure: API Gateway says 502
                print(f"[api] {method} {path}: {error}", file=sys.stderr, flush=True)
                return self.gateway.answer("DEFAULT_5XX", status=502)
            return fault.answer() if fault else _http_response(result)
        return self.gateway.answer("MISSING_AUTHENTICATION_TOKEN")

    def openapi(self) -> dict[str, Any]:
        """The API's OpenAPI document (countersign_dev.devtools.openapi) with this stack's URL: each
        function's container gives its own routes' part."""
        from countersign_dev.devtools.openapi import merge, schema_options

        assert self.functions is not None, "start() the stack first"
        parts = (self.functions.openapi(function, **schema_options()) for function in self.functions.names)
        merged = merge(json.loads(part) for part in parts if part is not None)
        return {**merged, "servers": [{"url": self.state.api_url if self.state else ""}]}


class _GatewayServer(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of SDK clients would be reset by the
    # kernel before a thread could accept them.
    request_queue_size = 128
    daemon_threads = True


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class _Refused(Exception):
    """The front end refuses the request before routing it; the connection is then closed."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer[0])
        self.answer = answer


def _error(code: ErrorCode, message: str) -> Answer:
    from countersign.errors import ApiError

    error = ApiError(code, message)
    # With the CORS header every gateway answer carries, so a browser SDK can read it.
    headers = {"Content-Type": ["application/json"], "Access-Control-Allow-Origin": ["*"]}
    return error.status, headers, json.dumps(error.body()).encode()


_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


class _GatewayRequestHandler(BaseHTTPRequestHandler):
    """One client connection; `timeout` (the read timeout) is set from the stack's options."""

    local_stack: LocalStack
    protocol_version = "HTTP/1.1"
    server_version = "countersign-local"

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":
            self.send_error(400)
            return False
        # API Gateway's quota counts the request line and the header values.
        if len(self.requestline) + sum(len(value) for value in self.headers.values()) > GATEWAY_HEAD_LIMIT:
            self.send_error(431)
            return False
        return True

    def _dispatch(self) -> None:
        try:
            payload = self._read_body()
        except _Refused as refused:
            self.close_connection = True  # the rest of the body is not read: the connection is lost
            self._answer(*refused.answer)
            return
        headers = list(self.headers.items())
        try:
            answer = self.local_stack.invoke(self.command, self.path, headers, payload, self.client_address[0])
        except Exception:  # noqa: BLE001 - a fault of the emulation itself still gets an answer
            traceback.print_exc()
            answer = 502, {"Content-Type": ["application/json"]}, b'{"message": "Internal server error"}'
        self._answer(*answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

    def _read_body(self) -> bytes:
        """The request body by Content-Length or chunked transfer coding, API Gateway's limit applied."""
        lengths = self.headers.get_all("Content-Length") or []
        transfer = self.headers.get_all("Transfer-Encoding") or []
        if transfer:
            # Both framings at once is how requests are smuggled past a front end: refused.
            if lengths or [coding.strip().lower() for coding in transfer] != ["chunked"]:
                raise _Refused(_error("invalid_request", "Only Transfer-Encoding: chunked, without Content-Length."))
            return _read_chunked(self.rfile, too_large=self.local_stack.gateway.answer("REQUEST_TOO_LARGE"))
        if len(set(lengths)) > 1:
            raise _Refused(_error("invalid_request", "The request has conflicting Content-Length headers."))
        length = decimal_at_most(lengths[0].strip(), GATEWAY_BODY_LIMIT) if lengths else 0
        if length is None:
            raise _Refused(_error("invalid_request", "The Content-Length header is not a non-negative integer."))
        if length > GATEWAY_BODY_LIMIT:
            raise _Refused(self.local_stack.gateway.answer("REQUEST_TOO_LARGE"))
        return self.rfile.read(length) if length else b""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (malformed request, head too large, a method no route has)."""
        if self.request_version in ("", "HTTP/0.9"):
            self.request_version = "HTTP/1.1"  # a status line and headers whatever the client sent
        self.close_connection = True
        if code == 501:  # a method API Gateway has no integration for, on any resource
            answer = self.local_stack.gateway.answer("MISSING_AUTHENTICATION_TOKEN")
        elif code in (414, 431):
            answer = _error("headers_too_large", f"The request line and headers exceed {GATEWAY_HEAD_LIMIT} bytes.")
        else:
            answer = _error("invalid_request", "The HTTP request is malformed.")
        self._answer(*answer)

    def _answer(self, status: int, headers: dict[str, list[str]], body: bytes) -> None:
        self.send_response(status)
        for name, values in headers.items():
            if name.lower() in {"content-length", "connection", "transfer-encoding"}:
                continue
            for value in values:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.local_stack.options.quiet:
            sys.stderr.write(f"[api] {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")


def _read_chunked(rfile: BufferedIOBase, *, too_large: Answer) -> bytes:
    """A chunked request body (RFC 9112 7.1); 413 past API Gateway's limit, 400 when malformed."""
    malformed = _Refused(_error("invalid_request", "The chunked request body is malformed."))
    body = bytearray()
    while True:
        line = rfile.readline(1024)
        size_text = line.split(b";", 1)[0].strip()  # chunk extensions are ignored
        if not line.endswith(b"\n") or not size_text or len(size_text) > 16 or not set(size_text) <= _HEX_DIGITS:
            raise malformed
        size = int(size_text, 16)
        if size == 0:
            break
        if len(body) + size > GATEWAY_BODY_LIMIT:
            raise _Refused(too_large)
        chunk = rfile.read(size)
        if len(chunk) != size or rfile.readline(3) not in (b"\r\n", b"\n"):
            raise malformed
        body += chunk
    for _ in range(100):  # trailer fields, up to the empty line
        if rfile.readline(GATEWAY_HEAD_LIMIT) in (b"\r\n", b"\n", b""):
            return bytes(body)
    raise malformed


def proxy_event(
    route: tpl.Route,
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    params: dict[str, str],
    source_ip: str,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as the deployed API would send it."""
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
    try:
        text: str | None = body.decode("utf-8") if body else None
        is_base64 = False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    now = time.time()
    request_id = str(uuid.uuid4())
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {name: unquote(value) for name, value in params.items()} or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": route.resource,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "domainName": "127.0.0.1",
            "identity": {"sourceIp": source_ip, "userAgent": dict(headers).get("User-Agent")},
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def _http_response(result: dict[str, Any]) -> tuple[int, dict[str, list[str]], bytes]:
    headers: dict[str, list[str]] = {name: [str(value)] for name, value in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = [str(v) for v in values]
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return int(result.get("statusCode", 200)), headers, raw


def _emulation_clients(endpoint: str) -> Callable[[str], Any]:
    import boto3

    return lambda service: boto3.client(service, endpoint_url=endpoint, region_name=REGION)  # type: ignore[call-overload]


def create_app(state: LocalState, name: str) -> dict[str, str]:
    """Create an application on the local stack; returns {"appId", "adminToken"}."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=state.aws_endpoint_url, region_name=state.region)
    from countersign_dev.apps import create_application

    return create_application(client, state.control_table, name)


def read_state(state_dir: Path) -> LocalState:
    """The running local stack's coordinates from DIR/local.json."""
    path = state_dir / "local.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: start the local stack first (make dev)")
    data = json.loads(path.read_text())
    return LocalState(
        api_url=data["apiUrl"],
        aws_endpoint_url=data["awsEndpointUrl"],
        region=data["region"],
        control_table=data["controlTable"],
        data_table=data["dataTable"],
        kms_key_id=data["kmsKeyId"],
        demo_app=data.get("demoApp", {}),
        export_bucket=data.get("exportBucket", ""),
        export_dead_letter_queue=data.get("exportDeadLetterQueueUrl", ""),
        tables=data.get("tables", {}),
    )
