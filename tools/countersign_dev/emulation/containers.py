"""Lambda execution environments on this machine: one OS process per container.

Lambda runs each request in an execution environment (a "container") that serves one request at
a time and is a process of its own, so module and class state - clients, caches, and the
Powertools resolver's current event, which is a class attribute - is never shared between
concurrent requests. The local stack does the same:

    zygote = Zygote()                                    # early: it imports the libraries
    functions = Functions(zygote, specs, environments)   # from template.yaml
    answer = functions.invoke("IngestFunction", event)   # what the handler returned

`invoke` takes the function's most recently used idle container, or starts a new one when every
container is busy (up to `CONTAINERS_PER_FUNCTION`, then it waits for one to be free), sends it
the event and returns the handler's answer. A handler that raises, hangs (no answer within
HUNG_AFTER_SECONDS), answers over Lambda's 6 MB response limit or kills its process raises
`InvocationError` (API Gateway answers 502); a
container that hung or died is thrown away, as Lambda does.

Cold starts stay cheap: containers are forked from a zygote process that has already imported
the heavy third-party libraries. Each container then sets its function's environment and imports
the layer and the handler itself - Lambda's init phase - so nothing the function's own code
creates at import is shared either. The zygote is a fresh interpreter, single-threaded, so
forking it is safe (forking the multi-threaded stack would not be).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

from countersign_dev.emulation import template as tpl
from countersign_dev.emulation.provision import ACCOUNT_ID, REGION

#: Concurrent requests each function serves locally (its warm execution environments at most).
CONTAINERS_PER_FUNCTION = 8

# What the zygote imports once so that containers fork with it loaded. Only a speed-up: a module
# not listed is imported by each container itself. Our own code is never preloaded - it reads the
# function's environment at import.
_PRELOAD = (
    "boto3",
    "botocore.session",
    "botocore.client",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.tracing",
    "aws_xray_sdk.core",
    "jwt",
    "cryptography.hazmat.primitives.asymmetric.rsa",
    "pydantic",
    "requests",
)
#: Lambda's limit on a synchronous invocation's response payload (6 MB): over it, a 502.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
#: Seconds without an answer after which a container is presumed hung, killed and replaced (502).
#: Deliberately above any function's `Timeout`: moto serialises every AWS call and the machine's
#: CPUs are shared, so a request that takes 2 s on Lambda can take several times that here; the
#: handler still sees the template's `Timeout` in its context.
HUNG_AFTER_SECONDS = 60.0


class InvocationError(Exception):
    """The function failed (raised, timed out or died): Lambda's "Unhandled" error."""


class Zygote:
    """A process that has imported the libraries and forks a container on request."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self._control = ours
        self._lock = threading.Lock()
        code = f"from countersign_dev.emulation.containers import _zygote_main; _zygote_main({theirs.fileno()})"
        # Its stdout and stderr are ours, so containers log where the stack logs.
        self._process = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL
        )
        theirs.close()

    def fork(self, spec: tpl.FunctionSpec, environment: Mapping[str, str]) -> tuple[int, Connection]:
        """A new container of `spec`'s function: its pid and the connection to it."""
        ours, theirs = socket.socketpair()
        # The environment goes resolved, apart from the spec (whose copy holds template nodes).
        payload = pickle.dumps((replace(spec, environment={}), dict(environment)))
        with self._lock:
            socket.send_fds(self._control, [len(payload).to_bytes(4, "big")], [theirs.fileno()])
            self._control.sendall(payload)
            pid = int.from_bytes(_receive_exactly(self._control, 4), "big")
        theirs.close()
        return pid, Connection(ours.detach())

    def stop(self) -> None:
        self._control.close()  # the zygote exits when its control connection ends
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)


@dataclass(eq=False)
class _Container:
    pid: int
    connection: Connection
    name: str
    # A handle on the process itself: a signal through it can never reach a later owner of the pid.
    pidfd: int = -1

    def discard(self) -> None:
        """Close its connection (it exits at the end of it) and kill it in case it is stuck."""
        self.connection.close()
        if self.pidfd >= 0:
            with suppress(ProcessLookupError):  # it may have exited already
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            os.close(self.pidfd)
            self.pidfd = -1


