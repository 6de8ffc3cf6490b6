"""Erasure and suppression (SPEC 9) on mock_aws: the routes, the keyed-hash records, suppression
through the acceptance table, and the processor erasing DataTable and the landing lake with proof,
for one application only; then no stream retry or redrive brings the subject back.

Traffic goes through the ingest function; DataTable's stream (moto) is delivered to the export
function by the local stack's model of Lambda's event source mapping; the erasure function runs
as its schedule would call it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from countersign import clock, container, erasure_run
from countersign.store.erasures import ErasureRecord, erasure_store
from countersign_dev.emulation.containers import LambdaContext
from countersign_dev.emulation.provision import REGION
from countersign_dev.emulation.stream_poller import ShardDelivery
from countersign_dev.lake import redrive_message
from tests.support.lake import export_mapping, lake_keys, lake_lines, stream_records
from tests.support.tables import sql_table_environment
from tests.support.tenant import Tenant
from tests.support.world import World

VISITOR = "visitor-erase-me@example.com"
OTHER = "visitor-keep-me"
ACCOUNT = "acct-erase-me"
SPEC_ERASURE_FIELDS = ("erasureId", "subject", "suppress", "status", "requestedAt", "deadline", "completedAt", "stores")


@dataclass
class Traffic:
    """Two applications' sessions and events, exported to the lake."""

    world: World
    app: Tenant
    other_app: Tenant
    sessions: dict[tuple[str, str], str] = field(default_factory=dict)  # (app, visitor) -> sessionId
    delivered: int = 0  # stream records delivered to the export so far

    @property
    def s3(self) -> Any:
        return boto3.client("s3", region_name=REGION)

    @property
    def bucket(self) -> str:
        return self.world.provisioned.refs["ExportBucket"]

    def records(self) -> list[dict[str, Any]]:
        streams = boto3.client("dynamodbstreams", region_name=REGION)
        mapping = export_mapping(self.world.template)
        found = stream_records(streams, self.world.provisioned.attrs[("DataTable", "StreamArn")])
        return [record for record in found if mapping.passes(record)]

    def deliver(self, records: list[dict[str, Any]] | None = None) -> None:
        """Deliver stream records to the export function as Lambda would (new ones by default)."""
        everything = self.records()
        batch = everything[self.delivered :] if records is None else records
        if records is None:
            self.delivered = len(everything)
        if not batch:
            return
        failed: list[dict[str, Any]] = []
        streams = boto3.client("dynamodbstreams", region_name=REGION)
        stream_arn = self.world.provisioned.attrs[("DataTable", "StreamArn")]
        shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        ShardDelivery(
            replace(export_mapping(self.world.template), batch_size=7),
            lambda event: self.world.handler("ExportFunction")(event, LambdaContext("ExportFunction")),
            stream_arn=stream_arn,
            shard_id=shard,
            on_failure=failed.append,
        ).deliver(batch)
        assert failed == []

    def lines(self, tenant: Tenant, kind: str = "events") -> list[dict[str, Any]]:
        return lake_lines(self.s3, self.bucket, kind, tenant.app_id)  # type: ignore[arg-type]

    def run_erasures(self) -> dict[str, Any]:
        handler = self.world.handler("ErasureFunction")
        result: dict[str, Any] = handler({}, self.world.context("ErasureFunction"))  # its 15 minutes
        return result


def _start(tenant: Tenant, visitor: str, account: str = "") -> str:
    status, session = tenant.session(
        {"metadata": {"visitor": {"id": visitor, "email": visitor}, "account": {"id": account}}}
    )
    assert status == 201, session
    return str(session["sessionId"])


def _send(tenant: Tenant, session_id: str, count: int, tag: str) -> None:
    now = int(time.time() * 1000)
    events = [{"type": "track", "name": tag, "timestamp": now + i, "insertId": f"{tag}-{i}"} for i in range(count)]
    status, answer = tenant.events(session_id, events)
    assert status == 200 and answer["accepted"] == count, answer


@pytest.fixture
def traffic(world: World) -> Traffic:
    app, other_app = Tenant(world), Tenant(world)
    found = Traffic(world, app, other_app)
    for tenant in (app, other_app):
        for visitor in (VISITOR, OTHER):
            # Two sessions each, a day's events in several batches: the subject's lines spread
            # over several objects, mixed with another visitor's.
            for round_ in range(2):
                sid = _start(tenant, visitor, ACCOUNT if visitor == VISITOR else "acct-other")
                found.sessions[(tenant.app_id, visitor)] = sid
                _send(tenant, sid, 5, f"{visitor}-{round_}")
        found.deliver()
    # The subject updates its metadata once more (a MODIFY line in the lake too).
    update = {"metadata": {"visitor": {"id": VISITOR, "plan": "pro"}}}
    assert app.sdk("PATCH", f"/sessions/{found.sessions[(app.app_id, VISITOR)]}", update)[0] == 200
    found.deliver()
    assert any(line["visitorId"] == VISITOR for line in found.lines(app))
    return found


def _all_items(world: World, table: str) -> list[dict[str, Any]]:
    return world.dynamodb.scan(TableName=table)["Items"]


