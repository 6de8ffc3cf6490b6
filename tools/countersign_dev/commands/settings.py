"""`countersign settings get|set`: the acceptance settings (SPEC 3.1)."""

from __future__ import annotations

import argparse
from typing import Any

from countersign_dev.admin_api import AdminApiError, AdminClient, Shown, add_admin_command
from countersign_dev.errors import CliError
from countersign_dev.render import Terminal, count, pairs

#: The phrase SPEC 3.1 asks for, typed by the admin before a change that drops data.
CONFIRMATION_PHRASE = "I understand"
TOGGLE_OPTIONS = {
    "use_signed_metadata": "useSignedMetadata",
    "use_rs256_signed_metadata": "useRs256SignedMetadata",
    "only_allow_signed_metadata": "onlyAllowSignedMetadata",
}
#: The seeds' names for the settings, as the console shows them.
SETTING_LABELS = {
    "useSignedMetadata": "Use signed metadata",
    "useRs256SignedMetadata": "Use RS256-signed metadata",
    "jwksUri": "JWKS URI",
    "onlyAllowSignedMetadata": "Only allow signed metadata",
    "version": "Version",
    "updatedAt": "Updated at",
}
#: What each change that needs the typed confirmation does, said before the admin types it.
CONSEQUENCES = {
    ("onlyAllowSignedMetadata", True): (
        "Only allow signed metadata: every session, update and event without verified signed "
        "metadata will be dropped. Dropped data cannot be recovered."
    ),
    ("useSignedMetadata", False): (
        "Use signed metadata (HS256) off: data signed with your HS256 keys will be dropped. "
        "Dropped data cannot be recovered."
    ),
    ("useRs256SignedMetadata", False): (
        "Use RS256-signed metadata off: the saved JWKS URI is removed and data signed with RS256 "
        "will be dropped. Dropped data cannot be recovered."
    ),
}


def register(commands: Any) -> None:
    group = commands.add_parser("settings", help="read or change the acceptance settings")
    actions = group.add_subparsers(dest="action_name", required=True, metavar="ACTION")
    add_admin_command(
        actions, "get", settings_get, "show the settings", example="example: countersign settings get --local"
    )
    setter = add_admin_command(
        actions,
        "set",
        settings_set,
        "change toggles (asks before dropping data)",
        confirm=True,
        example="example: countersign settings set --use-signed-metadata on --local",
    )
    for option, field in TOGGLE_OPTIONS.items():
        flag = f"--{option.replace('_', '-')}"
        setter.add_argument(flag, choices=["on", "off"], help=f"{SETTING_LABELS[field]}: on or off")


def settings_get(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    return client.call("GET", "/settings"), settings_table


def settings_set(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    chosen = {field: getattr(args, option) for option, field in TOGGLE_OPTIONS.items()}
    changes = {field: value == "on" for field, value in chosen.items() if value}
    if not changes:
        raise CliError("give at least one of " + ", ".join(f"--{o.replace('_', '-')} on|off" for o in TOGGLE_OPTIONS))
    confirmed = {**changes, "confirmation": CONFIRMATION_PHRASE}
    if args.yes:
        return client.call("PATCH", "/settings", confirmed), settings_table
    # The server decides what needs the confirmation: ask it rather than copy its rules here.
    try:
        return client.call("PATCH", "/settings", changes), settings_table
    except AdminApiError as error:
        if error.code != "confirmation_required":
            raise
    dry_run = client.call("PATCH", "/settings", {**confirmed, "dryRun": True})  # a refusal ends here
    terminal.err.write(_consequences(changes) + _impact_line(dry_run))
    typed = terminal.ask(f'Type "{CONFIRMATION_PHRASE}" to confirm: ')
    if typed.strip() != CONFIRMATION_PHRASE:
        raise CliError("not confirmed: nothing was changed")
    return client.call("PATCH", "/settings", confirmed), settings_table


def _consequences(changes: dict[str, bool]) -> str:
    lines = [text for (field, value), text in CONSEQUENCES.items() if changes.get(field) is value]
    return "".join(f"{line}\n" for line in lines or ["This change drops data. Dropped data cannot be recovered."])


def _impact_line(dry_run: dict[str, Any]) -> str:
    """What the dry-run's window (its `impact.hours`) would have lost under the new settings (SPEC 3.5)."""
    impact = dry_run.get("impact")
    if not isinstance(impact, dict):
        return ""
    lost = impact["wouldDrop"]
    return (
        f"Impact: in the last {impact['hours']} hours this would have dropped "
        f"{count(lost['sessions'], 'session')} and {count(lost['events'], 'event')}.\n"
    )


def settings_table(settings: dict[str, Any]) -> str:
    return pairs([(label, settings.get(field)) for field, label in SETTING_LABELS.items()])
