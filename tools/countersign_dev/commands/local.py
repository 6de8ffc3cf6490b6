"""`countersign local`: the whole API on this machine (what `make dev` runs, SPEC 5)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from countersign_dev.errors import CliError
from countersign_dev.target import DEFAULT_STATE_DIR


def register(commands: Any) -> None:
    local = commands.add_parser(
        "local",
        help="run the whole API locally (what `make dev` runs)",
        description="Run the whole API locally: the API on loopback, AWS emulated by moto server.",
        epilog="example: countersign local --port 3000 --state-dir .countersign",
    )
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
    local.set_defaults(run=run_local)


def run_local(args: argparse.Namespace) -> None:
    from countersign_dev.emulation.local_stack import LocalOptions, LocalStack

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

The whole signed path, step by step (key, token, session, events, lake):
  .venv/bin/countersign demo

Another application: .venv/bin/countersign apps create --name "My app" --local
The data lake (accepted events within 10 s): .venv/bin/countersign lake events
Ctrl-C stops everything (the emulated AWS state is in memory and goes with it).
"""
