"""Create the template's tables, KMS keys, buckets and queues on an AWS emulation (moto server or mock_aws).

The table schemas exist only in template.yaml; this reads them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from countersign_dev.emulation import template as tpl

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "countersign-local"


@dataclass(frozen=True)
class Provisioned:
    """What `Ref` and `Fn::GetAtt` resolve to on the emulation."""

    refs: dict[str, str]
    attrs: dict[tuple[str, str], str]

    def function_environment(self, template: dict[str, Any], logical_id: str) -> dict[str, str]:
        spec = tpl.functions(template)[logical_id]
        return {key: tpl.resolve(value, self.refs, self.attrs) for key, value in spec.environment.items()}


def provision(
    template: dict[str, Any],
    dynamodb: Any,
    kms: Any,
    stack_name: str = STACK_NAME,
    *,
    s3: Any = None,
    sqs: Any = None,
) -> Provisioned:
    """Create every AWS::DynamoDB::Table (with its stream), AWS::KMS::Key and AWS::KMS::Alias of
    the template, and with `s3` / `sqs` clients its AWS::S3::Bucket and AWS::SQS::Queue too."""
    refs = {
        **tpl.parameter_defaults(template),
        "AWS::StackName": stack_name,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    attrs: dict[tuple[str, str], str] = {}
    for name, res in tpl.resources_of_type(template, "AWS::DynamoDB::Table").items():
        props = res["Properties"]
        table = f"{stack_name}-{name}"
        spec: dict[str, Any] = {
            "TableName": table,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            spec["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            spec["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        description = dynamodb.create_table(**spec)["TableDescription"]
        if "LatestStreamArn" in description:
            attrs[(name, "StreamArn")] = description["LatestStreamArn"]
        if props.get("TimeToLiveSpecification"):
            dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=props["TimeToLiveSpecification"])
        refs[name] = table
        attrs[(name, "Arn")] = description["TableArn"]
    for name, res in tpl.resources_of_type(template, "AWS::KMS::Key").items():
        key = kms.create_key(Description=res["Properties"].get("Description", name))["KeyMetadata"]
        refs[name] = key["KeyId"]
        attrs[(name, "Arn")] = key["Arn"]
        attrs[(name, "KeyId")] = key["KeyId"]
    for res in tpl.resources_of_type(template, "AWS::KMS::Alias").values():
        props = res["Properties"]
        kms.create_alias(
            AliasName=tpl.resolve(props["AliasName"], refs, attrs),
            TargetKeyId=tpl.resolve(props["TargetKeyId"], refs, attrs),
        )
    # Glue databases are names: the local stack's tables live in its own embedded catalog.
    for name, res in tpl.resources_of_type(template, "AWS::Glue::Database").items():
        refs[name] = tpl.resolve(res["Properties"]["DatabaseInput"]["Name"], refs, attrs)
    if s3 is not None:
        for name in tpl.resources_of_type(template, "AWS::S3::Bucket"):
            bucket = f"{stack_name}-{name}".lower()
            s3.create_bucket(Bucket=bucket)
            refs[name] = bucket
            attrs[(name, "Arn")] = f"arn:aws:s3:::{bucket}"
    if sqs is not None:
        for name in tpl.resources_of_type(template, "AWS::SQS::Queue"):
            url = sqs.create_queue(QueueName=f"{stack_name}-{name}")["QueueUrl"]
            refs[name] = url
            attrs[(name, "Arn")] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            attrs[(name, "QueueName")] = f"{stack_name}-{name}"
    return Provisioned(refs, attrs)
