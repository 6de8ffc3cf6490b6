"""Each limit is written once (issue 22): the OpenAPI bounds import the constant the code enforces,
and the few it cannot import cheaply carry a `# module.CONSTANT` note this test checks; messages
that name a limit are tied to it here too."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from countersign import errors, keys, sdk_requests
from countersign import openapi_schemas as doc

SCHEMAS = Path(doc.__file__)
TIE = re.compile(r"#\s*(?P<module>[a-z_]+)\.(?P<name>[A-Z][A-Z0-9_]*)")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def int_literals(path: Path) -> list[tuple[int, int]]:
    """(line, value) of every integer literal in `path` that could be a limit: 2 and up, not an HTTP status."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value >= 2:
            found.append((node.lineno, node.value))
    return [(line, value) for line, value in found if not 400 <= value <= 599]


def test_every_number_in_the_schemas_is_tied_to_the_constant_it_copies() -> None:
    lines = SCHEMAS.read_text().splitlines()
    untied = []
    for line, value in int_literals(SCHEMAS):
        tie = TIE.search(lines[line - 1])
        if tie is None:
            untied.append((line, value, lines[line - 1].strip()))
            continue
        module = importlib.import_module(f"countersign.{tie['module']}")
        assert getattr(module, tie["name"]) == value, (line, lines[line - 1].strip())
    # The only numbers are the ones the schemas cannot import cheaply (keys, reporting, netguard):
    # every other bound is the imported constant itself.
    assert untied == [], untied


def test_the_check_sees_an_untied_number(tmp_path: Path) -> None:
    sample = tmp_path / "schemas.py"
    sample.write_text('A = {"maxLength": 200}\nB = {"maxItems": 5}  # keys.MAX_ACTIVE_KEYS\nC = {404: "x"}\n')
    assert int_literals(sample) == [(1, 200), (2, 5)]
    assert TIE.search(sample.read_text().splitlines()[1]) is not None


def test_the_key_limit_message_names_the_limit() -> None:
    message = errors.ERRORS["key_limit_reached"].message
    assert f" {NUMBER_WORDS[keys.MAX_ACTIVE_KEYS]} active keys" in message


def test_a_key_name_in_a_path_is_read_to_the_length_a_body_may_give() -> None:
    longest = "k" * sdk_requests.MAX_KEY_NAME_CHARS
    assert keys._KEY_NAME_SHAPE.fullmatch(longest) and not keys._KEY_NAME_SHAPE.fullmatch(longest + "k")


@pytest.mark.parametrize("toggle", ["useSignedMetadata", "useRs256SignedMetadata", "onlyAllowSignedMetadata"])
def test_the_settings_schemas_follow_the_settings_object(toggle: str) -> None:
    from countersign.settings import Settings

    assert list(doc.SETTINGS["properties"]) == list(Settings().to_json())
    assert doc.SETTINGS_PATCH["properties"][toggle] == {"type": "boolean"}


CONSOLE = Path(__file__).resolve().parents[3] / "functions" / "web" / "static" / "console"


def test_the_consoles_input_bounds_are_the_apis() -> None:
    from countersign import coverage, erasures, reporting

    page = (CONSOLE / "index.html").read_text()
    for subject_field in ("erase-id", "lift-id"):
        assert re.search(rf'id="{subject_field}"[^>]*maxlength="{erasures.MAX_SUBJECT_ID_CHARS}"', page)
    assert re.search(rf'id="key-description"[^>]*maxlength="{keys.MAX_DESCRIPTION_CHARS}"', page)
    assert re.search(rf'id="raw-visitor"[^>]*maxlength="{reporting.MAX_VISITOR_ID_CHARS}"', page)
    hours = [int(value) for value in re.findall(r'<option value="(\d+)"', page)]
    assert hours and max(hours) == coverage.MAX_HOURS


def test_the_console_takes_the_key_limit_and_the_revoke_impact_from_the_api() -> None:
    script = (CONSOLE / "keys.js").read_text()
    assert "listing.activeKeyLimit" in script and "dryRun: true" in script
    assert not re.search(r"\b5\b|\b24\b", script)  # no copy of the key limit or of the impact window


def test_the_cli_shows_the_key_limit_the_api_answers() -> None:
    from countersign_dev.commands.keys import keys_tables

    assert keys_tables({"activeKeys": [], "revokedKeys": [], "activeKeyLimit": 7}).startswith("Active keys (0 of 7)\n")
    # An API older than activeKeyLimit: no made-up limit.
    assert keys_tables({"activeKeys": [], "revokedKeys": []}).startswith("Active keys (0)\n")


def test_the_cli_help_names_the_limits_the_api_enforces(capsys: pytest.CaptureFixture[str]) -> None:
    from countersign import coverage, reporting
    from countersign_dev.cli import main

    for command, bound in [
        (["keys", "create"], f"1-{keys.MAX_DESCRIPTION_CHARS} characters"),
        (["keys", "create"], f"at most {keys.MAX_ACTIVE_KEYS} active"),
        (["raw-events"], f"1-{reporting.MAX_RAW_EVENTS}, default {reporting.DEFAULT_RAW_EVENTS}"),
        (["coverage"], f"1-{coverage.MAX_HOURS}, default {coverage.DEFAULT_HOURS}"),
    ]:
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert bound in " ".join(capsys.readouterr().out.split()), command


def test_the_console_and_the_docs_wait_out_a_429_as_the_cli_does() -> None:
    """One client policy for a 429 (admin_api): the console's copy and the docs are tied to it."""
    from countersign_dev.admin_api import MAX_RETRY_AFTER_SECONDS, RATE_LIMITED_RETRIES

    script = (CONSOLE / "api.js").read_text()
    assert re.search(rf"^const RATE_LIMITED_RETRIES = {RATE_LIMITED_RETRIES};$", script, re.MULTILINE)
    assert re.search(rf"^const MAX_RETRY_AFTER_SECONDS = {MAX_RETRY_AFTER_SECONDS};$", script, re.MULTILINE)
    docs = Path(__file__).resolve().parents[3] / "docs"
    retries = f"up to {NUMBER_WORDS[RATE_LIMITED_RETRIES]} times"
    cli_doc, console_doc = (" ".join((docs / name).read_text().split()) for name in ("cli.md", "console.md"))
    assert retries in cli_doc and retries in console_doc
    assert f"at most {MAX_RETRY_AFTER_SECONDS} s" in cli_doc and f"at most {MAX_RETRY_AFTER_SECONDS} s" in console_doc
