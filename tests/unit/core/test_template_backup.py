"""Optional AWS Backup of both tables with a copy to a second region, and the secrets key's region choice."""

from __future__ import annotations

from typing import Any

from countersign_dev.emulation import template as tpl

BACKUP_RESOURCES = ("BackupKey", "BackupVault", "BackupPlan", "BackupSelection", "BackupRole", "BackupJobsFailedAlarm")


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(template["Resources"][name])


def test_off_by_default_and_every_backup_resource_follows_the_switch(template: dict[str, Any]) -> None:
    assert template["Parameters"]["Backups"]["Default"] == "Off"
    assert template["Parameters"]["BackupCopyVaultArn"]["Default"] == ""
    assert template["Conditions"]["BacksUp"] == {"Fn::Equals": [{"Ref": "Backups"}, "On"]}
    for name in BACKUP_RESOURCES:
        assert resource(template, name)["Condition"] == "BacksUp", name
    # A copy vault without backups would silently copy nothing: the stack refuses it.
    rule = template["Rules"]["BackupCopyNeedsBackups"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "BackupCopyVaultArn"}, ""]}]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "Backups"}, "On"]}


def test_a_daily_plan_backs_up_both_tables_and_copies_them_to_the_second_region(template: dict[str, Any]) -> None:
    (rule,) = resource(template, "BackupPlan")["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["TargetBackupVault"] == {"Ref": "BackupVault"}
    assert rule["ScheduleExpression"].startswith("cron(") and "* * ? *" in rule["ScheduleExpression"]  # daily
    assert rule["Lifecycle"] == {"DeleteAfterDays": {"Ref": "BackupRetentionDays"}}
    condition, copies, without = rule["CopyActions"]["Fn::If"]
    assert condition == "CopiesBackups" and without == {"Ref": "AWS::NoValue"}
    assert copies == [
        {
            "DestinationBackupVaultArn": {"Ref": "BackupCopyVaultArn"},
            "Lifecycle": {"DeleteAfterDays": {"Ref": "BackupRetentionDays"}},
        }
    ]
    selection = resource(template, "BackupSelection")["Properties"]
    assert selection["BackupPlanId"] == {"Ref": "BackupPlan"}
    assert selection["BackupSelection"]["Resources"] == [
        {"Fn::GetAtt": ["ControlTable", "Arn"]},
        {"Fn::GetAtt": ["DataTable", "Arn"]},
    ]
    assert selection["BackupSelection"]["IamRoleArn"] == {"Fn::GetAtt": ["BackupRole", "Arn"]}
    role = resource(template, "BackupRole")["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "backup.amazonaws.com"}


def test_recovery_points_are_encrypted_with_their_own_rotating_key_and_outlive_the_stack(
    template: dict[str, Any],
) -> None:
    vault = resource(template, "BackupVault")
    assert vault["Properties"]["EncryptionKeyArn"] == {"Fn::GetAtt": ["BackupKey", "Arn"]}
    assert vault["DeletionPolicy"] == "Retain"
    key = resource(template, "BackupKey")
    assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"


def test_failed_backup_or_copy_jobs_alarm(template: dict[str, Any]) -> None:
    alarm = resource(template, "BackupJobsFailedAlarm")["Properties"]
    metrics = {q["MetricStat"]["Metric"]["MetricName"] for q in alarm["Metrics"] if "MetricStat" in q}
    assert metrics == {"NumberOfBackupJobsFailed", "NumberOfCopyJobsFailed"}
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_secrets_key_is_multi_region_only_when_asked_and_untouched_otherwise(template: dict[str, Any]) -> None:
    assert template["Parameters"]["SecretsKeyMultiRegion"]["Default"] == "false"
    # Absent (not false) by default: an existing stack's key sees no property change at all.
    assert resource(template, "SecretsKey")["Properties"]["MultiRegion"] == {
        "Fn::If": ["SecretsKeyIsMultiRegion", True, {"Ref": "AWS::NoValue"}]
    }


def test_restoring_the_secrets_elsewhere_is_documented() -> None:
    text = (tpl.REPO_ROOT / "docs" / "operations.md").read_text()
    section = text[text.index("### What restoring means for the signing secrets") :]
    section = section[: section.index("\n## ", 1)]
    for fact in ("SecretsKeyMultiRegion=true", "aws kms replicate-key", "aws kms re-encrypt", "single-Region"):
        assert fact in section, fact