def _subject_items(world: World, app_id: str, subject: str) -> list[dict[str, Any]]:
    return [
        item
        for item in _all_items(world, world.data_table)
        if f"#{app_id}#" in item["pk"]["S"] + "#"
        and subject in json.dumps(item)
        and not item["pk"]["S"].startswith(("STATS#", "DROPS#"))
    ]


# routes ----------------------------------------------------------------------------------------


def test_an_erasure_request_answers_202_once_with_the_id_then_200_with_the_one_under_way(world: World) -> None:
    tenant = Tenant(world)
    status, created = tenant.admin("POST", "/erasures", {"visitorId": VISITOR, "suppress": True})
    assert status == 202, created
    assert created["subject"] == {"kind": "visitor", "id": VISITOR}
    assert created["status"] == "pending" and created["suppress"] is True and created["completedAt"] is None
    assert created["deadline"] > created["requestedAt"] and created["stores"] == {}

    status, again = tenant.admin("POST", "/erasures", {"visitorId": VISITOR})
    assert status == 200 and again["erasureId"] == created["erasureId"]
    assert again["subject"] == {"kind": "visitor"}  # the id is shown only to the request that created it

    status, listed = tenant.admin("GET", "/erasures")
    assert status == 200 and [e["erasureId"] for e in listed["erasures"]] == [created["erasureId"]]
    assert VISITOR not in json.dumps(listed)
    status, shown = tenant.admin("GET", f"/erasures/{created['erasureId']}")
    assert status == 200 and shown == {**created, "subject": {"kind": "visitor"}}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "exactly one"),
        ({"visitorId": "a", "accountId": "b"}, "exactly one"),
        ({"visitorId": 42}, "string of 1 to 256"),
        ({"visitorId": ""}, "string of 1 to 256"),
        ({"accountId": "x" * 257}, "string of 1 to 256"),
        ({"visitorId": "a", "suppress": "yes"}, "suppress must be true or false"),
        ({"visitorId": "a", "everything": True}, "Unknown field"),
    ],
)
def test_bad_erasure_requests_are_400_in_the_error_shape(world: World, body: dict[str, Any], says: str) -> None:
    tenant = Tenant(world)
    status, answer = tenant.admin("POST", "/erasures", body)
    assert status == 400
    assert answer["error"]["code"] == "invalid_request" and says in answer["error"]["message"]
    assert tenant.admin("GET", "/erasures")[1] == {"erasures": []}


def test_erasure_routes_need_the_applications_own_admin_token(world: World) -> None:
    tenant, other = Tenant(world), Tenant(world)
    path = f"/v1/apps/{tenant.app_id}"
    for method, suffix, body in [
        ("POST", "/erasures", {"visitorId": "v"}),
        ("GET", "/erasures", None),
        ("GET", "/erasures/er_0000000000000_000000000000", None),
        ("GET", "/suppressions", None),
        ("DELETE", "/suppressions/visitors/v", None),
    ]:
        assert world.request(method, path + suffix, body=body)[0] == 401
        status, answer = world.request(method, path + suffix, body=body, token=other.token)
        assert status == 403 and answer["error"]["code"] == "forbidden"
    assert tenant.admin("GET", "/erasures")[1] == {"erasures": []}


def test_unknown_erasures_and_suppressions_are_404_and_a_bad_kind_400(world: World) -> None:
    tenant = Tenant(world)
    assert tenant.admin("GET", "/erasures/er_0000000000000_000000000000")[1]["error"]["code"] == "erasure_not_found"
    assert tenant.admin("GET", "/erasures/not-an-id")[0] == 404
    status, answer = tenant.admin("DELETE", "/suppressions/visitors/nobody")
    assert status == 404 and answer["error"]["code"] == "suppression_not_found"
    status, answer = tenant.admin("DELETE", "/suppressions/people/nobody")
    assert status == 400 and answer["error"]["code"] == "invalid_request"


def test_erasure_and_suppression_records_hold_a_keyed_hash_never_the_id(world: World) -> None:
    one, two = Tenant(world), Tenant(world)
    for tenant in (one, two):
        assert tenant.admin("POST", "/erasures", {"visitorId": VISITOR, "suppress": True})[0] == 202
        assert tenant.admin("POST", "/erasures", {"accountId": ACCOUNT})[0] == 202
    items = _all_items(world, world.control_table)
    # Binary attributes (KMS ciphertexts) are searched byte for byte too.
    stored = json.dumps(items, default=lambda data: data.decode("latin-1"))
    assert VISITOR not in stored and ACCOUNT not in stored and "erase-me" not in stored
    # Keyed per application: the same visitor id is a different hash in each.
    hashes = {item["pk"]["S"]: item["sk"]["S"] for item in items if item["sk"]["S"].startswith("SUPPRESS#visitor#")}
    assert len(hashes) == 2 and len(set(hashes.values())) == 2
    status, listed = one.admin("GET", "/suppressions")
    assert status == 200 and [s["kind"] for s in listed["suppressions"]] == ["visitor"]
    assert set(listed["suppressions"][0]) == {"kind", "erasureId", "createdAt"}