@dataclass
class _Pool:
    spec: tpl.FunctionSpec
    environment: dict[str, str]
    size: int
    idle: list[_Container] = field(default_factory=list)
    busy: list[_Container] = field(default_factory=list)
    starting: int = 0
    free: threading.Condition = field(default_factory=threading.Condition)


class Functions:
    """Every function of the template, each with its pool of containers."""

    def __init__(
        self,
        zygote: Zygote,
        specs: Mapping[str, tpl.FunctionSpec],
        environments: Mapping[str, Mapping[str, str]],
        *,
        containers_per_function: int = CONTAINERS_PER_FUNCTION,
        hung_after_seconds: float = HUNG_AFTER_SECONDS,
    ) -> None:
        self._zygote = zygote
        self._hung_after = hung_after_seconds
        # A container's environment is the stack's (endpoint, credentials) plus its function's.
        self._pools = {
            name: _Pool(spec, {**os.environ, **environments.get(name, {})}, containers_per_function)
            for name, spec in specs.items()
        }
        self._stopped = False

    @property
    def names(self) -> list[str]:
        return list(self._pools)

    def warm(self, *, skip: Collection[str] = ()) -> None:
        """Start one container per function (but those in `skip`) now, in parallel, so first requests are warm."""

        def start(name: str) -> None:
            with self._container(name):
                pass

        names = [name for name in self._pools if name not in skip]
        with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
            list(pool.map(start, names))

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Run `event` through `function`'s handler in one of its containers; its answer."""
        answer: dict[str, Any] = self._request(function, "invoke", event)
        return answer

    def openapi(self, function: str, **options: Any) -> str | None:
        """The OpenAPI document of `function`'s resolver (`app`), or None when it has none."""
        document: str | None = self._request(function, "openapi", options)
        return document

    def stop(self) -> None:
        """Stop every container: idle ones now, busy ones (a hung handler) killed too."""
        self._stopped = True
        for pool in self._pools.values():
            with pool.free:
                containers = [*pool.idle, *pool.busy]
                pool.idle, pool.busy = [], []
                pool.free.notify_all()
            for container in containers:
                container.discard()

    # --------------------------------------------------------------------------------------------

    def _request(self, function: str, kind: str, payload: Any) -> Any:
        with self._container(function) as container:
            container.connection.send((kind, payload))
            outcome, value = _receive(container, self._hung_after)
        if outcome != "ok":  # the handler raised: its container stays warm, as on Lambda
            raise InvocationError(f"{function}: {value}")
        return value

    @contextmanager
    def _container(self, function: str) -> Iterator[_Container]:
        """Lend an idle container (or a new one) for one request; a broken one is not returned."""
        pool = self._pools[function]
        container = self._acquire(pool)
        healthy = False
        try:
            yield container
            healthy = True
        finally:
            keep = healthy and not self._stopped
            with pool.free:
                if container in pool.busy:
                    pool.busy.remove(container)
                if keep:
                    pool.idle.append(container)
                pool.free.notify()
            if not keep:
                container.discard()

    def _acquire(self, pool: _Pool) -> _Container:
        with pool.free:
            while not pool.idle and len(pool.busy) + pool.starting >= pool.size:
                pool.free.wait()
            if pool.idle:
                container = pool.idle.pop()  # the warmest: sequential requests reuse one container
                pool.busy.append(container)
                return container
            pool.starting += 1
        try:
            container = self._start(pool)
        finally:
            with pool.free:
                pool.starting -= 1
                pool.free.notify()
        with pool.free:
            pool.busy.append(container)
        return container

    def _start(self, pool: _Pool) -> _Container:
        pid, connection = self._zygote.fork(pool.spec, pool.environment)
        container = _Container(pid, connection, f"{pool.spec.logical_id} container {pid}")
        try:
            # Opened at once, while the new process is still importing its handler.
            container.pidfd = os.pidfd_open(pid)
            outcome, detail = _receive(container, HUNG_AFTER_SECONDS)
        except (InvocationError, OSError):
            container.discard()
            raise
        if outcome != "ready":
            container.discard()
            raise InvocationError(f"{container.name}: init failed: {detail}")
        return container


