"""`countersign keygen` and `countersign jwks-serve`: what a customer's side of RS256 needs, locally."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from countersign.errors import ApiError
from countersign.jwks import parse_jwk_set
from countersign.netguard import AddressPolicy, fetch
from countersign_dev.cli import main
from countersign_dev.devtools.jwks_serve import JwksServer, ensure_tls_files


def keygen(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["keygen", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_keygen_writes_a_private_key_and_a_jwks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private, jwks = tmp_path / "keys" / "k1.pem", tmp_path / "jwks.json"
    code, out, _ = keygen(capsys, "--kid", "k1", "--private-key", str(private), "--jwks", str(jwks))
    assert code == 0
    assert json.loads(out) == {"kid": "k1", "privateKey": str(private), "jwks": str(jwks), "bits": 2048}
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    document = json.loads(jwks.read_text())
    assert [key["kid"] for key in document["keys"]] == ["k1"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(document["keys"][0]), "the JWKS holds the public half only"
    assert parse_jwk_set(jwks.read_bytes()).report() == [{"kid": "k1", "kty": "RSA", "alg": "RS256", "bits": 2048}]


def test_a_second_keygen_adds_a_key_for_rotation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jwks = tmp_path / "jwks.json"
    for kid in ("k1", "k2"):
        assert keygen(capsys, "--kid", kid, "--private-key", str(tmp_path / f"{kid}.pem"), "--jwks", str(jwks))[0] == 0
    report = parse_jwk_set(jwks.read_bytes()).report()
    assert [(key["kid"], key["bits"]) for key in report] == [("k1", 2048), ("k2", 2048)]
    # Each private key signs for its own kid: the two public keys differ.
    keys = parse_jwk_set(jwks.read_bytes()).keys
    assert keys["k1"].public_numbers() != keys["k2"].public_numbers()


def test_keygen_refuses_to_overwrite_or_duplicate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private, jwks = tmp_path / "k1.pem", tmp_path / "jwks.json"
    assert keygen(capsys, "--kid", "k1", "--private-key", str(private), "--jwks", str(jwks))[0] == 0
    before = private.read_bytes(), jwks.read_bytes()
    code, _, err = keygen(capsys, "--kid", "k9", "--private-key", str(private), "--jwks", str(jwks))
    assert code == 1 and "refusing to overwrite a private key" in err and "Traceback" not in err
    code, _, err = keygen(capsys, "--kid", "k1", "--private-key", str(tmp_path / "other.pem"), "--jwks", str(jwks))
    assert code == 1 and "already has a key with kid k1" in err
    assert (private.read_bytes(), jwks.read_bytes()) == before
    assert not (tmp_path / "other.pem").exists()


def test_jwks_serve_publishes_the_file_as_it_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jwks = tmp_path / "jwks.json"
    keygen(capsys, "--kid", "k1", "--private-key", str(tmp_path / "k1.pem"), "--jwks", str(jwks))
    tls = ensure_tls_files(tmp_path / "state" / "jwks-tls")
    assert stat.S_IMODE(tls.server_key.stat().st_mode) == 0o600
    policy = AddressPolicy(allow_private_hosts=True, ca_bundle=str(tls.ca_cert))
    with JwksServer(jwks, tls) as server:
        assert server.url.startswith("https://127.0.0.1:") and server.url.endswith("/jwks.json")
        assert [k["kid"] for k in parse_jwk_set(fetch(server.url, policy)).report()] == ["k1"]
        # Rotation: a key added to the file is served on the next request.
        keygen(capsys, "--kid", "k2", "--private-key", str(tmp_path / "k2.pem"), "--jwks", str(jwks))
        well_known = server.url.replace("/jwks.json", "/.well-known/jwks.json")
        assert [k["kid"] for k in parse_jwk_set(fetch(well_known, policy)).report()] == ["k1", "k2"]
        with pytest.raises(ApiError) as other_path:
            fetch(server.url.replace("/jwks.json", "/other"), policy)
        assert other_path.value.code == "jwks_uri_unreachable"
        with pytest.raises(ApiError) as untrusted:
            fetch(server.url, AddressPolicy(allow_private_hosts=True))  # the system store does not know this CA
        assert untrusted.value.code == "jwks_uri_unreachable"


def test_jwks_serve_reuses_its_ca_while_valid(tmp_path: Path) -> None:
    first = ensure_tls_files(tmp_path)
    ca = first.ca_cert.read_bytes()
    assert ensure_tls_files(tmp_path).ca_cert.read_bytes() == ca, "a running local stack keeps trusting it"
    first.server_cert.write_text("not a certificate")
    assert ensure_tls_files(tmp_path).ca_cert.read_bytes() != ca


def test_jwks_serve_user_mistakes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ["jwks-serve", "--jwks", str(tmp_path / "missing.json"), "--state-dir", str(tmp_path)],
        ["jwks-serve", "--jwks", str(tmp_path), "--host", "0.0.0.0"],  # noqa: S104 - the CLI must refuse it
    ):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert err.startswith("countersign: error:") and len(err.strip().splitlines()) == 1, err
