"""The one error type of the CLI and its exit statuses: command modules raise CliError, `cli.main`
prints it as one line on stderr and exits with its status (docs/cli.md, "Exit status")."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    FAILURE = 1  # anything else: the API refused the request, AWS or the local stack unreachable, ...
    USAGE = 2  # the command line is wrong: unknown option, missing argument, no target or two
    AUTHENTICATION = 3  # no admin token, or the API refused it (401/403)
    NOT_FOUND = 4  # the application, key or stack named does not exist (404)
    INTERRUPTED = 130  # Ctrl-C


class CliError(Exception):
    """A user mistake or an unavailable dependency, explained in one line."""

    status: Exit = Exit.FAILURE

    def __init__(self, message: str, status: Exit | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class UsageError(CliError):
    """The command line itself is wrong (what argparse says, and what it cannot check)."""

    status = Exit.USAGE


def status_of_http(status: int) -> Exit:
    """The exit status for an API error answer."""
    if status in (401, 403):
        return Exit.AUTHENTICATION
    if status == 404:
        return Exit.NOT_FOUND
    return Exit.FAILURE
