// The public API of SPEC 8 / issue 25: track(name, properties), page(), record(), calls before
// initialize, context, beforeSend, optOut/optIn; over the scripted browser of fake_browser.mjs.
import assert from "node:assert/strict";
import { test } from "node:test";

import { EARLY_CALLS, MemoryStorage, VERSION, createCountersign } from "../../sdk/browser/src/index.js";
import { API, APP, api, fakeBrowser } from "./fake_browser.mjs";

const OPTIONS = { apiUrl: API, appId: APP, metadata: { visitor: { id: "v-1" } } };
const sent = (env) => env.events().flatMap((r) => r.body.events);
const starts = (env) => env.requests.filter((r) => r.url.endsWith("/sessions"));

async function started(env, options = {}) {
  const sdk = createCountersign(env);
  await sdk.initialize({ ...OPTIONS, ...options });
  return sdk;
}

test("track(name, properties) is an event of type track; record(type, name, properties) any type", async () => {
  const env = fakeBrowser(api());
  const sdk = await started(env);
  const ids = [sdk.track("signup", { plan: "pro" }), sdk.track("opened"), sdk.record("purchase", "Order 7", { total: 12 }), sdk.record("heartbeat")];
  await sdk.flush();
  assert.deepEqual(sent(env).map((e) => [e.type, e.name, e.properties, e.insertId]), [
    ["track", "signup", { plan: "pro" }, ids[0]],
    ["track", "opened", undefined, ids[1]],
    ["purchase", "Order 7", { total: 12 }, ids[2]],
    ["heartbeat", undefined, undefined, ids[3]],
  ]);
  assert.deepEqual(env.warnings, []);
});

test("the 1.x form track(type, name, properties) still sends that type, with one warning", async () => {
  const env = fakeBrowser(api());
  const sdk = await started(env);
  sdk.track("click", "buy", { sku: 1 });
  sdk.track("click", "buy", { sku: 2 });
  await sdk.flush();
  assert.deepEqual(sent(env).map((e) => [e.type, e.name, e.properties]), [["click", "buy", { sku: 1 }], ["click", "buy", { sku: 2 }]]);
  assert.equal(env.warnings.length, 1);
  assert.match(env.warnings[0], /record\(type, name, properties\)/);
});

test("every event carries its context: library, page (without the URL fragment), user agent, locale, timezone, screen", async () => {
  const env = fakeBrowser(api());
  const sdk = await started(env);
  sdk.track("signup");
  await sdk.flush();
  assert.deepEqual(sent(env)[0].context, {
    library: { name: "@countersign/browser", version: VERSION },
    page: { url: "https://shop.example/pricing?plan=pro", path: "/pricing", referrer: "https://search.example/?q=shop", title: "Pricing" },
    userAgent: "FakeBrowser/1.0",
    locale: "en-GB",
    timezone: "Europe/London",
    screen: { width: 1280, height: 800 },
  });
});

test("a page's context is cut well under the API's 8 KiB, however long its URL or title", async () => {
  const env = fakeBrowser(api());
  env.where = () => ({ page: { url: "https://a.example/?" + "q".repeat(50_000), path: "/" + "p".repeat(9_000), referrer: "r".repeat(9_000), title: "€".repeat(9_000) }, userAgent: "u".repeat(9_000) });
  const sdk = await started(env);
  sdk.track("long");
  await sdk.flush();
  assert.ok(Buffer.byteLength(JSON.stringify(sent(env)[0].context)) < 7 * 1024);
});

test("page() is an event of type page named by the title, with the page's URL, path and referrer", async () => {
  const env = fakeBrowser(api());
  const sdk = await started(env);
  sdk.page({ section: "plans" });
  await sdk.flush();
  const [event] = sent(env);
  assert.equal(event.type, "page");
  assert.equal(event.name, "Pricing");
  assert.deepEqual(event.properties, { url: "https://shop.example/pricing?plan=pro", path: "/pricing", referrer: "https://search.example/?q=shop", title: "Pricing", section: "plans" });
});

test("calls before initialize never throw, keep their order and are sent once it has run", async () => {
  const env = fakeBrowser(api());
  const sdk = createCountersign(env);
  let ids;
  let update;
  assert.doesNotThrow(() => {
    ids = [sdk.page(), sdk.track("early", { n: 1 }), sdk.record("custom", "x")];
    update = sdk.setAccountData({ plan: "pro" });
  });
  const flushed = sdk.flush();
  assert.equal(env.requests.length, 0, "nothing is sent before initialize");
  assert.equal(sdk.status().queued, 3);
  await sdk.initialize(OPTIONS);
  await update;
  const patches = env.requests.filter((r) => r.method === "PATCH");
  assert.deepEqual(patches.map((r) => [r.url, r.body]), [[`${API}/v1/apps/${APP}/sessions/s_1`, { metadata: { account: { plan: "pro", id: "" } } }]]);
  assert.equal((await flushed).queued, 0);
  assert.deepEqual(sent(env).map((e) => [e.type, e.insertId]), [["page", ids[0]], ["track", ids[1]], ["custom", ids[2]]]);
  assert.ok(sent(env).every((e) => e.context.library.version === VERSION));
});

