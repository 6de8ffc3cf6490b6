/* Countersign browser SDK, the public API (SPEC 8): sessions, events, consent, delivery.
 *
 * Guarantees (docs/sdk-web.md):
 * - Every event gets an insertId when it is recorded and is written to localStorage before the
 *   call returns, one key per event: tabs never overwrite each other's queue, a reload or a crash
 *   loses nothing (queue.js). Storage that is full or missing falls back to memory.
 * - An event leaves the queue only when the API's answer names it (accepted, duplicate or
 *   rejected); a request that may or may not have arrived is sent again with the same insertIds,
 *   so the API stores each event once (delivery.js).
 * - 503, 429, other 5xx, network errors and answers that are not the API's are retried with
 *   jittered exponential backoff that waits at least Retry-After, every wait capped; other 4xx
 *   are final and reported (transport.js).
 * - What the API could not parse is never sent: strings are made well-formed, an event it would
 *   refuse is refused alone, at once, to onRejected (events.js); a body-level 400 or 413 halves the
 *   batch until the event it is about goes alone.
 * - Timestamps are corrected by the API's Date when the client's clock is off by more than 30 s.
 * - On page hide, what is queued goes out with fetch keepalive; it stays queued until answered.
 */
import { LIMITS, cleanEvent, eventContext, refusal, uuid } from "./events.js";
import { Queue } from "./queue.js";
import { Transport } from "./transport.js";
import { Sessions } from "./session.js";
import { Delivery } from "./delivery.js";
import { browserEnvironment } from "./environment.js";

export const VERSION = "1.0.0";
/** How many calls made before initialize are kept (later ones are dropped, and counted). */
export const EARLY_CALLS = 100;

const DEFAULTS = { maxQueuedEvents: 1000, flushIntervalMs: 1000, backoffBaseMs: 1000, backoffMaxMs: 60000 };
const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

