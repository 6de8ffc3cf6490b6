"""template.yaml as deployed: least-privilege IAM, every SPEC route, operations, no local-only settings.

Read with cfn-lint's loader (intrinsics as {"Ref": ...} dicts), the same one the local stack uses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from countersign_dev.emulation import template as tpl

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
    ("GET", "/v1/apps/{appId}/coverage"): "ReportingFunction",
    ("POST", "/v1/apps/{appId}/erasures"): "PrivacyFunction",
    ("GET", "/v1/apps/{appId}/erasures"): "PrivacyFunction",
    ("GET", "/v1/apps/{appId}/erasures/{erasureId}"): "PrivacyFunction",
    ("GET", "/v1/apps/{appId}/suppressions"): "PrivacyFunction",
    ("DELETE", "/v1/apps/{appId}/suppressions/{kind}/{subjectId}"): "PrivacyFunction",
    ("POST", "/v1/apps/{appId}/sessions"): "IngestFunction",
    ("PATCH", "/v1/apps/{appId}/sessions/{sessionId}"): "IngestFunction",
    ("POST", "/v1/apps/{appId}/events"): "IngestFunction",
    ("GET", "/sdk/{file}"): "WebFunction",
    ("GET", "/console"): "WebFunction",
    ("GET", "/console/{proxy+}"): "WebFunction",
}
#: The layer's modules: what the functions count (`metrics.add_metric`) is written there.
LAYER_SOURCES = sorted((Path(__file__).resolve().parents[3] / "layers" / "verification" / "countersign").rglob("*.py"))
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


def named_resource(template: dict[str, Any], resource: Any) -> str:
    """The template resource an IAM statement names: `!GetAtt X.Arn`, or one named index of a
    table, `!Sub ${X.Arn}/index/<IndexName>` (never an index wildcard)."""
    assert isinstance(resource, dict), f"unnamed resource {resource}"
    if "Fn::GetAtt" in resource:
        return str(resource["Fn::GetAtt"][0])
    table, _, index = resource["Fn::Sub"].removeprefix("${").partition(".Arn}/index/")
    indexes = resources(template)[table]["Properties"].get("GlobalSecondaryIndexes", [])
    assert index in {i["IndexName"] for i in indexes}, f"unnamed resource {resource}"
    return table


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
            target = named_resource(template, resource)
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
        "PrivacyFunction": ["kms:Decrypt", "kms:Encrypt"],
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


def alarm_metrics(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A metric-math alarm's queries by id: the metric of each MetricStat, the expression otherwise."""
    return {
        query["Id"]: query["MetricStat"]["Metric"] if "MetricStat" in query else {"Expression": query["Expression"]}
        for query in alarm.get("Metrics", [])
    }


