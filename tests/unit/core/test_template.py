"""template.yaml as deployed: least-privilege IAM, every SPEC route, operations, no local-only settings.

Read with cfn-lint's loader (intrinsics as {"Ref": ...} dicts), the same one the local stack uses.
"""

from __future__ import annotations

from typing import Any

import pytest

from countersign_dev import template as tpl

# SPEC 3: every route and the function that must serve it.
SPEC_ROUTES = {
    ("GET", "/v1/apps/{appId}/settings"): "SettingsFunction",
    ("PATCH", "/v1/apps/{appId}/settings"): "SettingsFunction",
    ("GET", "/v1/apps/{appId}/keys"): "KeysFunction",
    ("POST", "/v1/apps/{appId}/keys"): "KeysFunction",
    ("POST", "/v1/apps/{appId}/keys/{keyName}/reveal"): "KeysFunction",
    ("POST", "/v1/apps/{appId}/keys/{keyName}/revoke"): "KeysFunction",
    ("POST", "/v1/apps/{appId}/jwks-uri/test"): "JwksFunction",
    ("PUT", "/v1/apps/{appId}/jwks-uri"): "JwksFunction",
    ("GET", "/v1/apps/{appId}/raw-events"): "ReportingFunction",
    ("GET", "/v1/apps/{appId}/diagnostics"): "ReportingFunction",
    ("POST", "/v1/apps/{appId}/sessions"): "IngestFunction",
    ("PATCH", "/v1/apps/{appId}/sessions/{sessionId}"): "IngestFunction",
    ("POST", "/v1/apps/{appId}/events"): "IngestFunction",
    ("GET", "/sdk/{file}"): "WebFunction",
    ("GET", "/console"): "WebFunction",
    ("GET", "/console/{proxy+}"): "WebFunction",
}
# Actions that accept no resource narrower than "*".
RESOURCELESS_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
NAMED_RESOURCES = {"dynamodb": {"ControlTable", "DataTable"}, "kms": {"SecretsKey"}, "logs": None}


def resources(template: dict[str, Any]) -> dict[str, Any]:
    return dict(template["Resources"])


