"""`countersign keys list|create|reveal|revoke`: the HS256 signing keys (SPEC 3.1)."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from countersign.keys import MAX_ACTIVE_KEYS, MAX_DESCRIPTION_CHARS
from countersign_dev.admin_api import AdminApiError, AdminClient, Shown, add_admin_command
from countersign_dev.errors import CliError
from countersign_dev.render import Terminal, count, pairs, printable, table


def register(commands: Any) -> None:
    group = commands.add_parser("keys", help="HS256 signing keys: list, create, reveal, revoke")
    actions = group.add_subparsers(dest="action_name", required=True, metavar="ACTION")
    add_admin_command(
        actions,
        "list",
        keys_list,
        "active keys and the log of revoked keys",
        example="example: countersign keys list --local",
    )
    create = add_admin_command(
        actions,
        "create",
        keys_create,
        f"generate a key (at most {MAX_ACTIVE_KEYS} active)",
        example='example: countersign keys create --description "web server" --local',
    )
    create.add_argument(
        "--description",
        required=True,
        help=f"helps you identify the key later (1-{MAX_DESCRIPTION_CHARS} characters)",
    )
    create.add_argument("--quiet", "-q", action="store_true", help="print only the new key's name")
    reveal = add_admin_command(
        actions,
        "reveal",
        keys_reveal,
        "show an active key's secret",
        example="example: countersign keys reveal key_0123456789abcdef --local -q",
    )
    reveal.add_argument("key_name", metavar="KEY_NAME", help="the key's name (keys list shows it)")
    reveal.add_argument("--quiet", "-q", action="store_true", help="print only the secret")
    revoke = add_admin_command(
        actions,
        "revoke",
        keys_revoke,
        "revoke a key for good (asks first)",
        confirm=True,
        example="example: countersign keys revoke key_0123456789abcdef --local",
    )
    revoke.add_argument("key_name", metavar="KEY_NAME", help="the key's name (keys list shows it)")


def keys_list(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    return client.call("GET", "/keys"), keys_tables


def keys_create(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    created = client.call("POST", "/keys", {"description": args.description})
    if args.quiet:
        return created, lambda key: f"{key['keyName']}\n"
    return (
        created,
        lambda key: (
            pairs(
                [
                    ("Key name", key["keyName"]),
                    ("Description", key["description"]),
                    ("Created at", key["createdAt"]),
                ]
            )
            + f"The secret stays hidden: countersign keys reveal {key['keyName']}\n"
        ),
    )


def keys_reveal(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    revealed = client.call("POST", f"/keys/{quote(args.key_name, safe='')}/reveal")
    if args.quiet:
        return revealed, lambda key: f"{key['secret']}\n"
    return revealed, lambda key: pairs([("Key name", key["keyName"]), ("Secret", key["secret"])])


def keys_revoke(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    path = f"/keys/{quote(args.key_name, safe='')}/revoke"
    listing = None if args.yes else client.call("GET", "/keys")
    key = None if listing is None else _active_key(listing, args.key_name)
    # An unknown or already revoked key: nothing to confirm, the API says what is wrong.
    if listing is not None and key is not None:
        terminal.err.write(
            f"Revoke {printable(key['keyName'])} ({printable(key['description'])})?\n"
            f"  Last used: {last_used(key)}\n"
            f"{_recent_use(client, path, listing)}"
            "  Data signed with it will be dropped. Revoking is permanent: it cannot be undone.\n"
        )
        if terminal.ask("Revoke it? [y/N] ").strip().lower() not in {"y", "yes"}:
            raise CliError("not confirmed: the key stays active")
    revoked = client.call("POST", path)
    return revoked, lambda key: f"Revoked {printable(key['keyName'])} at {key['revokedAt']}.\n"


def _recent_use(client: AdminClient, path: str, listing: dict[str, Any]) -> str:
    """What revoking the key would drop, as the API's dry-run of the revocation answers it (SPEC 3.5
    counts); nothing if that fails. An API older than the dry-run would ignore `dryRun` and revoke
    at once, so it is asked only of an API whose listing shows it knows it (`activeKeyLimit`)."""
    if "activeKeyLimit" not in listing:
        return ""
    try:
        preview = client.call("POST", path, {"dryRun": True})
    except AdminApiError:
        return ""
    impact = preview["impact"]
    lost = impact["wouldDrop"]
    sessions, events = count(lost["sessions"], "session"), count(lost["events"], "event")
    return f"  In the last {impact['hours']} hours it signed {sessions} and {events}.\n"


def _active_key(listing: dict[str, Any], key_name: str) -> dict[str, Any] | None:
    return next((key for key in listing.get("activeKeys", []) if key.get("keyName") == key_name), None)


def last_used(key: dict[str, Any]) -> str:
    return key.get("lastUsedAt") or "never"


def keys_tables(listing: dict[str, Any]) -> str:
    active = [[k["keyName"], k["description"], k["createdAt"], last_used(k)] for k in listing.get("activeKeys", [])]
    revoked = [
        [k["keyName"], k["description"], k["createdAt"], k["revokedAt"], last_used(k)]
        for k in listing.get("revokedKeys", [])
    ]
    limit = listing.get("activeKeyLimit")  # the API's limit (an older API does not say it)
    return (
        (f"Active keys ({len(active)} of {limit})\n" if limit is not None else f"Active keys ({len(active)})\n")
        + table(["KEY NAME", "DESCRIPTION", "CREATED", "LAST USED"], active, "(none: countersign keys create)")
        + "\nRevoked keys\n"
        + table(["KEY NAME", "DESCRIPTION", "CREATED", "REVOKED", "LAST USED"], revoked)
    )
