"""`countersign`: the operator and developer command line (SPEC 5).

User mistakes print one line on stderr and exit non-zero; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from countersign.errors import ApiError
from countersign_dev.errors import CliError
from countersign_dev.terminal import printable

DEFAULT_STATE_DIR = Path(".countersign")
#: Where `countersign sign` reads an HS256 secret from (keeps it out of shell history and `ps`).
SECRET_ENV = "COUNTERSIGN_SIGNING_SECRET"  # noqa: S105 - the variable's name, not a secret


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"countersign: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="countersign", description="Countersign operator and developer tools.")
    parser.add_argument("--version", action="version", version=f"countersign {_version()}", help="print the version")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    local = commands.add_parser("local", help="run the whole API locally (what `make dev` runs)")
    local.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    local.add_argument("--port", type=int, default=3000, help="API port; 0 picks a free port")
    local.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="where local.json is written")
    local.add_argument(
        "--allow-private-jwks-hosts",
        action="store_true",
        help="local development only: allow JWKS URIs on loopback/private addresses",
    )
    local.add_argument("--jwks-ca-bundle", metavar="PEM", help="local development only: CA bundle for JWKS TLS")
    local.add_argument("--quiet", action="store_true", help="do not log each request")
    local.add_argument(
        "--sdk-faults",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="local testing only: answer this share (0-1) of SDK requests 503/429, or lose the answer after the write",
    )
    local.add_argument("--fault-seed", type=int, help="with --sdk-faults: make the faults reproducible")

    apps = commands.add_parser("apps", help="manage applications").add_subparsers(
        dest="apps_command", required=True, parser_class=_Parser
    )
    for name, helptext in (
        ("create", "create an application; prints {appId, adminToken}"),
        ("rotate-token", "issue a new admin token and revoke the old ones"),
        ("limits", "show or override an application's rate limits (requests per second)"),
    ):
        sub = apps.add_parser(name, help=helptext)
        if name == "create":
            sub.add_argument("--name", required=True, help="a name for the application")
        else:
            sub.add_argument("--app-id", required=True, help="the application's id (app_...)")
        if name == "limits":
            for family, routes in (("sdk", "SDK routes (sessions, events)"), ("admin", "admin routes")):
                sub.add_argument(
                    f"--{family}",
                    type=_limit,
                    metavar="N|default",
                    help=f"requests per second on the {routes}; `default` restores the stack's parameter",
                )
        _add_stack_target(sub)

    upgrade = commands.add_parser("upgrade", help="one-off steps after upgrading a deployed stack").add_subparsers(
        dest="upgrade_command", required=True, parser_class=_Parser
    )
    receipts = upgrade.add_parser(
        "index-receipts",
        help="put the receipts written before the VisitorReceipts index into it (raw events by visitor)",
    )
    _add_stack_target(receipts)

    sign = commands.add_parser("sign", help="print a signed JWT for testing (adds a random nonce)")
    claims = sign.add_mutually_exclusive_group()
    claims.add_argument("--claims", help="claims as a JSON object")
    claims.add_argument("--claims-file", type=Path, help="file holding the claims JSON object")
    sign.add_argument("--visitor-id", help="shortcut: sets visitor.id")
    sign.add_argument("--account-id", help="shortcut: sets account.id")
    sign.add_argument("--expires-in", type=int, metavar="SECONDS", help="adds exp = now + SECONDS")
    sign.add_argument("--key-name", help="HS256: the signing key name")
    secret = sign.add_mutually_exclusive_group()
    # Refused with a clear line: a secret on the command line lands in shell history and `ps`.
    secret.add_argument("--secret", help=argparse.SUPPRESS)
    secret.add_argument("--secret-file", type=Path, help=f"HS256: file holding the secret (or set {SECRET_ENV})")
    secret.add_argument("--secret-stdin", action="store_true", help="HS256: read the secret from standard input")
    sign.add_argument("--private-key", type=Path, help="RS256: PEM private key")
    sign.add_argument("--kid", help="RS256: key id of the key in your JWKS")
    sign.add_argument("--session-body", action="store_true", help="print the POST /sessions body, not just the JWT")

    keygen = commands.add_parser("keygen", help="write an RSA private key and the matching JWKS")
    keygen.add_argument("--kid", required=True, help="key id to publish")
    keygen.add_argument("--private-key", type=Path, required=True, help="where to write the PEM private key")
    keygen.add_argument("--jwks", type=Path, required=True, help="JWKS file to write (an existing one gains the key)")
    keygen.add_argument(
        "--bits", type=int, default=2048, choices=[2048, 3072, 4096], help="RSA key size (default 2048)"
    )

    serve = commands.add_parser(
        "jwks-serve", help="local development: publish a JWKS file over HTTPS on loopback (throw-away CA)"
    )
    serve.add_argument("--jwks", type=Path, required=True, help="the JWKS file to publish (re-read on every request)")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    serve.add_argument("--port", type=int, default=8443, help="HTTPS port; 0 picks a free port")
    serve.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="where jwks-tls/ca.pem and jwks-serve.json go"
    )
    serve.add_argument("--quiet", action="store_true", help="do not log each request")

    from countersign_dev.admin_cli import register as register_admin_commands
    from countersign_dev.lake import add_lake_commands

    register_admin_commands(commands, _Parser)
    add_lake_commands(commands, _Parser, DEFAULT_STATE_DIR)
    return parser


def _add_stack_target(sub: argparse.ArgumentParser) -> None:
    target = sub.add_mutually_exclusive_group(required=True)
    target.add_argument("--local", action="store_true", help="the running local stack")
    target.add_argument("--stack", metavar="STACK", help="a deployed CloudFormation stack")
    sub.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="with --local: local.json's dir")
    sub.add_argument("--region", help="with --stack: AWS region (default: your AWS configuration)")


def _limit(text: str) -> int | str:
    if text == "default":
        return text
    from countersign.numerals import decimal_at_most

    value = decimal_at_most(text, 100_000)
    if value is None or not 1 <= value <= 100_000:
        problem = f"{text[:20]!r} is not a number of requests per second (1-100000) or 'default'"
        raise argparse.ArgumentTypeError(problem)
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("countersign-tools")
    except PackageNotFoundError:  # run from a source tree without `make install`
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except CliError as error:
        print(f"countersign: error: {error}", file=sys.stderr)
        return 1
    except ApiError as error:  # the layer refused (commands that reach the tables directly: apps, upgrade)
        print(f"countersign: error: {printable(error.message)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - the contract is one clear line, never a traceback
        print(f"countersign: error: {_describe(error)}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "local":
        from countersign_dev.commands import run_local

        run_local(args)
    elif args.command == "apps":
        from countersign_dev.commands import apps_command

        _print_json(apps_command(args))
    elif args.command == "upgrade":
        from countersign_dev.commands import upgrade_command

        _print_json(upgrade_command(args))
    elif args.command == "sign":
        from countersign_dev.signing import sign_command

        print(sign_command(args))
    elif args.command == "keygen":
        from countersign_dev.signing import keygen_command

        _print_json(keygen_command(args))
    elif args.command == "jwks-serve":
        from countersign_dev.jwks_serve import jwks_serve_command

        jwks_serve_command(args)
    elif args.command == "lake":
        from countersign_dev.lake import lake_command

        print(lake_command(args))
    else:
        from countersign_dev.admin_cli import admin_command

        admin_command(args)
    return 0


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _describe(error: Exception) -> str:
    """One line for an unexpected failure (AWS unreachable, missing credentials, I/O)."""
    name = type(error).__name__
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if name in {"NoCredentialsError", "NoRegionError", "EndpointConnectionError"}:
        return f"AWS is not reachable or configured ({text})"
    return f"{text} ({name})" if text else name


if __name__ == "__main__":
    sys.exit(main())