# suppression -----------------------------------------------------------------------------------


def test_a_suppressed_subject_is_dropped_subject_suppressed_counted_and_nothing_stored(world: World) -> None:
    tenant = Tenant(world)
    session_id = _start(tenant, VISITOR, ACCOUNT)
    assert tenant.admin("POST", "/erasures", {"accountId": ACCOUNT, "suppress": True})[0] == 202
    container.reset()  # past the cache bound (CACHE_TTL_SECONDS) on a warm container

    before = {item["pk"]["S"] for item in _all_items(world, world.data_table) if item["pk"]["S"].startswith("SESSION#")}
    status, answer = tenant.session({"metadata": {"visitor": {"id": "someone-else"}, "account": {"id": ACCOUNT}}})
    assert status == 403 and answer["error"]["code"] == "subject_suppressed"
    update = {"metadata": {"account": {"id": ACCOUNT, "plan": "gold"}}}
    status, answer = tenant.sdk("PATCH", f"/sessions/{session_id}", update)
    assert status == 403 and answer["error"]["code"] == "subject_suppressed"
    status, answer = tenant.events(session_id, [{"type": "track", "timestamp": int(time.time() * 1000)}])
    assert status == 403 and answer["error"]["code"] == "subject_suppressed"
    after = {item["pk"]["S"] for item in _all_items(world, world.data_table) if item["pk"]["S"].startswith("SESSION#")}
    assert after == before  # nothing of it stored
    assert tenant.dropped().get("subject_suppressed") == 3

    # Another subject of the same application is not affected.
    assert tenant.session({"metadata": {"visitor": {"id": OTHER}, "account": {"id": "acct-other"}}})[0] == 201
    # Lifted: its new data is accepted again.
    assert tenant.admin("DELETE", f"/suppressions/accounts/{ACCOUNT}")[0] == 204
    assert tenant.admin("GET", "/suppressions")[1] == {"suppressions": []}
    container.reset()
    assert tenant.session({"metadata": {"visitor": {"id": VISITOR}, "account": {"id": ACCOUNT}}})[0] == 201


def test_an_application_without_suppressions_opens_no_key_on_the_ingest_path(world: World) -> None:
    from tests.support.tenant import aws_calls

    tenant = Tenant(world)
    session_id = _start(tenant, OTHER)
    with aws_calls("kms", "dynamodb") as calls:
        _send(tenant, session_id, 3, "warm")
    assert calls["kms.Decrypt"] == 0


# the processor ---------------------------------------------------------------------------------


def test_an_erasure_removes_the_visitor_from_datatable_and_landing_with_proof_and_only_there(traffic: Traffic) -> None:
    app, other_app, world = traffic.app, traffic.other_app, traffic.world
    kept_lines = [line for line in traffic.lines(app) if line["visitorId"] == OTHER]
    other_app_lines = traffic.lines(other_app) + traffic.lines(other_app, "sessions")
    other_app_keys = lake_keys(traffic.s3, traffic.bucket, "events", other_app.app_id)

    status, created = app.admin("POST", "/erasures", {"visitorId": VISITOR})
    assert status == 202
    ran = traffic.run_erasures()
    assert ran["completed"] == [created["erasureId"]]

    status, done = app.admin("GET", f"/erasures/{created['erasureId']}")
    assert status == 200 and done["status"] == "completed" and done["completedAt"]
    stores = done["stores"]
    assert stores["dataTable"]["removed"] == {"sessions": 2, "events": 10, "receipts": 2}
    assert stores["landing"]["removed"]["lines"] == 10 + 3  # 10 events, 2 starts and an update
    assert {name: report["remaining"] for name, report in stores.items()} == {"dataTable": 0, "landing": 0, "tables": 0}

    # Gone from DataTable and the lake of this application...
    assert _subject_items(world, app.app_id, VISITOR) == []
    assert not any(VISITOR in json.dumps(line) for kind in ("events", "sessions") for line in traffic.lines(app, kind))
    container.reset()  # past the cache bound (CACHE_TTL_SECONDS) of the warm ingest container
    status, raw = app.admin("GET", "/raw-events", query=f"visitorId={VISITOR}")
    assert status == 200 and raw["events"] == []
    status, answer = app.events(
        traffic.sessions[(app.app_id, VISITOR)], [{"type": "x", "timestamp": int(time.time() * 1000)}]
    )
    assert status == 404 and answer["error"]["code"] == "session_not_found"
    # ...while the other visitor's lines are untouched, and the other application's data whole.
    assert sorted(json.dumps(line) for line in traffic.lines(app) if line["visitorId"] == OTHER) == sorted(
        json.dumps(line) for line in kept_lines
    )
    assert traffic.lines(other_app) + traffic.lines(other_app, "sessions") == other_app_lines
    assert lake_keys(traffic.s3, traffic.bucket, "events", other_app.app_id) == other_app_keys
    assert len(_subject_items(world, other_app.app_id, VISITOR)) == 2 + 10 + 2