/** An SDK instance over `env` (the default export uses the browser's). */
export function createCountersign(env = browserEnvironment()) {
  const core = { env, options: null, queue: null, transport: null, stopped: null, optedOut: false, report };
  core.sessions = new Sessions(core);
  core.delivery = new Delivery(core);
  let seq = 0;
  let early = []; // calls before initialize: [method, args, resolve, reject]
  let earlyDropped = 0;
  let credentials = null; // initialize's, kept to start the session on optIn()
  let warned = false;

  function report(callback, value) {
    try {
      core.options?.[callback]?.(value);
    } catch (error) {
      setTimeout(() => {
        throw error;
      }); // a failing callback must not stop delivery; it still shows in the console
    }
  }

  /** Before initialize: keep the call (bounded) and settle it once initialize has run. */
  function later(method, args) {
    return new Promise((resolve, reject) => {
      if (early.length >= EARLY_CALLS) {
        earlyDropped++;
        return resolve(null);
      }
      early.push([method, args, resolve, reject]);
    });
  }

  function replay([method, args, resolve, reject]) {
    try {
      Promise.resolve(method === "event" ? accept(...args) : api[method](...args)).then(resolve, reject);
    } catch (error) {
      reject(error);
    }
  }

  /** The consent choice: the one stored in this browser (any tab) wins over initialize's default. */
  function optedOut() {
    const stored = core.queue.read("consent");
    if (stored) core.optedOut = stored === "out";
    return core.optedOut;
  }

  function startSession() {
    const state = core.sessions.begin(credentials);
    state.started = core.sessions.start(state);
    state.started.catch((error) => {
      if (core.sessions.current !== state) return;
      core.stopped = error.code; // the queue stays: a later page with valid credentials sends it
      report("onError", error);
    });
    return state.started;
  }

  function initialize(init) {
    if (!init || typeof init.apiUrl !== "string" || typeof init.appId !== "string" || !init.appId) {
      throw new TypeError("Countersign.initialize needs {apiUrl, appId}.");
    }
    const first = !core.options;
    core.options = { ...DEFAULTS, ...init, apiUrl: init.apiUrl.replace(/\/+$/, "") };
    if (first || core.queue.prefix !== `countersign:${init.appId}:`) {
      core.queue = new Queue(env.storage(), init.appId);
      earlyDropped = 0;
    }
    core.transport = new Transport(env, core.options);
    if (first) env.watchPage?.({ hidden: () => core.delivery.sendOnHide(), resumed: () => core.delivery.resumed() });
    core.stopped = null;
    core.optedOut = !!init.optOut;
    credentials = { jwt: init.jwt, signingKeyName: init.signingKeyName, metadata: init.metadata };
    const calls = early;
    early = [];
    // Consent first: an optOut() made before initialize must keep the session from starting.
    const consent = (call) => call[0] === "optOut" || call[0] === "optIn";
    calls.filter(consent).forEach(replay);
    const started = optedOut() ? Promise.resolve(null) : startSession();
    calls.filter((call) => !consent(call)).forEach(replay);
    return started;
  }

  /** Queue `event` for the current session: beforeSend, then what the API would refuse is refused here. */
  function accept(event) {
    if (optedOut()) return null;
    let sent = event;
    if (core.options.beforeSend) {
      try {
        sent = core.options.beforeSend(event);
      } catch (error) {
        report("onError", error); // a failing filter must not let through what it was to remove
        return null;
      }
      if (sent == null) return null; // dropped by the page
    }
    try {
      sent = cleanEvent(sent);
    } catch (error) {
      return refuse(event, { code: "invalid_event", message: error.message });
    }
    const problem = isObject(sent) ? refusal(sent) : { code: "invalid_event", message: "beforeSend must return an event or null." };
    if (problem) return refuse(sent, problem);
    const state = core.sessions.pending();
    core.queue.add({ e: sent, s: state.key, n: seq++, c: sent.timestamp }, core.options.maxQueuedEvents);
    if (core.delivery.timer === null) core.delivery.schedule(core.options.flushIntervalMs);
    return sent.insertId;
  }

  /** Refused before it is queued: reported with index -1; the caller still gets its insertId. */
  function refuse(event, { code, message }) {
    report("onRejected", { index: -1, code, message, event });
    return event?.insertId ?? null;
  }

  /** Any event: `record("signup", "Pro plan", {seats: 3})`; returns its insertId (null if not queued). */
  function record(type, name, properties) {
    const event = { type, name, properties, context: eventContext(env.where?.(), VERSION), timestamp: env.now(), insertId: uuid() };
    if (name === undefined || name === null) delete event.name;
    if (properties === undefined) delete event.properties;
    if (core.options) return accept(event);
    if (early.length >= EARLY_CALLS) {
      earlyDropped++;
      return null;
    }
    early.push(["event", [event], () => {}, () => {}]);
    return event.insertId;
  }

  /** `track(name, properties?)`: an event of type "track". The 1.x form track(type, name, properties) still works. */
  function track(name, properties, legacyProperties) {
    if (typeof properties === "string" || legacyProperties !== undefined) {
      if (!warned) env.warn?.("Countersign: track(type, name, properties) is record(type, name, properties) since 2.0.");
      warned = true;
      return record(name, properties, legacyProperties);
    }
    return record("track", name, properties);
  }

  /** `page(properties?)`: an event of type "page" named by the page's title, with its URL, path and referrer. */
  function page(properties) {
    const where = eventContext(env.where?.(), VERSION).page;
    return record("page", where.title || where.path, properties === undefined || isObject(properties) ? { ...where, ...properties } : properties);
  }

  function optOut() {
    if (!core.options) return later("optOut", []);
    core.optedOut = true;
    core.queue.write("consent", "out");
    core.delivery.cancel();
    core.queue.remove(core.queue.events());
  }

  function optIn() {
    if (!core.options) return later("optIn", []);
    const wasOut = optedOut();
    core.optedOut = false;
    core.queue.write("consent", "in");
    if (wasOut && !core.sessions.current?.started) startSession();
    core.delivery.schedule(0);
  }

  async function flush() {
    if (!core.options) return later("flush", []);
    const state = core.sessions.current;
    if (state?.started) await state.started.catch(() => null);
    const wait = core.delivery.retryAt - env.now();
    if (wait > 0) await core.transport.wait(wait);
    await core.delivery.run();
    return status();
  }

  function update(side, jwtOrFields, signingKeyName) {
    if (!core.options) return later(side === "visitor" ? "setVisitorData" : "setAccountData", [jwtOrFields, signingKeyName]);
    if (optedOut()) return Promise.resolve(null);
    return core.sessions.update(side, jwtOrFields, signingKeyName);
  }

  function clearSession() {
    if (!core.options) return later("clearSession", []);
    core.sessions.clear();
  }

  function status() {
    return {
      sessionId: core.sessions.current?.session?.sessionId ?? null,
      queued: core.queue ? core.queue.events().length : early.filter((call) => call[0] === "event").length,
      dropped: (core.queue?.dropped ?? 0) + earlyDropped,
      stopped: core.stopped,
      optedOut: core.queue ? optedOut() : false,
    };
  }

  const api = {
    VERSION,
    LIMITS,
    initialize,
    setVisitorData: (jwtOrFields, signingKeyName) => update("visitor", jwtOrFields, signingKeyName),
    setAccountData: (jwtOrFields, signingKeyName) => update("account", jwtOrFields, signingKeyName),
    track,
    page,
    record,
    flush,
    clearSession,
    optOut,
    optIn,
    status,
  };
  return api;
}
