"""The command groups of `countersign`, one module each (SPEC 5).

A command group is a module here with `register(commands)`: it adds its parsers to the CLI's
subcommands and sets `run` on each (a function of the parsed arguments that prints its output
or raises CliError). `cli.py` only builds the parser from GROUPS and calls `args.run(args)`.
Adding a group: write the module, add it to GROUPS, document it in docs/cli.md.
"""

from __future__ import annotations

from types import ModuleType

from countersign_dev.commands import (
    apps,
    demo,
    erasures,
    jwks_serve,
    jwks_uri,
    keys,
    lake,
    local,
    reports,
    settings,
    signing,
    upgrade,
)

#: In the order `countersign --help` lists them.
GROUPS: tuple[ModuleType, ...] = (
    local,
    demo,
    apps,
    upgrade,
    signing,
    jwks_serve,
    settings,
    keys,
    jwks_uri,
    reports,
    erasures,
    lake,
)
