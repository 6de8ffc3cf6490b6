// Building events: the API's limits, insertIds, JSON the API can parse, and the context of §3.3.

/** The API's limits (SPEC 3.3; a test ties them to the server's) and the browsers' keepalive budget. */
export const LIMITS = Object.freeze({
  batchEvents: 500,
  batchBytes: 1024 * 1024,
  eventBytes: 32 * 1024,
  contextBytes: 8 * 1024,
  eventDepth: 16,
  typeChars: 256,
  insertIdChars: 256,
  keepaliveBytes: 60 * 1024, // of the 64 KiB a page may have in flight with keepalive
});

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

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * Why the API would refuse `event` ({code, message}), or null. Checked before it is queued, so a
 * refused event is reported at once and never holds up the others.
 */
export function refusal(event) {
  const { type, name, properties, context, timestamp, insertId } = event;
  const invalid = (message) => ({ code: "invalid_event", message });
  if (typeof type !== "string" || !type.trim() || type.length > LIMITS.typeChars) {
    return invalid(`type must be a non-empty string of at most ${LIMITS.typeChars} characters.`);
  }
  if (name !== undefined && typeof name !== "string") return invalid("name must be a string.");
  if (properties !== undefined && !isObject(properties)) return invalid("properties must be an object.");
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) return invalid("timestamp must be integer epoch milliseconds.");
  if (typeof insertId !== "string" || !insertId || insertId.length > LIMITS.insertIdChars) return invalid("insertId must be a short string.");
  if (context !== undefined && (!isObject(context) || byteLength(JSON.stringify(context)) > LIMITS.contextBytes)) {
    return { code: "invalid_context", message: `context must be an object of at most ${LIMITS.contextBytes} bytes of JSON.` };
  }
  if (byteLength(JSON.stringify(event)) > LIMITS.eventBytes) {
    return { code: "event_too_large", message: `An event is at most ${LIMITS.eventBytes} bytes of JSON.` };
  }
  return null;
}

const cut = (text, max) => (typeof text === "string" ? text.slice(0, max) : "");
/** A URL without its fragment (OAuth implicit flows put tokens there), cut to `max` characters. */
const withoutFragment = (url, max = 1024) => cut(String(url || "").split("#")[0], max);

/**
 * The context of an event (SPEC 3.3) from what `env.where()` reports of the page. Strings are cut
 * so that the whole stays well under the API's 8 KiB.
 */
export function eventContext(where, version) {
  const { page = {}, userAgent, locale, timezone, screen } = where || {};
  const context = { library: { name: "@countersign/browser", version } };
  context.page = {
    url: withoutFragment(page.url),
    path: cut(page.path, 1024),
    referrer: withoutFragment(page.referrer),
    title: cut(page.title, 512),
  };
  if (userAgent) context.userAgent = cut(userAgent, 512);
  if (locale) context.locale = cut(locale, 64);
  if (timezone) context.timezone = cut(timezone, 64);
  if (screen) context.screen = { width: screen.width, height: screen.height };
  return context;
}
