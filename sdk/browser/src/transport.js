// Talking to the API: requests, what counts as its answer, Retry-After, backoff, and its clock.
import { LIMITS, byteLength } from "./events.js";

/** The longest any wait lasts (backoff, Retry-After): timers past 2^31-1 ms would fire at once. */
export const MAX_DELAY_MS = 10 * 60 * 1000;
/** A client clock within this of the API's is trusted as it is (the Date header has 1 s steps). */
export const CLOCK_TOLERANCE_MS = 30 * 1000;
// A request that hangs must not hold the send lease forever: it counts as a network error.
const REQUEST_TIMEOUT_MS = 30000;
export const RETRYABLE = new Set([429, 500, 502, 503, 504]);

/** Seconds or an HTTP date in Retry-After, as milliseconds from `now` (0 if absent or unreadable), capped. */
export function retryAfterMs(value, now) {
  if (!value) return 0;
  const seconds = Number(value);
  const at = Number.isFinite(seconds) ? now + seconds * 1000 : Date.parse(value);
  return Number.isFinite(at) ? Math.min(MAX_DELAY_MS, Math.max(0, at - now)) : 0;
}

/**
 * How long to wait after the `failures`-th failure in a row: exponential, capped, with "equal
 * jitter" (half fixed, half random, so tabs that failed together spread out) and never less
 * than the server's Retry-After; never more than MAX_DELAY_MS.
 */
export function backoffMs(failures, retryAfter, random, { backoffBaseMs = 1000, backoffMaxMs = 60000 } = {}) {
  const ceiling = Math.min(backoffMaxMs, backoffBaseMs * 2 ** Math.max(0, failures - 1));
  return Math.min(MAX_DELAY_MS, Math.max(retryAfter, ceiling / 2 + random() * (ceiling / 2)));
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

/** An Error for an answer: its code and message are the API's when it gave them. */
export function failure(status, body) {
  const error = new Error(body?.error?.message || `Countersign API answered ${status}.`);
  error.code = body?.error?.code || "http_" + status;
  error.status = status;
  return error;
}

export class Transport {
  constructor(env, options) {
    this.env = env;
    this.options = options;
    this.clockOffset = 0; // the API's clock minus the client's, when they disagree (learnClock)
  }

  /** The API's clock from its Date header, against the middle of the request (Date has 1 s steps). */
  learnClock(date, sentAt) {
    const at = Date.parse(date || "");
    if (!Number.isFinite(at)) return;
    const offset = at + 500 - (sentAt + this.env.now()) / 2;
    this.clockOffset = Math.abs(offset) > CLOCK_TOLERANCE_MS ? Math.round(offset) : 0;
  }

  /** One request: {status, body (JSON or null), retryAfter (ms)}; throws on a network error. */
  async call(method, path, body, keepalive = false) {
    const { env } = this;
    const sentAt = env.now();
    const response = await env.fetch(this.options.apiUrl + path, {
      method,
      // text/plain is a CORS "simple" type: no preflight per batch, and keepalive works everywhere.
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      body: JSON.stringify(body),
      keepalive,
      credentials: "omit",
      signal: keepalive ? undefined : AbortSignal.timeout?.(REQUEST_TIMEOUT_MS),
    });
    this.learnClock(response.headers.get("Date"), sentAt);
    let json = null;
    try {
      json = await response.json();
    } catch {
      json = null;
    }
    return { status: response.status, body: json, retryAfter: retryAfterMs(response.headers.get("Retry-After"), env.now()) };
  }

  wait(ms) {
    return new Promise((resolve) => this.env.setTimeout(resolve, Math.min(ms, MAX_DELAY_MS)));
  }

  /** Call until an answer that is not worth retrying (network errors, 429, 5xx are). */
  async persist(method, path, body) {
    for (let attempt = 1; ; attempt++) {
      let answer;
      try {
        answer = await this.call(method, path, body);
      } catch {
        answer = { status: 0, retryAfter: 0 };
      }
      if (answer.status && !RETRYABLE.has(answer.status)) return answer;
      await this.wait(backoffMs(attempt, answer.retryAfter, this.env.random, this.options));
    }
  }
}
