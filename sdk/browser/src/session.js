// Sessions: starting one with the page's credentials, starting again once when the API says it
// ended, metadata updates, and which session a queued event goes with (its own page's, or the
// same visitor's current one once its page is gone).
import { uuid } from "./events.js";
import { failure } from "./transport.js";

const DAY_MS = 86400000;

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

function sessionBody({ jwt, signingKeyName, metadata }) {
  if (jwt) return signingKeyName ? { jwt, signingKeyName } : { jwt };
  return { metadata: metadata || {} };
}

export class Sessions {
  constructor(core) {
    this.core = core;
    // {key, identity, credentials, updates, session, started: Promise, restarted, restarting}
    this.current = null;
  }

  path(id) {
    const { appId } = this.core.options;
    return `/v1/apps/${encodeURIComponent(appId)}/sessions` + (id ? `/${encodeURIComponent(id)}` : "");
  }

  /** The state events are queued under now (before initialize, or after clearSession, one without credentials). */
  pending() {
    this.current ??= { key: uuid(), identity: null, credentials: null, updates: new Map(), session: null };
    return this.current;
  }

  /** A new session state for `credentials`; events tracked since clearSession belong to it. */
  begin(credentials) {
    const { queue, env } = this.core;
    const key = this.current && !this.current.credentials ? this.current.key : uuid();
    const state = { key, identity: claimedIdentity(credentials), credentials, updates: new Map(), session: null, restarted: false };
    this.current = state;
    queue.write("s:" + key, { sessionId: null, identity: state.identity, at: env.now() });
    this.forgetOld();
    return state;
  }

  async start(state) {
    const { transport, queue, env, report } = this.core;
    const answer = await transport.persist("POST", this.path(), sessionBody(state.credentials));
    if (answer.status !== 201) throw failure(answer.status, answer.body);
    for (const update of state.updates.values()) {
      const replay = await transport.persist("PATCH", this.path(answer.body.sessionId), update);
      if (replay.status !== 200) report("onError", failure(replay.status, replay.body));
    }
    state.session = answer.body;
    queue.write("s:" + state.key, { sessionId: answer.body.sessionId, identity: state.identity, at: env.now() });
    this.core.delivery.schedule(0);
    return answer.body;
  }

  /**
   * `endedId` was not found: start again with the last credentials, once; then stop and report.
   * Requests that learn of the same ending together share one restart.
   */
  restart(state, endedId) {
    const { core } = this;
    if (state.session && state.session.sessionId !== endedId) return Promise.resolve(true); // already new
    state.restarting ??= (async () => {
      if (state.restarted) {
        core.stopped = "session_not_found";
        core.report("onError", failure(404, { error: { code: "session_not_found", message: "The session ended again at once." } }));
        return false;
      }
      state.restarted = true;
      state.started = this.start(state);
      try {
        await state.started;
        return true;
      } catch (error) {
        core.stopped = error.code;
        core.report("onError", error);
        return false;
      }
    })().finally(() => {
      state.restarting = null;
    });
    return state.restarting;
  }

  /** Which session a group of queued events goes with, or null to leave it queued for now. */
  sessionFor(key) {
    const { queue } = this.core;
    const { current } = this;
    if (current?.key === key) return current.session?.sessionId || null;
    const record = queue.read("s:" + key);
    if (record?.sessionId) return record.sessionId;
    // Its page is gone before its session started: the same visitor's current session takes it.
    if (record && current?.session && record.identity === current.identity) {
      queue.write("s:" + key, { ...record, sessionId: current.session.sessionId });
      return current.session.sessionId;
    }
    return null;
  }

  /** A batch of session `key`'s events was answered 404 session_not_found; true if delivery may go on. */
  async ended(key, sessionId) {
    const { queue } = this.core;
    const { current } = this;
    if (current?.key === key) return this.restart(current, sessionId);
    const record = queue.read("s:" + key);
    // Another page's session ended: the same visitor's current session takes its events.
    const takes = current?.session && record?.identity === current.identity && current.session.sessionId !== sessionId;
    queue.write("s:" + key, { ...record, sessionId: takes ? current.session.sessionId : null });
    return true;
  }

  /** setVisitorData / setAccountData: a JWT, or plain fields for an unsigned session (their id is the session's own). */
  async update(side, jwtOrFields, signingKeyName) {
    const state = this.pending();
    if (!state.started) throw new Error("Call Countersign.initialize first.");
    const session = await state.started;
    const body =
      typeof jwtOrFields === "string"
        ? signingKeyName
          ? { jwt: jwtOrFields, signingKeyName }
          : { jwt: jwtOrFields }
        : { metadata: { [side]: { ...jwtOrFields, id: session[side === "visitor" ? "visitorId" : "accountId"] } } };
    for (let restarted = false; ; restarted = true) {
      const { sessionId } = await state.started;
      const answer = await this.core.transport.persist("PATCH", this.path(sessionId), body);
      if (answer.status === 200) {
        state.updates.set(side, body);
        return answer.body;
      }
      if (answer.body?.error?.code !== "session_not_found" || restarted || !(await this.restart(state, sessionId))) {
        throw failure(answer.status, answer.body);
      }
    }
  }

  /** Session records no queued event needs any more, once a day has passed (sessions end by then). */
  forgetOld() {
    const { queue, env } = this.core;
    const needed = new Set(queue.events().map((item) => item.s));
    for (const key of queue.keys("s:")) {
      const record = queue.read(key);
      if (!needed.has(key.slice(2)) && !(record?.at > env.now() - DAY_MS)) queue.forget(key);
    }
  }

  /** Forget the visitor: the session records of this identity and the events queued for them. */
  clear() {
    const { queue } = this.core;
    if (this.current) {
      const { identity } = this.current;
      const forget = new Set([this.current.key]);
      for (const key of queue.keys("s:")) if (queue.read(key)?.identity === identity) forget.add(key.slice(2));
      queue.remove(queue.events().filter((item) => forget.has(item.s)));
      for (const key of forget) queue.forget("s:" + key);
    }
    this.current = null;
  }
}
