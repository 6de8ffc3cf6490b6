"""SnapStart in template.yaml: off by default, and every function publishes a version that API
Gateway invokes through the alias `live` (checked on the template as the SAM transform outputs it)."""

from __future__ import annotations

import pytest

from countersign_dev.emulation import template as tpl
from tests.support.sam_transform import translated

FUNCTIONS = sorted(tpl.functions(tpl.load_template()).values(), key=lambda spec: spec.logical_id)


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
        # A stream-fed function (export) has no API permission: its event source mapping calls the alias.
        mappings = [
            r["Properties"]["FunctionName"]
            for r in resources.values()
            if r["Type"] == "AWS::Lambda::EventSourceMapping"
            and str(r["Properties"]["FunctionName"].get("Ref", "")).startswith(function)
        ]
        # A scheduled function (tables) is invoked by its EventBridge Scheduler schedules, through the alias.
        schedules = [
            r["Properties"]["Target"]["Arn"]
            for r in resources.values()
            if r["Type"] == "AWS::Scheduler::Schedule"
            and str(r["Properties"]["Target"]["Arn"].get("Ref", "")).startswith(function)
        ]
        assert permissions or mappings or schedules
        assert all(name == {"Ref": f"{function}Aliaslive"} for name in permissions + mappings + schedules)
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
