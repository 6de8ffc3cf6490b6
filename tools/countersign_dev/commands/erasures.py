"""`countersign erasures create|list|show` and `suppressions list|lift`: forget a visitor or an
account everywhere, follow the erasure and its proof, lift suppressions (SPEC 5, 9).

An erasure cannot be undone: `create` says what it removes and asks for the subject's id to be
typed again (`--yes` skips). The id travels in the request body; only `lift` puts it in a path,
because its route names it (SPEC 3.1).
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from countersign.erasures import MAX_SUBJECT_ID_CHARS
from countersign_dev.admin_api import AdminClient, Shown, add_admin_command
from countersign_dev.errors import CliError
from countersign_dev.render import Terminal, pairs, table

#: The stores an erasure reports on, in the order they are erased (SPEC 9).
STORES = ("dataTable", "landing", "tables")


def register(commands: Any) -> None:
    erasures = commands.add_parser("erasures", help="erase a visitor's or an account's data everywhere, with proof")
    actions = erasures.add_subparsers(dest="action_name", required=True, metavar="ACTION")
    create = add_admin_command(
        actions,
        "create",
        erasures_create,
        "request an erasure (asks first: it cannot be undone)",
        confirm=True,
        example="example: countersign erasures create --visitor user-42 --suppress --local",
    )
    _subject_options(create)
    create.add_argument("--suppress", action="store_true", help="also refuse the subject's new data until lifted")
    add_admin_command(
        actions,
        "list",
        erasures_list,
        "erasures, newest first, with their progress",
        example="example: countersign erasures list --local",
    )
    show = add_admin_command(
        actions,
        "show",
        erasures_show,
        "one erasure: its status and, per store, what was removed and what remains",
        example="example: countersign erasures show er_1764000000000_0123456789ab --local",
    )
    show.add_argument("erasure_id", metavar="ERASURE_ID", help="the erasure's id (erasures list shows it)")

    suppressions = commands.add_parser("suppressions", help="subjects whose new data is refused (subject_suppressed)")
    actions = suppressions.add_subparsers(dest="action_name", required=True, metavar="ACTION")
    add_admin_command(
        actions,
        "list",
        suppressions_list,
        "suppressed subjects (their kind and erasure, never their id)",
        example="example: countersign suppressions list --local",
    )
    lift = add_admin_command(
        actions,
        "lift",
        suppressions_lift,
        "accept the subject's new data again",
        example="example: countersign suppressions lift --visitor user-42 --local",
    )
    _subject_options(lift)


def _subject_options(parser: argparse.ArgumentParser) -> None:
    subject = parser.add_mutually_exclusive_group(required=True)
    subject.add_argument("--visitor", metavar="ID", help=f"the visitor's id (1-{MAX_SUBJECT_ID_CHARS} characters)")
    subject.add_argument("--account", metavar="ID", help=f"the account's id (1-{MAX_SUBJECT_ID_CHARS} characters)")


def _subject(args: argparse.Namespace) -> tuple[str, str]:
    return ("visitor", args.visitor) if args.visitor is not None else ("account", args.account)


def erasures_create(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    kind, subject_id = _subject(args)
    if not args.yes:
        terminal.err.write(
            f"This erases everything Countersign holds about this {kind} in the application: its sessions,\n"
            "metadata and events in DataTable, its lines in the data lake and its rows in the tables. It\n"
            "cannot be undone."
            + (" Its new data will be refused until the suppression is lifted.\n" if args.suppress else "\n")
        )
        if terminal.ask(f"Type the {kind} id again to confirm: ") != subject_id:
            raise CliError("not confirmed: nothing was requested")
    body = {f"{kind}Id": subject_id, "suppress": bool(args.suppress)}
    return client.call("POST", "/erasures", body), erasure_table


def erasures_list(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    return client.call("GET", "/erasures"), erasures_table


def erasures_show(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    return client.call("GET", f"/erasures/{quote(args.erasure_id, safe='')}"), erasure_table


def suppressions_list(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    return client.call("GET", "/suppressions"), suppressions_table


def suppressions_lift(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    kind, subject_id = _subject(args)
    client.call("DELETE", f"/suppressions/{kind}s/{quote(subject_id, safe='')}", expect_body=False)
    return {"lifted": {"kind": kind}}, lambda _: f"Lifted: the {kind}'s new data is accepted again.\n"


def erasure_table(erasure: dict[str, Any]) -> str:
    subject = erasure.get("subject") or {}
    head = pairs(
        [
            ("Erasure", erasure.get("erasureId")),
            ("Subject", f"{subject.get('kind')} {subject['id']}" if "id" in subject else subject.get("kind")),
            ("Suppress", erasure.get("suppress")),
            ("Status", erasure.get("status")),
            ("Requested at", erasure.get("requestedAt")),
            ("Deadline", erasure.get("deadline")),
            ("Completed at", erasure.get("completedAt")),
        ]
    )
    stores = erasure.get("stores") or {}
    rows = [
        [name, _removed(stores[name].get("removed") or {}), stores[name].get("remaining")]
        for name in STORES
        if name in stores
    ]
    return head + "\n" + table(["Store", "Removed", "Remaining"], rows, empty="(not carried out yet)")


def erasures_table(answer: dict[str, Any]) -> str:
    rows = [
        [
            erasure.get("erasureId"),
            (erasure.get("subject") or {}).get("kind"),
            erasure.get("status"),
            erasure.get("requestedAt"),
            erasure.get("deadline"),
            erasure.get("completedAt"),
        ]
        for erasure in answer.get("erasures", [])
    ]
    return table(["Erasure", "Subject", "Status", "Requested at", "Deadline", "Completed at"], rows)


def suppressions_table(answer: dict[str, Any]) -> str:
    rows = [[s.get("kind"), s.get("erasureId"), s.get("createdAt")] for s in answer.get("suppressions", [])]
    return table(["Subject", "Erasure", "Since"], rows)


def _removed(removed: dict[str, Any]) -> str:
    return ", ".join(f"{count} {name}" for name, count in removed.items()) or "-"
