// A scripted environment for the SDK: storage, a clock and timers the test moves, and an API
// whose answers the test chooses per request (everything else is the SDK's real code).
import { MemoryStorage } from "../../sdk/browser/src/queue.js";

export const API = "https://api.test/api";
export const APP = "app_0123456789abcdef";

export function session(n = 1, visitorId = "v-1") {
  return { sessionId: `s_${n}`, visitorId, accountId: "", signed: null, expiresAt: "2099-01-01T00:00:00Z" };
}

export function ok(events) {
  return { status: 200, body: { accepted: events.length, duplicates: 0, rejected: [] } };
}

/**
 * `answer(request)` returns {status, body | text, headers}, an Error (a network failure), or "hang"
 * (a request that never gets an answer, as when the page is gone).
 */
export function fakeBrowser(answer, { storage = new MemoryStorage(), start = 1_800_000_000_000 } = {}) {
  let now = start;
  let nextTimer = 1;
  const timers = new Map();
  const requests = [];
  const env = {
    requests,
    storage: () => storage,
    store: storage,
    now: () => now,
    random: () => 0.5,
    /** Timers asked for longer than browsers can wait (2^31-1 ms): they would fire at once. */
    overflows: [],
    setTimeout(fn, ms) {
      if (ms > 2 ** 31 - 1) env.overflows.push(ms);
      const id = nextTimer++;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout: (id) => timers.delete(id),
    locks: undefined,
    warnings: [],
    warn: (...args) => env.warnings.push(args.join(" ")),
    where: () => ({
      page: { url: "https://shop.example/pricing?plan=pro#access_token=secret", path: "/pricing", referrer: "https://search.example/?q=shop", title: "Pricing" },
      userAgent: "FakeBrowser/1.0",
      locale: "en-GB",
      timezone: "Europe/London",
      screen: { width: 1280, height: 800 },
    }),
    watchPage(handlers) {
      env.page = handlers;
    },
    async fetch(url, init) {
      const request = { url, method: init.method, keepalive: init.keepalive, signal: init.signal, at: now, text: init.body, body: JSON.parse(init.body) };
      requests.push(request);
      const reply = (await answer(request)) ?? ok(request.body.events ?? []);
      if (reply === "hang") return new Promise(() => {});
      if (reply instanceof Error) throw reply;
      // `text`: a body that is not JSON (a proxy's page).
      return new Response(reply.text ?? JSON.stringify(reply.body ?? null), { status: reply.status, headers: reply.headers ?? {} });
    },
    /** Let promise chains run. */
    async settle() {
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    },
    /** Move the clock by `ms`, firing the timers that come due, in order. */
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        await env.settle();
        const due = [...timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].fn();
      }
      now = end;
      await env.settle();
    },
    events: () => requests.filter((r) => r.url.endsWith("/events")),
    queuedKeys: () => {
      const keys = [];
      for (let i = 0; i < storage.length; i++) if (storage.key(i).includes(":e:")) keys.push(storage.key(i));
      return keys;
    },
  };
  return env;
}

/** Answers: sessions start as `session(n)`, events as the test says (default: all accepted). */
export function api(onEvents = () => undefined, { sessions = [] } = {}) {
  let started = 0;
  return (request) => {
    if (request.url.endsWith("/sessions") && request.method === "POST") {
      started++;
      return sessions[started - 1] ?? { status: 201, body: session(started) };
    }
    if (request.url.endsWith("/events")) return onEvents(request);
    return undefined;
  };
}
