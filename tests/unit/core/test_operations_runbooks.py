"""Every alarm of template.yaml has a runbook in docs/operations.md, and its description links to it.

An alarm is only actionable at 3 a.m. if whoever it pages can go from the notification straight to
what to check and what to do ("every alert has a playbook"). This holds new alarms to it too.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from countersign_dev.emulation import template as tpl

RUNBOOK = tpl.REPO_ROOT / "docs" / "operations.md"
#: The parts of every runbook, in the order an on-call engineer needs them.
PARTS = ("What fired", "What users see", "Confirm", "Mitigate", "Recover")
#: AlarmDescription's CloudWatch limit; RunbookUrl is filled in with a long address to leave room.
DESCRIPTION_LIMIT = 1024
LONG_RUNBOOK_URL = "https://git.example.com/" + "x" * 176 + "/docs/operations.md"


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def description_text(alarm: dict[str, Any]) -> str:
    """The AlarmDescription as written: a plain string or the format string of its `!Sub`."""
    description = alarm.get("AlarmDescription", "")
    if isinstance(description, dict):
        sub = description["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    return str(description)


def heading_slug(heading: str) -> str:
    """The anchor a Markdown renderer (GitHub's rule) gives a heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def sections(markdown: str) -> dict[str, str]:
    """Each heading's anchor -> the text under it up to the next heading of any level."""
    found: dict[str, str] = {}
    parts = re.split(r"^(#{2,4}) (.+)$", markdown, flags=re.MULTILINE)
    for index in range(1, len(parts), 3):
        found[heading_slug(parts[index + 1])] = parts[index + 2]
    return found


@pytest.fixture(scope="module")
def runbooks() -> dict[str, str]:
    return sections(RUNBOOK.read_text())


def test_the_template_has_alarms_and_a_runbook_address(template: dict[str, Any]) -> None:
    assert len(alarms(template)) >= 10
    parameter = template["Parameters"]["RunbookUrl"]
    assert parameter["Default"] == "docs/operations.md"


@pytest.mark.parametrize("name", sorted(alarms(tpl.load_template())))
def test_each_alarm_links_to_its_own_runbook_with_every_part(
    template: dict[str, Any], runbooks: dict[str, str], name: str
) -> None:
    alarm = alarms(template)[name]
    anchor = name.lower()
    description = description_text(alarm)
    assert description.rstrip().endswith(f"Runbook: ${{RunbookUrl}}#{anchor}"), (
        f"{name}: its AlarmDescription must be a !Sub ending with 'Runbook: ${{RunbookUrl}}#{anchor}'"
    )
    assert anchor in runbooks, f"{name}: docs/operations.md needs a section '### {name}'"
    body = runbooks[anchor]
    positions = []
    for part in PARTS:
        label = f"**{part}:**"
        assert label in body, f"{name}: its runbook has no {label}"
        positions.append(body.index(label))
    assert positions == sorted(positions), f"{name}: the parts are out of order"
    confirm = body[body.index("**Confirm:**") : body.index("**Mitigate:**")]
    assert "```" in confirm, f"{name}: Confirm gives no query or command to run"


@pytest.mark.parametrize("name", sorted(alarms(tpl.load_template())))
def test_each_description_fits_cloudwatch_with_a_long_runbook_address(template: dict[str, Any], name: str) -> None:
    description = description_text(alarms(template)[name]).replace("${RunbookUrl}", LONG_RUNBOOK_URL)
    assert len(re.sub(r"\s+", " ", description)) <= DESCRIPTION_LIMIT, name


def test_every_link_inside_the_runbook_resolves(runbooks: dict[str, str]) -> None:
    links = set(re.findall(r"\]\(#([^)]+)\)", RUNBOOK.read_text()))
    assert links, "the runbooks link to each other"
    assert links <= set(runbooks), sorted(links - set(runbooks))


def test_the_section_finder_sees_a_missing_alarm() -> None:
    # The check above would pass vacuously if `sections` found nothing: it must tell these apart.
    found = sections("## Alarms\n\n### KnownAlarm\n\n**What fired:** x\n\n### Other (WAF)\n")
    assert set(found) == {"alarms", "knownalarm", "other-waf"}
    assert "**What fired:**" in found["knownalarm"] and "unknownalarm" not in found
