"""Admin commands (SPEC 5): every admin route of one application, from a terminal.

`countersign settings|keys|jwks-uri|raw-events|diagnostics|coverage ...` talks HTTP to the local
stack (`--local`, the demo application unless `--app`) or a deployed API (`--api URL --app APP`).
The admin token comes from COUNTERSIGN_ADMIN_TOKEN or, for the local demo application, from
local.json; never from an argument, which would land in the shell's history. Output is a table,
or the API's JSON with `--json`. What cannot be undone or drops data asks first (`--yes` skips).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from countersign_dev.cli import DEFAULT_STATE_DIR
from countersign_dev.errors import CliError
from countersign_dev.terminal import printable

TOKEN_VARIABLE = "COUNTERSIGN_ADMIN_TOKEN"  # noqa: S105 - the name of the variable, not a token
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
    ("useRs256SignedMetadata", False): (
        "Use RS256-signed metadata off: the saved JWKS URI is removed and data signed with RS256 "
        "will be dropped. Dropped data cannot be recovered."
    ),
}
COMMANDS = ("settings", "keys", "jwks-uri", "raw-events", "diagnostics", "coverage")
_DESCRIPTION_WIDTH = 40


class AdminApiError(CliError):
    """The API answered an error: its body (for --json) and one line for the terminal."""

    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            line = f"the API answered HTTP {status} without an error body: is it a Countersign API?"
            error = {}
        else:
            line = str(error.get("message"))
            if error.get("detail"):
                line += f"{'' if line.endswith(('.', '!', '?')) else ':'} {error['detail']}"
            line = f"{line} ({error.get('code')}, HTTP {status})"
        if status == 401:
            line += f": check {TOKEN_VARIABLE} (the application's admin token)"
        super().__init__(printable(line))
        self.status = status
        self.body = body
        self.code = error.get("code")


# ---------------------------------------------------------------------------------------- parser


def register(commands: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add the admin command families to `countersign`'s subcommands (called by cli.py)."""
    target = argparse.ArgumentParser(add_help=False)
    where = target.add_argument_group("target (one of)")
    where.add_argument("--local", action="store_true", help="the running local stack (the demo app unless --app)")
    where.add_argument("--api", metavar="URL", help="a deployed API's base URL (with --app)")
    target.add_argument("--app", metavar="APP", help="the application id")
    target.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="with --local: the dir of local.json")
    target.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    confirm = argparse.ArgumentParser(add_help=False)
    confirm.add_argument("--yes", action="store_true", help="confirm without asking (non-interactive use)")

    def family(name: str, helptext: str) -> Any:
        sub = commands.add_parser(name, help=helptext)
        return sub.add_subparsers(dest="admin_command", required=True, parser_class=parser_class)

    settings = family("settings", "read or change the acceptance settings")
    settings.add_parser("get", parents=[target], help="show the settings")
    setter = settings.add_parser("set", parents=[target, confirm], help="change toggles (asks before dropping data)")
    for option, field in TOGGLE_OPTIONS.items():
        flag = f"--{option.replace('_', '-')}"
        setter.add_argument(flag, choices=["on", "off"], help=f"{SETTING_LABELS[field]}: on or off")

    keys = family("keys", "HS256 signing keys: list, create, reveal, revoke")
    keys.add_parser("list", parents=[target], help="active keys and the log of revoked keys")
    create = keys.add_parser("create", parents=[target], help="generate a key (at most five active)")
    create.add_argument("--description", required=True, help="helps you identify the key later (1-200 characters)")
    create.add_argument("--quiet", "-q", action="store_true", help="print only the new key's name")
    reveal = keys.add_parser("reveal", parents=[target], help="show an active key's secret")
    reveal.add_argument("key_name", metavar="KEY_NAME", help="the key's name (keys list shows it)")
    reveal.add_argument("--quiet", "-q", action="store_true", help="print only the secret")
    revoke = keys.add_parser("revoke", parents=[target, confirm], help="revoke a key for good (asks first)")
    revoke.add_argument("key_name", metavar="KEY_NAME", help="the key's name (keys list shows it)")

    jwks = family("jwks-uri", "RS256: test a JWKS URI, then save it")
    for action, helptext in (("test", "fetch the URI and list its usable keys"), ("save", "save a tested URI")):
        sub = jwks.add_parser(action, parents=[target], help=helptext)
        sub.add_argument("uri", metavar="URI", help="the https:// address of your JWK Set")

    raw = commands.add_parser("raw-events", parents=[target], help="the newest accepted events")
    raw.add_argument("--visitor", metavar="VISITOR_ID", help="only this visitor's events")
    raw.add_argument("--limit", type=int, metavar="N", help="how many (1-100, default 25)")
    commands.add_parser("diagnostics", parents=[target], help="accepted, duplicate and dropped counts; latest drops")
    coverage = commands.add_parser("coverage", parents=[target], help="how much traffic is signed, by mode and key")
    coverage.add_argument("--hours", type=int, metavar="N", help="the window (1-720, default 24)")


