// The pure parts of delivery: batch limits, Retry-After, backoff, identity claims.
import assert from "node:assert/strict";
import { test } from "node:test";

import { LIMITS, byteLength, uuid } from "../../sdk/browser/src/events.js";
import { claimedIdentity } from "../../sdk/browser/src/session.js";
import { backoffMs, retryAfterMs, takeBatch } from "../../sdk/browser/src/transport.js";

const event = (i, size = 0) => ({ type: "click", timestamp: 1, insertId: `id-${i}`, properties: { pad: "x".repeat(size) } });
const body = (events) => byteLength(JSON.stringify({ sessionId: "s_1", events }));

test("a batch holds at most 500 events", () => {
  const events = Array.from({ length: 1200 }, (_, i) => event(i));
  const batch = takeBatch("s_1", events);
  assert.equal(batch.length, LIMITS.batchEvents);
  assert.deepEqual(batch, events.slice(0, 500)); // oldest first, in order
});

test("a batch body stays within 1 MiB", () => {
  const events = Array.from({ length: 100 }, (_, i) => event(i, 30_000));
  const batch = takeBatch("s_1", events);
  assert.ok(body(batch) <= LIMITS.batchBytes, `${body(batch)} bytes`);
  assert.ok(body(events.slice(0, batch.length + 1)) > LIMITS.batchBytes, "the next event would not have fitted");
});

test("multi-byte text is measured in UTF-8 bytes, not characters", () => {
  const events = Array.from({ length: 40 }, (_, i) => ({ ...event(i), name: "€".repeat(2_000) }));
  const batch = takeBatch("s_1", events, { maxBytes: 64 * 1024 });
  assert.ok(body(batch) <= 64 * 1024);
  assert.equal(batch.length, 10); // 6 KB of UTF-8 per event, 2 K characters
});

test("a keepalive batch stays within the keepalive budget", () => {
  const events = Array.from({ length: 50 }, (_, i) => event(i, 4_000));
  const batch = takeBatch("s_1", events, { maxBytes: LIMITS.keepaliveBytes });
  assert.ok(body(batch) <= LIMITS.keepaliveBytes && body(batch) < 64 * 1024);
  assert.ok(batch.length > 1);
});

test("an event larger than the byte limit still goes, alone, so the API can answer for it", () => {
  const batch = takeBatch("s_1", [event(1, 70_000), event(2)], { maxBytes: LIMITS.keepaliveBytes });
  assert.deepEqual(batch.map((e) => e.insertId), ["id-1"]);
});

test("Retry-After in seconds or as an HTTP date", () => {
  const now = Date.parse("2026-11-26T12:00:00Z");
  assert.equal(retryAfterMs("7", now), 7000);
  assert.equal(retryAfterMs("Thu, 26 Nov 2026 12:00:30 GMT", now), 30_000);
  assert.equal(retryAfterMs(null, now), 0);
  assert.equal(retryAfterMs("soon", now), 0);
  assert.equal(retryAfterMs("-3", now), 0);
});

test("backoff doubles per failure up to its cap, with jitter, and never undercuts Retry-After", () => {
  const options = { backoffBaseMs: 1000, backoffMaxMs: 60_000 };
  const low = (n) => backoffMs(n, 0, () => 0, options);
  const high = (n) => backoffMs(n, 0, () => 0.999999, options);
  assert.deepEqual([1, 2, 3, 4].map(low), [500, 1000, 2000, 4000]);
  assert.ok(high(1) > 999 && high(1) <= 1000);
  assert.equal(low(30), 30_000); // capped: half of the 60 s ceiling plus jitter
  assert.equal(backoffMs(1, 120_000, () => 0.5, options), 120_000);
  const spread = new Set(Array.from({ length: 20 }, () => backoffMs(3, 0, Math.random, options)));
  assert.ok(spread.size > 1, "tabs that failed together retry at different times");
});

test("insertIds are random v4 UUIDs", () => {
  const ids = new Set(Array.from({ length: 1000 }, () => uuid()));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test("the claimed identity of a JWT or of unsigned metadata", () => {
  const payload = Buffer.from(JSON.stringify({ nonce: "n", visitor: { id: "vé-1" }, account: { id: "acme" } })).toString("base64url");
  assert.equal(claimedIdentity({ jwt: `eyJhbGciOiJIUzI1NiJ9.${payload}.sig` }), JSON.stringify(["vé-1", "acme"]));
  assert.equal(claimedIdentity({ metadata: { visitor: { id: "v-2" } } }), JSON.stringify(["v-2", ""]));
  assert.equal(claimedIdentity({ jwt: "not a jwt" }), JSON.stringify(["", ""]));
});
