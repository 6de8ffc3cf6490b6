"""The local stack: moto server (DynamoDB, KMS, S3, SQS) and an API Gateway emulation on loopback.

Everything is read from template.yaml: tables and the KMS key are created from their resource
definitions, each request is routed to the handler the template declares for its path and method,
and each function gets the environment the template gives it (Refs resolved to the local names).
DataTable's stream feeds the export function as its event source mapping says (stream_poller.py).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from countersign_dev import template as tpl
from countersign_dev.faults import SdkFaults
from countersign_dev.gateway import GatewayResponses
from countersign_dev.provision import ACCOUNT_ID, REGION, provision
from countersign_dev.stream_poller import start_stream_pollers

STAGE = "api"
# API Gateway's own payload limit; our functions apply the SPEC's smaller limits themselves.
GATEWAY_BODY_LIMIT = 10 * 1024 * 1024
OPENAPI_PATH = "/openapi.json"
#: Concurrent requests each function serves locally (its warm execution environments).
CONTAINERS_PER_FUNCTION = 8

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


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
        }


class LocalStack:
    """Start with `start()`, stop with `stop()` (or use as a context manager)."""

    def __init__(self, options: LocalOptions) -> None:
        self.options = options
        self.template = tpl.load_template()
        self.routes = tpl.routes(self.template)
        self.gateway = GatewayResponses.from_template(self.template)
        # Per function, a pool of "containers": each a separate import of the handler module that
        # serves one request at a time, as a Lambda execution environment does (the Powertools
        # resolver keeps the current event on the app object, so sharing one across threads is wrong).
        self.containers: dict[str, queue.Queue[Handler]] = {}
        self.modules: dict[str, ModuleType] = {}
        self._moto: Any = None
        self._http: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stream_pollers: list[Any] = []
        self.state: LocalState | None = None
        self.faults = SdkFaults(options.sdk_fault_rate, options.fault_seed) if options.sdk_fault_rate else None

    # lifecycle ---------------------------------------------------------------------------------

    def start(self) -> LocalState:
        endpoint = self._start_moto()
        self._set_process_environment(endpoint)
        refs, attrs, names = self._provision(endpoint)
        self._load_functions(refs, attrs)
        self._stream_pollers = start_stream_pollers(
            self.template, refs, attrs, _emulation_clients(endpoint), self._call
        )
        api_url = self._start_http()
        self.state = LocalState(
            api_url=api_url,
            aws_endpoint_url=endpoint,
            region=REGION,
            control_table=names["control"],
            data_table=names["data"],
            kms_key_id=names["kms"],
            export_bucket=refs["ExportBucket"],
            export_dead_letter_queue=refs["ExportDeadLetterQueue"],
        )
        self.state.demo_app = create_app(self.state, "Demo application")
        self._write_state_file()
        return self.state

    def stop(self) -> None:
        for poller in self._stream_pollers:
            poller.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._moto is not None:
            self._moto.shutdown()
            self._moto.server_close()
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
        for spec in tpl.functions(self.template).values():
            env = {key: tpl.resolve(value, refs, attrs) for key, value in spec.environment.items()}
            pool: queue.Queue[Handler] = queue.Queue()
            for instance in range(CONTAINERS_PER_FUNCTION):
                module = import_handler_module(spec, env, instance=instance)
                pool.put(getattr(module, spec.handler))
                self.modules.setdefault(spec.logical_id, module)
            self.containers[spec.logical_id] = pool
            _service_logger(env.get("POWERTOOLS_SERVICE_NAME"))

    # HTTP --------------------------------------------------------------------------------------

    def _start_http(self) -> str:
        stack = self

        class Handler(_GatewayRequestHandler):
            local_stack = stack

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

    def invoke(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, list[str]], bytes]:
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
            event = proxy_event(route, method, path, parts.query, headers, body, params, source_ip)
            try:
                result = self._call(route.function, event)
            except Exception:  # noqa: BLE001 - an unhandled error is a Lambda failure: API Gateway says 502
                traceback.print_exc()
                return self.gateway.answer("DEFAULT_5XX", status=502)
            return fault.answer() if fault else _http_response(result)
        return self.gateway.answer("MISSING_AUTHENTICATION_TOKEN")

    def _call(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        pool = self.containers[function]
        handler = pool.get()  # waits while every container of the function is busy
        try:
            return handler(event, LambdaContext(function))
        finally:
            pool.put(handler)

    def openapi(self) -> dict[str, Any]:
        """The API's OpenAPI document (countersign_dev.openapi) with this stack's URL."""
        from countersign_dev.openapi import document

        return {**document(self.modules.values()), "servers": [{"url": self.state.api_url if self.state else ""}]}


_MALFORMED_LENGTH = json.dumps(
    {"error": {"code": "invalid_request", "message": "The Content-Length header is not a non-negative integer."}}
).encode()


class _GatewayServer(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of SDK clients would be reset by the
    # kernel before a thread could accept them.
    request_queue_size = 128
    daemon_threads = True


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class _GatewayRequestHandler(BaseHTTPRequestHandler):
    local_stack: LocalStack
    protocol_version = "HTTP/1.1"
    server_version = "countersign-local"

    def _dispatch(self) -> None:
        declared = (self.headers.get("Content-Length") or "0").strip()
        length = int(declared) if declared.isascii() and declared.isdigit() else -1
        if length < 0:
            # The HTTP front end refuses such a request before API Gateway routes it.
            status, headers, body = 400, {"Content-Type": ["application/json"]}, _MALFORMED_LENGTH
            self.close_connection = True
        elif length > GATEWAY_BODY_LIMIT:
            status, headers, body = self.local_stack.gateway.answer("REQUEST_TOO_LARGE")
            self.close_connection = True
        else:
            payload = self.rfile.read(length) if length else b""
            status, headers, body = self.local_stack.invoke(
                self.command, self.path, list(self.headers.items()), payload, self.client_address[0]
            )
        self.send_response(status)
        for name, values in headers.items():
            if name.lower() in {"content-length", "connection", "transfer-encoding"}:
                continue
            for value in values:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        if not self.local_stack.options.quiet:
            sys.stderr.write(f"[api] {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")


class LambdaContext:
    """The parts of the Lambda context object Powertools reads."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + 10

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


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