def role_statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    props = resources(template)[function]["Properties"]
    role = resources(template)[props["Role"]["Fn::GetAtt"][0]]
    assert role["Type"] == "AWS::IAM::Role"
    assert "ManagedPolicyArns" not in role["Properties"], "managed policies bring wildcards"
    return [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_spec_route_reaches_its_function(template: dict[str, Any]) -> None:
    routes = {(r.method, r.resource): r.function for r in tpl.routes(template) if r.method != "ANY"}
    assert routes == SPEC_ROUTES
    # Every path also has ANY on the same function, so a wrong method is the function's 405.
    any_routes = {r.resource: r.function for r in tpl.routes(template) if r.method == "ANY"}
    assert {path: fn for (_, path), fn in SPEC_ROUTES.items()} == any_routes


@pytest.mark.parametrize("function", sorted(set(SPEC_ROUTES.values())))
def test_each_function_has_its_own_least_privilege_role(template: dict[str, Any], function: str) -> None:
    props = resources(template)[function]["Properties"]
    assert "Policies" not in props, "SAM policies would add AWSLambdaBasicExecutionRole (logs on *)"
    statements = role_statements(template, function)
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = as_list(statement["Action"])
        for action in actions:
            service, _, name = action.partition(":")
            assert action != "*" and name != "*" and "*" not in name, f"{function}: wildcard action {action}"
        if statement["Resource"] == "*":
            assert set(actions) <= RESOURCELESS_ACTIONS, f"{function}: {actions} on *"
            continue
        for resource in as_list(statement["Resource"]):
            assert isinstance(resource, dict) and "Fn::GetAtt" in resource, f"{function}: unnamed resource {resource}"
            target = resource["Fn::GetAtt"][0]
            service = actions[0].split(":")[0]
            if service == "logs":
                assert target == props["LoggingConfig"]["LogGroup"]["Ref"], "a function writes only its own logs"
            else:
                assert target in (NAMED_RESOURCES[service] or set()), f"{function}: {service} on {target}"
        if any(a.startswith("kms:") for a in actions):
            condition = statement["Condition"]
            assert condition["ForAllValues:StringEquals"] == {"kms:EncryptionContextKeys": ["appId", "keyName"]}
            assert condition["Null"] == {
                "kms:EncryptionContext:appId": "false",
                "kms:EncryptionContext:keyName": "false",
            }


def test_only_the_functions_that_need_kms_have_it(template: dict[str, Any]) -> None:
    kms = {
        function: sorted(a for s in role_statements(template, function) for a in as_list(s["Action"]) if "kms:" in a)
        for function in set(SPEC_ROUTES.values())
    }
    assert kms == {
        "KeysFunction": ["kms:Decrypt", "kms:Encrypt"],
        "IngestFunction": ["kms:Decrypt"],
        "SettingsFunction": [],
        "JwksFunction": [],
        "ReportingFunction": [],
        "WebFunction": [],
    }


@pytest.mark.parametrize("function", sorted(set(SPEC_ROUTES.values())))
def test_logs_retention_and_tracing(template: dict[str, Any], function: str) -> None:
    group = resources(template)[resources(template)[function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Globals"]["Function"]["Tracing"] == "Active"


def test_api_stage_throttling_access_logs_and_tracing(template: dict[str, Any]) -> None:
    api = resources(template)["CountersignApi"]["Properties"]
    assert api["TracingEnabled"] is True
    assert api["MethodSettings"][0]["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRateLimit"}
    assert api["MethodSettings"][0]["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurstLimit"}
    log_group = api["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert resources(template)[log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert api["GatewayResponses"]["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"


def test_alarms_cover_errors_throttles_5xx_and_drop_rate_and_notify_an_encrypted_topic(
    template: dict[str, Any],
) -> None:
    alarms = {
        name: res["Properties"] for name, res in resources(template).items() if res["Type"] == "AWS::CloudWatch::Alarm"
    }
    for function in set(SPEC_ROUTES.values()):
        for metric in ("Errors", "Throttles"):
            matching = [
                a for a in alarms.values() if a.get("MetricName") == metric and a.get("Dimensions") == [
                    {"Name": "FunctionName", "Value": {"Ref": function}}
                ]
            ]  # fmt: skip
            assert len(matching) == 1, (function, metric)
    assert any(a.get("MetricName") == "5XXError" and a.get("Namespace") == "AWS/ApiGateway" for a in alarms.values())
    drop = [
        a
        for a in alarms.values()
        if any(
            m.get("MetricStat", {}).get("Metric", {}).get("MetricName") == "EventsDropped" for m in a.get("Metrics", [])
        )
    ]
    assert len(drop) == 1
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    topic = resources(template)["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}


def test_outputs_and_parameters(template: dict[str, Any]) -> None:
    assert {"ApiUrl", "ControlTableName", "DataTableName", "SecretsKeyArn", "AlarmTopicArn"} <= set(template["Outputs"])
    assert {"LogLevel", "CacheTtlSeconds", "DedupeWindowDays", "SessionTtlHours"} <= set(template["Parameters"])
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["CACHE_TTL_SECONDS"] == {"Ref": "CacheTtlSeconds"}
    assert env["DEDUPE_WINDOW_DAYS"] == {"Ref": "DedupeWindowDays"}
    assert env["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


def test_tables_have_ttl_and_the_secrets_key_an_alias_and_rotation(template: dict[str, Any]) -> None:
    for table in ("ControlTable", "DataTable"):
        props = resources(template)[table]["Properties"]
        assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
        assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert resources(template)["SecretsKey"]["Properties"]["EnableKeyRotation"] is True
    alias = resources(template)["SecretsKeyAlias"]["Properties"]
    assert alias["TargetKeyId"] == {"Ref": "SecretsKey"}


def test_no_local_only_setting_in_the_template(template: dict[str, Any]) -> None:
    text = tpl.TEMPLATE_PATH.read_text()
    for setting in ("ALLOW_PRIVATE_JWKS_HOSTS", "JWKS_CA_BUNDLE", "AWS_ENDPOINT_URL", "POWERTOOLS_TRACE_DISABLED"):
        assert setting not in text


def test_functions_build_without_docker(template: dict[str, Any]) -> None:
    for name, res in resources(template).items():
        if res["Type"] in {"AWS::Serverless::Function", "AWS::Serverless::LayerVersion"}:
            assert res["Metadata"]["BuildMethod"] == "makefile", name
    layer = tpl.REPO_ROOT / "layers" / "verification" / "Makefile"
    recipe = layer.read_text()
    for flag in (
        "--platform manylinux2014_aarch64",
        "--implementation cp",
        "--python-version 3.13",
        "--only-binary=:all:",
    ):
        assert flag in recipe
