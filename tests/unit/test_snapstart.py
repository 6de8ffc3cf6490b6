"""SnapStart: off by default, published versions behind the alias API Gateway calls, and hooks that
give each restored environment its own randomness, clients, caches and credentials.

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
from samtranslator.translator.transform import transform

from countersign import aws, snapstart
from countersign_dev import template as tpl
from tests.support.world import World

FUNCTIONS = sorted(tpl.functions(tpl.load_template()).values(), key=lambda spec: spec.logical_id)


def translated(parameters: dict[str, str]) -> dict[str, Any]:
    """template.yaml through the SAM transform, as CloudFormation receives it."""
    document = tpl.load_template()
    for resource in document["Resources"].values():
        for uri in ("CodeUri", "ContentUri"):
            if uri in resource.get("Properties", {}):
                resource["Properties"][uri] = "s3://bucket/key"  # what `sam deploy` uploads to

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    return transform(document, parameters, NoManagedPolicies())["Resources"]  # type: ignore[no-any-return]


def test_snapstart_is_an_operator_choice_off_by_default() -> None:
    parameter = tpl.load_template()["Parameters"]["SnapStart"]
    assert parameter["Default"] == "Off"
    assert sorted(parameter["AllowedValues"]) == ["Off", "On"]


def test_every_function_publishes_a_version_that_the_api_calls_through_the_alias(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    resources = translated({})
    for spec in FUNCTIONS:
        function = spec.logical_id
        props = resources[function]["Properties"]
        assert props["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}}
        alias = resources[f"{function}Aliaslive"]
        assert alias["Type"] == "AWS::Lambda::Alias"
        assert alias["Properties"]["Name"] == "live"
        permissions = [
            r["Properties"]["FunctionName"]
            for r in resources.values()
            if r["Type"] == "AWS::Lambda::Permission"
            and str(r["Properties"]["FunctionName"].get("Ref", "")).startswith(function)
        ]
        assert permissions
        assert all(name == {"Ref": f"{function}Aliaslive"} for name in permissions)
    api = next(r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi")
    uris = [
        operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for path in api["Properties"]["Body"]["paths"].values()
        for operation in path.values()
        if "x-amazon-apigateway-integration" in operation
    ]
    assert uris
    assert all("Aliaslive}/invocations" in uri for uri in uris)


def test_snapstart_on_applies_to_published_versions() -> None:
    conditions = tpl.load_template()["Conditions"]
    assert conditions["SnapStartOn"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "On"]}


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