def test_alarms_cover_errors_throttles_5xx_and_drop_rate_and_notify_an_encrypted_topic(
    template: dict[str, Any],
) -> None:
    alarms = {
        name: res["Properties"] for name, res in resources(template).items() if res["Type"] == "AWS::CloudWatch::Alarm"
    }
    for function in set(SPEC_ROUTES.values()):
        for metric in ("Errors", "Throttles"):
            matching = [
                a for a in alarms.values()
                if alarm_metrics(a).get("failures", {}).get("MetricName") == metric
                and alarm_metrics(a)["failures"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
            ]  # fmt: skip
            assert len(matching) == 1, (function, metric)
    assert any(
        alarm_metrics(a).get("failures", {}).get("MetricName") == "5XXError"
        and alarm_metrics(a)["failures"]["Namespace"] == "AWS/ApiGateway"
        for a in alarms.values()
    )
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


def test_error_alarms_fire_on_a_rate_over_five_minutes_never_on_a_single_failure(template: dict[str, Any]) -> None:
    rate_alarms = {
        name: res["Properties"]
        for name, res in resources(template).items()
        if res["Type"] == "AWS::CloudWatch::Alarm" and "failures" in alarm_metrics(res["Properties"])
    }
    functions = [name for name, res in resources(template).items() if res["Type"] == "AWS::Serverless::Function"]
    # A function only its schedules invoke runs a few times in 5 minutes: a rate over a minimum
    # count could never fire. Its alarm fires on failures in every one of 3 periods in a row, or,
    # for an hourly function, on the one failure of its hour.
    scheduled = {
        name
        for name, res in resources(template).items()
        if res["Type"] == "AWS::Serverless::Function"
        and {event["Type"] for event in res["Properties"].get("Events", {}).values()} <= {"Schedule", "ScheduleV2"}
        and res["Properties"].get("Events")
    }
    assert scheduled == {"TablesFunction", "ErasureFunction", "ReconcileFunction"}
    for name in scheduled:
        alarm = resources(template)[f"{name}ErrorsAlarm"]["Properties"]
        rules = resources(template)[name]["Properties"]["Events"].values()
        hourly = [rule["Properties"]["ScheduleExpression"] for rule in rules] == ["rate(1 hour)"]
        assert (alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == ("Errors", "Sum", 3600 if hourly else 300)
        assert (alarm["EvaluationPeriods"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            1 if hourly else 3,
            0,
            "GreaterThanThreshold",
        )
        assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": name}}]
    requested = [name for name in functions if name not in scheduled]
    assert set(rate_alarms) >= {"ApiServerErrorsAlarm", *(f"{name}ErrorsAlarm" for name in requested)}
    for name, alarm in rate_alarms.items():
        queries = {q["Id"]: q for q in alarm["Metrics"]}
        assert {q["MetricStat"]["Period"] for q in queries.values() if "MetricStat" in q} == {300}, name
        assert all(q["MetricStat"]["Stat"] == "Sum" for q in queries.values() if "MetricStat" in q), name
        (result,) = [q for q in queries.values() if q.get("ReturnData")]
        # A percentage of the requests, and only once at least ErrorAlarmMinimumCount failed.
        assert result["Expression"] == {
            "Fn::Sub": "IF(failures >= ${ErrorAlarmMinimumCount}, 100 * failures / "
            + ("MAX([invocations + failures, 1]), 0)" if name.endswith("ThrottlesAlarm") else
               f"MAX([{'requests' if name == 'ApiServerErrorsAlarm' else 'invocations'}, 1]), 0)")
        }, name  # fmt: skip
        assert alarm["Threshold"] == {"Ref": "ErrorRateAlarmPercent"}, name
    assert template["Parameters"]["ErrorAlarmMinimumCount"]["Default"] > 1
    assert template["Parameters"]["ErrorRateAlarmPercent"]["Default"] <= 5


def test_p99_latency_of_the_events_route_alarms(template: dict[str, Any]) -> None:
    alarm = resources(template)["IngestLatencyAlarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/ApiGateway" and alarm["MetricName"] == "Latency"
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions["Resource"] == "/v1/apps/{appId}/events" and dimensions["Method"] == "POST"
    assert dimensions["Stage"] == "api"
    assert ("POST", dimensions["Resource"]) in SPEC_ROUTES
    assert alarm["ExtendedStatistic"] == "p99"
    assert alarm["EvaluateLowSampleCountPercentile"] == "ignore"  # a handful of requests is no percentile
    assert alarm["Threshold"] == {"Ref": "IngestLatencyP99AlarmMs"}
    assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (2, 3)
    # Per-method metrics exist only with detailed metrics on the stage.
    api = resources(template)["CountersignApi"]["Properties"]
    assert api["MethodSettings"][0]["MetricsEnabled"] is True


def test_accepted_volume_falling_below_its_usual_level_alarms(template: dict[str, Any]) -> None:
    resource = resources(template)["AcceptedVolumeLowAlarm"]
    assert resource["Condition"] == "WatchesAcceptedVolume"
    assert template["Parameters"]["AcceptedVolumeAlarm"]["Default"] == "On"
    alarm = resource["Properties"]
    queries = alarm_metrics(alarm)
    assert queries["accepted"]["MetricName"] == "EventsAccepted" and queries["accepted"]["Namespace"] == "Countersign"
    assert queries["volume"] == {"Expression": "FILL(accepted, 0)"}
    assert queries["band"] == {"Expression": {"Fn::Sub": "ANOMALY_DETECTION_BAND(volume, ${AcceptedVolumeBandWidth})"}}
    assert alarm["ThresholdMetricId"] == "band"
    assert alarm["ComparisonOperator"] == "LessThanLowerThreshold"  # a fall, not a spike
    # Nothing accepted at all is the outage this alarm exists for.
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["DatapointsToAlarm"] >= 3


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


# production readiness (issue 15) ------------------------------------------------------------


def test_one_explicit_stage_with_access_logs_that_name_the_request(template: dict[str, Any]) -> None:
    # Without OpenApiVersion SAM adds a second stage named "Stage" with no throttling or logs.
    assert template["Globals"]["Api"]["OpenApiVersion"].startswith("3.")
    api = resources(template)["CountersignApi"]["Properties"]
    assert api["StageName"] == "api"
    log_format = api["AccessLogSetting"]["Format"]
    for variable in (
        "$context.requestId",
        "$context.requestTime",
        "$context.path",  # the path names the application
        "$context.status",
        "$context.responseLatency",
        "$context.integrationLatency",
        "$context.error.responseType",
        "$context.xrayTraceId",
    ):
        assert variable in log_format
    assert json.loads(log_format.replace("\n", ""))  # one JSON object per line


def test_gateway_answers_are_the_spec_error_shape_with_cors(template: dict[str, Any]) -> None:
    from countersign.errors import ERRORS

    responses = resources(template)["CountersignApi"]["Properties"]["GatewayResponses"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED", "REQUEST_TOO_LARGE", "MISSING_AUTHENTICATION_TOKEN"} <= set(
        responses
    )
    for kind, response in responses.items():
        headers = response["ResponseParameters"]["Headers"]
        assert headers["Access-Control-Allow-Origin"] == "'*'", kind
        body = json.loads(
            response["ResponseTemplates"]["application/json"].replace("$context.error.messageString", '"m"')
        )
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, kind
        assert body["error"]["code"] in ERRORS, kind
        if "StatusCode" in response:
            assert ERRORS[body["error"]["code"]][0] == int(response["StatusCode"]), kind
        if kind in {"THROTTLED", "DEFAULT_5XX"}:
            assert headers["Retry-After"] == "'1'" and headers["Access-Control-Expose-Headers"] == "'Retry-After'"


def test_versions_behind_the_live_alias_shift_by_a_canary_the_error_alarms_roll_back(template: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals["AutoPublishAlias"] == "live"
    preference = function_globals["DeploymentPreference"]
    assert preference["Type"] == {"Ref": "DeploymentType"}
    assert template["Parameters"]["DeploymentType"]["Default"].startswith("Canary")
    alarmed = {alarm["Ref"] for alarm in preference["Alarms"]}
    functions = [name for name, res in resources(template).items() if res["Type"] == "AWS::Serverless::Function"]
    assert alarmed == {"ApiServerErrorsAlarm", *(f"{name}ErrorsAlarm" for name in functions)}
    assert "DeploymentType=AllAtOnce" in (tpl.REPO_ROOT / "samconfig.toml").read_text()


def test_tables_are_protected_and_functions_log_json(template: dict[str, Any]) -> None:
    for table in ("ControlTable", "DataTable"):
        assert resources(template)[table]["Properties"]["DeletionProtectionEnabled"] is True
        assert resources(template)[table]["DeletionPolicy"] == "Retain"
    for name, res in resources(template).items():
        if res["Type"] == "AWS::Serverless::Function":
            assert res["Properties"]["LoggingConfig"]["LogFormat"] == "JSON", name


def test_prod_refuses_to_deploy_without_an_alarm_email(template: dict[str, Any]) -> None:
    rule = template["Rules"]["ProdNotifiesSomeone"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert "AlarmEmail" in assertion["AssertDescription"]
    prod = (tpl.REPO_ROOT / "samconfig.toml").read_text().split("[prod.deploy.parameters]")[1]
    assert "Environment=prod" in prod and "AlarmEmail=" in prod


def test_the_account_logging_role_is_opt_in(template: dict[str, Any]) -> None:
    assert template["Parameters"]["CreateApiGatewayLoggingRole"]["Default"] == "false"
    for name in ("ApiGatewayLogsRole", "ApiGatewayAccount"):
        assert resources(template)[name]["Condition"] == "CreatesLoggingRole"
    assert "DependsOn" not in resources(template)["CountersignApi"]


def test_what_one_application_can_make_the_service_spend_is_bounded(template: dict[str, Any]) -> None:
    ingest = resources(template)["IngestFunction"]["Properties"]
    assert ingest["ReservedConcurrentExecutions"] == {"Ref": "IngestReservedConcurrency"}
    ceiling = resources(template)["DataTable"]["Properties"]["OnDemandThroughput"]
    assert ceiling == {"MaxWriteRequestUnits": {"Ref": "DataTableMaxWriteUnits"}}
    budget = resources(template)["MonthlyBudget"]
    assert budget["Condition"] == "HasBudget"
    assert budget["Properties"]["Budget"]["BudgetLimit"]["Amount"] == {"Ref": "MonthlyBudgetUsd"}
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["APP_SDK_REQUESTS_PER_SECOND"] == {"Ref": "AppSdkRequestsPerSecond"}
    assert env["APP_ADMIN_REQUESTS_PER_SECOND"] == {"Ref": "AppAdminRequestsPerSecond"}


def test_dashboard_and_dynamodb_throttle_alarms(template: dict[str, Any]) -> None:
    body = resources(template)["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][0]
    for title in ("Ingest rate", "Drops by reason", "API latency", "Throttles", "Errors", "Data lake export lag"):
        assert f'"title": "{title}' in body
    assert '"IteratorAge", "FunctionName", "${ExportFunction}"' in body
    for table in ("ControlTable", "DataTable"):
        alarm = resources(template)[f"{table}ThrottlesAlarm"]["Properties"]
        names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
        assert names == {"ReadThrottleEvents", "WriteThrottleEvents"}


def test_a_custom_domain_is_tls_1_2_and_turns_off_the_execute_api_endpoint(template: dict[str, Any]) -> None:
    domain = resources(template)["ApiDomain"]
    assert domain["Condition"] == "HasCustomDomain"
    assert domain["Properties"]["SecurityPolicy"] == "TLS_1_2"
    mapping = resources(template)["ApiDomainMapping"]
    assert mapping["Properties"]["RestApiId"] == {"Ref": "CountersignApi"}
    api = resources(template)["CountersignApi"]["Properties"]
    assert api["DisableExecuteApiEndpoint"] == {"Fn::If": ["HasCustomDomain", True, False]}


def test_every_scanner_suppression_says_why(template: dict[str, Any]) -> None:
    text = tpl.TEMPLATE_PATH.read_text()
    for name, res in resources(template).items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV_") and len(skip["comment"]) > 30, name
        for check in res.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks", []):
            line = next(line for line in text.splitlines() if line.strip().startswith(f"- {check}"))
            assert "#" in line and len(line.split("#", 1)[1].strip()) > 30, (name, check)


READ_ACTIONS = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"}


@pytest.mark.parametrize("function", ["SettingsFunction", "KeysFunction", "JwksFunction", "ReportingFunction"])
def test_admin_functions_write_only_their_request_counters_in_the_data_table(
    template: dict[str, Any], function: str
) -> None:
    writes = [
        statement
        for statement in role_statements(template, function)
        if statement["Resource"] == {"Fn::GetAtt": ["DataTable", "Arn"]}
        and any(action not in READ_ACTIONS for action in as_list(statement["Action"]))
    ]
    assert len(writes) == 1
    assert as_list(writes[0]["Action"]) == ["dynamodb:UpdateItem"]
    assert writes[0]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["STATS#*"]}}


def test_one_visitors_receipts_are_a_sparse_keys_only_index_only_reporting_queries(template: dict[str, Any]) -> None:
    table = resources(template)["DataTable"]["Properties"]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "VisitorReceipts"
    assert index["KeySchema"] == [
        {"AttributeName": "visitorReceipts", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    # Keys only: one index write unit per batch, whatever the receipt's size.
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert {"AttributeName": "visitorReceipts", "AttributeType": "S"} in table["AttributeDefinitions"]
    index_arn = {"Fn::Sub": "${DataTable.Arn}/index/VisitorReceipts"}
    granted = {
        function: [
            as_list(statement["Action"])
            for statement in role_statements(template, function)
            if index_arn in as_list(statement["Resource"])
        ]
        for function in set(SPEC_ROUTES.values())
    }
    assert granted == {function: [] for function in granted} | {"ReportingFunction": [["dynamodb:Query"]]}


def test_the_tests_route_lists_are_the_templates_spec_routes() -> None:
    """tests/support/routes.py derives the tests' route lists from the template: they are SPEC's routes."""
    from tests.support.routes import APP_PREFIX, admin_routes, app_routes, body_routes

    spec = {route for route in SPEC_ROUTES if route[1].startswith(APP_PREFIX)}
    derived = [(method, APP_PREFIX + suffix) for method, suffix in app_routes()]
    assert sorted(derived) == sorted(spec)
    ingest = {
        route[1].removeprefix(APP_PREFIX) for route, function in SPEC_ROUTES.items() if function == "IngestFunction"
    }
    assert {suffix for _, suffix in admin_routes()} == {suffix for _, suffix in app_routes()} - ingest
    assert body_routes() < set(app_routes())


def test_the_tables_writer_is_never_held_by_the_reconcile(template: dict[str, Any]) -> None:
    """SPEC 6.2: a line reaches the tables within TableCommitMinutes. The tables function is the
    one writer (a single slot), so what runs there delays the next fold; the hourly reconcile
    (SPEC 6.3) only reads, and a long one there once kept the fold waiting past that bound. It is
    a function of its own, whose role can read and never write."""
    tables = resources(template)["TablesFunction"]["Properties"]
    assert tables["ReservedConcurrentExecutions"] == 1
    tasks = {json.loads(rule["Properties"]["Input"])["task"] for rule in tables["Events"].values()}
    assert tasks == {"fold", "maintain"}
    reconcile = resources(template)["ReconcileFunction"]["Properties"]
    (rule,) = reconcile["Events"].values()
    assert rule["Type"] == "ScheduleV2" and rule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    actions = {
        action
        for statement in role_statements(template, "ReconcileFunction")
        for action in as_list(statement["Action"])
        if not action.startswith(("logs:", "xray:"))
    }
    assert actions == {
        "dynamodb:Scan",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "glue:GetDatabase",
        "glue:GetTable",
        "s3:GetObject",
    }
    statements = role_statements(template, "TablesFunction")
    assert not any(action == "dynamodb:Scan" for s in statements for action in as_list(s["Action"]))
    assert "DataTable" not in {str(s["Resource"]) for s in statements if "dynamodb" in str(s["Action"])}


def test_each_alarm_on_a_service_metric_names_a_service_and_a_metric_that_are_published(
    template: dict[str, Any],
) -> None:
    """Powertools puts the function's POWERTOOLS_SERVICE_NAME on every metric as `service`: an alarm
    on another service's dimension, or on a name no code counts, watches a metric nobody
    publishes, and never fires (or, treating missing data as breaching, always fires)."""
    services = {
        name: res["Properties"].get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME")
        for name, res in resources(template).items()
        if res["Type"] == "AWS::Serverless::Function"
    }
    counted = set(re.findall(r'add_metric\(name="(\w+)"', "".join(p.read_text() for p in LAYER_SOURCES)))
    watched: dict[tuple[str, str], str | None] = {}
    for name, res in resources(template).items():
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        alarm = res["Properties"]
        metrics = [alarm, *alarm_metrics(alarm).values()]
        for metric in metrics:
            if metric.get("Namespace") == "Countersign":
                dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                watched[(name, metric["MetricName"])] = dimensions.get("service")
    assert len(watched) >= 4, "the template has alarms on Countersign's own metrics"
    for (alarm_name, metric), service in watched.items():
        assert service in set(services.values()), (alarm_name, service)
        assert metric in counted, (alarm_name, metric)
    assert watched[("TablesMissingEventsAlarm", "TablesMissingEvents")] == services["ReconcileFunction"] == "reconcile"
    assert watched[("TablesRunsMissingAlarm", "TablesLinesFolded")] == services["TablesFunction"] == "tables"
    assert watched[("ErasurePastDeadlineAlarm", "ErasuresPastDeadline")] == services["ErasureFunction"]


def test_a_stopped_fold_or_reconcile_schedule_alarms(template: dict[str, Any]) -> None:
    """No error alarm sees a schedule that was disabled: nothing runs, nothing fails. Both runs
    count on every run, so two hours without a count from either is the alarm (missing data
    breaches; one empty hour is a run that landed just past the hour's end)."""
    alarm = resources(template)["TablesRunsMissingAlarm"]["Properties"]
    queries = alarm_metrics(alarm)
    assert {queries["folds"]["MetricName"], queries["reports"]["MetricName"]} == {
        "TablesLinesFolded",
        "TablesMissingEvents",
    }
    stats = {
        q["Id"]: (q["MetricStat"]["Stat"], q["MetricStat"]["Period"]) for q in alarm["Metrics"] if "MetricStat" in q
    }
    assert stats == {"folds": ("SampleCount", 3600), "reports": ("SampleCount", 3600)}
    assert queries["runs"]["Expression"] == "MIN([FILL(folds, 0), FILL(reports, 0)])"
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["Threshold"]) == (2, 2, 1)
    assert (alarm["ComparisonOperator"], alarm["TreatMissingData"]) == ("LessThanThreshold", "breaching")
    fold = resources(template)["TablesFunction"]["Properties"]["Events"]["Fold"]["Properties"]
    assert template["Parameters"]["TableCommitMinutes"]["MaxValue"] <= 60, "a fold at least once an hour"
    assert "TableCommitMinutes" in json.dumps(fold["ScheduleExpression"])


def test_the_erasure_function_runs_one_at_a_time(template: dict[str, Any]) -> None:
    """erasure_run resumes each erasure from the pass its record saved: two runs at once would take
    the same erasure and overwrite each other's pass. One concurrent run, and one scheduled rule that
    does not retry (a failed run's erasure stays queued for the next)."""
    erasure = resources(template)["ErasureFunction"]["Properties"]
    assert erasure["ReservedConcurrentExecutions"] == 1
    (rule,) = erasure["Events"].values()
    assert rule["Type"] == "ScheduleV2" and rule["Properties"]["RetryPolicy"] == {"MaximumRetryAttempts": 0}
