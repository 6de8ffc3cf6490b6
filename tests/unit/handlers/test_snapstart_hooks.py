"""SnapStart's runtime hooks: each environment restored from one snapshot gets its own randomness,
clients, caches and credentials; the modules a first request needs are loaded before the snapshot.

The hooks are run the way Lambda's runtime runs them: through `snapshot_restore_py`'s registries
(the library the python3.13 runtime ships; installed here from PyPI).
"""

from __future__ import annotations

import importlib
import random
import sys
from typing import Any

import boto3
import pytest
import snapshot_restore_py

from countersign import aws, snapstart
from countersign_dev.emulation import template as tpl
from tests.support.world import World

FUNCTIONS = sorted(tpl.functions(tpl.load_template()).values(), key=lambda spec: spec.logical_id)


@pytest.fixture
def runtime_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty registries, as in a fresh Lambda environment, filled by importing a handler."""
    monkeypatch.setattr(snapshot_restore_py, "_before_snapshot_registry", [])
    monkeypatch.setattr(snapshot_restore_py, "_after_restore_registry", [])


def run(hooks: list[tuple[Any, tuple[Any, ...], dict[str, Any]]]) -> None:
    for hook, args, kwargs in hooks:
        hook(*args, **kwargs)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.logical_id)
def test_importing_a_handler_registers_the_hooks_once(
    runtime_hooks: None, monkeypatch: pytest.MonkeyPatch, spec: tpl.FunctionSpec
) -> None:
    monkeypatch.syspath_prepend(str(spec.code_dir))
    monkeypatch.delitem(sys.modules, spec.module, raising=False)
    importlib.import_module(spec.module)
    snapstart.register()  # a second registration (another handler, a re-import) adds nothing
    assert [hook for hook, _, _ in snapshot_restore_py.get_before_snapshot()] == [snapstart.before_snapshot]
    assert [hook for hook, _, _ in snapshot_restore_py.get_after_restore()] == [snapstart.after_restore]
    monkeypatch.delitem(sys.modules, spec.module)


def test_before_snapshot_loads_what_a_first_request_would_import(runtime_hooks: None) -> None:
    assert snapstart.register()
    run(snapshot_restore_py.get_before_snapshot())
    assert all(module in sys.modules for module in snapstart.SNAPSHOT_IMPORTS)


def test_restored_environments_draw_different_random_numbers(runtime_hooks: None) -> None:
    assert snapstart.register()
    draws = []
    for _ in range(2):  # two environments resumed from the same snapshot: the same generator state
        random.seed(1234)
        run(snapshot_restore_py.get_after_restore())
        draws.append([random.random() for _ in range(4)])
    assert draws[0] != draws[1]


def test_restore_drops_clients_caches_and_the_default_sessions_credentials(runtime_hooks: None, world: World) -> None:
    assert snapstart.register()
    client = aws.client("dynamodb")
    boto3.setup_default_session()
    snapshot_session = boto3.DEFAULT_SESSION
    run(snapshot_restore_py.get_after_restore())
    assert boto3.DEFAULT_SESSION is None
    assert aws.client("dynamodb") is not client
    assert boto3.DEFAULT_SESSION is not snapshot_session