def _receive(container: _Container, timeout: float) -> tuple[str, Any]:
    """The container's next message; InvocationError when it hangs or dies (it is then discarded)."""
    try:
        if not container.connection.poll(timeout):
            raise InvocationError(f"{container.name}: no answer within {timeout:.0f} s (presumed hung)")
        outcome, value = container.connection.recv()
    except (EOFError, OSError) as error:
        raise InvocationError(f"{container.name}: the container process exited") from error
    return str(outcome), value


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the connection ended")
        data += chunk
    return data


# ------------------------------------------------------------------------------ the zygote's side


def _zygote_main(control_fd: int) -> None:
    """Import the libraries, then fork one container per request until the stack goes away."""
    # Ctrl-C in a terminal reaches the whole process group; the stack stops us by closing the socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the containers
    for module in _PRELOAD:
        with suppress(ImportError):
            __import__(module)
    control = socket.socket(fileno=control_fd)
    while True:
        try:
            header, fds, _, _ = socket.recv_fds(control, 4, 1)
            if len(header) != 4 or len(fds) != 1:
                return  # the stack closed the connection
            payload = _receive_exactly(control, int.from_bytes(header, "big"))
            spec, environment = pickle.loads(payload)  # noqa: S301 - from the stack, over a socketpair
        except (OSError, EOFError):
            return
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _container_main(spec, environment, Connection(fds[0]))
        os.close(fds[0])
        control.sendall(pid.to_bytes(4, "big"))


def _container_main(spec: tpl.FunctionSpec, environment: dict[str, str], connection: Connection) -> None:
    """A container's life: init (import the handler), one request at a time until closed; exits."""
    code = 0
    try:
        _serve(spec, environment, connection)
    except BaseException:  # noqa: BLE001 - whatever happens, this process must not return to the zygote's loop
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve(spec: tpl.FunctionSpec, environment: dict[str, str], connection: Connection) -> None:
    os.environ.clear()
    os.environ.update(environment)
    try:
        module = import_handler_module(spec, environment)
        handler = getattr(module, spec.handler)
    except Exception as error:  # noqa: BLE001 - an init error fails the invocation, as on Lambda
        traceback.print_exc()
        connection.send(("init_error", f"{type(error).__name__}: {error}"))
        return
    connection.send(("ready", None))
    while True:
        try:
            kind, payload = connection.recv()
        except (EOFError, OSError):
            return
        try:
            if kind == "invoke":
                answer = handler(payload, LambdaContext(spec.logical_id, spec.timeout, spec.memory_mb))
                _check_response_size(answer)
            else:
                app = getattr(module, "app", None)
                answer = None if app is None else app.get_openapi_json_schema(**payload)
        except Exception as error:  # noqa: BLE001 - Lambda reports it; API Gateway answers 502
            traceback.print_exc()
            connection.send(("error", f"{type(error).__name__}: {error}"))
            continue
        connection.send(("ok", answer))


def _check_response_size(answer: Any) -> None:
    """Lambda's limit on a synchronous invocation's response, measured as its runtime writes the
    answer (json.dumps: non-ASCII escaped, the proxy body's quotes and backslashes escaped again).
    Over it, Lambda fails the invocation and API Gateway answers 502: so does the local stack."""
    size = len(json.dumps(answer).encode("utf-8"))
    if size > MAX_RESPONSE_BYTES:
        raise ResponseTooLarge(
            f"Response payload size ({size} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
        )


class ResponseTooLarge(Exception):
    """Lambda's Function.ResponseSizeTooLarge: the answer is over MAX_RESPONSE_BYTES."""


class LambdaContext:
    """The parts of the Lambda context object Powertools reads."""

    def __init__(self, function_name: str, timeout: float = 10, memory_mb: int = 512) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_import_lock = threading.Lock()


def import_handler_module(spec: tpl.FunctionSpec, env: Mapping[str, str]) -> Any:
    """Import a function's handler file under its own name, with its environment applied.

    Module-level objects (Powertools Logger/Metrics, configuration) read the environment when
    imported, exactly as in a Lambda container. In-process tests use this too (one container).
    """
    import importlib.util

    path = spec.code_dir / f"{spec.module}.py"
    with _import_lock, _environment(env):
        name = f"countersign_function_{spec.logical_id}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise tpl.TemplateError(f"cannot load {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    # Shared values (tables, key, limits) stay in the process environment for lazily-read config.
    os.environ.update({k: v for k, v in env.items() if k != "POWERTOOLS_SERVICE_NAME"})
    return module


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
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
