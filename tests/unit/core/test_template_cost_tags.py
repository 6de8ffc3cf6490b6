"""Cost attribution: every resource CloudFormation can tag carries the stack's cost-allocation tags.

Checked on the template as the SAM transform outputs it, so the functions' versions, aliases,
deployment groups and the API's stage count too. Whether a type is taggable, and under which
property, comes from CloudFormation's own resource schemas (shipped with cfn-lint), not from a list
kept here: a new resource of a taggable type without the tags fails.
"""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from countersign_dev.emulation import template as tpl
from tests.support.sam_transform import translated

COST_TAGS = {
    "countersign:stack": {"Ref": "AWS::StackName"},
    "countersign:environment": {"Ref": "Environment"},
    "countersign:cost-center": {"Ref": "CostCenter"},
}
#: Taggable resources the template cannot tag, each with the reason.
UNTAGGABLE_HERE = {
    # SAM's DynamoDB event has no Tags property and PropagateTags skips event source mappings;
    # a mapping costs nothing of its own (its invocations are the function's, which is tagged).
    "ExportFunctionDataTableStream": "AWS::Lambda::EventSourceMapping",
}


def tag_property(resource_type: str) -> str | None:
    """The property a type takes its tags in, or None when CloudFormation cannot tag it."""
    tagging = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema.get("tagging", {})
    if not tagging.get("taggable") or "tagProperty" not in tagging:
        return None
    return str(tagging["tagProperty"]).removeprefix("/properties/")


def as_mapping(tags: Any) -> dict[str, Any]:
    """Tags as key -> value, whether written as [{Key, Value}] or as a map."""
    if isinstance(tags, list):
        return {tag["Key"]: tag["Value"] for tag in tags}
    return dict(tags or {})


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return translated({})


def test_every_taggable_resource_carries_the_cost_allocation_tags(resources: dict[str, Any]) -> None:
    checked, missing = [], []
    for name, resource in sorted(resources.items()):
        prop = tag_property(resource["Type"])
        if prop is None:
            continue
        if name in UNTAGGABLE_HERE:
            assert UNTAGGABLE_HERE[name] == resource["Type"], name
            continue
        checked.append(name)
        tags = as_mapping(resource.get("Properties", {}).get(prop))
        wrong = {key for key, value in COST_TAGS.items() if tags.get(key) != value}
        if wrong:
            missing.append(f"{name} ({resource['Type']}): {sorted(wrong)} in {prop}")
    assert not missing, "\n".join(missing)
    # The walk saw the kinds that cost money: functions, tables, keys, buckets, the API and its stage.
    types = {resources[name]["Type"] for name in checked}
    assert {
        "AWS::Lambda::Function",
        "AWS::DynamoDB::Table",
        "AWS::KMS::Key",
        "AWS::S3::Bucket",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Stage",
        "AWS::Logs::LogGroup",
        "AWS::CloudWatch::Alarm",
    } <= types


def test_the_walk_tells_tagged_from_untagged() -> None:
    # Without this, a schema lookup that never found a tag property would pass vacuously.
    assert tag_property("AWS::Lambda::Function") == "Tags"
    assert tag_property("AWS::Budgets::Budget") == "ResourceTags"
    assert tag_property("AWS::KMS::Alias") is None
    assert as_mapping([{"Key": "a", "Value": "b"}]) == as_mapping({"a": "b"}) == {"a": "b"}


def test_the_cost_center_is_a_parameter_and_the_budget_is_scoped_to_the_stack() -> None:
    template = tpl.load_template()
    assert template["Parameters"]["CostCenter"]["Default"] == "countersign"
    budget = template["Resources"]["MonthlyBudget"]
    assert budget["Condition"] == "HasBudget"
    filters = budget["Properties"]["Budget"]["CostFilters"]
    # Budgets name a user tag as user:<key>$<value>: only this stack's tagged resources count.
    assert filters == {"TagKeyValue": [{"Fn::Sub": "user:countersign:stack$${AWS::StackName}"}]}
