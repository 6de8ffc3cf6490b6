"""`countersign`: the operator and developer command line (SPEC 5). Dispatch only.

Each command group lives in `countersign_dev/commands/` (see its package docstring); this module
builds the parser from them, runs the chosen command, and turns every failure into one line on
stderr and an exit status (errors.Exit: 1 failure, 2 usage, 3 authentication, 4 not found).
User mistakes never print a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from countersign.errors import ApiError
from countersign_dev.commands import GROUPS
from countersign_dev.errors import CliError, Exit, status_of_http
from countersign_dev.render import printable


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"countersign: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="countersign", description="Countersign operator and developer tools.")
    parser.add_argument("--version", action="version", version=f"countersign {_version()}", help="print the version")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("countersign-tools")
    except PackageNotFoundError:  # run from a source tree without `make install`
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except CliError as error:  # printable: a message may quote what the API or the lake holds
        print(f"countersign: error: {printable(str(error))}", file=sys.stderr)
        return int(error.status)
    except ApiError as error:  # the layer refused (commands that reach the tables directly: apps, upgrade)
        print(f"countersign: error: {printable(error.message)}", file=sys.stderr)
        return int(status_of_http(error.status))
    except KeyboardInterrupt:
        return int(Exit.INTERRUPTED)
    except Exception as error:  # noqa: BLE001 - the contract is one clear line, never a traceback
        print(f"countersign: error: {_describe(error)}", file=sys.stderr)
        return int(Exit.FAILURE)
    return int(Exit.OK)


def _describe(error: Exception) -> str:
    """One line for an unexpected failure (AWS unreachable, missing credentials, I/O)."""
    name = type(error).__name__
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if name in {"NoCredentialsError", "NoRegionError", "EndpointConnectionError"}:
        return f"AWS is not reachable or configured ({text})"
    return f"{printable(text)} ({name})" if text else name


if __name__ == "__main__":
    sys.exit(main())
