// Issue 21: what one bad event, a proxy's page, a huge Retry-After, full storage and a wrong clock
// must not do to delivery. The fake API parses bodies as the real one does (see `strictApi`).
import assert from "node:assert/strict";
import { test } from "node:test";

import { MemoryStorage, createCountersign } from "../../sdk/browser/src/index.js";
import { CLOCK_TOLERANCE_MS, MAX_DELAY_MS, backoffMs, retryAfterMs } from "../../sdk/browser/src/transport.js";
import { API, APP, api, fakeBrowser, ok } from "./fake_browser.mjs";

const sentIds = (requests) => requests.flatMap((r) => r.body.events.map((e) => e.insertId));
const depth = (value) => (value && typeof value === "object" ? 1 + Math.max(0, ...Object.values(value).map(depth)) : 0);
const invalidJson = { status: 400, body: { error: { code: "invalid_json", message: "The body is not JSON." } } };

/** The API's body rules (strict_json.request_body): no lone surrogate escape, at most 32 levels. */
function strictApi(onEvents = (r) => ok(r.body.events)) {
  return api((request) => {
    const lone = /\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i;
    if (lone.test(request.text) || depth(request.body) > 32) return invalidJson;
    return onEvents(request);
  });
}

async function started(env, options = {}) {
  const sdk = createCountersign(env);
  await sdk.initialize({ apiUrl: API, appId: APP, metadata: { visitor: { id: "v-1" } }, ...options });
  return sdk;
}

test("a lone surrogate never reaches the API: the string is made well-formed, the batch goes whole", async () => {
  const rejected = [];
  const env = fakeBrowser(strictApi());
  const sdk = await started(env, { onRejected: (r) => rejected.push(r) });
  const ids = [sdk.record("t", "good-1"), sdk.record("t", "x", { t: "😀 hi".slice(0, 1), ["k" + "😀".slice(1)]: 1 }), sdk.record("t", "good-2")];
  await sdk.flush();
  assert.deepEqual(rejected, []);
  assert.deepEqual(env.events().map((r) => r.body.events.length), [1 * 3]);
  assert.deepEqual(sentIds(env.events()), ids);
  assert.deepEqual(env.events()[0].body.events[1].properties, { t: "\ufffd", "k\ufffd": 1 });
  assert.equal(env.queuedKeys().length, 0);
});

test("properties nested past the API's limit: that event alone is refused to onRejected, the others are sent", async () => {
  const rejected = [];
  const env = fakeBrowser(strictApi());
  const sdk = await started(env, { onRejected: (r) => rejected.push(r) });
  let deep = { leaf: 1 };
  for (let i = 0; i < 30; i++) deep = { deep };
  const good = [sdk.record("t", "good-1")];
  const bad = sdk.record("t", "x", deep);
  good.push(sdk.record("t", "good-2"));
  await sdk.flush();
  assert.deepEqual(sentIds(env.events()), good);
  assert.deepEqual(rejected.map((r) => [r.code, r.event.insertId]), [["invalid_event", bad]]);
  assert.match(rejected[0].message, /16 levels/);
  assert.equal(env.queuedKeys().length, 0);
});

test("an event nested exactly to the API's limit (16 levels) is sent", async () => {
  const env = fakeBrowser(strictApi());
  const sdk = await started(env);
  let deep = 1;
  for (let i = 0; i < 15; i++) deep = { deep }; // properties at level 2 of the event: 15 more
  sdk.record("t", "edge", deep);
  await sdk.flush();
  assert.equal(depth(env.events()[0].body.events[0]), 16);
});

