// Type declarations of @countersign/browser (the ES module /sdk/countersign.js, the IIFE
// /sdk/countersign.iife.js that defines the global `Countersign`, and the npm package).

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

/** Where an event happened (SPEC 3.3): filled by the SDK on every event, at most 8 KiB. */
export interface EventContext {
  library?: { name: string; version: string };
  /** `url` and `referrer` without their #fragment. */
  page?: { url: string; path: string; referrer: string; title: string };
  userAgent?: string;
  locale?: string;
  timezone?: string;
  screen?: { width: number; height: number };
  [field: string]: unknown;
}

/** An event as beforeSend receives it and the API gets it. */
export interface CountersignEvent {
  type: string;
  name?: string;
  properties?: Record<string, unknown>;
  context?: EventContext;
  /** Epoch milliseconds (corrected by the API's clock when the client's is off by more than 30 s). */
  timestamp: number;
  /** Set when the event is recorded; the API stores an event once per insertId. */
  insertId: string;
}

/** @deprecated since 2.0: `CountersignEvent`. */
export type TrackedEvent = CountersignEvent;

/** An event the API refused, or the SDK before queueing it (`index` -1); it left the queue. */
export interface Rejection {
  /** Its index in the batch that carried it, or -1 if the SDK refused it before queueing. */
  index: number;
  /** `invalid_event`, `invalid_context`, `event_too_large`, `event_too_old`, `event_in_future`, or a batch-wide code such as `unsigned_metadata_rejected`. */
  code: string;
  message: string;
  event: CountersignEvent;
}

/** A failure that stops delivery in this page (what is queued stays), or a beforeSend that threw. */
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
  /** Each event before it is queued: return it (changed or not), or null to drop it. If it throws, the event is dropped. */
  beforeSend?: (event: CountersignEvent) => CountersignEvent | null | undefined;
  /** Start opted out (no session, no event) until optIn(); a choice stored by optIn()/optOut() in this browser wins. */
  optOut?: boolean;
  /** Each event the API (or the SDK) refused, with its index, code and message. */
  onRejected?: (rejection: Rejection) => void;
  /** A session that could not be started (again), an update replay that failed, answers that are not the API's, a beforeSend that threw. */
  onError?: (error: CountersignError) => void;
  /** Bound of the persisted queue; the oldest events are dropped (and counted) beyond it. Default 1000. */
  maxQueuedEvents?: number;
  /** How long an event waits to gather a batch, in ms. Default 1000. */
  flushIntervalMs?: number;
  /** First retry delay and its cap, in ms (defaults 1000 and 60000); Retry-After wins if longer, up to 10 minutes. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export interface Status {
  sessionId: string | null;
  /** Events of this application waiting in this browser's storage (all tabs), or kept before initialize. */
  queued: number;
  /** Events this page dropped: the queue was full, or too many calls before initialize. */
  dropped: number;
  /** Why delivery stopped in this page (an error code), or null. */
  stopped: string | null;
  optedOut: boolean;
}

export interface Limits {
  readonly batchEvents: number;
  readonly batchBytes: number;
  readonly eventBytes: number;
  readonly contextBytes: number;
  readonly eventDepth: number;
  readonly typeChars: number;
  readonly insertIdChars: number;
  readonly keepaliveBytes: number;
}

export interface CountersignSdk {
  readonly VERSION: string;
  readonly LIMITS: Limits;
  /** Start a session (HS256, RS256 or unsigned); resolves with the API's answer, or null while opted out. */
  initialize(options: InitializeOptions): Promise<Session | null>;
  /** Merge visitor fields into the session: a visitor-only JWT whose visitor.id is the session's, or plain fields (unsigned). */
  setVisitorData(jwt: string, signingKeyName?: string): Promise<Session | null>;
  setVisitorData(fields: Record<string, unknown>): Promise<Session | null>;
  /** Merge account fields into the session: an account-only JWT, or plain fields (unsigned). */
  setAccountData(jwt: string, signingKeyName?: string): Promise<Session | null>;
  setAccountData(fields: Record<string, unknown>): Promise<Session | null>;
  /** Queue an event of type "track" (persisted before this returns); returns its insertId, or null if it was not recorded (opted out, dropped by beforeSend). */
  track(name: string, properties?: Record<string, unknown>): string | null;
  /** @deprecated since 2.0: the 1.x form; use record(type, name, properties). */
  track(type: string, name: string | undefined, properties?: Record<string, unknown>): string | null;
  /** Queue an event of type "page" named by document.title, with url, path, referrer and title in its properties. */
  page(properties?: Record<string, unknown>): string | null;
  /** Queue an event of any type. */
  record(type: string, name?: string, properties?: Record<string, unknown>): string | null;
  /** Send what is queued now (after any Retry-After in force); resolves with the status after the pass. */
  flush(): Promise<Status>;
  /** Forget the visitor: the session, and the events queued for this visitor. */
  clearSession(): void;
  /** Stop recording and sending, clear the queue, and remember the choice in this browser. */
  optOut(): void;
  /** Resume (starts the session if initialize ran while opted out), and remember the choice. */
  optIn(): void;
  status(): Status;
}

export const VERSION: string;
/** How many calls made before initialize are kept. */
export const EARLY_CALLS: number;
/** The longest wait (backoff or Retry-After), in ms. */
export const MAX_DELAY_MS: number;
/** A client clock within this of the API's (ms) is not corrected. */
export const CLOCK_TOLERANCE_MS: number;
export const LIMITS: Limits;
/** Storage that lasts as long as the page (what the SDK uses when localStorage refuses). */
export class MemoryStorage implements Pick<Storage, "length" | "key" | "getItem" | "setItem" | "removeItem"> {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}
/** The page's SDK. With the IIFE build it is the global `Countersign`. */
export const Countersign: CountersignSdk;
/** An independent instance (tests pass their own environment; pages use `Countersign`). */
export function createCountersign(env?: unknown): CountersignSdk;
export default Countersign;

declare global {
  /** Defined by /sdk/countersign.iife.js (and, until it loads, by the snippet's stub, whose methods return promises). */
  var Countersign: CountersignSdk | undefined;
}