def test_only_the_objects_holding_the_subject_are_rewritten(traffic: Traffic) -> None:
    app = traffic.app
    keys = lake_keys(traffic.s3, traffic.bucket, "events", app.app_id) + lake_keys(
        traffic.s3, traffic.bucket, "sessions", app.app_id
    )
    from countersign.store.lake_objects import LakeObjects

    lake = LakeObjects(traffic.bucket, traffic.s3)
    holding = {key for key in keys if any(line["visitorId"] == VISITOR for line in lake.read(key))}
    untouched = {
        key: traffic.s3.head_object(Bucket=traffic.bucket, Key=key)["LastModified"]
        for key in keys
        if key not in holding
    }
    assert holding and untouched

    app.admin("POST", "/erasures", {"visitorId": VISITOR})
    time.sleep(1.1)  # S3's LastModified has second precision
    traffic.run_erasures()
    (erasure,) = app.admin("GET", "/erasures")[1]["erasures"]
    landing = erasure["stores"]["landing"]["removed"]
    assert landing["objectsRewritten"] + landing["objectsDeleted"] == len(holding)
    for key, modified in untouched.items():
        assert traffic.s3.head_object(Bucket=traffic.bucket, Key=key)["LastModified"] == modified


def test_an_erasure_longer_than_a_run_goes_on_where_the_last_run_stopped(
    traffic: Traffic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs with time for only a few pieces of work each (two landing objects a piece): each saves
    where its pass stands and ends; the next goes on from there, in the erase pass and in the
    verification, and the erasure completes with the same proof as in one run. Runs that stopped
    for time are no attempts, and the erasure object shows no more than SPEC 9's fields."""
    app = traffic.app
    lake = lake_keys(traffic.s3, traffic.bucket, "events", app.app_id) + lake_keys(
        traffic.s3, traffic.bucket, "sessions", app.app_id
    )
    subject_lines = sum(
        1 for kind in ("events", "sessions") for line in traffic.lines(app, kind) if line["visitorId"] == VISITOR
    )
    monkeypatch.setattr(erasure_run, "LANDING_CHUNK", 2)
    created = app.admin("POST", "/erasures", {"visitorId": VISITOR})[1]

    def time_for(pieces: int) -> Callable[[], int]:
        """An invocation's clock with room for `pieces` looks at it, then nearly out of time."""
        looks = iter(range(pieces))
        return lambda: clock.SAFETY_MS + 1 if next(looks, None) is not None else 1_000

    positions: list[tuple[str, str, str | None]] = []
    for _ in range(len(lake) * 2 + 10):
        if erasure_run.run_queue(time_for(4)).completed:
            break
        record = erasure_store().get(app.app_id, created["erasureId"])
        assert record is not None and record.status == "running" and record.attempts == 0, record
        progress = record.progress
        positions.append((progress["phase"], progress["store"], progress["after"]))
        if len(positions) == 1:  # once: the admin routes have a per-second limit
            shown = app.admin("GET", f"/erasures/{created['erasureId']}")[1]
            assert set(shown) == {*SPEC_ERASURE_FIELDS} and shown["status"] == "running"
    else:
        raise AssertionError(f"not completed after {len(positions)} runs: {positions}")

    # Each run went further than the one before, and both passes were spread over several runs.
    order = {"erase": 0, "verify": 1}
    stores = [step.name for step in erasure_run.store_steps()]
    ranks = [(order[phase], stores.index(store), after or "") for phase, store, after in positions]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks), positions
    assert {(phase, store) for phase, store, after in positions if after} == {
        ("erase", "landing"),
        ("verify", "landing"),
    }
    done = app.admin("GET", f"/erasures/{created['erasureId']}")[1]
    assert done["status"] == "completed"
    assert done["stores"]["dataTable"]["removed"] == {"sessions": 2, "events": 10, "receipts": 2}
    assert done["stores"]["landing"]["removed"]["lines"] == subject_lines == 10 + 3
    assert {name: report["remaining"] for name, report in done["stores"].items()} == dict.fromkeys(stores, 0)
    assert not any(VISITOR in json.dumps(line) for kind in ("events", "sessions") for line in traffic.lines(app, kind))
    record = erasure_store().get(app.app_id, created["erasureId"])
    assert record is not None and record.attempts == 1 and record.progress == {}


