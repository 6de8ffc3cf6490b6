"""`countersign sign` never takes the HS256 secret from the command line (issue 21, design
weaknesses: argv lands in shell history and `ps`): the environment, a file or standard input."""

from __future__ import annotations

from pathlib import Path

import pytest

from countersign import tokens
from countersign_dev.cli import main

SECRET = "css_" + "s" * 43


def test_a_secret_on_the_command_line_is_refused_and_not_echoed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COUNTERSIGN_SIGNING_SECRET", raising=False)
    for argv in (["--secret", SECRET], [f"--secret={SECRET}"]):
        code = main(["sign", "--key-name", "key_1", *argv, "--visitor-id", "v"])
        out, err = capsys.readouterr()
        assert code != 0 and out == "", out
        assert err.count("\n") == 1 and SECRET not in err, err
        assert "COUNTERSIGN_SIGNING_SECRET" in err and "--secret-file" in err


def test_the_secret_comes_from_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    code = main(["sign", "--key-name", "key_1", "--secret-file", str(secret_file), "--visitor-id", "v"])
    token = capsys.readouterr().out.strip()
    assert code == 0 and tokens.verify_hs256(token, SECRET.encode())["visitor"] == {"id": "v"}
