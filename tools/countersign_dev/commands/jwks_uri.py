"""`countersign jwks-uri test|save`: RS256's JWKS URI (SPEC 3.2)."""

from __future__ import annotations

import argparse
from typing import Any

from countersign_dev.admin_api import AdminClient, Shown, add_admin_command
from countersign_dev.commands.settings import settings_table
from countersign_dev.render import Terminal, table


def register(commands: Any) -> None:
    group = commands.add_parser("jwks-uri", help="RS256: test a JWKS URI, then save it")
    actions = group.add_subparsers(dest="action_name", required=True, metavar="ACTION")
    for name, action, helptext in (
        ("test", jwks_test, "fetch the URI and list its usable keys"),
        ("save", jwks_save, "save a tested URI"),
    ):
        example = f"example: countersign jwks-uri {name} https://example.com/.well-known/jwks.json --local"
        sub = add_admin_command(actions, name, action, helptext, example=example)
        sub.add_argument("uri", metavar="URI", help="the https:// address of your JWK Set")


def jwks_test(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    def show(report: dict[str, Any]) -> str:
        rows = [[k.get("kid"), k.get("kty"), k.get("alg"), k.get("bits")] for k in report.get("keys", [])]
        return f"The JWKS URI passed its test at {report.get('testedAt')}; save it within 15 minutes.\n" + table(
            ["KID", "KTY", "ALG", "BITS"], rows
        )

    return client.call("POST", "/jwks-uri/test", {"uri": args.uri}), show


def jwks_save(client: AdminClient, args: argparse.Namespace, terminal: Terminal) -> Shown:
    return client.call("PUT", "/jwks-uri", {"uri": args.uri}), settings_table
