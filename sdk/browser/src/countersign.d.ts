// Type declarations of the Countersign browser SDK (countersign.js, an ES module with no dependencies).

/** Unsigned visitor/account metadata (SPEC 3.3); `id` must be a string when present. */
export interface Metadata {
  visitor?: { id?: string; [field: string]: unknown };
  account?: { id?: string; [field: string]: unknown };
}

/** The API's answer to a session start. */
export interface Session {
  sessionId: string;
  visitorId: string;
  accountId: string;
  signed: "hs256" | "rs256" | null;
  expiresAt: string;
}

export interface TrackedEvent {
  type: string;
  timestamp: number;
  insertId: string;
  name?: string;
  properties?: Record<string, unknown>;
}

/** An event the API refused (or the SDK, for one over 32 KiB: `index` -1); it left the queue. */
export interface Rejection {
  /** Its index in the batch that carried it. */
  index: number;
  code: string;
  message: string;
  event: TrackedEvent;
}

/** A failure that stops delivery in this page; what is queued stays queued. */
export interface CountersignError extends Error {
  code: string;
  status: number;
}

export interface InitializeOptions {
  /** The API's base URL, e.g. https://abc123.execute-api.us-east-1.amazonaws.com/api */
  apiUrl: string;
  appId: string;
  /** A JWT your server signed: HS256 (with `signingKeyName`) or RS256 (its header names the `kid`). */
  jwt?: string;
  signingKeyName?: string;
  /** Unsigned metadata, for applications that accept it. */
  metadata?: Metadata;
  /** Each event the API rejected, with its index, code and message. */
  onRejected?: (rejection: Rejection) => void;
  /** A session that could not be started (again), or an update replay that failed. */
  onError?: (error: CountersignError) => void;
  /** Bound of the persisted queue; the oldest events are dropped (and counted) beyond it. Default 1000. */
  maxQueuedEvents?: number;
  /** How long track() waits to gather a batch, in ms. Default 1000. */
  flushIntervalMs?: number;
  /** First retry delay and its cap, in ms (defaults 1000 and 60000); Retry-After always wins if longer. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export interface Status {
  sessionId: string | null;
  /** Events of this application waiting in this browser's storage (all tabs). */
  queued: number;
  /** Events this page dropped because the queue was full. */
  dropped: number;
  /** Why delivery stopped in this page (an error code), or null. */
  stopped: string | null;
}

export interface CountersignSdk {
  readonly VERSION: string;
  /** Start a session (HS256, RS256 or unsigned); resolves with the API's answer. */
  initialize(options: InitializeOptions): Promise<Session>;
  /** Merge visitor fields into the session: a JWT whose visitor.id is the session's, or plain fields (unsigned). */
  setVisitorData(jwt: string, signingKeyName?: string): Promise<Session>;
  setVisitorData(fields: Record<string, unknown>): Promise<Session>;
  /** Merge account fields into the session, as setVisitorData. */
  setAccountData(jwt: string, signingKeyName?: string): Promise<Session>;
  setAccountData(fields: Record<string, unknown>): Promise<Session>;
  /** Queue an event (persisted before this returns); returns its insertId. */
  track(type: string, name?: string, properties?: Record<string, unknown>): string;
  /** Send what is queued now (after any Retry-After in force); resolves with the status after the pass. */
  flush(): Promise<Status>;
  /** Forget the visitor: the session, and the events queued for this visitor. */
  clearSession(): void;
  status(): Status;
}

export const VERSION: string;
export const LIMITS: Readonly<{ batchEvents: number; batchBytes: number; eventBytes: number; keepaliveBytes: number }>;
export const Countersign: CountersignSdk;
/** An independent instance (tests pass their own environment; pages use `Countersign`). */
export function createCountersign(env?: unknown): CountersignSdk;
export default Countersign;
