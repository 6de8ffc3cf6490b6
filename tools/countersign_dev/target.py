"""Where a command acts: the one target resolver of the CLI (SPEC 5).

Every command chooses its target the same way: the running local stack (`--local [--state-dir
DIR]`), a deployed API (`--api URL --app APP`) or a deployed stack (`--stack STACK [--region
R]`); the lake also reads a bucket (`--bucket NAME`). COUNTERSIGN_API_URL stands in for `--api`
and COUNTERSIGN_APP_ID for `--app` when they are not given; the admin token only ever comes from
COUNTERSIGN_ADMIN_TOKEN (or, for the local demo application, local.json). Commands add the options
with `add_target_options` and resolve them with `resolve`; what they then need (the admin API,
a table, the lake's bucket) they ask the `Target` for, so "where is the stack" is answered here.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from countersign_dev.errors import CliError, Exit, UsageError

DEFAULT_STATE_DIR = Path(".countersign")
TOKEN_VARIABLE = "COUNTERSIGN_ADMIN_TOKEN"  # noqa: S105 - the name of the variable, not a token
API_URL_VARIABLE = "COUNTERSIGN_API_URL"
APP_ID_VARIABLE = "COUNTERSIGN_APP_ID"
Where = Literal["local", "api", "stack", "bucket"]
#: The local stack's state (local.json) under the names of the deployed stack's outputs.
_LOCAL_OUTPUTS = {
    "ApiUrl": "apiUrl",
    "ControlTableName": "controlTable",
    "DataTableName": "dataTable",
    "ExportBucketName": "exportBucket",
    "ExportDeadLetterQueueUrl": "exportDeadLetterQueueUrl",
}
_OPTION = {"local": "--local", "api": "--api URL", "stack": "--stack STACK", "bucket": "--bucket NAME"}


def add_target_options(parser: argparse.ArgumentParser, *, bucket: bool = False, app: bool = True) -> None:
    """The target options every targeted command takes (the lake's commands also `--bucket`)."""
    group = parser.add_argument_group("target (one of; see docs/cli.md)")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="the running local stack")
    where.add_argument("--api", metavar="URL", help=f"a deployed API's base URL, https:// (or set {API_URL_VARIABLE})")
    where.add_argument("--stack", metavar="STACK", help="a deployed CloudFormation stack (its outputs say the rest)")
    if bucket:
        where.add_argument("--bucket", metavar="NAME", help="an export bucket")
    if app:
        group.add_argument(
            "--app", metavar="APP", help=f"the application id (or set {APP_ID_VARIABLE}; --local: the demo app)"
        )
    group.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="with --local: local.json's dir")
    group.add_argument("--region", help="with --stack/--bucket: AWS region (default: your AWS configuration)")


@dataclass
class Target:
    """A resolved target: where, which application, and the way to its API and AWS resources."""

    where: Where
    app_id: str | None = None
    state_dir: Path = DEFAULT_STATE_DIR
    state: dict[str, Any] = field(default_factory=dict)  # local.json, with --local
    api_url: str | None = None
    stack: str | None = None
    region: str | None = None
    bucket: str | None = None

    @property
    def local(self) -> bool:
        return self.where == "local"

    @property
    def demo_app(self) -> dict[str, str]:
        return dict(self.state.get("demoApp") or {})

    def client(self, service: str) -> Any:
        """A boto3 client of the target's AWS (the local stack's moto server with --local)."""
        import boto3

        if self.local:
            return boto3.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self.state["awsEndpointUrl"],
                region_name=self.state["region"],
                aws_access_key_id="countersign-local",
                aws_secret_access_key="countersign-local",  # noqa: S106 - moto accepts any credentials
            )
        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]

    def output(self, name: str, *, required: bool = True) -> str:
        """A stack output (ControlTableName, ExportBucketName...); local.json's value with --local.
        A missing one is an error, or "" when not `required`."""
        value = str(self.state.get(_LOCAL_OUTPUTS[name]) or "") if self.local else self.outputs.get(name, "")
        if not value and required:
            if self.local:
                raise CliError(f"{self.state_dir}/local.json has no {_LOCAL_OUTPUTS[name]}: restart the local stack")
            raise CliError(f"stack {self.stack} has no {name} output: is it a Countersign stack of this version?")
        return value

    def table(self, output: str) -> tuple[Any, str]:
        """A DynamoDB client and the table named by the stack's `output` (ControlTableName, DataTableName)."""
        client, table = self.client("dynamodb"), self.output(output)
        if self.local:
            try:
                client.describe_table(TableName=table)
            except Exception as error:
                raise CliError(f"the local stack in {self.state_dir} is not running (make dev)") from error
        return client, table

    @cached_property
    def outputs(self) -> dict[str, str]:
        cloudformation = self.client("cloudformation")
        try:
            described = cloudformation.describe_stacks(StackName=self.stack)["Stacks"][0]
        except cloudformation.exceptions.ClientError as error:
            message = error.response["Error"].get("Message", "not found")
            missing = Exit.NOT_FOUND if "does not exist" in message else Exit.FAILURE
            raise CliError(f"stack {self.stack}: {message}", missing) from error
        return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}

    def parameters(self) -> dict[str, str]:
        """The stack's parameters (the local stack runs with the template's defaults)."""
        if self.local:
            from countersign_dev.emulation import template as tpl

            return tpl.parameter_defaults(tpl.load_template())
        described = self.client("cloudformation").describe_stacks(StackName=self.stack)["Stacks"][0]
        return {p["ParameterKey"]: p.get("ResolvedValue", p["ParameterValue"]) for p in described.get("Parameters", [])}

    def admin(self, environ: Mapping[str, str] | None = None) -> AdminTarget:
        """The admin API of the application, and its token (never from the command line)."""
        environ = os.environ if environ is None else environ
        token = environ.get(TOKEN_VARIABLE, "").strip()
        if not self.local:
            if not self.app_id:
                raise UsageError(f"--{self.where} needs --app APP (the application id; or set {APP_ID_VARIABLE})")
            if not token:
                raise CliError(f"set {TOKEN_VARIABLE} to the application's admin token", Exit.AUTHENTICATION)
            api_url = self.api_url if self.where == "api" else self.output("ApiUrl")
            return AdminTarget(str(api_url).rstrip("/"), self.app_id, token, local=False)
        demo = self.demo_app
        app_id = self.app_id or demo["appId"]
        if not token:
            if app_id != demo["appId"]:
                raise CliError(
                    f"set {TOKEN_VARIABLE} to the admin token of {app_id} (local.json has the demo app's only)",
                    Exit.AUTHENTICATION,
                )
            token = demo["adminToken"]
        return AdminTarget(str(self.state["apiUrl"]).rstrip("/"), app_id, token, local=True)


