// Delivery guarantees of the SDK, driven through its public API over a scripted network and clock.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MemoryStorage, createCountersign } from "../../sdk/browser/src/index.js";
import { API, APP, api, fakeBrowser, ok, session } from "./fake_browser.mjs";

async function started(env, options = {}) {
  const sdk = createCountersign(env);
  await sdk.initialize({ apiUrl: API, appId: APP, metadata: { visitor: { id: "v-1" } }, ...options });
  return sdk;
}

const sentIds = (requests) => requests.flatMap((r) => r.body.events.map((e) => e.insertId));

test("track stores the event with its insertId before it returns", async () => {
  const env = fakeBrowser(api());
  const sdk = await started(env);
  const first = sdk.record("click", "buy", { sku: 1 });
  const second = sdk.record("click", "buy", { sku: 1 });
  assert.notEqual(first, second, "the same content tracked twice is two events");
  const stored = env.queuedKeys().map((key) => JSON.parse(env.store.getItem(key)).e);
  assert.deepEqual(stored.map((e) => e.insertId).sort(), [first, second].sort());
  assert.equal(stored[0].timestamp, env.now());

  await env.advance(1000); // the flush interval gathers them into one batch
  assert.equal(env.events().length, 1);
  assert.deepEqual(sentIds(env.events()).sort(), [first, second].sort());
  assert.equal(env.events()[0].body.sessionId, "s_1");
  assert.ok(env.events()[0].signal instanceof AbortSignal, "a request that hangs times out");
  assert.equal(env.events()[0].keepalive, false);
  assert.equal(env.queuedKeys().length, 0, "acknowledged events leave the queue");
});

test("503 with Retry-After: the same events are sent again, not before Retry-After", async () => {
  let calls = 0;
  const env = fakeBrowser(api((r) => (++calls === 1 ? { status: 503, headers: { "Retry-After": "7" }, body: { error: { code: "service_unavailable" } } } : ok(r.body.events))));
  const sdk = await started(env);
  const ids = [sdk.record("a"), sdk.record("b")];
  await env.advance(1000);
  assert.equal(env.events().length, 1);
  assert.equal(env.queuedKeys().length, 2, "nothing leaves the queue without an answer for it");
  await env.advance(env.events()[0].at + 6_900 - env.now());
  assert.equal(env.events().length, 1, "Retry-After is honoured");
  await env.advance(200);
  assert.equal(env.events()[1].at - env.events()[0].at, 7_000);
  assert.equal(env.events().length, 2);
  assert.deepEqual(sentIds(env.events().slice(1)), ids, "a retry carries the same insertIds");
  assert.equal(env.queuedKeys().length, 0);
});

test("429 and network errors back off exponentially until an answer", async () => {
  let calls = 0;
  const env = fakeBrowser(api((r) => {
    calls++;
    if (calls <= 2) return new TypeError("Failed to fetch");
    if (calls === 3) return { status: 429, body: { error: { code: "throttled" } } };
    return ok(r.body.events);
  }));
  const sdk = await started(env);
  sdk.record("a");
  await env.advance(120_000);
  const times = env.events().map((r) => r.at);
  assert.equal(times.length, 4);
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  assert.deepEqual(gaps, [750, 1500, 3000], "1, 2, 4 s ceilings with equal jitter (random 0.5)");
  assert.equal(env.queuedKeys().length, 0);
});

test("other 4xx are final: not retried, each event reported", async () => {
  const rejected = [];
  const env = fakeBrowser(api(() => ({ status: 403, body: { error: { code: "unsigned_metadata_rejected", message: "Only signed." } } })));
  const sdk = await started(env, { onRejected: (r) => rejected.push(r) });
  sdk.record("a");
  sdk.record("b");
  await env.advance(600_000);
  assert.equal(env.events().length, 1);
  assert.deepEqual(rejected.map((r) => [r.index, r.code, r.message, r.event.type]), [
    [0, "unsigned_metadata_rejected", "Only signed.", "a"],
    [1, "unsigned_metadata_rejected", "Only signed.", "b"],
  ]);
  assert.equal(env.queuedKeys().length, 0);
});

test("per-event rejections reach onRejected with index, code and message; the rest is acknowledged", async () => {
  const rejected = [];
  const env = fakeBrowser(api(() => ({ status: 200, body: { accepted: 1, duplicates: 1, rejected: [{ index: 2, code: "event_too_old", message: "Too old." }] } })));
  const sdk = await started(env, { onRejected: (r) => rejected.push(r) });
  const ids = ["a", "b", "c"].map((type) => sdk.record(type));
  await sdk.flush();
  assert.deepEqual(rejected, [{ index: 2, code: "event_too_old", message: "Too old.", event: env.events()[0].body.events[2] }]);
  assert.equal(rejected[0].event.insertId, ids[2]);
  assert.equal(env.queuedKeys().length, 0);
});

