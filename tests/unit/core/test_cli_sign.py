"""`countersign sign` produces tokens the verification core accepts (HS256 and RS256)."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from countersign import tokens
from countersign_dev.cli import main

SECRET = "css_" + "s" * 43


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HS256 secret where `countersign sign` reads it (never from the command line)."""
    monkeypatch.setenv("COUNTERSIGN_SIGNING_SECRET", SECRET)


def test_hs256_token_verifies_and_carries_a_random_nonce(capsys: pytest.CaptureFixture[str], secret_env: None) -> None:
    code, token, _ = run(capsys, "sign", "--key-name", "key_1", "--visitor-id", "v", "--account-id", "a")
    assert code == 0
    claims = tokens.verify_hs256(token, SECRET.encode())
    assert claims["visitor"] == {"id": "v"} and claims["account"] == {"id": "a"}
    _, again, _ = run(capsys, "sign", "--key-name", "key_1", "--visitor-id", "v")
    assert tokens.verify_hs256(again, SECRET.encode())["nonce"] != claims["nonce"]


def test_session_body_and_claims_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, secret_env: None) -> None:
    claims_file = tmp_path / "claims.json"
    claims_file.write_text(json.dumps({"visitor": {"id": "v", "plan": "pro"}, "nonce": "fixed"}))
    code, out, _ = run(
        capsys, "sign", "--key-name", "key_1", "--claims-file", str(claims_file),
        "--expires-in", "60", "--session-body",
    )  # fmt: skip
    body = json.loads(out)
    assert code == 0 and body["signingKeyName"] == "key_1"
    claims = tokens.verify_hs256(body["jwt"], SECRET.encode())
    assert claims["nonce"] == "fixed" and claims["visitor"]["plan"] == "pro" and "exp" in claims


def test_rs256_token_has_the_kid_and_verifies(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    code, token, _ = run(
        capsys, "sign", "--private-key", str(pem), "--kid", "k-1", "--visitor-id", "", "--account-id", ""
    )
    assert code == 0
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": "k-1", "typ": "JWT"}
    assert tokens.verify_rs256(token, private.public_key())["visitor"] == {"id": ""}


@pytest.mark.parametrize(
    "args",
    [
        ("sign", "--key-name", "k"),
        ("sign", "--secret", SECRET),
        ("sign", "--private-key", "/nonexistent.pem", "--kid", "k"),
        ("sign", "--key-name", "k", "--claims", "[1]"),
    ],
)
def test_mistakes_are_one_line(capsys: pytest.CaptureFixture[str], args: tuple[str, ...]) -> None:
    code, _, err = run(capsys, *args)
    assert code != 0 and err.startswith("countersign: error:") and "\n" not in err


def test_a_short_secret_is_refused_in_one_line_without_a_library_warning(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    monkeypatch.setenv("COUNTERSIGN_SIGNING_SECRET", "too-short")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = run(capsys, "sign", "--key-name", "key_1", "--visitor-id", "v")
    assert code == 1 and out == ""
    assert err.count("\n") == 0 and "at least 32" in err and "Warning" not in err
    assert caught == []


def test_the_secret_can_come_from_the_environment_or_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setenv("COUNTERSIGN_SIGNING_SECRET", SECRET)
    code, token, _ = run(capsys, "sign", "--key-name", "key_1", "--visitor-id", "v")
    assert code == 0 and tokens.verify_hs256(token, SECRET.encode())["visitor"] == {"id": "v"}
    monkeypatch.delenv("COUNTERSIGN_SIGNING_SECRET")
    other = "css_" + "t" * 43
    monkeypatch.setattr("sys.stdin", io.StringIO(other + "\n"))
    code, token, _ = run(capsys, "sign", "--key-name", "key_1", "--secret-stdin", "--visitor-id", "v")
    assert code == 0 and tokens.verify_hs256(token, other.encode())["visitor"] == {"id": "v"}
    code, _, err = run(capsys, "sign", "--key-name", "key_1", "--visitor-id", "v")
    assert code == 1 and "COUNTERSIGN_SIGNING_SECRET" in err


def test_version_and_every_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    from importlib.metadata import version

    from countersign_dev.cli import build_parser

    with pytest.raises(SystemExit) as exit_code:
        main(["--version"])
    assert exit_code.value.code == 0
    assert capsys.readouterr().out.strip() == f"countersign {version('countersign-tools')}"

    def missing_help(parser: argparse.ArgumentParser, path: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    missing += missing_help(sub, f"{path} {name}")
            elif not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        return missing

    assert missing_help(build_parser(), "countersign") == []
