"""`countersign raw-events`, `diagnostics` and `coverage`: what the application received (SPEC 3.1, 3.5)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from countersign.coverage import DEFAULT_HOURS, MAX_HOURS
from countersign.reporting import DEFAULT_RAW_EVENTS, MAX_RAW_EVENTS
from countersign_dev.admin_api import AdminClient, Shown, add_admin_command
from countersign_dev.render import Terminal, cell, count, printable, table


def register(commands: Any) -> None:
    raw = add_admin_command(
        commands,
        "raw-events",
        raw_events,
        "the newest accepted events",
        example="example: countersign raw-events --visitor v-1 --limit 10 --local",
    )
    raw.add_argument("--visitor", metavar="VISITOR_ID", help="only this visitor's events")
    raw.add_argument(
        "--limit", type=int, metavar="N", help=f"how many (1-{MAX_RAW_EVENTS}, default {DEFAULT_RAW_EVENTS})"
    )
    raw.add_argument(
        "--cursor", help="list on, older, from where an earlier answer stopped (the line under its table gives it)"
    )
    add_admin_command(
        commands,
        "diagnostics",
        diagnostics,
        "accepted, duplicate and dropped counts; latest drops",
        example="example: countersign diagnostics --local",
    )
    coverage_parser = add_admin_command(
        commands,
        "coverage",
        coverage,
        "how much traffic is signed, by mode and key",
        example="example: countersign coverage --hours 48 --local",
    )
    coverage_parser.add_argument(
        "--hours", type=int, metavar="N", help=f"the window (1-{MAX_HOURS}, default {DEFAULT_HOURS})"
    )


def raw_events(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    given = (("visitorId", args.visitor), ("limit", args.limit), ("cursor", args.cursor))
    params = {name: value for name, value in given if value is not None}
    return client.call("GET", "/raw-events", params=params), raw_events_table


def diagnostics(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    return client.call("GET", "/diagnostics"), diagnostics_tables


def coverage(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    params = {"hours": args.hours} if args.hours is not None else None
    return client.call("GET", "/coverage", params=params), coverage_tables


def _verified(verification: dict[str, Any]) -> str:
    mode = str(verification.get("mode", "-"))
    by = verification.get("keyName") or verification.get("kid")
    return f"{mode} {by}" if by else mode


def _utc(epoch_ms: Any) -> str:
    if not isinstance(epoch_ms, int):
        return cell(epoch_ms)
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def raw_events_table(answer: dict[str, Any]) -> str:
    rows = [
        [
            _utc(e.get("receivedAt")),
            e.get("type"),
            e.get("name"),
            e.get("visitorId"),
            e.get("accountId"),
            _verified(e.get("verification", {})),
        ]
        for e in answer.get("events", [])
    ]
    headers = ["RECEIVED", "TYPE", "NAME", "VISITOR", "ACCOUNT", "VERIFIED"]
    shown = table(headers, rows, "(no accepted events yet)")
    if answer.get("nextCursor"):  # more, older events: the same command with this lists on
        shown += f"\nOlder events are left: add --cursor {printable(str(answer['nextCursor']))} to list on.\n"
    return shown


def diagnostics_tables(answer: dict[str, Any]) -> str:
    counts = answer.get("counts", {})
    rows: list[list[Any]] = [[outcome, "", counts.get(outcome, 0)] for outcome in ("accepted", "duplicates")]
    for outcome in ("rejected", "dropped"):
        rows.extend([outcome, reason, value] for reason, value in counts.get(outcome, {}).items())
    drops = [
        [d.get("at"), d.get("reason"), d.get("route"), d.get("keyName") or d.get("kid"), d.get("events")]
        for d in answer.get("recentDrops", [])
    ]
    return (
        table(["OUTCOME", "REASON", "COUNT"], rows)
        + "\nRecent drops\n"
        + table(["AT", "REASON", "ROUTE", "KEY/KID", "EVENTS"], drops, "(no drops)")
        + _reasons_explained(answer)
    )


def _reasons_explained(answer: dict[str, Any]) -> str:
    """What each reason of this answer means and how to fix it, in the words the API serves with the
    counts (the console shows the same), for the reasons that occur here only."""
    counts, explained = answer.get("counts", {}), answer.get("reasons", {})
    seen = [reason for outcome in ("rejected", "dropped") for reason in counts.get(outcome, {})]
    seen += [drop.get("reason") for drop in answer.get("recentDrops", [])]
    lines = [
        f"{printable(reason)}: {printable(words.get('meaning'))}\n  fix: {printable(words.get('fix'))}\n"
        for reason in dict.fromkeys(seen)
        if isinstance(words := explained.get(reason), dict)
    ]
    return "\nWhat the reasons mean\n" + "".join(lines) if lines else ""


def coverage_tables(answer: dict[str, Any]) -> str:
    sessions, events = answer.get("sessions", {}), answer.get("events", {})
    modes = [[mode, sessions.get(mode, 0), events.get(mode, 0)] for mode in ("hs256", "rs256", "unsigned")]
    used = [[k.get("keyName"), k.get("sessions"), k.get("events"), k.get("lastUsedAt")] for k in answer.get("keys", [])]
    kids = [[k.get("kid"), k.get("sessions"), k.get("events"), k.get("lastUsedAt")] for k in answer.get("kids", [])]
    lost = answer.get("wouldDrop", {})
    return (
        f"Last {answer.get('hours')} hours ({answer.get('from')} to {answer.get('to')})\n"
        + table(["MODE", "SESSIONS", "EVENTS"], modes)
        + "\nHS256 keys\n"
        + table(["KEY NAME", "SESSIONS", "EVENTS", "LAST USED"], used)
        + "\nRS256 kids\n"
        + table(["KID", "SESSIONS", "EVENTS", "LAST USED"], kids)
        + f"\nOnly allow signed metadata would have dropped {count(lost.get('sessions', 0), 'session')}"
        f" and {count(lost.get('events', 0), 'event')}.\n"
    )
