"""One targeting rule and distinct exit statuses over HTTP (SPEC 5, issue 26 item 4)."""

from __future__ import annotations

import json
import os
import subprocess

from tests.support.local import COUNTERSIGN, REPO_ROOT, LocalApi


def countersign(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    names = ("COUNTERSIGN_API_URL", "COUNTERSIGN_APP_ID", "COUNTERSIGN_ADMIN_TOKEN")
    environ = {k: v for k, v in os.environ.items() if k not in names} | (env or {})
    return subprocess.run(
        [str(COUNTERSIGN), *args], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=environ, check=False
    )


def test_the_environment_alone_targets_an_application(local: LocalApi, app: dict[str, str]) -> None:
    env = {
        "COUNTERSIGN_API_URL": local.url,
        "COUNTERSIGN_APP_ID": app["appId"],
        "COUNTERSIGN_ADMIN_TOKEN": app["adminToken"],
    }
    shown = countersign("settings", "get", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert (
        json.loads(shown.stdout) == local.call("GET", f"/v1/apps/{app['appId']}/settings", token=app["adminToken"]).body
    )
    # An option beats the environment: --local lists the demo application's keys.
    local_keys = countersign("keys", "list", "--local", "--state-dir", str(local.state_dir), "--json", env=env)
    assert local_keys.returncode == 0, local_keys.stderr


def test_exit_statuses_say_what_kind_of_failure(local: LocalApi, app: dict[str, str]) -> None:
    where = ["--api", local.url, "--app", app["appId"]]
    token = {"COUNTERSIGN_ADMIN_TOKEN": app["adminToken"]}
    refused = countersign("keys", "list", *where, env={"COUNTERSIGN_ADMIN_TOKEN": "csa_" + "x" * 43})
    assert refused.returncode == 3 and "unauthorized" in refused.stderr, refused.stderr
    missing = countersign("keys", "reveal", "key_000000000000", *where, env=token)
    assert missing.returncode == 4 and "key_not_found" in missing.stderr, missing.stderr
    conflict = countersign("keys", "revoke", "--yes", "not a key name", *where, env=token)
    assert conflict.returncode not in (0, 2, 3), conflict.stderr
    usage = countersign("keys", "list", "--local", "--api", local.url, env=token)
    assert usage.returncode == 2 and usage.stderr.startswith("countersign: error:"), usage.stderr
    no_app = countersign(
        "apps", "rotate-token", "--app", "app_0000000000000000", "--local", "--state-dir", str(local.state_dir)
    )
    assert no_app.returncode == 4 and "No application app_0000000000000000 exists." in no_app.stderr
    old_spelling = countersign(
        "apps", "limits", "--app-id", app["appId"], "--local", "--state-dir", str(local.state_dir)
    )
    assert old_spelling.returncode == 0 and json.loads(old_spelling.stdout)["appId"] == app["appId"], (
        old_spelling.stderr
    )
