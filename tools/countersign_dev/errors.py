"""The one error type of the CLI: command modules raise it, `cli.main` prints it as one line."""

from __future__ import annotations


class CliError(Exception):
    """A user mistake or an unavailable dependency, explained in one line."""
