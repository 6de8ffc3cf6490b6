"""The README's walkthroughs, run line for line against a local stack (as a reader on `make dev` would)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from tests.support.local import COUNTERSIGN, REPO_ROOT, LocalApi, running_local_stack, stop

README = REPO_ROOT / "README.md"


def walkthrough(name: str) -> str:
    """The shell block that follows `<!-- walkthrough: NAME -->` in README.md."""
    found = re.search(rf"<!-- walkthrough: {name} -->\s*```sh\n(.*?)```", README.read_text(), re.DOTALL)
    assert found, f"README.md has no walkthrough named {name}"
    return found.group(1)


def run_walkthrough(local: LocalApi, workdir: Path, *names: str) -> str:
    """Run the named README blocks with bash in a directory laid out like the repository."""
    (workdir / ".countersign").mkdir(parents=True, exist_ok=True)
    (workdir / ".countersign" / "local.json").write_text((local.state_dir / "local.json").read_text())
    if not (workdir / ".venv").exists():
        (workdir / ".venv").symlink_to(REPO_ROOT / ".venv")
    env = dict(os.environ)
    if shutil.which("curl") is None:  # a bare machine: the README needs curl, give it a stand-in
        env["PATH"] = f"{REPO_ROOT / 'tests' / 'support' / 'bin'}{os.pathsep}{env['PATH']}"
    script = "set -euo pipefail\n" + "\n".join(walkthrough(name) for name in names)
    result = subprocess.run(
        ["bash", "-c", script], cwd=workdir, capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert result.returncode == 0, f"walkthrough failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def json_documents(output: str) -> list[object]:
    decoder, documents, index = json.JSONDecoder(), [], 0
    while index < len(output):
        if output[index].isspace():
            index += 1
            continue
        document, index = decoder.raw_decode(output, index)
        documents.append(document)
    return documents


def test_hs256_walkthrough(local: LocalApi, tmp_path: Path) -> None:
    output = run_walkthrough(local, tmp_path, "variables", "hs256")
    documents = json_documents(output)
    settings, accepted, raw, diagnostics = documents[0], documents[1], documents[2], documents[3]
    assert isinstance(settings, dict) and settings["useSignedMetadata"] is True
    assert accepted == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert isinstance(raw, dict) and raw["count"] == 2
    assert {e["type"] for e in raw["events"]} == {"page_view", "click"}
    assert all(e["visitorId"] == "visitor-42" and e["verification"]["mode"] == "hs256" for e in raw["events"])
    assert isinstance(diagnostics, dict) and diagnostics["counts"]["accepted"] >= 2


def test_rs256_walkthrough(tmp_path: Path) -> None:
    """Keygen, jwks-serve (on a free port) and a stack with the override, then the README's curl lines."""
    workdir = tmp_path / "repo"
    workdir.mkdir()
    (workdir / ".venv").symlink_to(REPO_ROOT / ".venv")
    keygen = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + walkthrough("rs256-keygen")],
        cwd=workdir, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert keygen.returncode == 0, keygen.stderr
    state = workdir / ".countersign"
    serve = subprocess.Popen(
        [str(COUNTERSIGN), "jwks-serve", "--jwks", ".countersign/rs256/jwks.json", "--port", "0"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (state / "jwks-serve.json").exists():
            assert serve.poll() is None and time.monotonic() < deadline, "jwks-serve did not start"
            time.sleep(0.05)
        ca = str(state / "jwks-tls" / "ca.pem")
        with running_local_stack(tmp_path / "stack", "--allow-private-jwks-hosts", "--jwks-ca-bundle", ca) as local:
            output = run_walkthrough(local, workdir, "variables", "rs256")
            app = local.demo_app
            documents = json_documents(output)
            rs256_on, tested, saved, accepted, raw, keygen_output, rotated, rs256_off = documents
            assert isinstance(keygen_output, dict) and keygen_output["kid"] == "key-2027-01"
            assert isinstance(tested, dict) and [k["kid"] for k in tested["keys"]] == ["key-2026-11"]
            assert isinstance(saved, dict) and saved["jwksUri"] == tested["uri"]
            assert accepted == {"accepted": 1, "duplicates": 0, "rejected": []}
            assert isinstance(raw, dict) and raw["events"][0]["verification"] == {"mode": "rs256", "kid": "key-2026-11"}
            assert isinstance(rotated, dict) and rotated["signed"] == "rs256"
            assert isinstance(rs256_off, dict) and rs256_off["jwksUri"] is None
            assert isinstance(rs256_on, dict) and rs256_on["useRs256SignedMetadata"] is True
            settings = local.call("GET", f"/v1/apps/{app['appId']}/settings", token=app["adminToken"]).body
            assert settings["useRs256SignedMetadata"] is False
    finally:
        stop(serve)
