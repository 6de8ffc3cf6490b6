"""The optional web application firewall: off by default, the stack's own web ACL or an existing one."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from countersign.errors import ERRORS
from countersign_dev.emulation import template as tpl
from tests.support.sam_transform import translated


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(template["Resources"][name])


def test_off_by_default_and_the_parameter_takes_nothing_create_or_an_acl_arn(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["WebAcl"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    accepted = ["", "create", "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/shared/a1b2c3d4-5678-90ab"]
    refused = ["yes", "arn:aws:wafv2:eu-west-1:123456789012:global/webacl/cdn/a1b2", "arn:aws:s3:::bucket"]
    assert all(pattern.fullmatch(value) for value in accepted)
    assert not any(pattern.fullmatch(value) for value in refused)  # CloudFront (global) ACLs cannot attach
    assert template["Conditions"]["HasWebAcl"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "WebAcl"}, ""]}]}
    assert template["Conditions"]["CreatesWebAcl"] == {"Fn::Equals": [{"Ref": "WebAcl"}, "create"]}
    for name in ("ApiWebAcl", "ApiWebAclLogGroup", "ApiWebAclLogging"):
        assert resource(template, name)["Condition"] == "CreatesWebAcl", name
    assert resource(template, "ApiWebAclAssociation")["Condition"] == "HasWebAcl"


def test_the_created_acl_limits_each_ip_then_applies_the_managed_rule_groups(template: dict[str, Any]) -> None:
    acl = resource(template, "ApiWebAcl")["Properties"]
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    rules = sorted(acl["Rules"], key=lambda rule: rule["Priority"])
    rate = rules[0]["Statement"]["RateBasedStatement"]
    assert rate == {"AggregateKeyType": "IP", "EvaluationWindowSec": 300, "Limit": {"Ref": "WafRateLimitPerIp"}}
    groups = [rule["Statement"]["ManagedRuleGroupStatement"] for rule in rules[1:]]
    assert [(g["VendorName"], g["Name"]) for g in groups] == [
        ("AWS", "AWSManagedRulesAmazonIpReputationList"),
        ("AWS", "AWSManagedRulesKnownBadInputsRuleSet"),
        ("AWS", "AWSManagedRulesCommonRuleSet"),
    ]
    # Rules of the core set that would refuse legitimate batches and server-side admin calls count only.
    overrides = {o["Name"]: o["ActionToUse"] for o in groups[2]["RuleActionOverrides"]}
    assert overrides == {"SizeRestrictions_BODY": {"Count": {}}, "NoUserAgent_HEADER": {"Count": {}}}
    for rule in rules:
        assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True, rule["Name"]
        assert rule["VisibilityConfig"]["SampledRequestsEnabled"] is True, rule["Name"]


def test_a_rate_limited_browser_gets_the_spec_429_it_can_read_and_back_off_from(template: dict[str, Any]) -> None:
    acl = resource(template, "ApiWebAcl")["Properties"]
    block = acl["Rules"][0]["Action"]["Block"]["CustomResponse"]
    assert block["ResponseCode"] == ERRORS["throttled"].status == 429
    headers = {h["Name"]: h["Value"] for h in block["ResponseHeaders"]}
    assert int(headers["Retry-After"]) > 0
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Expose-Headers"] == "Retry-After"
    body = json.loads(acl["CustomResponseBodies"][block["CustomResponseBodyKey"]]["Content"])
    assert body == {"error": {"code": "throttled", "message": ERRORS["throttled"].message}}


def test_only_refused_requests_are_logged_and_never_an_admin_token(template: dict[str, Any]) -> None:
    logging = resource(template, "ApiWebAclLogging")["Properties"]
    assert logging["ResourceArn"] == {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}
    assert {"SingleHeader": {"Name": "authorization"}} in logging["RedactedFields"]
    log_filter = logging["LoggingFilter"]
    assert log_filter["DefaultBehavior"] == "DROP"
    kept = {c["ActionCondition"]["Action"] for f in log_filter["Filters"] for c in f["Conditions"]}
    assert kept == {"BLOCK", "COUNT"}
    group = resource(template, "ApiWebAclLogGroup")["Properties"]
    assert group["LogGroupName"]["Fn::Sub"].startswith("aws-waf-logs-")  # WAF's required prefix
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_association_attaches_the_chosen_acl_to_the_api_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    resources = translated({})
    association = resources["ApiWebAclAssociation"]["Properties"]
    stage = next(name for name, r in resources.items() if r["Type"] == "AWS::ApiGateway::Stage")
    # Naming the stage (as the transform resolves CountersignApi.Stage) also orders it after the stage.
    prefix = "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${CountersignApi}/stages/"
    assert association["ResourceArn"] == {"Fn::Sub": prefix + "${" + stage + "}"}
    assert association["WebACLArn"] == {
        "Fn::If": ["CreatesWebAcl", {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}, {"Ref": "WebAcl"}]
    }


def test_the_waf_is_documented_with_its_cost() -> None:
    text = (tpl.REPO_ROOT / "docs" / "operations.md").read_text()
    section = text[text.index("## Web application firewall (WAF)") :]
    section = section[: section.index("\n## ", 1)]
    for fact in ("WebAcl", "create", "WafRateLimitPerIp", "$5.00 a month", "$0.60 per million requests"):
        assert fact in section, fact