test("session_not_found: the session starts again with the last credentials, once", async () => {
  let calls = 0;
  const env = fakeBrowser(api((r) => (r.body.sessionId === "s_1" || ++calls > 1 ? { status: 404, body: { error: { code: "session_not_found" } } } : ok(r.body.events))));
  const errors = [];
  const sdk = await started(env, { onError: (e) => errors.push(e) });
  sdk.record("a");
  await sdk.flush();
  const starts = env.requests.filter((r) => r.url.endsWith("/sessions"));
  assert.equal(starts.length, 2);
  assert.deepEqual(starts[1].body, starts[0].body, "the same credentials");
  assert.deepEqual(env.events().map((r) => r.body.sessionId), ["s_1", "s_2"]);
  assert.equal(env.queuedKeys().length, 0);
  assert.deepEqual(errors, []);

  // The new session ends too, and the one after it at once: stop and report, keep the events.
  sdk.record("b");
  await sdk.flush();
  assert.equal(env.requests.filter((r) => r.url.endsWith("/sessions")).length, 3);
  sdk.record("c");
  await env.advance(10_000);
  assert.equal(sdk.status().stopped, "session_not_found");
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "session_not_found");
  assert.equal(env.queuedKeys().length, 2, "what is queued stays for a later page");
});

test("page hide sends with keepalive, within 64 KiB, and keeps the events until answered", async () => {
  let hang = false;
  const env = fakeBrowser(api(() => (hang ? "hang" : undefined)));
  const sdk = await started(env);
  for (let i = 0; i < 40; i++) sdk.record("view", "page", { pad: "x".repeat(3_000) });
  hang = true;
  env.page.hidden();
  await env.settle();
  const sent = env.events();
  assert.equal(sent.length, 1);
  assert.equal(sent[0].keepalive, true);
  assert.ok(JSON.stringify(sent[0].body).length <= 60 * 1024);
  assert.equal(env.queuedKeys().length, 40, "a request without an answer acknowledges nothing");

  env.page.hidden(); // pagehide right after visibilitychange: what is in flight is not sent twice
  await env.settle();
  const second = env.events().slice(1);
  assert.equal(new Set([...sentIds(sent), ...sentIds(second)]).size, sentIds(sent).length + sentIds(second).length);
});

test("the page's answer to a keepalive send still acknowledges (the page was only hidden)", async () => {
  const env = fakeBrowser(api());
  const sdk = await started(env);
  sdk.record("a");
  env.page.hidden();
  await env.settle();
  assert.equal(env.events()[0].keepalive, true);
  assert.equal(env.queuedKeys().length, 0);
});

test("the queue is bounded: the oldest events are dropped first, and counted", async () => {
  const env = fakeBrowser(api(() => new TypeError("offline")));
  const sdk = await started(env, { maxQueuedEvents: 3 });
  const ids = ["a", "b", "c", "d", "e"].map((t) => sdk.record(t));
  const kept = env.queuedKeys().map((k) => JSON.parse(env.store.getItem(k)).e.insertId).sort();
  assert.deepEqual(kept, ids.slice(2).sort());
  assert.equal(sdk.status().dropped, 2);
  assert.equal(sdk.status().queued, 3);
});

test("a full storage makes room by dropping the oldest event, counted", async () => {
  class SmallStorage extends MemoryStorage {
    setItem(key, value) {
      let events = 0;
      for (let i = 0; i < this.length; i++) if (this.key(i).includes(":e:")) events++;
      if (key.includes(":e:") && events >= 2) throw new DOMException("full", "QuotaExceededError");
      super.setItem(key, value);
    }
  }
  const env = fakeBrowser(api(() => new TypeError("offline")), { storage: new SmallStorage() });
  const sdk = await started(env);
  const ids = ["a", "b", "c"].map((t) => sdk.record(t));
  const kept = env.queuedKeys().map((k) => JSON.parse(env.store.getItem(k)).e.insertId).sort();
  assert.deepEqual(kept, ids.slice(1).sort());
  assert.equal(sdk.status().dropped, 1);
});

