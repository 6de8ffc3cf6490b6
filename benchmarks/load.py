"""`make bench-load`: a bounded load run against the local stack, on loopback only.

Starts `countersign local --port 0` (moto server and the API on free loopback ports) with the
integration tests' `running_local_stack`, whose output goes to a file. Then, for
`--seconds`, `--clients` concurrent SDK-like clients each start an HS256-signed session, send
batches of `--batch` new events on it, re-send every tenth batch once (an SDK retry: nothing may
be stored twice) and start a new session every `--session-every` batches.

Reported: requests and accepted events per second (and, as a ratio, against one client's
sequential PutItems to the same moto server), p50/p95/p99 latency of events requests and of
session starts. Checked (the exit code is 1 if any fails): no request failed or answered anything
unexpected, and what the application stored is exactly what was sent: `GET /diagnostics` counts
and the event items in DataTable equal the new events sent, duplicates equal the re-sent ones.

Absolute figures depend on the machine and on moto (which serialises every AWS call); they are
reported, never judged.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from tests.support.local import LocalApi, running_local_stack
from tests.support.tokens import hs256_credentials

RETRY_EVERY = 10


@dataclass
class ClientResult:
    event_latencies: list[float] = field(default_factory=list)
    session_latencies: list[float] = field(default_factory=list)
    new_events: int = 0
    resent_events: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Signing:
    key_name: str
    secret: bytes


def prepare(api: LocalApi) -> tuple[str, str, Signing]:
    """The demo application with HS256 on and a signing key: (appId, admin token, signing)."""
    app = api.demo_app
    app_id, token = app["appId"], app["adminToken"]
    reply = api.call("PATCH", f"/v1/apps/{app_id}/settings", json_body={"useSignedMetadata": True}, token=token)
    _expect(reply.status == 200, f"settings: {reply.status} {reply.body}")
    key = api.call("POST", f"/v1/apps/{app_id}/keys", json_body={"description": "load"}, token=token)
    _expect(key.status == 201, f"key: {key.status} {key.body}")
    revealed = api.call("POST", f"/v1/apps/{app_id}/keys/{key.body['keyName']}/reveal", token=token)
    _expect(revealed.status == 200, f"reveal: {revealed.status} {revealed.body}")
    return app_id, token, Signing(key.body["keyName"], revealed.body["secret"].encode())


def run_client(
    index: int, url: str, app_id: str, signing: Signing, deadline: float, batch: int, session_every: int
) -> ClientResult:
    result = ClientResult()
    http = requests.Session()
    sequence = 0
    session_id = ""
    previous: list[dict[str, Any]] = []

    def post(path: str, body: dict[str, Any]) -> tuple[int, Any, float]:
        started = time.perf_counter()
        response = http.post(f"{url}/v1/apps/{app_id}{path}", json=body, timeout=30)
        elapsed = time.perf_counter() - started
        result.requests += 1
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        return response.status_code, answer, elapsed

    batches = 0
    while time.monotonic() < deadline:
        if batches % session_every == 0:
            claims = {
                "nonce": f"load-{index}-{batches}",
                "visitor": {"id": f"visitor-{index}"},
                "account": {"id": "acme"},
            }
            status, answer, elapsed = post("/sessions", hs256_credentials(claims, signing.secret, signing.key_name))
            if status != 201:
                result.errors.append(f"session start answered {status}: {answer}")
                break
            result.session_latencies.append(elapsed)
            session_id = answer["sessionId"]
        batches += 1
        resend = batches % RETRY_EVERY == 0 and bool(previous)
        if resend:
            events, expected = previous, {"accepted": 0, "duplicates": len(previous), "rejected": []}
        else:
            now = int(time.time() * 1000)
            events = []
            for _ in range(batch):
                sequence += 1
                events.append({"type": "click", "timestamp": now, "insertId": f"load-{index}-{sequence}"})
            expected = {"accepted": len(events), "duplicates": 0, "rejected": []}
        status, answer, elapsed = post("/events", {"sessionId": session_id, "events": events})
        if status != 200 or answer != expected:
            result.errors.append(f"events answered {status}: {answer} (expected {expected})")
            continue
        result.event_latencies.append(elapsed)
        if resend:
            result.resent_events += len(events)
        else:
            result.new_events += len(events)
            previous = events
    return result


def _dynamodb(api: LocalApi) -> Any:
    state = api.state
    return boto3.client(
        "dynamodb",
        endpoint_url=state["awsEndpointUrl"],
        region_name=state["region"],
        aws_access_key_id="countersign-local",
        aws_secret_access_key="countersign-local",  # noqa: S106 - moto server takes any credentials
    )


def naive_puts_per_second(api: LocalApi, count: int = 200) -> float:
    """One client's sequential PutItems to the same moto server: the floor a request is built on."""
    client = _dynamodb(api)
    table = api.state["dataTable"]
    started = time.perf_counter()
    for index in range(count):
        item = {"pk": {"S": f"NAIVE#{index}"}, "sk": {"S": "EVENT"}, "payload": {"S": '{"type":"click"}'}}
        client.put_item(TableName=table, Item=item)
    return count / (time.perf_counter() - started)