test("calls before initialize are bounded: beyond EARLY_CALLS they are dropped, and counted", async () => {
  const env = fakeBrowser(api());
  const sdk = createCountersign(env);
  const ids = Array.from({ length: EARLY_CALLS + 5 }, (_, i) => sdk.track("early", { i }));
  assert.equal(ids.filter((id) => id === null).length, 5);
  assert.equal(sdk.status().dropped, 5);
  await sdk.initialize(OPTIONS);
  await sdk.flush();
  assert.equal(sent(env).length, EARLY_CALLS);
  assert.deepEqual(sent(env).map((e) => e.properties.i), [...Array(EARLY_CALLS).keys()]);
});

test("beforeSend sees each event whole and may change it, or drop it with null", async () => {
  const env = fakeBrowser(api());
  const seen = [];
  const sdk = await started(env, {
    beforeSend(event) {
      seen.push(Object.keys(event).sort());
      if (event.name === "secret") return null;
      const { email, ...rest } = event.properties || {};
      return { ...event, properties: rest, context: { ...event.context, page: { ...event.context.page, url: "redacted" } } };
    },
  });
  sdk.track("signup", { email: "ada@example.com", plan: "pro" });
  assert.equal(sdk.track("secret"), null);
  await sdk.flush();
  assert.deepEqual(seen[0], ["context", "insertId", "name", "properties", "timestamp", "type"]);
  assert.deepEqual(sent(env).map((e) => [e.name, e.properties, e.context.page.url]), [["signup", { plan: "pro" }, "redacted"]]);
});

test("a beforeSend that throws drops the event (and says why to onError): a failing filter lets nothing through", async () => {
  const env = fakeBrowser(api());
  const errors = [];
  const sdk = await started(env, { beforeSend: () => { throw new Error("filter broke"); }, onError: (e) => errors.push(e.message) });
  sdk.track("signup", { email: "ada@example.com" });
  await sdk.flush();
  assert.deepEqual(sent(env), []);
  assert.deepEqual(errors, ["filter broke"]);
});

test("what the API would refuse after beforeSend is refused alone, before it is queued", async () => {
  const env = fakeBrowser(api());
  const rejected = [];
  const sdk = await started(env, {
    onRejected: (r) => rejected.push([r.code, r.index]),
    beforeSend: (event) => (event.name === "big" ? { ...event, context: { pad: "x".repeat(9000) } } : event.name === "typeless" ? { ...event, type: "" } : event),
  });
  sdk.track("big");
  sdk.track("typeless");
  sdk.track("fine");
  await sdk.flush();
  assert.deepEqual(rejected, [["invalid_context", -1], ["invalid_event", -1]]);
  assert.deepEqual(sent(env).map((e) => e.name), ["fine"]);
});

test("optOut stops tracking and clears the queue; optIn resumes; the choice persists in the browser", async () => {
  const storage = new MemoryStorage();
  const env = fakeBrowser(api(() => new TypeError("offline")), { storage });
  const sdk = await started(env);
  sdk.track("queued");
  assert.equal(sdk.status().queued, 1);
  sdk.optOut();
  assert.equal(sdk.status().queued, 0, "the queue is cleared");
  assert.equal(sdk.track("while-out"), null);
  assert.equal(sdk.status().optedOut, true);

  // The next page, in the same browser: still opted out, no session, nothing sent.
  const next = fakeBrowser(api(), { storage });
  const page2 = createCountersign(next);
  assert.equal(await page2.initialize(OPTIONS), null);
  page2.track("still-out");
  await next.advance(5000);
  assert.equal(next.requests.length, 0);

  page2.optIn();
  page2.track("after-opt-in");
  await page2.flush();
  assert.equal(starts(next).length, 1);
  assert.deepEqual(sent(next).map((e) => e.name), ["after-opt-in"]);
});

test("initialize({optOut: true}) starts opted out until optIn(); a stored optIn wins over it", async () => {
  const storage = new MemoryStorage();
  const env = fakeBrowser(api(), { storage });
  const sdk = createCountersign(env);
  assert.equal(await sdk.initialize({ ...OPTIONS, optOut: true }), null);
  sdk.track("before-consent");
  await env.advance(5000);
  assert.equal(env.requests.length, 0, "no session, no event before consent");
  sdk.optIn();
  sdk.track("after-consent");
  await sdk.flush();
  assert.deepEqual(sent(env).map((e) => e.name), ["after-consent"]);

  const next = fakeBrowser(api(), { storage });
  const page2 = createCountersign(next);
  const session = await page2.initialize({ ...OPTIONS, optOut: true });
  assert.equal(session.sessionId, "s_1", "the visitor consented on an earlier page");
});

test("optOut() called before initialize keeps the session from ever starting", async () => {
  const env = fakeBrowser(api());
  const sdk = createCountersign(env);
  sdk.track("early");
  sdk.optOut();
  assert.equal(await sdk.initialize(OPTIONS), null);
  await env.advance(5000);
  assert.equal(env.requests.length, 0);
});
