// Delivery: batches of queued events, one pass at a time (across tabs with Web Locks), what each
// answer does to the queue, backoff, and the keepalive send when the page is hidden.
import { LIMITS, byteLength } from "./events.js";
import { MAX_DELAY_MS, RETRYABLE, backoffMs, failure, isApiError, isBatchAnswer, takeBatch } from "./transport.js";

export class Delivery {
  constructor(core) {
    this.core = core;
    this.timer = null;
    this.pass = null; // the delivery pass in progress
    this.failures = 0;
    this.retryAt = 0;
    this.batchCap = LIMITS.batchEvents; // lowered after a body-level 400 or 413, for the rest of the pass
    this.inFlight = new Set(); // insertIds in a request that has not been answered yet
  }

  /** Queued events by session key, without those in flight. */
  groups() {
    const groups = new Map();
    for (const item of this.core.queue.events()) {
      if (this.inFlight.has(item.e.insertId)) continue;
      if (!groups.has(item.s)) groups.set(item.s, []);
      groups.get(item.s).push(item);
    }
    return groups;
  }

  /** Apply an answer to the events of `batch`; true if delivery may go on now. */
  async settle(key, sessionId, batch, answer) {
    const { core } = this;
    const { queue, report, env, options } = core;
    const { status, body } = answer;
    if (status === 200 && isBatchAnswer(body, batch.length)) {
      this.failures = 0;
      if (core.sessions.current?.key === key) core.sessions.current.restarted = false;
      queue.remove(batch);
      for (const rejection of body.rejected) report("onRejected", { ...rejection, event: batch[rejection.index]?.e });
      return true;
    }
    if (status === 404 && body?.error?.code === "session_not_found") return core.sessions.ended(key, sessionId);
    // About the body (too large, or one event the API could not parse): halve the batch until the
    // event it is about goes alone and is refused alone; the others still go.
    if (status === 413 || (status === 400 && isApiError(body))) {
      if (batch.length > 1) {
        this.batchCap = Math.max(1, Math.floor(batch.length / 2));
        return true;
      }
      this.batchCap = LIMITS.batchEvents;
      queue.remove(batch);
      const { code, message } = failure(status, body);
      report("onRejected", { index: 0, code, message, event: batch[0].e });
      return true;
    }
    if (status >= 400 && status < 500 && !RETRYABLE.has(status) && isApiError(body)) {
      // Refused as a whole (a setting, a revoked key): final, so each event is reported.
      queue.remove(batch);
      const { code, message } = failure(status, body);
      batch.forEach((item, index) => report("onRejected", { index, code, message, event: item.e }));
      return true;
    }
    // Retryable, or not the API's answer (a proxy's or captive portal's page): nothing leaves the queue.
    this.failures++;
    if (status && !RETRYABLE.has(status) && this.failures === 1) {
      report("onError", failure(status, { error: { code: "not_an_api_answer", message: `An answer ${status} that is not the API's: the events stay queued.` } }));
    }
    this.retryAt = env.now() + backoffMs(this.failures, answer.retryAfter, env.random, options);
    this.schedule(this.retryAt - env.now());
    return false;
  }

  /** Stamp events with the API's time once, before their first send (a retry sends them as they were). */
  settleTimestamps(items) {
    const { queue, transport } = this.core;
    for (const item of items) {
      if (item.f) continue;
      item.e.timestamp += transport.clockOffset;
      item.f = 1;
      queue.tryWrite("e:" + item.e.insertId, item);
    }
  }

  async send(key, sessionId, batch, keepalive) {
    const { transport, options } = this.core;
    this.settleTimestamps(batch);
    batch.forEach((item) => this.inFlight.add(item.e.insertId));
    let answer;
    try {
      const path = `/v1/apps/${encodeURIComponent(options.appId)}/events`;
      answer = await transport.call("POST", path, { sessionId, events: batch.map((i) => i.e) }, keepalive);
    } catch {
      answer = { status: 0, retryAfter: 0 }; // the network failed: the events stay queued
    } finally {
      batch.forEach((item) => this.inFlight.delete(item.e.insertId));
    }
    return this.settle(key, sessionId, batch, answer);
  }

  /** Send what is queued, batch after batch, until the queue is empty or the API says wait. */
  async deliver() {
    const { core } = this;
    this.batchCap = LIMITS.batchEvents;
    for (;;) {
      if (core.stopped || core.optedOut) return;
      if (core.env.now() < this.retryAt) return this.schedule(this.retryAt - core.env.now());
      const next = [...this.groups()].find(([key]) => core.sessions.sessionFor(key));
      if (!next) return;
      const [key, items] = next;
      const sessionId = core.sessions.sessionFor(key);
      const batch = takeBatch(sessionId, items.map((i) => i.e), { maxEvents: this.batchCap }).map((_, index) => items[index]);
      // After each answer the queue is read again: other tabs add and remove events too.
      if (!(await this.send(key, sessionId, batch, false))) return;
    }
  }

  /** One delivery pass at a time in this page, and (with Web Locks) in all of this app's tabs. */
  run() {
    const { env, options } = this.core;
    if (!this.pass) {
      const exclusive = env.locks
        ? env.locks.request(`countersign:${options.appId}:send`, { ifAvailable: true }, (lock) => (lock ? this.deliver() : this.schedule(options.flushIntervalMs)))
        : this.deliver();
      this.pass = Promise.resolve(exclusive).finally(() => {
        this.pass = null;
      });
    }
    return this.pass;
  }

  schedule(ms) {
    const { core } = this;
    if (!core.options || core.stopped || core.optedOut) return;
    this.cancel();
    this.timer = core.env.setTimeout(() => {
      this.timer = null;
      this.run();
    }, Math.min(MAX_DELAY_MS, Math.max(0, ms)));
  }

  cancel() {
    if (this.timer !== null) this.core.env.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Page hide: send what is queued with keepalive (it may outlive the page); keep it until answered. */
  sendOnHide() {
    const { core } = this;
    if (!core.options || core.stopped || core.optedOut) return;
    let budget = LIMITS.keepaliveBytes;
    for (const [key, items] of this.groups()) {
      const sessionId = core.sessions.sessionFor(key);
      if (!sessionId || budget < 1024) continue;
      const batch = takeBatch(sessionId, items.map((i) => i.e), { maxBytes: budget }).map((_, index) => items[index]);
      const bytes = byteLength(JSON.stringify({ sessionId, events: batch.map((i) => i.e) }));
      if (bytes > budget) continue;
      budget -= bytes;
      this.send(key, sessionId, batch, true);
    }
  }

  /** Back online or visible again: worth a try now. */
  resumed() {
    if (this.retryAt > this.core.env.now() && this.failures) this.retryAt = this.core.env.now();
    this.schedule(0);
  }
}
