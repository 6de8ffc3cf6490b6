/*! Countersign browser SDK: sessions, events and delivery that never loses or doubles an event.
 *
 * Guarantees (README, "Sending data from a web app"):
 * - track() gives every event an insertId and writes it to localStorage before it returns, one key
 *   per event: tabs never overwrite each other's queue, and a reload or a crash loses nothing.
 * - An event leaves the queue only when the API answered for it (accepted, duplicate or rejected).
 *   A request that may or may not have arrived is sent again; its insertIds make the API store
 *   each event once.
 * - 503, 429, other 5xx and network errors are retried with jittered exponential backoff that
 *   waits at least Retry-After; other 4xx answers are final and reported.
 * - On page hide, what is queued goes out with fetch keepalive; it stays queued until answered.
 * - An event the API could not parse (a lone surrogate, nesting past its limit) is never sent:
 *   strings are made well-formed and an event nested too deep is refused alone, when tracked.
 *   A body-level 400 or 413 splits the batch until the event it is about goes alone.
 * - A 200 whose body is not the API's answer (a proxy's page) acknowledges nothing.
 * - Every wait is capped (MAX_DELAY_MS), whatever Retry-After says.
 * - Event timestamps are corrected by the offset of the API's Date header when the client's
 *   clock is off by more than CLOCK_TOLERANCE_MS (accurate to about a second plus half the
 *   round trip).
 */

export const VERSION = "1.1.0";

/** API limits (SPEC 3.3) and the browsers' keepalive budget (64 KiB in flight per page). */
export const LIMITS = Object.freeze({
  batchEvents: 500,
  batchBytes: 1024 * 1024,
  eventBytes: 32 * 1024,
  keepaliveBytes: 60 * 1024,
  eventDepth: 16,
  typeChars: 256,
});

/** The longest any wait lasts (backoff, Retry-After): timers past 2^31-1 ms would fire at once. */
export const MAX_DELAY_MS = 10 * 60 * 1000;
/** A client clock within this of the API's is trusted as it is (the Date header has 1 s steps). */
export const CLOCK_TOLERANCE_MS = 30 * 1000;

const DEFAULTS = { maxQueuedEvents: 1000, flushIntervalMs: 1000, backoffBaseMs: 1000, backoffMaxMs: 60000 };
// A request that hangs must not hold the send lease forever: it counts as a network error.
const REQUEST_TIMEOUT_MS = 30000;
const RETRYABLE = new Set([429, 500, 502, 503, 504]);
const encoder = new TextEncoder();

/** UTF-8 size of a string in bytes. */
export const byteLength = (text) => encoder.encode(text).length;

/** A random v4 UUID (crypto.randomUUID needs a secure context; getRandomValues does not). */
export function uuid(crypto = globalThis.crypto) {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The first batch of `events` (oldest first) that fits the API's limits: at most `maxEvents`
 * events, and a request body of at most `maxBytes` (one oversized event still goes alone, so
 * the API can answer for it).
 */
export function takeBatch(sessionId, events, { maxEvents = LIMITS.batchEvents, maxBytes = LIMITS.batchBytes } = {}) {
  let size = byteLength(JSON.stringify({ sessionId, events: [] }));
  const batch = [];
  for (const event of events) {
    if (batch.length === maxEvents) break;
    const bytes = byteLength(JSON.stringify(event)) + (batch.length ? 1 : 0);
    if (batch.length && size + bytes > maxBytes) break;
    batch.push(event);
    size += bytes;
  }
  return batch;
}

/** Seconds or an HTTP date in Retry-After, as milliseconds from `now` (0 if absent or unreadable). */
export function retryAfterMs(value, now) {
  if (!value) return 0;
  const seconds = Number(value);
  const at = Number.isFinite(seconds) ? now + seconds * 1000 : Date.parse(value);
  return Number.isFinite(at) ? Math.min(MAX_DELAY_MS, Math.max(0, at - now)) : 0;
}

/**
 * How long to wait after the `failures`-th failure in a row: exponential, capped, with "equal
 * jitter" (half fixed, half random, so tabs that failed together spread out) and never less
 * than the server's Retry-After.
 */
export function backoffMs(failures, retryAfter, random, { backoffBaseMs, backoffMaxMs } = DEFAULTS) {
  const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.max(0, failures - 1));
  return Math.min(MAX_DELAY_MS, Math.max(retryAfter, ceiling / 2 + random() * (ceiling / 2)));
}