# ---------------------------------------------------------------------------------------- target


@dataclass(frozen=True)
class AdminTarget:
    api_url: str
    app_id: str
    token: str
    local: bool


def resolve_target(args: argparse.Namespace, environ: dict[str, str] | None = None) -> AdminTarget:
    """Where to send the request and with which token (never taken from the command line)."""
    environ = dict(os.environ) if environ is None else environ
    token = environ.get(TOKEN_VARIABLE, "").strip()
    if args.local and args.api:
        raise CliError("choose one target: --local, or --api URL --app APP")
    if args.api:
        check_api_url(args.api)
        if not args.app:
            raise CliError("--api needs --app APP (the application id)")
        if not token:
            raise CliError(f"set {TOKEN_VARIABLE} to the application's admin token")
        return AdminTarget(args.api.rstrip("/"), args.app, token, local=False)
    if not args.local:
        raise CliError("choose a target: --local (the local stack), or --api URL --app APP")
    state_file = args.state_dir / "local.json"
    try:
        state = json.loads(state_file.read_text())
        api_url, demo = str(state["apiUrl"]), dict(state["demoApp"])
    except FileNotFoundError as error:
        raise CliError(f"{state_file} not found: start the local stack first (make dev)") from error
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CliError(f"{state_file} is not a local stack's state file ({error})") from error
    app_id = args.app or demo["appId"]
    if not token:
        if app_id != demo["appId"]:
            raise CliError(f"set {TOKEN_VARIABLE} to the admin token of {app_id} (local.json has the demo app's only)")
        token = demo["adminToken"]
    return AdminTarget(api_url.rstrip("/"), app_id, token, local=True)


