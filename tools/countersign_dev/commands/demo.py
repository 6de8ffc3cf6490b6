"""`countersign demo [--local]`: the whole signed path in one go (SPEC 5), printing each step and
its HTTP exchange: signed metadata on, an HS256 key, a token signed with it, a session started
with the token, events sent on it, then the events in raw events, coverage and the lake.

Secrets are never printed whole: the admin token, the key's secret and the token are shown by
their first characters (the secret is used in memory only, as the customer's server would).
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from typing import Any, TextIO
from urllib.parse import quote

from countersign_dev.admin_api import api_session
from countersign_dev.errors import CliError
from countersign_dev.render import count, json_line, printable, table
from countersign_dev.target import AdminTarget, add_target_options, resolve

#: The description the demo's key carries: a later run reuses that key instead of adding one.
DEMO_KEY_DESCRIPTION = "countersign demo"
VISITOR = {"id": "demo-visitor", "plan": "trial"}
ACCOUNT = {"id": "demo-account", "name": "Demo Inc."}
#: SPEC 6: records reach the local lake within 10 s of acceptance.
LAKE_WAIT_SECONDS = 15
_SHOWN_CHARS = 8
#: Fields of requests and answers that are never printed whole.
_SECRET_FIELDS = {"secret", "adminToken", "jwt"}


def register(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="the signed path end to end on the local stack, step by step",
        description=(
            "Turn signed metadata on, create an HS256 key, sign a token, start a session with it, send "
            "events, and show them in raw events, coverage and the lake: each step with its HTTP exchange."
        ),
        epilog="example: countersign demo --local   (after `make dev` in another terminal)",
    )
    add_target_options(demo)
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from countersign_dev.commands.lake import lake_target

    target = resolve(args, ("local",), default="local")
    Demo(target.admin(), lake_target(target), sys.stdout).run()


def masked(value: str) -> str:
    """The first characters of a secret and how many more there are."""
    return f"{value[:_SHOWN_CHARS]}…({len(value) - _SHOWN_CHARS} more)" if len(value) > _SHOWN_CHARS else "…"


class Demo:
    def __init__(self, admin: AdminTarget, lake: Any, out: TextIO) -> None:
        self.admin, self.lake, self.out = admin, lake, out
        self.http = api_session()
        self.step = 0

    # the steps ------------------------------------------------------------------------------

    def run(self) -> None:
        self.say(f"Countersign demo on {self.admin.api_url}, application {self.admin.app_id}\n")
        self.title("Turn on signed metadata (HS256), so signed sessions are verified")
        self.call("PATCH", "/settings", {"useSignedMetadata": True}, admin=True)

        self.title("Find or create the demo's HS256 signing key (the admin's part)")
        listing = self.call("GET", "/keys", admin=True, show_answer=False)
        key = next((k for k in listing["activeKeys"] if k["description"] == DEMO_KEY_DESCRIPTION), None)
        if key is None:
            key = self.call("POST", "/keys", {"description": DEMO_KEY_DESCRIPTION}, admin=True, expect=201)
        else:
            self.say(f"  an active key described {DEMO_KEY_DESCRIPTION!r} exists: {key['keyName']}\n")
        key_name = str(key["keyName"])

        self.title("Reveal its secret (your server keeps it; shown here by its first characters)")
        secret = str(self.call("POST", f"/keys/{quote(key_name, safe='')}/reveal", admin=True)["secret"])

        self.title("Sign the visitor's and account's metadata with it (your server's part)")
        claims = {"visitor": VISITOR, "account": ACCOUNT, "nonce": secrets.token_urlsafe(16)}
        token = _hs256(claims, secret)
        self.say(f"  claims  {json_line(claims)}\n  HS256   {masked(token)}\n")

        self.title("Start a session with the signed token (the browser SDK's part; no admin token)")
        session = self.call("POST", "/sessions", {"jwt": token, "signingKeyName": key_name}, expect=201)
        if session.get("signed") != "hs256":
            raise CliError(f"the session was not verified as HS256 ({session.get('signed')})")

        self.title("Send two events on the session")
        now = int(time.time() * 1000)
        sent = [
            {"type": "page_view", "name": "Pricing", "timestamp": now, "insertId": f"demo-{now}-1"},
            {"type": "click", "name": "Start trial", "timestamp": now + 1, "insertId": f"demo-{now}-2",
             "properties": {"button": "hero"}},
        ]  # fmt: skip
        answer = self.call("POST", "/events", {"sessionId": session["sessionId"], "events": sent})
        if answer.get("accepted") != len(sent):
            raise CliError(f"the API accepted {answer.get('accepted')} of {len(sent)} events: {answer}")

        self.title("See them in raw events (the admin's view of what was accepted)")
        raw = self.call("GET", "/raw-events", admin=True, params={"visitorId": VISITOR["id"], "limit": 5},
                        show_answer=False)  # fmt: skip
        rows = [[e.get("type"), e.get("name"), e.get("visitorId"), e.get("verification", {}).get("mode")]
                for e in raw.get("events", [])]  # fmt: skip
        self.say(_indented(table(["TYPE", "NAME", "VISITOR", "VERIFIED"], rows, "(none yet)")))

        self.title("See the signed share in coverage (the last 24 hours)")
        coverage = self.call("GET", "/coverage", admin=True, show_answer=False)
        used: dict[str, Any] = next((k for k in coverage.get("keys", []) if k.get("keyName") == key_name), {})
        modes = [[mode, coverage["sessions"].get(mode, 0), coverage["events"].get(mode, 0)]
                 for mode in ("hs256", "rs256", "unsigned")]  # fmt: skip
        self.say(_indented(table(["MODE", "SESSIONS", "EVENTS"], modes)))
        signed = count(used.get("sessions", 0), "session")
        self.say(f"  {key_name} signed {signed}; last used {used.get('lastUsedAt') or 'never'}\n")

        self.title(f"See them in the data lake (exported within seconds; waiting up to {LAKE_WAIT_SECONDS} s)")
        lines = self.lake_lines({str(e["insertId"]) for e in sent})
        for line in lines:
            self.say(f"  {json_line(line)}\n")
        self.say(
            "\nDone. Next: the browser SDK (docs/sdk-web.md), the console at "
            f"{self.admin.api_url}/console, and `countersign --help` (docs/cli.md).\n"
        )

    def lake_lines(self, insert_ids: set[str]) -> list[dict[str, Any]]:
        from countersign_dev.lake import read_lines

        deadline = time.monotonic() + LAKE_WAIT_SECONDS
        while True:
            lines = read_lines(self.lake, "events", app=self.admin.app_id, dt=None)
            found = [line for line in lines if line.get("insertId") in insert_ids]
            if len(found) == len(insert_ids):
                return found
            if time.monotonic() > deadline:
                raise CliError(f"{len(found)} of {len(insert_ids)} events in the lake after {LAKE_WAIT_SECONDS} s")
            time.sleep(0.5)

    # printing -------------------------------------------------------------------------------

    def title(self, text: str) -> None:
        self.step += 1
        self.say(f"\n{self.step}. {text}\n")

    def say(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        admin: bool = False,
        params: dict[str, Any] | None = None,
        expect: int = 200,
        show_answer: bool = True,
    ) -> Any:
        """One request to the application's routes, printed with its answer (secrets masked)."""
        import requests

        url = f"{self.admin.api_url}/v1/apps/{quote(self.admin.app_id, safe='')}{path}"
        headers = {"Authorization": f"Bearer {self.admin.token}"} if admin else {}
        query = "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items()) if params else ""
        self.say(f"  > {method} {url}{query}\n")
        if admin:
            self.say(f"  > Authorization: Bearer {masked(self.admin.token)}\n")
        if body is not None:
            self.say(f"  > {json_line(_masked_fields(body))}\n")
        try:
            response = self.http.request(method, url, json=body, params=params, headers=headers, timeout=30)
        except requests.RequestException as error:
            raise CliError(
                f"cannot reach {self.admin.api_url} ({type(error).__name__}): is `make dev` running?"
            ) from error
        try:
            answer = response.json()
        except ValueError:
            answer = None
        shown = json_line(_masked_fields(answer)) if show_answer or response.status_code != expect else "…"
        self.say(f"  < {response.status_code} {printable(response.reason)} {shown}\n")
        if response.status_code != expect:
            raise CliError(f"{method} {path} answered HTTP {response.status_code}, not {expect}")
        return answer


def _masked_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: masked(v) if k in _SECRET_FIELDS and isinstance(v, str) else _masked_fields(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked_fields(item) for item in value]
    return value


def _hs256(claims: dict[str, Any], secret: str) -> str:
    import jwt

    return str(jwt.encode(claims, secret.encode("utf-8"), algorithm="HS256"))


def _indented(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())
