// The admin API of one application, called on this page's own origin (the console is served by the
// API it manages: /console next to /v1, under the same stage prefix on AWS).
// The admin token lives in sessionStorage only: this tab, until sign-out or the tab closes.

const STORAGE_KEY = "countersign.console.session";
const API_BASE = new URL("./", document.baseURI);
const RATE_LIMITED_RETRIES = 3;
const MAX_RETRY_AFTER_SECONDS = 10;

export class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export function currentSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    return saved && typeof saved.appId === "string" && typeof saved.token === "string" ? saved : null;
  } catch {
    return null;
  }
}

export function remember(appId, token) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ appId, token }));
}

export function forget() {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** Call an admin route of `session`'s application: the parsed answer, or throw ApiError. */
export async function call(session, method, path, body, params) {
  const url = new URL(`v1/apps/${encodeURIComponent(session.appId)}${path}`, API_BASE);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  for (let retries = 0; ; retries += 1) {
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
    } catch {
      throw new ApiError(0, "network_error", "The API cannot be reached. Check your connection and try again.");
    }
    // Over the application's per-second limit: refused before it ran, so any method is asked
    // again once the answer's Retry-After has passed (as the CLI and the SDK do).
    if (response.status !== 429 || retries === RATE_LIMITED_RETRIES) break;
    await new Promise((resolve) => setTimeout(resolve, retryAfterMs(response)));
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (!response.ok) {
    const error = answer && answer.error;
    if (error && typeof error.message === "string") {
      throw new ApiError(response.status, String(error.code), error.message, typeof error.detail === "string" ? error.detail : undefined);
    }
    throw new ApiError(response.status, "http_error", `The API answered HTTP ${response.status}.`);
  }
  return answer;
}

/** The wait a 429 asks for (delta-seconds; 1 s when absent or not a number; never above 10 s). */
function retryAfterMs(response) {
  const seconds = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return Math.min(Number.isFinite(seconds) && seconds >= 0 ? seconds : 1, MAX_RETRY_AFTER_SECONDS) * 1000;
}
