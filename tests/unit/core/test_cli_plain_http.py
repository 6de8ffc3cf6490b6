"""The admin token never travels over plain HTTP except to this machine (issue 21, design
weaknesses): `--api http://...` is refused before any request unless the host is loopback."""

from __future__ import annotations

import socket

import pytest

from countersign_dev.cli import main

TOKEN = "csa_" + "t" * 43


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COUNTERSIGN_ADMIN_TOKEN", TOKEN)
    return TOKEN


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com",
        "http://10.0.0.7:3000",
        "http://192.168.1.2",
        "HTTP://api.example.com/",
        "http://127.0.0.1.example.com",
        "http://localhost.example.com:3000",
        "http://[::ffff:10.0.0.1]:3000",
    ],
)
def test_plain_http_to_another_host_is_refused_before_sending_anything(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, token: str, url: str
) -> None:
    def no_network(*_: object, **__: object) -> None:
        raise AssertionError("the CLI opened a connection")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    code = main(["keys", "list", "--api", url, "--app", "app_x"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1, err
    assert "plain HTTP" in err and "https://" in err and TOKEN not in err


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "[::1]"])
def test_plain_http_to_loopback_is_allowed(capsys: pytest.CaptureFixture[str], token: str, host: str) -> None:
    with socket.socket() as unused:  # a loopback port with nobody listening: refused at once
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    code = main(["keys", "list", "--api", f"http://{host}:{port}", "--app", "app_x"])
    err = capsys.readouterr().err
    assert code != 0 and "cannot reach" in err and "plain HTTP" not in err, err
