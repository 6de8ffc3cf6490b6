"""The admin routes of one application over HTTP (SPEC 3.1), for the admin commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from countersign_dev.errors import CliError, status_of_http
from countersign_dev.render import Terminal, json_text, printable
from countersign_dev.render import terminal as default_terminal
from countersign_dev.target import TOKEN_VARIABLE, AdminTarget, add_target_options, resolve


class AdminApiError(CliError):
    """The API answered an error: its body (for --json) and one line for the terminal."""

    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            line = f"the API answered HTTP {status} without an error body: is it a Countersign API?"
            error = {}
        else:
            line = str(error.get("message"))
            if error.get("detail"):
                line += f"{'' if line.endswith(('.', '!', '?')) else ':'} {error['detail']}"
            line = f"{line} ({error.get('code')}, HTTP {status})"
        if status == 401:
            line += f": check {TOKEN_VARIABLE} (the application's admin token)"
        super().__init__(printable(line), status_of_http(status))
        self.http_status = status
        self.body = body
        self.code = error.get("code")


#: How many times a request answered 429 is asked again, each after the answer's Retry-After.
RATE_LIMITED_RETRIES = 3
#: The longest Retry-After waited out (the API says 1 s; the console caps it the same way).
MAX_RETRY_AFTER_SECONDS = 10


def api_session() -> Any:
    """A requests.Session for the API that waits out a 429 for its Retry-After and asks again, at
    most RATE_LIMITED_RETRIES times, whatever the method: the API (or its gateway) refuses a
    rate-limited request before doing anything, so asking again never writes twice. Other errors,
    503 included, are answered to the caller as they are."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    class RateLimitedOnly(Retry):
        # urllib3 also asks again after any 413 or 503 that carries Retry-After; a 503 may come
        # after a write (a generated key), so only a 429 is asked again here.
        RETRY_AFTER_STATUS_CODES = frozenset({429})

    patience = RateLimitedOnly(
        total=RATE_LIMITED_RETRIES,
        connect=0,
        read=False,  # a read timeout is raised as itself, not as a failed connection
        redirect=0,
        other=0,
        status=RATE_LIMITED_RETRIES,
        status_forcelist=[429],
        allowed_methods=None,  # every method: a 429 was refused before it ran
        respect_retry_after_header=True,
        retry_after_max=MAX_RETRY_AFTER_SECONDS,
        backoff_factor=0.5,  # only when an answer has no Retry-After
        raise_on_status=False,  # the last 429 is answered to the caller, as an error it can show
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=patience))
    session.mount("https://", HTTPAdapter(max_retries=patience))
    return session


class AdminClient:
    """The admin routes of one application over HTTP; an error answer raises AdminApiError."""

    def __init__(self, target: AdminTarget) -> None:
        self.target = target
        self.http = api_session()
        self.http.headers["Authorization"] = f"Bearer {target.token}"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        *,
        expect_body: bool = True,
    ) -> Any:
        import requests

        url = f"{self.target.api_url}/v1/apps/{quote(self.target.app_id, safe='')}{path}"
        try:
            response = self.http.request(method, url, json=body, params=params, timeout=30)
        except requests.RequestException as error:
            hint = ": is the local stack running (make dev)?" if self.target.local else ""
            raise CliError(f"cannot reach {self.target.api_url} ({type(error).__name__}){hint}") from error
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400:
            raise AdminApiError(response.status_code, answer)
        if not expect_body:  # a 204 (lifting a suppression)
            return answer
        if answer is None:
            raise CliError(f"{self.target.api_url} answered HTTP {response.status_code} without JSON")
        return answer


# ------------------------------------------------------------------------------- admin commands

#: What an admin command does: call the API, and say how to show its answer as text.
Shown = tuple[Any, Callable[[Any], str]]
Action = Callable[[AdminClient, argparse.Namespace, Terminal], Shown]


def add_admin_command(
    commands: Any, name: str, action: Action, helptext: str, *, confirm: bool = False, example: str = ""
) -> argparse.ArgumentParser:
    """A command on the admin routes: the target options, --json, --yes when it asks first."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=helptext, description=helptext, epilog=example)
    add_target_options(parser)
    parser.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    if confirm:
        parser.add_argument("--yes", action="store_true", help="confirm without asking (non-interactive use)")
    parser.set_defaults(run=run_admin, action=action)
    return parser


def run_admin(args: argparse.Namespace, terminal: Terminal | None = None) -> None:
    """Run one admin command: print its table (or the API's JSON), or raise CliError."""
    terminal = terminal or default_terminal()
    client = AdminClient(resolve(args, ("local", "api", "stack")).admin())
    try:
        answer, show = args.action(client, args, terminal)
    except AdminApiError as error:
        if args.json and error.body is not None:
            terminal.out.write(json_text(error.body))
        raise
    terminal.out.write(json_text(answer) if args.json else show(answer))