@dataclass(frozen=True)
class AdminTarget:
    api_url: str
    app_id: str
    token: str
    local: bool


def resolve(
    args: argparse.Namespace,
    accepts: Iterable[Where] = ("local", "api", "stack"),
    *,
    default: Where | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """The target the options (or the environment) name; `default` when neither names one."""
    environ = os.environ if environ is None else environ
    accepted = tuple(accepts)
    app_id = getattr(args, "app", None) or environ.get(APP_ID_VARIABLE, "").strip() or None
    region = getattr(args, "region", None)
    state_dir = getattr(args, "state_dir", DEFAULT_STATE_DIR)
    chosen = [kind for kind in ("local", "api", "stack", "bucket") if getattr(args, kind, None)]
    where: Where | None = chosen[0] if chosen else None  # type: ignore[assignment]
    api_url = getattr(args, "api", None)
    if where is None and environ.get(API_URL_VARIABLE, "").strip() and "api" in accepted:
        where, api_url = "api", environ[API_URL_VARIABLE].strip()
    where = where or default
    if where is None:
        raise UsageError(f"choose a target: {_choices(accepted)} (or set {API_URL_VARIABLE})")
    if where not in accepted:
        command = " ".join(part for part in (getattr(args, "command", ""), getattr(args, "action_name", "")) if part)
        raise UsageError(f"`countersign {command}` cannot use {_OPTION[where]}: give {_choices(accepted)}")
    if where == "api":
        check_api_url(str(api_url))
        return Target("api", app_id, api_url=str(api_url))
    if where == "stack":
        return Target("stack", app_id, stack=args.stack, region=region)
    if where == "bucket":
        return Target("bucket", app_id, bucket=args.bucket, region=region)
    return Target("local", app_id, state_dir=state_dir, state=read_local_state(state_dir))


def _choices(accepted: tuple[Where, ...]) -> str:
    options = [f"{_OPTION[kind]}{' --app APP' if kind == 'api' else ''}" for kind in accepted]
    return ", ".join(options[:-1]) + f" or {options[-1]}" if len(options) > 1 else options[0]


def read_local_state(state_dir: Path) -> dict[str, Any]:
    """local.json of the running local stack (SPEC 5), or a one-line error saying what to do."""
    state_file = state_dir / "local.json"
    try:
        state = json.loads(state_file.read_text())
        if not isinstance(state, dict) or not state.get("apiUrl") or not isinstance(state.get("demoApp"), dict):
            raise ValueError("no apiUrl or demoApp")
    except FileNotFoundError as error:
        raise CliError(f"{state_file} not found: start the local stack first (make dev)") from error
    except (OSError, ValueError) as error:
        raise CliError(f"{state_file} is not a local stack's state file ({error})") from error
    return state


def check_api_url(url: str) -> None:
    """An https:// URL, or plain http:// to this machine only: the admin token must not cross a
    network in clear text (a proxy, a shared Wi-Fi or a mistyped host would read it)."""
    from urllib.parse import urlsplit

    from countersign_dev.render import printable

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
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name other than localhost could resolve anywhere
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))