const LONE_SURROGATE = /[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]/g;
/** `text` with every lone surrogate (not Unicode text, refused by the API) as U+FFFD. */
export const wellFormed = (text) => text.replace(LONE_SURROGATE, (pair) => (pair.length === 2 ? pair : "\ufffd"));

/**
 * The event as the API will parse it: plain JSON (toJSON applied, undefined dropped), strings and
 * member names well-formed. Throws a TypeError naming the problem if it cannot be sent at all
 * (nested deeper than the API's limit, a cycle, a BigInt).
 */
export function cleanEvent(event) {
  let plain;
  try {
    plain = JSON.parse(JSON.stringify(event));
  } catch {
    throw new TypeError("The event is not JSON (a cycle, a BigInt or nesting too deep).");
  }
  const clean = (value, depth) => {
    if (typeof value === "string") return wellFormed(value);
    if (value === null || typeof value !== "object") return value;
    if (depth > LIMITS.eventDepth) throw new TypeError(`An event nests at most ${LIMITS.eventDepth} levels.`);
    if (Array.isArray(value)) return value.map((item) => clean(item, depth + 1));
    const copy = {};
    for (const [name, member] of Object.entries(value)) copy[wellFormed(name)] = clean(member, depth + 1);
    return copy;
  };
  return clean(plain, 1);
}

/** True if `body` is the API's answer to a batch of `count` events: every event accounted for. */
export function isBatchAnswer(body, count) {
  const { accepted, duplicates, rejected } = body || {};
  if (!Number.isInteger(accepted) || !Number.isInteger(duplicates) || !Array.isArray(rejected)) return false;
  const indexes = new Set(rejected.map((r) => r?.index));
  const named = [...indexes].every((i) => Number.isInteger(i) && i >= 0 && i < count);
  return named && indexes.size === rejected.length && accepted + duplicates + rejected.length === count;
}

/** True if `body` is the API's error shape ({"error": {"code", "message"}}), not a proxy's page. */
export const isApiError = (body) => typeof body?.error?.code === "string";

/** The claimed visitor and account ids of a JWT payload or unsigned metadata (not a verification). */
export function claimedIdentity({ jwt, metadata } = {}) {
  let claims = metadata || {};
  if (jwt) {
    try {
      const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const bytes = Uint8Array.from(atob(part + "===".slice((part.length + 3) % 4)), (c) => c.charCodeAt(0));
      claims = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      claims = {};
    }
  }
  return JSON.stringify([String(claims.visitor?.id ?? ""), String(claims.account?.id ?? "")]);
}

