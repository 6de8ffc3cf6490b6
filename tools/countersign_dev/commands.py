"""The `local`, `apps` and `upgrade` commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from countersign_dev.errors import CliError


def run_local(args: argparse.Namespace) -> None:
    from countersign_dev.local_stack import LocalOptions, LocalStack

    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        raise CliError("the local stack listens on loopback only (--host 127.0.0.1)")
    if args.jwks_ca_bundle and not Path(args.jwks_ca_bundle).is_file():
        raise CliError(f"--jwks-ca-bundle {args.jwks_ca_bundle}: no such file")
    if not 0 <= args.sdk_faults <= 1:
        raise CliError("--sdk-faults is a share from 0 to 1 (0.3 fails about one SDK request in three)")
    stack = LocalStack(
        LocalOptions(
            host=args.host,
            port=args.port,
            state_dir=args.state_dir,
            allow_private_jwks_hosts=args.allow_private_jwks_hosts,
            jwks_ca_bundle=args.jwks_ca_bundle,
            quiet=args.quiet,
            sdk_fault_rate=args.sdk_faults,
            fault_seed=args.fault_seed,
        )
    )
    try:
        state = stack.start()
    except OSError as error:
        stack.stop()
        raise CliError(f"cannot listen on {args.host}:{args.port} ({error.strerror or error})") from error
    print(banner(state.to_json(), args.state_dir), flush=True)
    stack.serve_forever()
    print("countersign local: stopped", file=sys.stderr, flush=True)
    sys.stdout.flush()
    # Everything is stopped and flushed; the interpreter's final garbage collection of every
    # container's modules and moto's backends would take seconds more (Ctrl-C must be quick).
    os._exit(0)


def banner(state: dict[str, Any], state_dir: Path) -> str:
    api, app = state["apiUrl"], state["demoApp"]
    base = f"{api}/v1/apps/{app['appId']}"
    auth = f'-H "Authorization: Bearer {app["adminToken"]}"'
    return f"""
Countersign local stack is up (moto server: {state["awsEndpointUrl"]}, state: {state_dir}/local.json)

  API        {api}
  OpenAPI    {api}/openapi.json
  Console    {api}/console  (sign in with the demo app and its admin token below)
  SDK        {api}/sdk/countersign.js
  Demo app   {app["appId"]}
  Admin      {app["adminToken"]}

Try:
  curl -s {auth} {base}/settings
  curl -s -X PATCH {auth} -H "Content-Type: application/json" \\
       -d '{{"useSignedMetadata": true}}' {base}/settings
  curl -s -X POST {auth} -H "Content-Type: application/json" \\
       -d '{{"description": "web server"}}' {base}/keys
  curl -s -X POST -H "Content-Type: application/json" \\
       -d '{{"metadata": {{"visitor": {{"id": "v-1"}}, "account": {{"id": "a-1"}}}}}}' {base}/sessions

The same admin calls from the CLI (the demo app's token is read from local.json):
  .venv/bin/countersign settings set --use-signed-metadata on --local
  .venv/bin/countersign keys create --description "web server" --local

Another application: .venv/bin/countersign apps create --name "My app" --local
The data lake (accepted events within 10 s): .venv/bin/countersign lake events
Ctrl-C stops everything (the emulated AWS state is in memory and goes with it).
"""


def apps_command(args: argparse.Namespace) -> dict[str, Any]:
    from countersign_dev.apps import create_application, rotate_admin_token

    client, table = _stack_table(args, "ControlTableName")
    if args.apps_command == "create":
        if not args.name.strip() or len(args.name) > 200:
            raise CliError("--name must be 1-200 characters")
        return create_application(client, table, args.name.strip())
    if args.apps_command == "limits":
        return _limits(args, client, table)
    return rotate_admin_token(client, table, args.app_id)


def upgrade_command(args: argparse.Namespace) -> dict[str, Any]:
    from countersign.store.data import DataStore

    client, table = _stack_table(args, "DataTableName")
    return {"indexedReceipts": DataStore(table, client).index_unindexed_receipts()}


#: The template parameters that hold each family's stack-wide default.
LIMIT_PARAMETERS = {"sdk": "AppSdkRequestsPerSecond", "admin": "AppAdminRequestsPerSecond"}


def _limits(args: argparse.Namespace, client: Any, table: str) -> dict[str, Any]:
    """Set what was asked, then show each family's limit and where it comes from."""
    from countersign.errors import ApiError
    from countersign_dev.apps import set_rate_limits

    changes = {
        family: None if value == "default" else value
        for family in LIMIT_PARAMETERS
        if (value := getattr(args, family)) is not None
    }
    try:
        overrides = set_rate_limits(client, table, args.app_id, changes)
    except ApiError as error:
        raise CliError(error.message) from error
    defaults = _stack_parameters(args)
    limits = {}
    for family, parameter in LIMIT_PARAMETERS.items():
        if family in overrides:
            limits[family] = {"requestsPerSecond": overrides[family], "from": "override"}
        else:
            limits[family] = {"requestsPerSecond": int(defaults[parameter]), "from": f"stack parameter {parameter}"}
    # Functions cache overrides like settings: they apply everywhere within CacheTtlSeconds.
    return {"appId": args.app_id, "limits": limits}


def _stack_parameters(args: argparse.Namespace) -> dict[str, str]:
    if args.local:  # the local stack runs with the template's defaults
        from countersign_dev import template as tpl

        return tpl.parameter_defaults(tpl.load_template())
    import boto3

    stack = boto3.client("cloudformation", region_name=args.region).describe_stacks(StackName=args.stack)["Stacks"][0]
    return {p["ParameterKey"]: p.get("ResolvedValue", p["ParameterValue"]) for p in stack.get("Parameters", [])}


def _stack_table(args: argparse.Namespace, output: str) -> tuple[Any, str]:
    """A DynamoDB client and the table named by the stack's `output` (ControlTableName, DataTableName)."""
    import boto3

    if args.local:
        from countersign_dev.local_stack import read_state

        try:
            state = read_state(args.state_dir)
        except FileNotFoundError as error:
            raise CliError(str(error)) from error
        client = boto3.client(
            "dynamodb",
            endpoint_url=state.aws_endpoint_url,
            region_name=state.region,
            aws_access_key_id="countersign-local",
            aws_secret_access_key="countersign-local",  # noqa: S106 - moto accepts any credentials
        )
        table = state.control_table if output == "ControlTableName" else state.data_table
        try:
            client.describe_table(TableName=table)
        except Exception as error:
            raise CliError(f"the local stack in {args.state_dir} is not running (make dev)") from error
        return client, table
    cloudformation = boto3.client("cloudformation", region_name=args.region)
    try:
        stack = cloudformation.describe_stacks(StackName=args.stack)["Stacks"][0]
    except cloudformation.exceptions.ClientError as error:
        raise CliError(f"stack {args.stack}: {error.response['Error'].get('Message', 'not found')}") from error
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if output not in outputs:
        raise CliError(f"stack {args.stack} has no {output} output: is it a Countersign stack?")
    return boto3.client("dynamodb", region_name=args.region), outputs[output]