def check_api_url(url: str) -> None:
    """An https:// URL, or plain http:// to this machine only: the admin token must not cross a
    network in clear text (a proxy, a shared Wi-Fi or a mistyped host would read it)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"} or not parts.hostname:
        raise CliError(f"--api {printable(url)}: give the API's base URL (https://...)")
    if scheme == "http" and not _loopback(parts.hostname):
        raise CliError(
            f"--api {printable(url)}: refusing to send the admin token over plain HTTP to "
            f"{printable(parts.hostname)}; use https:// (plain http:// is for this machine only)"
        )


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name other than localhost could resolve anywhere
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


class AdminClient:
    """The admin routes of one application over HTTP; an error answer raises AdminApiError."""

    def __init__(self, target: AdminTarget) -> None:
        import requests

        self.target = target
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {target.token}"

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        import requests

        url = f"{self.target.api_url}/v1/apps/{quote(self.target.app_id, safe='')}{path}"
        try:
            response = self.http.request(method, url, json=body, params=params, timeout=30)
        except requests.RequestException as error:
            hint = ": is the local stack running (make dev)?" if self.target.local else ""
            raise CliError(f"cannot reach {self.target.api_url} ({type(error).__name__}){hint}") from error
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400:
            raise AdminApiError(response.status_code, answer)
        if answer is None:
            raise CliError(f"{self.target.api_url} answered HTTP {response.status_code} without JSON")
        return answer


# ---------------------------------------------------------------------------------------- commands


@dataclass
class Terminal:
    """Where output, prompts and answers go (tests hand in their own streams)."""

    out: TextIO
    err: TextIO
    answers: TextIO

    def ask(self, question: str) -> str:
        """One line of answer to `question`; none (end of input) is an error that says --yes."""
        self.err.write(question)
        self.err.flush()
        line = self.answers.readline()
        if not line:
            self.err.write("\n")
            raise CliError("no answer to the confirmation: answer it in a terminal, or pass --yes")
        if not self.answers.isatty():  # a piped answer is not echoed: end the prompt's line
            self.err.write("\n")
        return line.rstrip("\r\n")


def admin_command(args: argparse.Namespace, terminal: Terminal | None = None) -> None:
    """Run one admin command: print its table (or JSON), or raise CliError."""
    terminal = terminal or Terminal(sys.stdout, sys.stderr, sys.stdin)
    client = AdminClient(resolve_target(args))
    family_action = getattr(args, "admin_command", None)
    run = _COMMANDS[f"{args.command} {family_action}" if family_action else args.command]
    try:
        answer, show = run(client, args, terminal)
    except AdminApiError as error:
        if args.json and error.body is not None:
            _print_json(terminal.out, error.body)
        raise
    if args.json:
        _print_json(terminal.out, answer)
    else:
        terminal.out.write(show(answer))


Shown = tuple[Any, Callable[[Any], str]]


def _settings_get(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    return client.call("GET", "/settings"), settings_table


def _settings_set(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
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
    """What the last 24 hours would have lost under the new settings (SPEC 3.5)."""
    impact = dry_run.get("impact", {})
    lost = impact.get("wouldDrop", {})
    return (
        f"Impact: in the last {impact.get('hours', 24)} hours this would have dropped "
        f"{_count(lost.get('sessions', 0), 'session')} and {_count(lost.get('events', 0), 'event')}.\n"
    )


def _keys_list(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    return client.call("GET", "/keys"), keys_tables


def _keys_create(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
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


def _keys_reveal(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    revealed = client.call("POST", f"/keys/{quote(args.key_name, safe='')}/reveal")
    if args.quiet:
        return revealed, lambda key: f"{key['secret']}\n"
    return revealed, lambda key: pairs([("Key name", key["keyName"]), ("Secret", key["secret"])])


def _keys_revoke(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    path = f"/keys/{quote(args.key_name, safe='')}/revoke"
    key = None if args.yes else _active_key(client, args.key_name)
    # An unknown or already revoked key: nothing to confirm, the API says what is wrong.
    if key is not None:
        terminal.err.write(
            f"Revoke {printable(key['keyName'])} ({printable(key['description'])})?\n"
            f"  Last used: {last_used(key)}\n"
            f"{_recent_use(client, key['keyName'])}"
            "  Data signed with it will be dropped. Revoking is permanent: it cannot be undone.\n"
        )
        if terminal.ask("Revoke it? [y/N] ").strip().lower() not in {"y", "yes"}:
            raise CliError("not confirmed: the key stays active")
    revoked = client.call("POST", path)
    return revoked, lambda key: f"Revoked {printable(key['keyName'])} at {key['revokedAt']}.\n"


def _recent_use(client: AdminClient, key_name: str) -> str:
    """What the key signed in the last 24 hours (coverage, SPEC 3.5); nothing if that fails."""
    try:
        coverage = client.call("GET", "/coverage", params={"hours": 24})
    except AdminApiError:
        return ""
    usage: dict[str, Any] = next((k for k in coverage.get("keys", []) if k.get("keyName") == key_name), {})
    sessions, events = _count(usage.get("sessions", 0), "session"), _count(usage.get("events", 0), "event")
    return f"  In the last 24 hours it signed {sessions} and {events}.\n"


def _active_key(client: AdminClient, key_name: str) -> dict[str, Any] | None:
    listing = client.call("GET", "/keys")
    return next((key for key in listing.get("activeKeys", []) if key.get("keyName") == key_name), None)


def _jwks_test(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    def show(report: dict[str, Any]) -> str:
        rows = [[k.get("kid"), k.get("kty"), k.get("alg"), k.get("bits")] for k in report.get("keys", [])]
        return f"The JWKS URI passed its test at {report.get('testedAt')}; save it within 15 minutes.\n" + table(
            ["KID", "KTY", "ALG", "BITS"], rows
        )

    return client.call("POST", "/jwks-uri/test", {"uri": args.uri}), show


def _jwks_save(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    return client.call("PUT", "/jwks-uri", {"uri": args.uri}), settings_table


def _raw_events(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    params = {name: value for name, value in (("visitorId", args.visitor), ("limit", args.limit)) if value is not None}
    return client.call("GET", "/raw-events", params=params), raw_events_table


def _diagnostics(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    return client.call("GET", "/diagnostics"), diagnostics_tables


def _coverage(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    params = {"hours": args.hours} if args.hours is not None else None
    return client.call("GET", "/coverage", params=params), coverage_tables


_COMMANDS: dict[str, Callable[[AdminClient, argparse.Namespace, Terminal], Shown]] = {
    "settings get": _settings_get,
    "settings set": _settings_set,
    "keys list": _keys_list,
    "keys create": _keys_create,
    "keys reveal": _keys_reveal,
    "keys revoke": _keys_revoke,
    "jwks-uri test": _jwks_test,
    "jwks-uri save": _jwks_save,
    "raw-events": _raw_events,
    "diagnostics": _diagnostics,
    "coverage": _coverage,
}


# ---------------------------------------------------------------------------------------- tables


def _cell(value: Any, width: int | None = None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    text = printable(value)
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str = "(none)") -> str:
    """Columns aligned under their headers; `empty` when there is no row."""
    if not rows:
        return f"{empty}\n"
    cells = [[_cell(value, _DESCRIPTION_WIDTH) for value in row] for row in rows]
    widths = [max(len(header), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]
    lines = [headers, *cells]
    return "".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() + "\n" for line in lines)


def pairs(items: Sequence[tuple[str, Any]]) -> str:
    width = max(len(label) for label, _ in items)
    return "".join(f"{label.ljust(width)}  {_cell(value)}\n" for label, value in items)


def settings_table(settings: dict[str, Any]) -> str:
    return pairs([(label, settings.get(field)) for field, label in SETTING_LABELS.items()])


def last_used(key: dict[str, Any]) -> str:
    return key.get("lastUsedAt") or "never"


def keys_tables(listing: dict[str, Any]) -> str:
    active = [[k["keyName"], k["description"], k["createdAt"], last_used(k)] for k in listing.get("activeKeys", [])]
    revoked = [
        [k["keyName"], k["description"], k["createdAt"], k["revokedAt"], last_used(k)]
        for k in listing.get("revokedKeys", [])
    ]
    return (
        f"Active keys ({len(active)} of 5)\n"
        + table(["KEY NAME", "DESCRIPTION", "CREATED", "LAST USED"], active, "(none: countersign keys create)")
        + "\nRevoked keys\n"
        + table(["KEY NAME", "DESCRIPTION", "CREATED", "REVOKED", "LAST USED"], revoked)
    )


def _verified(verification: dict[str, Any]) -> str:
    mode = str(verification.get("mode", "-"))
    by = verification.get("keyName") or verification.get("kid")
    return f"{mode} {by}" if by else mode


def _utc(epoch_ms: Any) -> str:
    if not isinstance(epoch_ms, int):
        return _cell(epoch_ms)
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
    return table(headers, rows, "(no accepted events yet)")


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
    )


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
        + f"\nOnly allow signed metadata would have dropped {_count(lost.get('sessions', 0), 'session')}"
        f" and {_count(lost.get('events', 0), 'event')}.\n"
    )


def _count(value: Any, noun: str) -> str:
    return f"{value} {noun}{'' if value == 1 else 's'}"


def _print_json(out: TextIO, value: Any) -> None:
    out.write(json.dumps(value, indent=2) + "\n")
