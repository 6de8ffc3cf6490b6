"""The walkthroughs of README.md and docs/, run line for line against a local stack (as a reader on `make dev`
would). A walkthrough is found by its marker wherever the text moved, so the test follows the text."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.support.local import REPO_ROOT, LocalApi, running_jwks_serve, running_local_stack

DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def walkthrough(name: str) -> str:
    """The shell block that follows `<!-- walkthrough: NAME -->` in README.md or a document of docs/
    (exactly one of them: two copies could drift apart)."""
    pattern = re.compile(rf"<!-- walkthrough: {name} -->\s*```sh\n(.*?)```", re.DOTALL)
    found = [(path, match) for path in DOCUMENTS for match in pattern.finditer(path.read_text())]
    assert len(found) == 1, f"walkthrough {name}: {[str(path.relative_to(REPO_ROOT)) for path, _ in found]}"
    return found[0][1].group(1)


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
        ["bash", "-c", script], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"walkthrough failed:\n{result.stdout}"
    return result.stdout  # what the reader sees in the terminal: stdout and stderr


def json_documents(output: str) -> list[object]:
    """The JSON objects (curl answers, keygen's report) that start a line of the output, in order."""
    decoder, documents, index = json.JSONDecoder(), [], 0
    while (found := re.compile(r"^\{", re.MULTILINE).search(output, index)) is not None:
        document, index = decoder.raw_decode(output, found.start())
        documents.append(document)
    return documents


def table_rows(output: str, *cells: str) -> list[str]:
    """The lines of the CLI's tables that hold every one of `cells` as a column."""
    return [line for line in output.splitlines() if all(re.search(rf"(^|\s){re.escape(c)}(\s|$)", line) for c in cells)]


def test_hs256_walkthrough(local: LocalApi, tmp_path: Path) -> None:
    output = run_walkthrough(local, tmp_path, "variables", "hs256")
    assert re.search(r"^Use signed metadata\s+on$", output, re.MULTILINE)
    assert json_documents(output) == [{"accepted": 2, "duplicates": 0, "rejected": []}]
    demo = local.demo_app
    active = local.call("GET", f"/v1/apps/{demo['appId']}/keys", token=demo["adminToken"]).body["activeKeys"]
    rows = table_rows(output, "page_view", "visitor-42", "acme") + table_rows(output, "click", "signup", "visitor-42")
    assert len(rows) == 2
    for row in rows:  # verified with the key the walkthrough generated
        verified_by = re.search(r"hs256 (key_[0-9a-f]{12})$", row)
        assert verified_by and verified_by.group(1) in {key["keyName"] for key in active}
    accepted = re.search(r"^accepted\s+(\d+)$", output, re.MULTILINE)
    assert accepted and int(accepted.group(1)) >= 2


def test_keys_walkthrough(local: LocalApi, tmp_path: Path) -> None:
    output = run_walkthrough(local, tmp_path, "keys")
    key = output.splitlines()[0]
    assert re.fullmatch(r"key_[0-9a-f]{12}", key)
    assert table_rows(output, key, "web server")
    assert re.search(r"^Secret\s+css_[A-Za-z0-9_-]{43}$", output, re.MULTILINE)
    assert f"Revoked {key} at " in output
    refused = "countersign: error: This signing key is revoked; revocation is permanent. (key_revoked, HTTP 409)"
    assert f"{refused}\nexit status 1\n" in output
    demo = local.demo_app
    listing = local.call("GET", f"/v1/apps/{demo['appId']}/keys", token=demo["adminToken"]).body
    assert key in [k["keyName"] for k in listing["revokedKeys"]]


def test_coverage_walkthrough(local: LocalApi, tmp_path: Path) -> None:
    """After the HS256 walkthrough (on the shared demo application, so counts only grow)."""
    run_walkthrough(local, tmp_path, "variables", "hs256")
    demo = local.demo_app
    settings = local.call("GET", f"/v1/apps/{demo['appId']}/settings", token=demo["adminToken"]).body
    coverage, dry_run = json_documents(run_walkthrough(local, tmp_path, "variables", "coverage"))
    assert isinstance(coverage, dict) and isinstance(dry_run, dict)
    assert coverage["hours"] == 24 and coverage["sessions"]["hs256"] >= 1 and coverage["events"]["hs256"] >= 2
    assert any(key["sessions"] >= 1 and key["lastUsedAt"] for key in coverage["keys"])
    assert dry_run["dryRun"] is True and dry_run["settings"]["onlyAllowSignedMetadata"] is True
    assert dry_run["impact"]["hours"] == 24
    assert dry_run["impact"]["wouldDrop"]["sessions"] >= coverage["wouldDrop"]["sessions"]
    # Nothing changed: the demo application still accepts unsigned metadata.
    assert local.call("GET", f"/v1/apps/{demo['appId']}/settings", token=demo["adminToken"]).body == settings


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
    with (
        running_jwks_serve(Path(".countersign/rs256/jwks.json"), state, cwd=workdir) as serve,
        running_local_stack(
            tmp_path / "stack", "--allow-private-jwks-hosts", "--jwks-ca-bundle", str(serve.ca_bundle)
        ) as local,
    ):
        output = run_walkthrough(local, workdir, "variables", "rs256")
        app = local.demo_app
        uri = serve.uri
        assert re.search(r"^Use RS256-signed metadata\s+on$", output, re.MULTILINE)
        assert "The JWKS URI passed its test" in output
        assert table_rows(output, "key-2026-11", "RSA", "RS256", "2048")
        assert re.search(rf"^JWKS URI\s+{re.escape(uri)}$", output, re.MULTILINE)
        accepted, keygen_output, rotated = json_documents(output)
        assert accepted == {"accepted": 1, "duplicates": 0, "rejected": []}
        assert table_rows(output, "page_view", "visitor-7", "acme", "rs256 key-2026-11")
        assert isinstance(keygen_output, dict) and keygen_output["kid"] == "key-2027-01"
        assert isinstance(rotated, dict) and rotated["signed"] == "rs256"
        assert re.search(r"^Use RS256-signed metadata\s+off\nJWKS URI\s+-$", output, re.MULTILINE)
        settings = local.call("GET", f"/v1/apps/{app['appId']}/settings", token=app["adminToken"]).body
        assert settings["useRs256SignedMetadata"] is False and settings["jwksUri"] is None