test("a body-level 400 splits the batch until its culprit goes alone; only that event is reported", async () => {
  const rejected = [];
  // An event this SDK would not send (queued by an older version, say): the API refuses the body.
  const env = fakeBrowser(api((r) => (r.body.events.some((e) => e.name === "poison") ? invalidJson : ok(r.body.events))));
  const sdk = await started(env, { onRejected: (r) => rejected.push(r) });
  const [a, poison, b, c] = ["a", "poison", "b", "c"].map((name) => sdk.record("t", name));
  await sdk.flush();
  assert.deepEqual(rejected.map((r) => [r.code, r.event.insertId]), [["invalid_json", poison]]);
  const accepted = env.events().filter((r) => !r.body.events.some((e) => e.name === "poison"));
  assert.deepEqual(sentIds(accepted).sort(), [a, b, c].sort());
  assert.ok(env.events().length <= 6, `${env.events().length} requests for 4 events`);
  assert.equal(env.queuedKeys().length, 0);
});

test("a 200 whose body is not the API's answer (a proxy's page) deletes nothing; the events go again", async () => {
  const rejected = [];
  const errors = [];
  const bodies = [{ status: 200, text: "<html><body>Sign in to the Wi-Fi</body></html>", headers: { "Content-Type": "text/html" } }, { status: 200, body: { ok: true } }];
  const env = fakeBrowser(api((r) => bodies.shift() ?? ok(r.body.events)));
  const sdk = await started(env, { onRejected: (r) => rejected.push(r), onError: (e) => errors.push(e) });
  const ids = [sdk.record("a"), sdk.record("b")];
  await env.advance(100);
  assert.equal(env.events().length, 1);
  assert.equal(env.queuedKeys().length, 2, "an HTML 200 acknowledges nothing");
  await env.advance(1000);
  assert.equal(env.events().length, 2);
  assert.equal(env.queuedKeys().length, 2, "a JSON 200 that names no event acknowledges nothing");
  await env.advance(5000);
  assert.equal(env.queuedKeys().length, 0);
  assert.deepEqual(sentIds(env.events().slice(-1)), ids, "the same events, with the same insertIds");
  assert.deepEqual(rejected, []);
});

test("a 4xx that is not the API's (a proxy's 403 page) is not final: the events stay and go again", async () => {
  let calls = 0;
  const env = fakeBrowser(api((r) => (++calls === 1 ? { status: 403, text: "<h1>Forbidden by proxy</h1>" } : ok(r.body.events))));
  const rejected = [];
  const sdk = await started(env, { onRejected: (r) => rejected.push(r) });
  const id = sdk.record("a");
  await env.advance(100);
  assert.equal(env.queuedKeys().length, 1);
  await env.advance(5000);
  assert.deepEqual(sentIds(env.events()), [id, id]);
  assert.equal(env.queuedKeys().length, 0);
  assert.deepEqual(rejected, []);
});

test("Retry-After: 3000000 is capped: no timer overflows, the retry comes within MAX_DELAY_MS", async () => {
  let calls = 0;
  const env = fakeBrowser(api((r) => (++calls === 1 ? { status: 429, headers: { "Retry-After": "3000000" }, body: { error: { code: "throttled" } } } : ok(r.body.events))));
  const sdk = await started(env);
  sdk.record("a");
  await env.advance(1000);
  assert.deepEqual(env.overflows, [], "a timer over 2^31-1 ms fires at once in browsers (a busy loop)");
  assert.equal(env.events().length, 1);
  await env.advance(MAX_DELAY_MS);
  assert.equal(env.events().length, 2);
  assert.equal(env.events()[1].at - env.events()[0].at, MAX_DELAY_MS);
  assert.equal(env.queuedKeys().length, 0);
  // flush() waits for the retry time too: capped as well.
  assert.ok(MAX_DELAY_MS < 2 ** 31 - 1);
});

test("every delay is capped: Retry-After in seconds or as a far HTTP date, and the backoff", () => {
  const now = Date.parse("2026-11-26T12:00:00Z");
  assert.equal(retryAfterMs("3000000", now), MAX_DELAY_MS);
  assert.equal(retryAfterMs("Fri, 31 Dec 9999 23:59:59 GMT", now), MAX_DELAY_MS);
  assert.equal(backoffMs(1, 1e15, () => 0.5), MAX_DELAY_MS);
  assert.equal(backoffMs(1e6, 0, () => 1, { backoffBaseMs: 1000, backoffMaxMs: 1e12 }), MAX_DELAY_MS);
});

