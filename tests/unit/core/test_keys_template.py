"""template.yaml for the keys function: its routes and its least-privilege IAM (moto enforces no IAM)."""

from __future__ import annotations

from typing import Any

from countersign_dev.emulation import template as tpl


def statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """The statements of the function's own role (functions have no SAM-generated policies)."""
    role = template["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    found = []
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        found.extend(policy["PolicyDocument"]["Statement"])
    return found


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_every_keys_path_is_routed_to_the_keys_function_with_an_any_method(template: dict[str, Any]) -> None:
    routed = {(route.method, route.resource) for route in tpl.routes(template) if route.function == "KeysFunction"}
    assert routed == {
        ("GET", "/v1/apps/{appId}/keys"),
        ("POST", "/v1/apps/{appId}/keys"),
        ("ANY", "/v1/apps/{appId}/keys"),
        ("POST", "/v1/apps/{appId}/keys/{keyName}/reveal"),
        ("ANY", "/v1/apps/{appId}/keys/{keyName}/reveal"),
        ("POST", "/v1/apps/{appId}/keys/{keyName}/revoke"),
        ("ANY", "/v1/apps/{appId}/keys/{keyName}/revoke"),
    }


def test_the_keys_function_writes_the_control_table_and_only_its_request_counters_and_reads_last_use(
    template: dict[str, Any],
) -> None:
    dynamodb = [s for s in statements(template, "KeysFunction") if any(a.startswith("dynamodb:") for a in actions(s))]
    assert len(dynamodb) == 3
    control, counting, last_use = dynamodb
    assert sorted(actions(control)) == [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ]
    assert control["Resource"] == {"Fn::GetAtt": ["ControlTable", "Arn"]}
    # DataTable: only counting its requests for the per-application rate limit (STATS items).
    assert actions(counting) == ["dynamodb:UpdateItem"]
    assert counting["Resource"] == {"Fn::GetAtt": ["DataTable", "Arn"]}
    assert counting["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["STATS#*"]}}
    # Key objects carry lastUsedAt (SPEC 3.5): read from DataTable's USAGE items, nothing else.
    assert sorted(actions(last_use)) == ["dynamodb:GetItem", "dynamodb:Query"]
    assert last_use["Resource"] == {"Fn::GetAtt": ["DataTable", "Arn"]}
    assert last_use["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["USAGE#*"]}}


def test_kms_use_is_bound_to_the_secrets_key_and_the_app_and_key_name_context(template: dict[str, Any]) -> None:
    kms = [s for s in statements(template, "KeysFunction") if any(a.startswith("kms:") for a in actions(s))]
    assert len(kms) == 1
    assert sorted(actions(kms[0])) == ["kms:Decrypt", "kms:Encrypt"]
    assert kms[0]["Resource"] == {"Fn::GetAtt": ["SecretsKey", "Arn"]}
    condition = kms[0]["Condition"]
    assert condition["ForAllValues:StringEquals"] == {"kms:EncryptionContextKeys": ["appId", "keyName"]}
    # ForAllValues is also true of an empty context: Null makes both keys mandatory.
    assert condition["Null"] == {"kms:EncryptionContext:appId": "false", "kms:EncryptionContext:keyName": "false"}


def test_only_the_keys_function_can_encrypt_secrets(template: dict[str, Any]) -> None:
    """Signing secrets: only the keys function. The privacy function seals what an erasure needs
    (SPEC 9) and nothing else: its Encrypt is held to those key names by the context."""
    encrypting = {
        function: statement
        for function in tpl.functions(template)
        for statement in statements(template, function)
        if statement.get("Effect") == "Allow"
        and any(a in {"kms:Encrypt", "kms:*", "kms:GenerateDataKey", "*"} for a in actions(statement))
    }
    assert set(encrypting) == {"KeysFunction", "PrivacyFunction"}
    assert encrypting["PrivacyFunction"]["Condition"]["ForAllValues:StringLike"] == {
        "kms:EncryptionContext:keyName": ["subject-hash", "erasure:*"]
    }


def test_the_keys_function_has_a_log_group_with_retention(template: dict[str, Any]) -> None:
    group = template["Resources"]["KeysFunctionLogGroup"]["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${AWS::StackName}-keys"}
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