_import_lock = threading.Lock()


def _emulation_clients(endpoint: str) -> Callable[[str], Any]:
    import boto3

    return lambda service: boto3.client(service, endpoint_url=endpoint, region_name=REGION)  # type: ignore[call-overload]


def _service_logger(service: str | None) -> None:
    """Give a function's service the Powertools logger it has on Lambda.

    The layer's modules log through child loggers named `<service>.<module>`. On Lambda every
    function is its own process whose first import creates the `<service>` logger; here the layer
    is imported once for all functions, so without this the lines of every function but the first
    (sessions started, drops, ...) would have no handler and be lost.
    """
    if service:
        from aws_lambda_powertools import Logger

        Logger(service=service)


def import_handler_module(spec: tpl.FunctionSpec, env: dict[str, str], *, instance: int = 0) -> ModuleType:
    """Import a function's handler file under a unique name, with its own environment applied.

    Module-level objects (Powertools Logger/Metrics, configuration) read the environment when
    imported, exactly as in a Lambda container; the values every function shares stay set.
    """
    path = spec.code_dir / f"{spec.module}.py"
    with _import_lock, _environment(env):
        name = f"countersign_function_{spec.logical_id}_{instance}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise tpl.TemplateError(f"cannot load {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    # Shared values (tables, key, limits) stay in the process environment for lazily-read config.
    os.environ.update({k: v for k, v in env.items() if k != "POWERTOOLS_SERVICE_NAME"})
    return module


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
    )
