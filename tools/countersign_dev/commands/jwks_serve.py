"""`countersign jwks-serve`: publish a JWKS file over HTTPS on loopback (local RS256 development)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from countersign_dev.target import DEFAULT_STATE_DIR


def register(commands: Any) -> None:
    serve = commands.add_parser(
        "jwks-serve",
        help="local development: publish a JWKS file over HTTPS on loopback (throw-away CA)",
        epilog="example: countersign jwks-serve --jwks jwks.json --port 8443",
    )
    serve.add_argument("--jwks", type=Path, required=True, help="the JWKS file to publish (re-read on every request)")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    serve.add_argument("--port", type=int, default=8443, help="HTTPS port; 0 picks a free port")
    serve.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="where jwks-tls/ca.pem and jwks-serve.json go"
    )
    serve.add_argument("--quiet", action="store_true", help="do not log each request")
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from countersign_dev.devtools.jwks_serve import jwks_serve_command

    jwks_serve_command(args)
