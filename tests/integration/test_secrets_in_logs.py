"""Secrets never leave (SPEC 4): a full scenario against the local stack, then its whole log searched.

The stack's output (every function's Powertools log lines, metrics and any traceback) is in
`local.log` in its state directory; nothing the scenario used that is secret may be in it.
"""

from __future__ import annotations

from typing import Any

from tests.support.local import LocalApi
from tests.support.scenario import EXPECTED_IN_LOGS, run_scenario


def test_no_secret_token_or_admin_token_reaches_the_stack_log(local: LocalApi, app: dict[str, str]) -> None:
    other = local.create_app("another application")
    mark = local.log_mark()

    def call(method: str, path: str, body: Any, token: str | None) -> tuple[int, Any]:
        reply = local.call(method, path, json_body=body, token=token)
        return reply.status, reply.body

    secrets = run_scenario(call, app["appId"], app["adminToken"], other["adminToken"])
    log = local.log_since(mark)
    for marker in EXPECTED_IN_LOGS:
        assert marker in log, f"the log holds no {marker!r} line: is it captured at all?"
    assert app["appId"] in log  # log lines carry the application, just not its secrets
    assert [value for value in secrets.values if value in log] == []
    assert "Traceback" not in log
