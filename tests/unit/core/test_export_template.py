"""template.yaml's data lake (SPEC 6): stream, filtered mapping, dead letters, bucket, Glue, Athena, IAM."""

from __future__ import annotations

import json
from typing import Any

import pytest

from countersign.lake import EVENT_FIELDS, SESSION_FIELDS
from countersign_dev.emulation.stream_poller import stream_mappings


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(template["Resources"][name]["Properties"])


def test_the_stream_feeds_only_inserted_events_and_changed_sessions(template: dict[str, Any]) -> None:
    assert resource(template, "DataTable")["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    (event,) = resource(template, "ExportFunction")["Events"].values()
    props = event["Properties"]
    assert event["Type"] == "DynamoDB" and props["Stream"] == {"Fn::GetAtt": ["DataTable", "StreamArn"]}
    patterns = [json.loads(item["Pattern"]) for item in props["FilterCriteria"]["Filters"]]
    assert patterns == [
        {"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": ["EVENT"]}}}},
        {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"sk": {"S": ["SESSION"]}}}},
    ]
    assert (props["BatchSize"], props["MaximumBatchingWindowInSeconds"], props["ParallelizationFactor"]) == (1000, 5, 1)
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and props["BisectBatchOnFunctionError"]
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["ExportDeadLetterQueue", "Arn"]}
    # The local stack reads the same mapping (no second copy).
    (mapping,) = stream_mappings(template)
    assert (mapping.function, mapping.table, mapping.batch_size) == ("ExportFunction", "DataTable", 1000)


def test_the_export_role_reads_the_stream_and_writes_its_prefixes_nothing_else(template: dict[str, Any]) -> None:
    function = resource(template, "ExportFunction")
    assert "Policies" not in function
    role = resource(template, function["Role"]["Fn::GetAtt"][0])
    assert "ManagedPolicyArns" not in role
    statements = {s["Sid"]: s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]}
    actions = {
        sid: sorted(s["Action"] if isinstance(s["Action"], list) else [s["Action"]]) for sid, s in statements.items()
    }
    assert actions == {
        "WriteOwnLogs": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "SendTraces": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
        "ReadDataTableStream": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
        "FindStreams": ["dynamodb:ListStreams"],
        "WriteAndCheckLakeObjects": ["s3:GetObject", "s3:PutObject"],
        "ListLakePartitions": ["s3:ListBucket"],
        "SendFailedBatches": ["sqs:SendMessage"],
        # SPEC 9: which subjects were erased (ControlTable), by their keyed hash (the app's key).
        "ReadErasedSubjects": ["dynamodb:GetItem", "dynamodb:Query"],
        "OpenSubjectHashKey": ["kms:Decrypt"],
    }
    assert all(s["Effect"] == "Allow" for s in statements.values())
    assert statements["ReadDataTableStream"]["Resource"] == {"Fn::GetAtt": ["DataTable", "StreamArn"]}
    assert statements["WriteAndCheckLakeObjects"]["Resource"] == [
        {"Fn::Sub": "${ExportBucket.Arn}/events/*"},
        {"Fn::Sub": "${ExportBucket.Arn}/sessions/*"},
    ]
    assert statements["ListLakePartitions"]["Condition"] == {"StringLike": {"s3:prefix": ["events/*", "sessions/*"]}}
    assert statements["SendFailedBatches"]["Resource"] == {"Fn::GetAtt": ["ExportDeadLetterQueue", "Arn"]}
    assert statements["WriteOwnLogs"]["Resource"] == {
        "Fn::GetAtt": [function["LoggingConfig"]["LogGroup"]["Ref"], "Arn"]
    }
    assert function["Environment"]["Variables"]["EXPORT_BUCKET"] == {"Ref": "ExportBucket"}


@pytest.mark.parametrize("bucket", ["ExportBucket", "AthenaResultsBucket"])
def test_buckets_are_private_encrypted_tls_only_and_expire(template: dict[str, Any], bucket: str) -> None:
    props = resource(template, bucket)
    assert (
        set(props["PublicAccessBlockConfiguration"].values()) == {True}
        and len(props["PublicAccessBlockConfiguration"]) == 4
    )
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (policy,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    expiry = props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"]
    assert expiry == ({"Ref": "ExportRetentionDays"} if bucket == "ExportBucket" else 30)


def test_dead_letters_and_iterator_age_alarm_and_the_outputs(template: dict[str, Any]) -> None:
    alarms = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    dlq = [
        a
        for a in alarms
        if a.get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ExportDeadLetterQueue", "QueueName"]}}]
    ]
    age = [a for a in alarms if a.get("MetricName") == "IteratorAge"]
    assert len(dlq) == 1 and dlq[0]["MetricName"] == "ApproximateNumberOfMessagesVisible" and dlq[0]["Threshold"] == 0
    assert len(age) == 1 and age[0]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ExportFunction"}}]
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in dlq + age)
    assert resource(template, "ExportDeadLetterQueue")["MessageRetentionPeriod"] == 1209600
    assert template["Outputs"]["ExportBucketName"]["Value"] == {"Ref": "ExportBucket"}
    assert template["Parameters"]["ExportRetentionDays"]["Type"] == "Number"


@pytest.mark.parametrize(
    ("table", "fields"), [("LakeEventsTable", EVENT_FIELDS), ("LakeSessionsTable", SESSION_FIELDS)]
)
def test_glue_tables_list_the_record_fields_and_project_app_and_dt(
    template: dict[str, Any], table: str, fields: tuple[str, ...]
) -> None:
    table_input = resource(template, table)["TableInput"]
    kind = table_input["Name"]
    assert [c["Name"] for c in table_input["StorageDescriptor"]["Columns"]] == [f.lower() for f in fields]
    # A column is a name, a type and perhaps a comment (a comma in an unquoted comment makes more keys).
    assert [set(c) - {"Comment"} for c in table_input["StorageDescriptor"]["Columns"]] == [{"Name", "Type"}] * len(
        fields
    )
    assert table_input["PartitionKeys"] == [{"Name": "app", "Type": "string"}, {"Name": "dt", "Type": "string"}]
    parameters = table_input["Parameters"]
    assert parameters["projection.enabled"] == "true" and parameters["projection.app.type"] == "injected"
    assert (parameters["projection.dt.type"], parameters["projection.dt.format"]) == ("date", "yyyy-MM-dd")
    assert parameters["storage.location.template"] == {
        "Fn::Sub": f"s3://${{ExportBucket}}/{kind}/app=${{!app}}/dt=${{!dt}}/"
    }
    assert table_input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::Glue::Crawler"]


def test_the_athena_workgroup_has_its_own_result_location(template: dict[str, Any]) -> None:
    config = resource(template, "LakeWorkGroup")["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["OutputLocation"] == {"Fn::Sub": "s3://${AthenaResultsBucket}/results/"}