test("localStorage with 43 characters free: initialize does not throw, events are kept in memory and sent", async () => {
  class NearlyFull extends MemoryStorage {
    setItem(key, value) {
      let used = 0;
      for (let i = 0; i < this.length; i++) used += this.key(i).length + this.getItem(this.key(i)).length;
      if (used + key.length + String(value).length > 43) throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
      super.setItem(key, value);
    }
  }
  const storage = new NearlyFull();
  const env = fakeBrowser(api(), { storage });
  const sdk = createCountersign(env);
  let start;
  assert.doesNotThrow(() => {
    start = sdk.initialize({ apiUrl: API, appId: APP, metadata: { visitor: { id: "v-1" } } });
  });
  const id = sdk.record("a");
  await start;
  await sdk.flush();
  assert.deepEqual(sentIds(env.events()), [id]);
  assert.equal(sdk.status().queued, 0);
  assert.equal(storage.length, 0, "nothing half-written stays behind in the full storage");
});

const DAY = 86_400_000;
/** An API whose clock is `skew` ms ahead of the client's: every answer carries its Date. */
function skewedApi(env, skew, onEvents) {
  const inner = api(onEvents);
  return async (request) => {
    const reply = (await inner(request)) ?? ok(request.body.events ?? []);
    if (reply instanceof Error || reply === "hang") return reply;
    return { ...reply, headers: { ...reply.headers, Date: new Date(env.now() + skew).toUTCString() } };
  };
}

test("a client clock 7 days slow: timestamps are corrected by the API's Date (to within about a second)", async () => {
  let env;
  env = fakeBrowser((r) => skewedApi(env, 7 * DAY, (x) => ok(x.body.events))(r));
  const sdk = createCountersign(env);
  const before = sdk.initialize({ apiUrl: API, appId: APP, metadata: { visitor: { id: "v-1" } } });
  const early = env.now();
  sdk.record("before-the-session-answered");
  await before;
  await env.advance(5000);
  const late = env.now();
  sdk.record("after");
  await sdk.flush();
  const sent = env.events().flatMap((r) => r.body.events);
  assert.equal(sent.length, 2);
  assert.ok(Math.abs(sent[0].timestamp - (early + 7 * DAY)) <= 1000, `${sent[0].timestamp - early - 7 * DAY} ms off`);
  assert.ok(Math.abs(sent[1].timestamp - (late + 7 * DAY)) <= 1000, `${sent[1].timestamp - late - 7 * DAY} ms off`);
});

test("a retry sends the corrected timestamp it sent first, not a new one", async () => {
  let env;
  let calls = 0;
  env = fakeBrowser((r) => skewedApi(env, -3 * DAY, (x) => (++calls === 1 ? new TypeError("offline") : ok(x.body.events)))(r));
  const sdk = await started(env);
  sdk.record("a");
  await env.advance(10_000);
  const [first, second] = env.events().map((r) => r.body.events[0].timestamp);
  assert.equal(env.events().length, 2);
  assert.ok(Math.abs(first - (env.events()[0].at - 3 * DAY)) <= 1000, "corrected before the first send");
  assert.equal(first, second);
});

test("a clock within the tolerance is trusted as it is (the Date header has 1-second steps)", async () => {
  let env;
  env = fakeBrowser((r) => skewedApi(env, CLOCK_TOLERANCE_MS - 2000, (x) => ok(x.body.events))(r));
  const sdk = await started(env);
  const at = env.now();
  sdk.record("a");
  await sdk.flush();
  assert.equal(env.events()[0].body.events[0].timestamp, at);
});