test("413: smaller batches until they go through", async () => {
  const env = fakeBrowser(api((r) => (r.body.events.length > 2 ? { status: 413, body: { error: { code: "payload_too_large" } } } : ok(r.body.events))));
  const sdk = await started(env);
  for (let i = 0; i < 5; i++) sdk.record("e" + i);
  await sdk.flush();
  assert.deepEqual(env.events().map((r) => r.body.events.length), [5, 2, 2, 1]);
  assert.equal(env.queuedKeys().length, 0);
});

test("a reload delivers what the last page left queued, with that page's session", async () => {
  const storage = new MemoryStorage();
  let online = false;
  const first = fakeBrowser(api((r) => (online ? ok(r.body.events) : new TypeError("offline"))), { storage });
  const before = await started(first);
  const ids = [before.record("a"), before.record("b")];
  await first.advance(1000);
  assert.equal(first.queuedKeys().length, 2);

  online = true;
  const second = fakeBrowser(api((r) => ok(r.body.events), { sessions: [{ status: 201, body: session(9) }] }), { storage });
  await started(second);
  await second.advance(100);
  assert.deepEqual(sentIds(second.events()), ids);
  assert.equal(second.events()[0].body.sessionId, "s_1", "the events keep the session they were tracked in");
  assert.equal(second.queuedKeys().length, 0);
});

test("events of an ended session of the same visitor move to the current session", async () => {
  const storage = new MemoryStorage();
  const first = fakeBrowser(api(() => new TypeError("offline")), { storage });
  const before = await started(first);
  const id = before.record("a");
  await first.advance(1000);

  const second = fakeBrowser(
    api((r) => (r.body.sessionId === "s_1" ? { status: 404, body: { error: { code: "session_not_found" } } } : ok(r.body.events)), {
      sessions: [{ status: 201, body: session(7) }],
    }),
    { storage },
  );
  await started(second);
  await second.advance(100);
  assert.deepEqual(second.events().map((r) => [r.body.sessionId, sentIds([r])]), [["s_1", [id]], ["s_7", [id]]]);
  assert.equal(second.queuedKeys().length, 0);
});

test("clearSession forgets the visitor and what is queued for them", async () => {
  const env = fakeBrowser(api(() => new TypeError("offline")));
  const sdk = await started(env);
  sdk.record("a");
  sdk.clearSession();
  assert.equal(env.queuedKeys().length, 0);
  assert.equal(sdk.status().sessionId, null);
});

test("setVisitorData sends the JWT or fields with the session's own id", async () => {
  const env = fakeBrowser(api());
  const sdk = await started(env);
  await sdk.setVisitorData("a.b.c", "key_1");
  await sdk.setAccountData({ plan: "pro" });
  const patches = env.requests.filter((r) => r.method === "PATCH");
  assert.deepEqual(patches.map((r) => [r.url, r.body]), [
    [`${API}/v1/apps/${APP}/sessions/s_1`, { jwt: "a.b.c", signingKeyName: "key_1" }],
    [`${API}/v1/apps/${APP}/sessions/s_1`, { metadata: { account: { plan: "pro", id: "" } } }],
  ]);
});

test("a session that cannot start is reported and stops delivery; the events stay queued", async () => {
  const env = fakeBrowser(api(undefined, { sessions: [{ status: 401, body: { error: { code: "invalid_signature", message: "Bad." } } }] }));
  const errors = [];
  const sdk = createCountersign(env);
  const start = sdk.initialize({ apiUrl: API, appId: APP, jwt: "x.y.z", signingKeyName: "key_1", onError: (e) => errors.push(e) });
  sdk.record("a");
  await assert.rejects(start, { code: "invalid_signature", status: 401 });
  await env.advance(60_000);
  assert.equal(env.events().length, 0);
  assert.equal(errors[0].code, "invalid_signature");
  assert.equal(env.queuedKeys().length, 1);
});

test("requests that learn of the same ended session together share one restart", async () => {
  const notFound = { status: 404, body: { error: { code: "session_not_found" } } };
  let starts = 0;
  const env = fakeBrowser((r) => {
    if (r.url.endsWith("/sessions")) return { status: 201, body: session(++starts) };
    if (r.url.endsWith("/sessions/s_1") || r.body.sessionId === "s_1") return notFound;
    if (r.method === "PATCH") return { status: 200, body: session(starts) };
    return ok(r.body.events);
  });
  const sdk = await started(env);
  sdk.record("a");
  const [update] = await Promise.all([sdk.setAccountData({ plan: "pro" }), sdk.flush()]);
  assert.equal(update.sessionId, "s_2");
  assert.equal(starts, 2, "one restart for both");
  assert.equal(sdk.status().stopped, null);
  assert.equal(env.queuedKeys().length, 0);
});
