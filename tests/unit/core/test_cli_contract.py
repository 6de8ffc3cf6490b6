"""One targeting rule, distinct exit statuses, and an example in every --help (SPEC 5, issue 26 item 4)."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import pytest

from countersign_dev.cli import build_parser, main

TOKEN = "csa_" + "t" * 43
#: The commands that talk to a stack, and what a target option of each must be.
TARGETED = {
    ("settings", "get"), ("settings", "set"), ("keys", "list"), ("keys", "create"), ("keys", "reveal"),
    ("keys", "revoke"), ("jwks-uri", "test"), ("jwks-uri", "save"), ("raw-events",), ("diagnostics",),
    ("coverage",), ("apps", "create"), ("apps", "rotate-token"), ("apps", "limits"),
    ("upgrade", "index-receipts"), ("lake", "ls"), ("lake", "events"), ("lake", "sessions"), ("lake", "sql"),
    ("lake", "redrive"), ("demo",),
}  # fmt: skip
TARGET_OPTIONS = {"--local", "--api", "--stack", "--state-dir", "--region"}


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_leaves(sub, (*path, name)))
    return found or {path: parser}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


@pytest.fixture
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COUNTERSIGN_API_URL", "COUNTERSIGN_APP_ID", "COUNTERSIGN_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def _closed_port() -> int:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return int(unused.getsockname()[1])


def test_every_command_has_an_example_in_its_help() -> None:
    leaves = _leaves(build_parser())
    missing = [" ".join(path) for path, parser in leaves.items() if "example: countersign" not in (parser.epilog or "")]
    assert missing == []


def test_every_command_that_talks_to_a_stack_takes_the_same_target_options() -> None:
    leaves = _leaves(build_parser())
    assert set(leaves) >= TARGETED
    different = {" ".join(path): sorted(TARGET_OPTIONS - _options(leaves[path])) for path in TARGETED}
    assert {path: missing for path, missing in different.items() if missing} == {}
    stack_wide = {("apps", "create"), ("upgrade", "index-receipts"), ("lake", "redrive")}
    with_app = TARGETED - stack_wide
    assert [" ".join(path) for path in with_app if "--app" not in _options(leaves[path])] == []


def test_no_target_is_a_usage_error(capsys: pytest.CaptureFixture[str], no_environment: None) -> None:
    assert main(["keys", "list"]) == 2
    err = capsys.readouterr().err
    assert "choose a target" in err and "COUNTERSIGN_API_URL" in err and err.count("\n") == 1


def test_a_target_the_command_cannot_use_is_a_usage_error_naming_those_it_can(
    capsys: pytest.CaptureFixture[str], no_environment: None
) -> None:
    assert main(["apps", "rotate-token", "--app", "app_x", "--api", "https://api.example.com"]) == 2
    err = capsys.readouterr().err
    assert "cannot use --api" in err and "--local" in err and "--stack" in err


def test_the_environment_stands_in_for_api_and_app(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_environment: None
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("COUNTERSIGN_API_URL", url)
    monkeypatch.setenv("COUNTERSIGN_APP_ID", "app_0123456789abcdef")
    monkeypatch.setenv("COUNTERSIGN_ADMIN_TOKEN", TOKEN)
    assert main(["keys", "list"]) == 1  # it went to the API the environment names (nobody listens)
    assert f"cannot reach {url}" in capsys.readouterr().err
    monkeypatch.delenv("COUNTERSIGN_APP_ID")
    assert main(["keys", "list"]) == 2
    assert "needs --app APP" in capsys.readouterr().err


def test_a_missing_admin_token_is_an_authentication_failure(
    capsys: pytest.CaptureFixture[str], no_environment: None
) -> None:
    assert main(["keys", "list", "--api", "https://api.example.com", "--app", "app_x"]) == 3
    assert "COUNTERSIGN_ADMIN_TOKEN" in capsys.readouterr().err


def test_a_missing_state_file_says_to_start_the_stack(
    capsys: pytest.CaptureFixture[str], tmp_path: object, no_environment: None
) -> None:
    assert main(["keys", "list", "--local", "--state-dir", str(tmp_path)]) == 1
    assert "make dev" in capsys.readouterr().err


def test_one_version_for_the_package_the_layer_and_the_api() -> None:
    from importlib.metadata import version

    from countersign_dev.devtools.openapi import schema_options

    assert version("countersign-tools") == version("countersign-verification") == "1.0.0"
    assert schema_options()["version"] == "1.0.0"
    # The browser SDK too: its package, the VERSION it puts in every event's context, and the served build.
    sdk = Path(__file__).parents[3] / "sdk" / "browser"
    assert json.loads((sdk / "package.json").read_text())["version"] == "1.0.0"
    assert 'export const VERSION = "1.0.0";' in (sdk / "src" / "countersign.js").read_text()
    served = Path(__file__).parents[3] / "functions" / "web" / "static" / "sdk" / "countersign.js"
    assert '"1.0.0"' in served.read_text()
