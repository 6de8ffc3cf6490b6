"""Function containers of the local stack: one OS process each, one request at a time (as Lambda).

A throw-away handler file stands in for a function, so each Lambda behaviour is shown alone:
state that stays per container, warm reuse, and what a raising, hanging or dying handler costs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from countersign_dev.emulation.containers import MAX_RESPONSE_BYTES, Functions, InvocationError, Zygote
from countersign_dev.emulation.template import FunctionSpec

HANDLER = """
import os, time

class Shared:
    current = None  # a class attribute, like the Powertools resolver's current event

def lambda_handler(event, context):
    action = event["do"]
    if action == "echo":
        Shared.current = event["value"]
        time.sleep(event.get("pause", 0))
        return {"pid": os.getpid(), "value": Shared.current, "env": os.environ.get("ONLY_MINE")}
    if action == "raise":
        raise RuntimeError("handler failed")
    if action == "hang":
        time.sleep(60)
    if action == "exit":
        os._exit(3)
    if action == "answer":  # a proxy answer whose body holds `chars` non-ASCII characters
        return {"statusCode": 200, "body": "\u00e9" * event["chars"]}
    return {"pid": os.getpid(), "remaining": context.get_remaining_time_in_millis()}
"""


@pytest.fixture
def functions(tmp_path: Path) -> Iterator[Functions]:
    (tmp_path / "app.py").write_text(HANDLER)
    specs = {
        name: FunctionSpec(name, tmp_path, "app", "lambda_handler", {}, timeout=1, memory_mb=128)
        for name in ("First", "Second")
    }
    zygote = Zygote()
    environments = {"First": {"ONLY_MINE": "first"}}
    pools = Functions(zygote, specs, environments, containers_per_function=4, hung_after_seconds=2)
    try:
        yield pools
    finally:
        pools.stop()
        zygote.stop()


def test_concurrent_requests_never_see_each_others_class_state(functions: Functions) -> None:
    start = threading.Barrier(8)

    def echo(value: int) -> dict[str, object]:
        start.wait(timeout=30)
        return functions.invoke("First", {"do": "echo", "value": value, "pause": 0.2})

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(echo, range(8)))
    assert [answer["value"] for answer in answers] == list(range(8))
    assert len({answer["pid"] for answer in answers}) == 4, "at most 4 containers, each one request at a time"


def test_sequential_requests_reuse_the_warm_container(functions: Functions) -> None:
    pids = {functions.invoke("First", {"do": "echo", "value": n})["pid"] for n in range(5)}
    assert len(pids) == 1


def test_each_function_has_its_own_environment_and_processes(functions: Functions) -> None:
    first = functions.invoke("First", {"do": "echo", "value": 1})
    second = functions.invoke("Second", {"do": "echo", "value": 2})
    assert (first["env"], second["env"]) == ("first", None)
    assert first["pid"] != second["pid"]


def test_the_context_counts_down_from_the_functions_timeout(functions: Functions) -> None:
    assert 0 < functions.invoke("First", {"do": "time"})["remaining"] <= 1000


def test_a_raising_handler_fails_the_invocation_and_keeps_its_container(functions: Functions) -> None:
    pid = functions.invoke("First", {"do": "echo", "value": 1})["pid"]
    with pytest.raises(InvocationError, match="handler failed"):
        functions.invoke("First", {"do": "raise"})
    assert functions.invoke("First", {"do": "echo", "value": 2})["pid"] == pid


@pytest.mark.parametrize("action", ["hang", "exit"])
def test_a_hung_or_dead_container_is_replaced(functions: Functions, action: str) -> None:
    pid = functions.invoke("First", {"do": "echo", "value": 1})["pid"]
    started = time.monotonic()
    with pytest.raises(InvocationError):
        functions.invoke("First", {"do": action})
    assert time.monotonic() - started < 2 + 3, "hung_after_seconds, with slack"
    assert functions.invoke("First", {"do": "echo", "value": 2})["pid"] != pid
    assert _gone_within(pid, seconds=5), f"container {pid} still runs"


def _gone_within(pid: int, *, seconds: float) -> bool:
    """True once `pid` has exited (gone, or a zombie waiting for its parent) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_an_answer_over_lambdas_6_mb_response_limit_fails_the_invocation_as_lambda_counts_it(
    functions: Functions,
) -> None:
    """The runtime writes the answer as JSON, escaping non-ASCII: 1.1 M "é" are 2.2 MB of UTF-8 but
    6.6 MB on the wire, so Lambda fails the invocation (API Gateway: 502) and so must the stack."""
    escaped = len(json.dumps("\u00e9")) - 2  # bytes per character as the runtime writes it
    under = (MAX_RESPONSE_BYTES - 100) // escaped
    assert functions.invoke("First", {"do": "answer", "chars": under})["statusCode"] == 200
    with pytest.raises(InvocationError, match="exceeded maximum allowed payload size"):
        functions.invoke("First", {"do": "answer", "chars": 1_100_000})
    assert functions.invoke("First", {"do": "echo", "value": 1})["value"] == 1  # the container lives on