def stored_event_items(api: LocalApi, app_id: str) -> int:
    """Event items of the application in DataTable, counted on the emulation itself."""
    state = api.state
    client = _dynamodb(api)
    prefix = f"EVENT#{app_id}#"
    count = 0
    for page in client.get_paginator("scan").paginate(
        TableName=state["dataTable"],
        FilterExpression="begins_with(pk, :prefix)",
        ExpressionAttributeValues={":prefix": {"S": prefix}},
        Select="COUNT",
    ):
        count += int(page["Count"])
    return count


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {cuts[49] * 1000:.1f} ms, p95 {cuts[94] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=20, help="new events per request")
    parser.add_argument("--session-every", type=int, default=50, help="batches per session")
    args = parser.parse_args(argv)

    with (
        tempfile.TemporaryDirectory(prefix="countersign-load-") as state_dir,
        running_local_stack(Path(state_dir)) as api,
    ):
        app_id, admin_token, signing = prepare(api)
        print(f"Local stack at {api.url}; {args.clients} clients for {args.seconds:g} s, {args.batch} events/request.")
        results: list[ClientResult] = [ClientResult() for _ in range(args.clients)]
        deadline = time.monotonic() + args.seconds

        def work(index: int) -> None:
            try:
                results[index] = run_client(index, api.url, app_id, signing, deadline, args.batch, args.session_every)
            except Exception as error:  # noqa: BLE001 - a crashed client is a failed run, reported below
                results[index].errors.append(f"client {index} crashed: {error!r}")

        started = time.monotonic()
        threads = [threading.Thread(target=work, args=(i,), name=f"load-client-{i}") for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started

        events = [latency for result in results for latency in result.event_latencies]
        sessions = [latency for result in results for latency in result.session_latencies]
        sent_new = sum(result.new_events for result in results)
        resent = sum(result.resent_events for result in results)
        requests_made = sum(result.requests for result in results)
        errors = [error for result in results for error in result.errors]

        diagnostics = api.call("GET", f"/v1/apps/{app_id}/diagnostics", token=admin_token)
        counts = diagnostics.body.get("counts", {}) if isinstance(diagnostics.body, dict) else {}
        stored = stored_event_items(api, app_id)
        naive = naive_puts_per_second(api)

    print(f"\n== load run ({elapsed:.1f} s, loopback, moto server)")
    print(f"  requests            {requests_made} ({requests_made / elapsed:.1f}/s)")
    print(f"  new events accepted {sent_new} ({sent_new / elapsed:.1f}/s); re-sent (retries) {resent}")
    print(
        f"  events/s / one client's sequential PutItem/s on the same moto: {sent_new / elapsed / naive:.2f}x"
        f" ({naive:.0f} puts/s)"
    )
    print(f"  events requests     {len(events)}: {percentiles(events)}")
    print(f"  session starts      {len(sessions)}: {percentiles(sessions)}")
    checks = {
        "no request failed or answered unexpectedly": not errors,
        f"diagnostics accepted == new events sent ({counts.get('accepted')} == {sent_new})": counts.get("accepted")
        == sent_new,
        f"diagnostics duplicates == events re-sent ({counts.get('duplicates')} == {resent})": counts.get(
            "duplicates", 0
        )
        == resent,
        f"event items stored == new events sent ({stored} == {sent_new})": stored == sent_new,
    }
    print("\n== checks")
    for name, held in checks.items():
        print(f"  {'ok  ' if held else 'FAIL'} {name}")
    for error in errors[:10]:
        print(f"  error: {error}")
    return 0 if all(checks.values()) else 1


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(message)


if __name__ == "__main__":
    sys.exit(main())