def test_a_failing_write_mid_chunk_loses_no_count_and_the_next_run_goes_on_from_the_chunk(
    traffic: Traffic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 refuses the rewrite of an object that mixes the subject's lines with others', in the
    chunk where the objects holding only the subject's are deleted (every object is in one chunk):
    the run ends `running` with the failure said, keeping where it stood; the deleted objects'
    lines are counted then (the next run finds them gone), so the proof that completes in the next
    run is exact."""
    from botocore.exceptions import ClientError

    from countersign.store.lake_objects import lake_objects

    app = traffic.app
    expected = {"lines": 0, "objectsRewritten": 0, "objectsDeleted": 0}
    for kind in ("events", "sessions"):
        for key in lake_keys(traffic.s3, traffic.bucket, kind, app.app_id):
            lines = [line["visitorId"] == VISITOR for line in lake_objects().read(key)]
            expected["lines"] += sum(lines)
            if any(lines):
                expected["objectsDeleted" if all(lines) else "objectsRewritten"] += 1
    assert expected["objectsDeleted"] and expected["objectsRewritten"]
    created = app.admin("POST", "/erasures", {"visitorId": VISITOR})[1]
    client = lake_objects().client
    put, puts = client.put_object, []

    def refuse_the_first(**request: Any) -> Any:
        puts.append(request["Key"])
        if len(puts) == 1:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate."}}, "PutObject")
        return put(**request)

    with monkeypatch.context() as patched:
        patched.setattr(client, "put_object", refuse_the_first)
        assert erasure_run.run_queue().completed == []
    record = erasure_store().get(app.app_id, created["erasureId"])
    assert record is not None and record.status == "running" and record.attempts == 1
    assert record.last_error is not None and record.last_error.startswith("service_unavailable")
    assert (record.progress["phase"], record.progress["store"]) == ("erase", "landing")

    assert erasure_run.run_queue().completed == [created["erasureId"]]
    done = app.admin("GET", f"/erasures/{created['erasureId']}")[1]
    assert done["stores"]["landing"]["removed"] == expected == {**expected, "lines": 10 + 3}  # each once
    assert done["stores"]["landing"]["remaining"] == 0
    assert not any(VISITOR in json.dumps(line) for kind in ("events", "sessions") for line in traffic.lines(app, kind))


def test_runs_that_die_without_progress_fail_the_erasure_after_max_attempts(
    traffic: Traffic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed before it saves any progress (a timeout, a crash) counts as an attempt; after
    MAX_ATTEMPTS of them the erasure is `failed` (and its alarm fires), not retried for ever."""
    from countersign.store.data import data_store

    class Killed(Exception):
        """The invocation ended here (a timeout)."""

    created = traffic.app.admin("POST", "/erasures", {"visitorId": VISITOR})[1]

    def killed(**_: Any) -> None:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(data_store().client, "scan", killed)
        for _ in range(erasure_run.MAX_ATTEMPTS):
            with pytest.raises(Killed):
                erasure_run.run_queue()
        assert erasure_run.run_queue().completed == []
    record = erasure_store().get(traffic.app.app_id, created["erasureId"])
    assert record is not None and record.status == "failed" and record.attempts == erasure_run.MAX_ATTEMPTS
    assert record.last_error == f"{erasure_run.MAX_ATTEMPTS} runs ended without progress: see the function's logs."

    # Once the cause is fixed, the subject is requested again: SPEC 9 answers an erasure only
    # while it is pending or running, so a new one is made and queued, and it completes; the
    # failed one stays in the log, off the queue.
    status, again = traffic.app.admin("POST", "/erasures", {"visitorId": VISITOR})
    assert status == 202 and again["erasureId"] != created["erasureId"], again
    assert [erasure for _, erasure in erasure_store().queued()] == [again["erasureId"]]
    assert erasure_run.run_queue().completed == [again["erasureId"]]
    log = {erasure["erasureId"]: erasure["status"] for erasure in traffic.app.admin("GET", "/erasures")[1]["erasures"]}
    assert log == {created["erasureId"]: "failed", again["erasureId"]: "completed"}


def test_two_requests_at_once_for_a_failed_subject_queue_one_new_erasure(
    traffic: Traffic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race, played in its worst order: request A finds the failed erasure and is about to retire
    it when request B retires it and queues its own. A's retire is refused (the subject's marker
    names B's erasure now), so A answers B's: one erasure queued, the failed one kept in the log.
    (Played on the DynamoDB client in one thread: moto's in-process DynamoDB is not thread-safe.)"""
    store = erasure_store()
    app = traffic.app
    failed_id = app.admin("POST", "/erasures", {"visitorId": VISITOR})[1]["erasureId"]
    failed = store.get(app.app_id, failed_id)
    assert failed is not None
    failed.status = "failed"  # as ten runs without progress leave it (the test above)
    store.save(failed)

    def request(ms: int) -> ErasureRecord:
        return replace(failed, erasure_id=f"er_{ms:013d}_{ms:012x}", status="pending", attempts=0, last_error=None)

    a, b = request(int(time.time() * 1000) + 1), request(int(time.time() * 1000) + 2)
    transact, answered, b_started = store.client.transact_write_items, [], []

    def b_first(**call: Any) -> Any:
        retiring = any("ConditionExpression" in item.get("Delete", {}) for item in call["TransactItems"])
        if retiring and not b_started:
            b_started.append(True)
            answered.append(store.create(b))  # B runs whole between A's read and A's retire
        return transact(**call)

    monkeypatch.setattr(store.client, "transact_write_items", b_first)
    answered_a = store.create(a)
    assert [record.erasure_id for record in answered] == [b.erasure_id]
    assert answered_a.erasure_id == b.erasure_id  # A is answered B's erasure
    assert [erasure for _, erasure in store.queued()] == [b.erasure_id]
    kept = store.get(app.app_id, failed_id)
    assert kept is not None and kept.status == "failed"
    assert store.get(app.app_id, a.erasure_id) is None  # A's never stored


def test_a_saved_pass_the_function_cannot_go_on_from_starts_again() -> None:
    stores = ["dataTable", "landing"]
    assert erasure_run.Pass.resume({}, stores) == erasure_run.Pass()
    assert erasure_run.Pass.resume({"phase": "verify", "store": "tables", "after": None}, stores) == erasure_run.Pass()
    assert erasure_run.Pass.resume({"phase": "later", "store": "landing"}, stores) == erasure_run.Pass()
    assert erasure_run.Pass.resume({"store": "landing", "after": "k", "unknown": 1}, stores) == erasure_run.Pass(
        store="landing", after="k"
    )
    assert erasure_run.Pass.resume({"removed": "not a dict", "bogus": []}, stores).store == "dataTable"


def test_an_account_erasure_removes_every_session_of_the_account(traffic: Traffic) -> None:
    app = traffic.app
    status, created = app.admin("POST", "/erasures", {"accountId": ACCOUNT})
    assert status == 202
    traffic.run_erasures()
    done = app.admin("GET", f"/erasures/{created['erasureId']}")[1]
    assert done["status"] == "completed" and done["stores"]["dataTable"]["removed"]["sessions"] == 2
    assert not any(line["accountId"] == ACCOUNT for line in traffic.lines(app) + traffic.lines(app, "sessions"))
    assert any(line["accountId"] == ACCOUNT for line in traffic.lines(traffic.other_app))


# nothing brings it back ------------------------------------------------------------------------


def test_a_stream_retry_after_the_erasure_never_exports_the_subject_again(traffic: Traffic) -> None:
    app = traffic.app
    app.admin("POST", "/erasures", {"visitorId": VISITOR})
    traffic.run_erasures()
    others = sorted(json.dumps(line) for line in traffic.lines(app))

    traffic.deliver(traffic.records())  # Lambda delivers the whole stream again (a retry)

    assert not any(line["visitorId"] == VISITOR for line in traffic.lines(app) + traffic.lines(app, "sessions"))
    assert sorted(json.dumps(line) for line in traffic.lines(app)) == others  # and nothing twice


def test_a_stream_retry_during_the_erasure_never_exports_the_subject(traffic: Traffic) -> None:
    app = traffic.app
    app.admin("POST", "/erasures", {"visitorId": VISITOR})
    # Before the processor ran, the stream is delivered again: nothing of the subject is written.
    for key in lake_keys(traffic.s3, traffic.bucket, "events", app.app_id):
        traffic.s3.delete_object(Bucket=traffic.bucket, Key=key)
    traffic.deliver(traffic.records())
    assert not any(line["visitorId"] == VISITOR for line in traffic.lines(app))
    assert any(line["visitorId"] == OTHER for line in traffic.lines(app))


def test_a_redrive_after_the_erasure_never_exports_the_subject_again(traffic: Traffic) -> None:
    app = traffic.app
    records = traffic.records()
    app.admin("POST", "/erasures", {"visitorId": VISITOR})
    traffic.run_erasures()
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    message = {
        "DDBStreamBatchInfo": {
            "shardId": streams.describe_stream(StreamArn=traffic.world.provisioned.attrs[("DataTable", "StreamArn")])[
                "StreamDescription"
            ]["Shards"][0]["ShardId"],
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "streamArn": traffic.world.provisioned.attrs[("DataTable", "StreamArn")],
        }
    }
    redrive_message(message, streams, traffic.s3, traffic.bucket)
    assert not any(line["visitorId"] == VISITOR for line in traffic.lines(app) + traffic.lines(app, "sessions"))


def test_a_subject_who_comes_back_unsuppressed_after_the_erasure_is_new_data(traffic: Traffic) -> None:
    app = traffic.app
    app.admin("POST", "/erasures", {"visitorId": VISITOR})
    traffic.run_erasures()
    container.reset()
    sid = _start(app, VISITOR)
    _send(app, sid, 2, "back")
    traffic.deliver()
    assert sorted(line["name"] for line in traffic.lines(app) if line["visitorId"] == VISITOR) == ["back", "back"]


# schedule, one at a time, deadline -------------------------------------------------------------


def test_erasures_of_one_application_run_one_at_a_time_and_late_ones_are_counted(traffic: Traffic) -> None:
    app, other_app = traffic.app, traffic.other_app
    first = app.admin("POST", "/erasures", {"visitorId": VISITOR})[1]["erasureId"]
    second = app.admin("POST", "/erasures", {"visitorId": OTHER})[1]["erasureId"]
    third = other_app.admin("POST", "/erasures", {"visitorId": OTHER})[1]["erasureId"]

    fourth = app.admin("POST", "/erasures", {"accountId": "acct-other"})[1]["erasureId"]

    ran = traffic.run_erasures()
    assert ran["processed"] == [first, third]  # one per application per run, oldest first
    assert ran["completed"] == [first, third] and ran["pastDeadline"] == 0
    assert app.admin("GET", f"/erasures/{second}")[1]["status"] == "pending"

    # 73 hours later (the default deadline is 72): the run takes the second; the fourth is late.
    late = erasure_run.run_queue(now=lambda: time.time() + 73 * 3600)
    assert late.completed == [second] and late.past_deadline == 1
    assert erasure_run.run_queue().completed == [fourth]
    assert erasure_store().queued() == []


def test_the_fold_during_or_after_an_erasure_never_puts_the_subject_in_the_tables(
    traffic: Traffic, tmp_path: Path
) -> None:
    """The fold reads landing objects that still hold the subject while its erasure is queued:
    none of its lines becomes a row, the others all do; after the erasure nothing changes that."""
    from countersign.lake import KINDS
    from countersign.store.lake_objects import LakeObjects
    from countersign.tables.catalog import TableSettings, open_table
    from countersign.tables.fold import fold

    app = traffic.app
    settings = TableSettings(
        catalog="sql", namespace="countersign", warehouse=f"file://{tmp_path}/tables", uri=f"sqlite:///{tmp_path}/c.db"
    )
    lake = LakeObjects(traffic.bucket, traffic.s3)

    def rows(kind: str) -> list[dict[str, Any]]:
        return open_table(kind, settings).scan().to_arrow().to_pylist()  # type: ignore[arg-type]

    app.admin("POST", "/erasures", {"visitorId": VISITOR})
    for kind in KINDS:
        fold(kind, lambda kind=kind: open_table(kind, settings), lake)  # type: ignore[misc]
    events = rows("events")
    assert not [row for row in events if row["app_id"] == app.app_id and row["visitor_id"] == VISITOR]
    assert not [row for row in rows("sessions") if row["app_id"] == app.app_id and row["visitor_id"] == VISITOR]
    assert len([row for row in events if row["app_id"] == app.app_id and row["visitor_id"] == OTHER]) == 10
    # The other application's same visitor id is folded as usual.
    assert (
        len([row for row in events if row["app_id"] == traffic.other_app.app_id and row["visitor_id"] == VISITOR]) == 10
    )

    traffic.run_erasures()
    traffic.deliver(traffic.records())  # and a stream retry afterwards
    for kind in KINDS:
        fold(kind, lambda kind=kind: open_table(kind, settings), lake)  # type: ignore[misc]
    assert not [row for row in rows("events") if row["app_id"] == app.app_id and row["visitor_id"] == VISITOR]
    assert len(rows("events")) == len(events)


def test_a_suppression_of_an_id_that_needs_percent_encoding_is_lifted_by_it(world: World) -> None:
    tenant = Tenant(world)
    subject = "ana maría@example.com/1"
    assert tenant.admin("POST", "/erasures", {"visitorId": subject, "suppress": True})[0] == 202
    from urllib.parse import quote

    assert tenant.admin("DELETE", f"/suppressions/visitors/{quote(subject, safe='')}")[0] == 204
    assert tenant.admin("GET", "/suppressions")[1] == {"suppressions": []}


# the Iceberg tables ----------------------------------------------------------------------------


@dataclass
class FoldedTables:
    """Both tables folded from the traffic, in a SQLite catalog the erasure function opens too."""

    traffic: Traffic
    root: Path
    settings: Any

    def fold(self) -> None:
        from countersign.lake import KINDS
        from countersign.store.lake_objects import LakeObjects
        from countersign.tables.catalog import open_table
        from countersign.tables.fold import fold

        lake = LakeObjects(self.traffic.bucket, self.traffic.s3)
        for kind in KINDS:
            fold(kind, lambda kind=kind: open_table(kind, self.settings), lake)  # type: ignore[misc]

    def rows(self, kind: str) -> list[dict[str, Any]]:
        from countersign.tables.catalog import open_table

        return open_table(kind, self.settings).scan().to_arrow().to_pylist()  # type: ignore[arg-type]

    def files_holding(self, needle: str) -> list[Path]:
        files = [path for path in self.root.rglob("*") if path.is_file()]
        return [path for path in files if needle.encode() in path.read_bytes()]

    def erasure(self, erasure_id: str) -> dict[str, Any]:
        status, record = self.traffic.app.admin("GET", f"/erasures/{erasure_id}")
        assert status == 200, record
        return dict(record)


@pytest.fixture
def folded(traffic: Traffic, tmp_path: Path) -> FoldedTables:
    from countersign.tables.catalog import TableSettings

    settings = TableSettings(
        catalog="sql", namespace="countersign", warehouse=f"file://{tmp_path}/tables", uri=f"sqlite:///{tmp_path}/c.db"
    )
    traffic.world.handler("ErasureFunction")  # its template environment first, then the tables of this test
    for name, value in sql_table_environment(settings).items():
        traffic.world.monkeypatch.setenv(name, value)
    tables = FoldedTables(traffic, tmp_path / "tables", settings)
    tables.fold()
    return tables


def test_an_erasure_deletes_the_subjects_rows_and_every_table_file_that_held_them(
    traffic: Traffic, folded: FoldedTables
) -> None:
    """Rows folded before the request: gone from both tables, and no file under the tables'
    location (data, manifests with their column statistics, metadata) still holds the id; the
    other visitor and the other application's same visitor id keep every row; the fold goes on
    from its ledger afterwards, folding nothing twice."""
    from countersign.lake import KINDS

    app, other_app = traffic.app, traffic.other_app
    before = {kind: folded.rows(kind) for kind in KINDS}
    subject_rows = [row for row in before["events"] if row["app_id"] == app.app_id and row["visitor_id"] == VISITOR]
    assert len(subject_rows) == 10
    assert any(f"/data/app_id={app.app_id}/" in str(path) for path in folded.files_holding(VISITOR))

    status, created = app.admin("POST", "/erasures", {"visitorId": VISITOR})
    assert status == 202
    ran = traffic.run_erasures()
    done = folded.erasure(created["erasureId"])
    assert ran["completed"] == [created["erasureId"]]
    assert done["status"] == "completed"
    tables = done["stores"]["tables"]
    assert tables["removed"]["events"] == 10 and tables["removed"]["sessions"] == 3  # 2 starts, an update
    assert tables["remaining"] == 0
    for kind in KINDS:
        after = folded.rows(kind)
        assert not [row for row in after if row["app_id"] == app.app_id and row["visitor_id"] == VISITOR]
        # Everything else is untouched, row for row: the other visitor, the other application.
        kept = [row for row in before[kind] if not (row["app_id"] == app.app_id and row["visitor_id"] == VISITOR)]
        assert sorted(map(repr, after)) == sorted(map(repr, kept))
    assert any(row["app_id"] == other_app.app_id and row["visitor_id"] == VISITOR for row in folded.rows("events"))
    _only_the_other_application_holds_the_id(folded)
    assert any(f"/data/app_id={app.app_id}/" in str(path) for path in folded.files_holding(OTHER))

    folded.fold()  # the ledger is still in force: nothing is folded again
    for kind in KINDS:
        assert len(folded.rows(kind)) == len(before[kind]) - (10 if kind == "events" else 3)


def _only_the_other_application_holds_the_id(folded: FoldedTables) -> None:
    """The only files left holding the id are the other application's data files (its own visitor)."""
    holding = folded.files_holding(VISITOR)
    assert holding and all(f"/data/app_id={folded.traffic.other_app.app_id}/" in str(path) for path in holding)


class Stopped(Exception):
    """The function stopped here (a timeout, the container lost): not an error the processor expects."""


def _stopped_then_finished_by_the_next_run(
    folded: FoldedTables, monkeypatch: pytest.MonkeyPatch, target: Any, name: str, stand_in: Any
) -> None:
    """A run whose `target.name` is `stand_in` (which raises Stopped at its moment) stops with the
    erasure `running` and the subject's data files still there; the next run completes it."""
    traffic = folded.traffic
    created = traffic.app.admin("POST", "/erasures", {"visitorId": VISITOR})[1]
    with monkeypatch.context() as patched:
        patched.setattr(target, name, stand_in)
        with pytest.raises(Stopped):
            traffic.run_erasures()
    assert folded.erasure(created["erasureId"])["status"] == "running"
    assert any(f"/data/app_id={traffic.app.app_id}/" in str(path) for path in folded.files_holding(VISITOR))

    assert traffic.run_erasures()["completed"] == [created["erasureId"]]
    assert folded.erasure(created["erasureId"])["stores"]["tables"]["remaining"] == 0
    _only_the_other_application_holds_the_id(folded)


def test_a_run_stopped_after_the_delete_commit_is_finished_by_the_next_run(
    folded: FoldedTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped between deleting the rows and expiring the snapshots that still hold them: the next
    run finds no row to delete, expires those snapshots, deletes their files and completes."""
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table.update import RemoveSnapshotsUpdate

    commit = SqlCatalog.commit_table
    rows_deleted: list[bool] = []

    def stop_before_expiring(self: Any, table: Any, requirements: Any, updates: Any) -> Any:
        if any(isinstance(update, RemoveSnapshotsUpdate) for update in updates):
            subject = (folded.traffic.app.app_id, VISITOR)
            rows_deleted.append(
                not [row for row in folded.rows("events") if (row["app_id"], row["visitor_id"]) == subject]
            )
            raise Stopped
        return commit(self, table, requirements, updates)

    _stopped_then_finished_by_the_next_run(folded, monkeypatch, SqlCatalog, "commit_table", stop_before_expiring)
    assert rows_deleted == [True]  # it stopped with the rows deleted and their snapshots not expired


def test_a_run_stopped_while_deleting_the_files_is_finished_by_the_next_run(
    folded: FoldedTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after expiring the snapshots, at the first data file it deletes: the delete commit's
    manifests still name those files (as deleted entries), so the next run finds them, deletes
    them and completes."""
    from pyiceberg.io.pyarrow import PyArrowFileIO

    delete = PyArrowFileIO.delete

    def stop_at_a_data_file(io: PyArrowFileIO, location: Any) -> None:
        if str(location).endswith(".parquet"):  # pyiceberg's own commits delete metadata files only
            raise Stopped
        delete(io, location)

    _stopped_then_finished_by_the_next_run(folded, monkeypatch, PyArrowFileIO, "delete", stop_at_a_data_file)