/** Storage for when localStorage is missing or refuses writes: lasts as long as the page. */
export class MemoryStorage {
  #items = new Map();
  get length() {
    return this.#items.size;
  }
  key(index) {
    return [...this.#items.keys()][index] ?? null;
  }
  getItem(key) {
    return this.#items.has(key) ? this.#items.get(key) : null;
  }
  setItem(key, value) {
    this.#items.set(key, String(value));
  }
  removeItem(key) {
    this.#items.delete(key);
  }
}

/** What the SDK needs from the browser; tests pass their own. */
export function browserEnvironment() {
  return {
    storage() {
      try {
        const storage = globalThis.localStorage;
        const probe = "countersign:probe";
        storage.setItem(probe, "1");
        storage.removeItem(probe);
        return storage;
      } catch {
        return new MemoryStorage(); // private modes and sandboxed frames may refuse storage
      }
    },
    fetch: (...args) => globalThis.fetch(...args),
    now: () => Date.now(),
    random: Math.random,
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (id) => globalThis.clearTimeout(id),
    locks: globalThis.navigator?.locks,
    /** Call `hidden` when the page may be going away, `resumed` when sending is worth a new try. */
    watchPage({ hidden, resumed }) {
      if (typeof document === "undefined") return;
      document.addEventListener("visibilitychange", () => (document.visibilityState === "hidden" ? hidden() : resumed()));
      globalThis.addEventListener("pagehide", hidden);
      globalThis.addEventListener("pageshow", resumed);
      globalThis.addEventListener("online", resumed);
    },
  };
}

/** An SDK instance over `env` (the default export uses the browser's). */
export function createCountersign(env = browserEnvironment()) {
  let options = null; // initialize()'s options
  let storage = null;
  let prefix = "";
  let current = null; // {key, identity, credentials, updates, session, started: Promise}
  let timer = null;
  let pass = null; // the delivery pass in progress
  let failures = 0;
  let retryAt = 0;
  let batchCap = LIMITS.batchEvents; // lowered after a 413, for the rest of the pass
  let seq = 0;
  let stopped = null; // why delivery stopped in this page, or null
  let dropped = 0;
  let clockOffset = 0; // the API's clock minus the client's, when they disagree (learnClock)
  const inFlight = new Set(); // insertIds in a request that has not been answered yet

  const read = (key) => {
    try {
      return JSON.parse(storage.getItem(prefix + key));
    } catch {
      return null;
    }
  };
  /** Write, or false if storage refused (full, or gone). */
  const tryWrite = (key, value) => {
    try {
      storage.setItem(prefix + key, JSON.stringify(value));
      return true;
    } catch {
      return false;
    }
  };
  /** Write; storage that refuses is replaced by memory for this page, with what it held of ours. */
  const write = (key, value) => {
    if (tryWrite(key, value)) return;
    const memory = new MemoryStorage();
    for (let i = 0; i < storage.length; i++) {
      const name = storage.key(i);
      if (name?.startsWith(prefix)) memory.setItem(name, storage.getItem(name));
    }
    storage = memory;
    tryWrite(key, value);
  };

  function keys(kind) {
    const found = [];
    for (let i = 0; i < storage.length; i++) {
      const key = storage.key(i);
      if (key?.startsWith(prefix + kind)) found.push(key.slice(prefix.length));
    }
    return found;
  }

  function queued() {
    const events = [];
    for (const key of keys("e:")) {
      const item = read(key);
      if (item?.e?.insertId) events.push(item);
      else storage.removeItem(prefix + key); // unreadable: it can never be sent
    }
    // In tracking order: `c` is the client's clock when tracked (timestamps may be corrected since).
    return events.sort((a, b) => (a.c ?? a.e.timestamp) - (b.c ?? b.e.timestamp) || a.n - b.n);
  }

  function byGroup(items) {
    const groups = new Map();
    for (const item of items) {
      if (inFlight.has(item.e.insertId)) continue;
      if (!groups.has(item.s)) groups.set(item.s, []);
      groups.get(item.s).push(item);
    }
    return groups;
  }

  function remove(items) {
    for (const item of items) storage.removeItem(prefix + "e:" + item.e.insertId);
  }

  function dropOldest(count) {
    const victims = queued().slice(0, count);
    remove(victims);
    dropped += victims.length;
    write("dropped", (read("dropped") || 0) + victims.length);
  }

  function enqueue(item) {
    const count = keys("e:").length;
    if (count >= options.maxQueuedEvents) dropOldest(count - options.maxQueuedEvents + 1);
    for (;;) {
      if (tryWrite("e:" + item.e.insertId, item)) return;
      // Storage refuses even one event: memory keeps the rest for this page.
      if (!queued().length) return write("e:" + item.e.insertId, item);
      dropOldest(1); // quota: the oldest event gives way, counted
    }
  }

  function report(callback, value) {
    try {
      options?.[callback]?.(value);
    } catch (error) {
      setTimeout(() => {
        throw error;
      }); // a failing callback must not stop delivery; it still shows in the console
    }
  }

  /** The API's clock from its Date header, against the middle of the request (Date has 1 s steps). */
  function learnClock(date, sentAt) {
    const at = Date.parse(date || "");
    if (!Number.isFinite(at)) return;
    const offset = at + 500 - (sentAt + env.now()) / 2;
    clockOffset = Math.abs(offset) > CLOCK_TOLERANCE_MS ? Math.round(offset) : 0;
  }

  async function call(method, path, body, keepalive = false) {
    const sentAt = env.now();
    const response = await env.fetch(options.apiUrl + path, {
      method,
      // text/plain is a CORS "simple" type: no preflight per batch, and keepalive works everywhere.
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      body: JSON.stringify(body),
      keepalive,
      credentials: "omit",
      signal: keepalive ? undefined : AbortSignal.timeout?.(REQUEST_TIMEOUT_MS),
    });
    learnClock(response.headers.get("Date"), sentAt);
    let json = null;
    try {
      json = await response.json();
    } catch {
      json = null;
    }
    return { status: response.status, body: json, retryAfter: retryAfterMs(response.headers.get("Retry-After"), env.now()) };
  }

  function failure(status, body) {
    const error = new Error(body?.error?.message || `Countersign API answered ${status}.`);
    error.code = body?.error?.code || "http_" + status;
    error.status = status;
    return error;
  }

  const wait = (ms) => new Promise((resolve) => env.setTimeout(resolve, Math.min(ms, MAX_DELAY_MS)));

  /** Call until an answer that is not worth retrying (network errors, 429, 5xx are). */
  async function persist(method, path, body) {
    for (let attempt = 1; ; attempt++) {
      let answer;
      try {
        answer = await call(method, path, body);
      } catch {
        answer = { status: 0, retryAfter: 0 };
      }
      if (answer.status && !RETRYABLE.has(answer.status)) return answer;
      await wait(backoffMs(attempt, answer.retryAfter, env.random, options));
    }
  }

  function sessionBody({ jwt, signingKeyName, metadata }) {
    if (jwt) return signingKeyName ? { jwt, signingKeyName } : { jwt };
    return { metadata: metadata || {} };
  }

  async function startSession(state) {
    const answer = await persist("POST", `/v1/apps/${encodeURIComponent(options.appId)}/sessions`, sessionBody(state.credentials));
    if (answer.status !== 201) throw failure(answer.status, answer.body);
    for (const update of state.updates.values()) {
      const replay = await persist("PATCH", sessionPath(answer.body.sessionId), update);
      if (replay.status !== 200) report("onError", failure(replay.status, replay.body));
    }
    state.session = answer.body;
    write("s:" + state.key, { sessionId: answer.body.sessionId, identity: state.identity, at: env.now() });
    schedule(0);
    return answer.body;
  }

  const sessionPath = (id) => `/v1/apps/${encodeURIComponent(options.appId)}/sessions/${encodeURIComponent(id)}`;

  /**
   * `endedId` was not found: start again with the last credentials, once; then stop and report.
   * Requests that learn of the same ending together share one restart.
   */
  function restart(state, endedId) {
    if (state.session && state.session.sessionId !== endedId) return Promise.resolve(true); // already new
    state.restarting ??= (async () => {
      if (state.restarted) {
        stopped = "session_not_found";
        report("onError", failure(404, { error: { code: "session_not_found", message: "The session ended again at once." } }));
        return false;
      }
      state.restarted = true;
      state.started = startSession(state);
      try {
        await state.started;
        return true;
      } catch (error) {
        stopped = error.code;
        report("onError", error);
        return false;
      }
    })().finally(() => {
      state.restarting = null;
    });
    return state.restarting;
  }

  /** Which session a group of queued events goes with, or null to leave it queued for now. */
  function sessionFor(key) {
    if (current?.key === key) return current.session?.sessionId || null;
    const record = read("s:" + key);
    if (record?.sessionId) return record.sessionId;
    // Its page is gone before its session started: the same visitor's current session takes it.
    if (record && current?.session && record.identity === current.identity) {
      write("s:" + key, { ...record, sessionId: current.session.sessionId });
      return current.session.sessionId;
    }
    return null;
  }

  /** Apply an answer to the events of `batch`; true if delivery may go on now. */
  async function settle(key, sessionId, batch, answer) {
    const { status, body } = answer;
    if (status === 200 && isBatchAnswer(body, batch.length)) {
      failures = 0;
      if (current?.key === key) current.restarted = false;
      remove(batch);
      for (const rejection of body?.rejected || []) report("onRejected", { ...rejection, event: batch[rejection.index]?.e });
      return true;
    }
    if (status === 404 && body?.error?.code === "session_not_found") {
      if (current?.key === key) return restart(current, sessionId);
      const record = read("s:" + key);
      // Another page's session ended: the same visitor's current session takes its events.
      if (current?.session && record?.identity === current.identity && current.session.sessionId !== sessionId) {
        write("s:" + key, { ...record, sessionId: current.session.sessionId });
      } else {
        write("s:" + key, { ...record, sessionId: null });
      }
      return true;
    }
    // About the body (too large, or one event the API could not parse): halve the batch until the
    // event it is about goes alone and is refused alone; the others still go.
    if (status === 413 || (status === 400 && isApiError(body))) {
      if (batch.length > 1) {
        batchCap = Math.max(1, Math.floor(batch.length / 2));
        return true;
      }
      batchCap = LIMITS.batchEvents;
      remove(batch);
      const { code, message } = failure(status, body);
      report("onRejected", { index: 0, code, message, event: batch[0].e });
      return true;
    }
    if (status >= 400 && status < 500 && !RETRYABLE.has(status) && isApiError(body)) {
      // Refused as a whole (a setting, a revoked key, a malformed request): final, so reported.
      remove(batch);
      const { code, message } = failure(status, body);
      batch.forEach((item, index) => report("onRejected", { index, code, message, event: item.e }));
      return true;
    }
    // Retryable, or not the API's answer (a proxy's or captive portal's page): nothing leaves the queue.
    failures++;
    if (status && !RETRYABLE.has(status) && failures === 1) report("onError", failure(status, { error: { code: "not_an_api_answer", message: `An answer ${status} that is not the API's: the events stay queued and are sent again.` } }));
    retryAt = env.now() + backoffMs(failures, answer.retryAfter, env.random, options);
    schedule(retryAt - env.now());
    return false;
  }

  /** Stamp events with the API's time once, before their first send (a retry sends them as they were). */
  function settleTimestamps(items) {
    for (const item of items) {
      if (item.f) continue;
      item.e.timestamp += clockOffset;
      item.f = 1;
      tryWrite("e:" + item.e.insertId, item);
    }
  }

  async function send(key, sessionId, batch, keepalive) {
    settleTimestamps(batch);
    batch.forEach((item) => inFlight.add(item.e.insertId));
    let answer;
    try {
      answer = await call("POST", `/v1/apps/${encodeURIComponent(options.appId)}/events`, { sessionId, events: batch.map((i) => i.e) }, keepalive);
    } catch {
      answer = { status: 0, retryAfter: 0 }; // the network failed: the events stay queued
    } finally {
      batch.forEach((item) => inFlight.delete(item.e.insertId));
    }
    return settle(key, sessionId, batch, answer);
  }

  /** Send what is queued, batch after batch, until the queue is empty or the API says wait. */
  async function deliver() {
    batchCap = LIMITS.batchEvents;
    for (;;) {
      if (stopped) return;
      if (env.now() < retryAt) return schedule(retryAt - env.now());
      const next = [...byGroup(queued())].find(([key]) => sessionFor(key));
      if (!next) return;
      const [key, items] = next;
      const sessionId = sessionFor(key);
      const batch = takeBatch(sessionId, items.map((i) => i.e), { maxEvents: batchCap }).map((_, index) => items[index]);
      // After each answer the queue is read again: other tabs add and remove events too.
      if (!(await send(key, sessionId, batch, false))) return;
    }
  }

  /** One delivery pass at a time in this page, and (with Web Locks) in all of this app's tabs. */
  function run() {
    if (!pass) {
      const exclusive = env.locks
        ? env.locks.request(`countersign:${options.appId}:send`, { ifAvailable: true }, (lock) => (lock ? deliver() : schedule(options.flushIntervalMs)))
        : deliver();
      pass = Promise.resolve(exclusive).finally(() => {
        pass = null;
      });
    }
    return pass;
  }

  function schedule(ms) {
    if (!options || stopped) return;
    if (timer !== null) env.clearTimeout(timer);
    timer = env.setTimeout(() => {
      timer = null;
      run();
    }, Math.min(MAX_DELAY_MS, Math.max(0, ms)));
  }

  /** Page hide: send what is queued with keepalive (it may outlive the page); keep it until answered. */
  function sendOnHide() {
    if (!options || stopped) return;
    let budget = LIMITS.keepaliveBytes;
    for (const [key, items] of byGroup(queued())) {
      const sessionId = sessionFor(key);
      if (!sessionId || budget < 1024) continue;
      const batch = takeBatch(sessionId, items.map((i) => i.e), { maxBytes: budget }).map((_, index) => items[index]);
      const bytes = byteLength(JSON.stringify({ sessionId, events: batch.map((i) => i.e) }));
      if (bytes > budget) continue;
      budget -= bytes;
      send(key, sessionId, batch, true);
    }
  }
  function resumed() {
    if (retryAt > env.now() && failures) retryAt = env.now(); // back online: worth a try now
    schedule(0);
  }

  function initialize(init) {
    if (!init || typeof init.apiUrl !== "string" || typeof init.appId !== "string" || !init.appId) {
      throw new TypeError("Countersign.initialize needs {apiUrl, appId}.");
    }
    const first = !options;
    options = { ...DEFAULTS, ...init, apiUrl: init.apiUrl.replace(/\/+$/, "") };
    if (first || prefix !== `countersign:${options.appId}:`) {
      storage = env.storage();
      prefix = `countersign:${options.appId}:`;
      dropped = 0;
    }
    if (first) env.watchPage?.({ hidden: sendOnHide, resumed });
    stopped = null;
    const credentials = { jwt: init.jwt, signingKeyName: init.signingKeyName, metadata: init.metadata };
    // Events tracked before initialize (or after clearSession) belong to this session.
    const key = current && !current.credentials ? current.key : uuid();
    current = { key, identity: claimedIdentity(credentials), credentials, updates: new Map(), session: null, restarted: false };
    write("s:" + key, { sessionId: null, identity: current.identity, at: env.now() });
    forgetOldSessions();
    const state = current;
    state.started = startSession(state);
    state.started.catch((error) => {
      if (current !== state) return;
      stopped = error.code; // the queue stays: a later page with valid credentials sends it
      report("onError", error);
    });
    return state.started;
  }

  /** Session records no queued event needs any more, once a day has passed (sessions end by then). */
  function forgetOldSessions() {
    const needed = new Set(queued().map((item) => item.s));
    for (const key of keys("s:")) {
      const record = read(key);
      if (!needed.has(key.slice(2)) && !(record?.at > env.now() - 86400000)) storage.removeItem(prefix + key);
    }
  }

  function pendingSession() {
    if (!options) throw new Error("Call Countersign.initialize first.");
    if (!current) current = { key: uuid(), identity: null, credentials: null, updates: new Map(), session: null };
    return current;
  }

  function track(type, name, properties) {
    if (typeof type !== "string" || !type.trim() || type.length > LIMITS.typeChars) {
      throw new TypeError(`track(type) needs a non-empty string type of at most ${LIMITS.typeChars} characters.`);
    }
    if (properties !== undefined && (properties === null || typeof properties !== "object" || Array.isArray(properties))) {
      throw new TypeError("track properties must be an object.");
    }
    const state = pendingSession();
    let event = { type, timestamp: env.now(), insertId: uuid() };
    if (name !== undefined && name !== null) event.name = name;
    if (properties !== undefined) event.properties = properties;
    try {
      event = cleanEvent(event);
    } catch (error) {
      report("onRejected", { index: -1, code: "invalid_event", message: error.message, event });
      return event.insertId;
    }
    if (byteLength(JSON.stringify(event)) > LIMITS.eventBytes) {
      report("onRejected", { index: -1, code: "event_too_large", message: `An event is at most ${LIMITS.eventBytes} bytes of JSON.`, event });
      return event.insertId;
    }
    enqueue({ e: event, s: state.key, n: seq++, c: event.timestamp });
    if (timer === null) schedule(options.flushIntervalMs);
    return event.insertId;
  }

  async function update(side, jwtOrFields, signingKeyName) {
    const state = pendingSession();
    if (!state.started) throw new Error("Call Countersign.initialize first.");
    const session = await state.started;
    // A JWT (signed), or plain fields for an unsigned session: their id is the session's own.
    const body =
      typeof jwtOrFields === "string"
        ? signingKeyName
          ? { jwt: jwtOrFields, signingKeyName }
          : { jwt: jwtOrFields }
        : { metadata: { [side]: { ...jwtOrFields, id: session[side === "visitor" ? "visitorId" : "accountId"] } } };
    for (let restarted = false; ; restarted = true) {
      const { sessionId } = await state.started;
      const answer = await persist("PATCH", sessionPath(sessionId), body);
      if (answer.status === 200) {
        state.updates.set(side, body);
        return answer.body;
      }
      if (answer.body?.error?.code !== "session_not_found" || restarted || !(await restart(state, sessionId))) {
        throw failure(answer.status, answer.body);
      }
    }
  }

  async function flush() {
    if (!options) throw new Error("Call Countersign.initialize first.");
    if (current?.started) await current.started.catch(() => null);
    if (env.now() < retryAt) await wait(retryAt - env.now());
    await run();
    return status();
  }

  function clearSession() {
    if (!options) return;
    if (current) {
      const identity = current.identity;
      const forget = new Set([current.key]);
      for (const key of keys("s:")) if (read(key)?.identity === identity) forget.add(key.slice(2));
      remove(queued().filter((item) => forget.has(item.s)));
      for (const key of forget) storage.removeItem(prefix + "s:" + key);
    }
    current = null;
  }

  function status() {
    return {
      sessionId: current?.session?.sessionId ?? null,
      queued: options ? queued().length : 0,
      dropped,
      stopped,
    };
  }

  return {
    VERSION,
    initialize,
    setVisitorData: (jwt, signingKeyName) => update("visitor", jwt, signingKeyName),
    setAccountData: (jwt, signingKeyName) => update("account", jwt, signingKeyName),
    track,
    flush,
    clearSession,
    status,
  };
}

export const Countersign = createCountersign();
export default Countersign;
