"""Secrets never leave (SPEC 4), in-process: every log record of a full scenario, at DEBUG.

The functions' Powertools loggers are turned to DEBUG (what `LogLevel=DEBUG` does when deployed)
and their output captured as written, with every record that reaches the root logger and
everything printed to stdout (metrics); none of the scenario's secrets, tokens or admin tokens may
appear anywhere in it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from countersign_dev.emulation import template as tpl
from tests.support.scenario import EXPECTED_IN_LOGS, run_scenario
from tests.support.world import World


class _EveryRecord(logging.Handler):
    """Keeps every attribute of every record (message, extras, exception text)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = json.dumps({name: str(value) for name, value in vars(record).items()})
        if record.exc_info:
            text += self.format(record)
        self.lines.append(text)


@contextlib.contextmanager
def every_log_line() -> Iterator[list[str]]:
    """Capture, while the block runs, all the functions' logs at DEBUG and all of stdout."""
    powertools = [
        found
        for found in logging.root.manager.loggerDict.values()
        if isinstance(found, logging.Logger) and hasattr(found, "powertools_handler")
    ]
    assert powertools, "no Powertools logger: import the handlers first"
    stream, stdout, everything = io.StringIO(), io.StringIO(), _EveryRecord()
    saved: list[tuple[logging.Logger, int, Any]] = []
    root_level = logging.root.level
    for found in powertools:
        handler = found.powertools_handler  # type: ignore[attr-defined]
        saved.append((found, found.level, handler.setStream(stream)))
        found.setLevel(logging.DEBUG)
        found.addHandler(everything)
    logging.root.addHandler(everything)
    logging.root.setLevel(logging.INFO)
    lines: list[str] = []
    try:
        with contextlib.redirect_stdout(stdout):
            yield lines
    finally:
        logging.root.removeHandler(everything)
        logging.root.setLevel(root_level)
        for found, level, old_stream in saved:
            found.setLevel(level)
            found.removeHandler(everything)
            found.powertools_handler.setStream(old_stream)  # type: ignore[attr-defined]
        lines += stream.getvalue().splitlines() + stdout.getvalue().splitlines() + everything.lines


def test_no_secret_token_or_admin_token_reaches_any_log(world: World) -> None:
    for function in tpl.functions(world.template):
        world.handler(function)  # imported, as warm containers would be, before logging is captured
    app, other = world.create_app(), world.create_app()

    def call(method: str, path: str, body: Any, token: str | None) -> tuple[int, Any]:
        return world.request(method, path, body=body, token=token)

    with every_log_line() as lines:
        secrets = run_scenario(call, app["appId"], app["adminToken"], other["adminToken"])
    log = "\n".join(lines)
    for marker in EXPECTED_IN_LOGS:
        assert marker in log, f"the capture holds no {marker!r} line"
    assert [value for value in secrets.values if value in log] == []
