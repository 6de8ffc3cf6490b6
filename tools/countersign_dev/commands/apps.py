"""`countersign apps create|rotate-token|limits`: applications, straight in the stack's tables
(operator commands: no admin token exists yet, or it is the one being replaced)."""

from __future__ import annotations

import argparse
from typing import Any

from countersign_dev.errors import CliError, UsageError
from countersign_dev.render import json_text
from countersign_dev.target import Target, add_target_options, resolve

#: The template parameters that hold each family's stack-wide default.
LIMIT_PARAMETERS = {"sdk": "AppSdkRequestsPerSecond", "admin": "AppAdminRequestsPerSecond"}


def register(commands: Any) -> None:
    group = commands.add_parser("apps", help="manage applications")
    actions = group.add_subparsers(dest="action_name", required=True, metavar="ACTION")
    for name, run, helptext, example in (
        ("create", create, "create an application; prints {appId, adminToken}", 'apps create --name "My app" --local'),
        (
            "rotate-token",
            rotate_token,
            "issue a new admin token and revoke the old ones",
            "apps rotate-token --app app_0123456789abcdef --local",
        ),
        (
            "limits",
            limits,
            "show or override an application's rate limits (requests per second)",
            "apps limits --app app_0123456789abcdef --sdk 50 --stack countersign-prod",
        ),
    ):
        sub = actions.add_parser(name, help=helptext, description=helptext, epilog=f"example: countersign {example}")
        if name == "create":
            sub.add_argument("--name", required=True, help="a name for the application")
        add_target_options(sub, app=name != "create")
        if name != "create":
            sub.add_argument("--app-id", dest="app", help=argparse.SUPPRESS)  # the earlier spelling of --app
        if name == "limits":
            for family, routes in (("sdk", "SDK routes (sessions, events)"), ("admin", "admin routes")):
                sub.add_argument(
                    f"--{family}",
                    type=_limit,
                    metavar="N|default",
                    help=f"requests per second on the {routes}; `default` restores the stack's parameter",
                )
        sub.set_defaults(run=run)


def create(args: argparse.Namespace) -> None:
    from countersign_dev.apps import create_application

    if not args.name.strip() or len(args.name) > 200:
        raise CliError("--name must be 1-200 characters")
    client, table = resolve(args, ("local", "stack")).table("ControlTableName")
    print(json_text(create_application(client, table, args.name.strip())), end="")


def rotate_token(args: argparse.Namespace) -> None:
    from countersign_dev.apps import rotate_admin_token

    target = _with_app(resolve(args, ("local", "stack")))
    client, table = target.table("ControlTableName")
    print(json_text(rotate_admin_token(client, table, str(target.app_id))), end="")


def limits(args: argparse.Namespace) -> None:
    """Set what was asked, then show each family's limit and where it comes from."""
    from countersign_dev.apps import set_rate_limits

    target = _with_app(resolve(args, ("local", "stack")))
    client, table = target.table("ControlTableName")
    changes = {
        family: None if value == "default" else value
        for family in LIMIT_PARAMETERS
        if (value := getattr(args, family)) is not None
    }
    overrides = set_rate_limits(client, table, str(target.app_id), changes)
    defaults = target.parameters()
    shown = {}
    for family, parameter in LIMIT_PARAMETERS.items():
        if family in overrides:
            shown[family] = {"requestsPerSecond": overrides[family], "from": "override"}
        else:
            shown[family] = {"requestsPerSecond": int(defaults[parameter]), "from": f"stack parameter {parameter}"}
    # Functions cache overrides like settings: they apply everywhere within CacheTtlSeconds.
    print(json_text({"appId": target.app_id, "limits": shown}), end="")


def _with_app(target: Target) -> Target:
    if not target.app_id:
        raise UsageError("give --app APP (the application id; or set COUNTERSIGN_APP_ID)")
    return target


def _limit(text: str) -> int | str:
    if text == "default":
        return text
    from countersign.numerals import decimal_at_most

    value = decimal_at_most(text, 100_000)
    if value is None or not 1 <= value <= 100_000:
        problem = f"{text[:20]!r} is not a number of requests per second (1-100000) or 'default'"
        raise argparse.ArgumentTypeError(problem)
    return value
