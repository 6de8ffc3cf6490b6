"""`countersign apps rotate-token|limits` for an application that does not exist say so in one
clear line (issue 21, defect 11), not an error class and a code."""

from __future__ import annotations

import secrets

import pytest

from tests.support.local import LocalApi


@pytest.mark.parametrize("command", [["rotate-token"], ["limits"], ["limits", "--sdk", "5"]])
def test_an_unknown_application_is_one_clear_line(local: LocalApi, command: list[str]) -> None:
    app_id = f"app_{secrets.token_hex(8)}"
    result = local.cli(
        "apps", *command, "--app-id", app_id, "--local", "--state-dir", str(local.state_dir), check=False
    )
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr == f"countersign: error: No application {app_id} exists.\n"
