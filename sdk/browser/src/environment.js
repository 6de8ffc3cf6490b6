// What the SDK needs from the browser; tests pass their own (tests/sdk/fake_browser.mjs).
import { MemoryStorage } from "./queue.js";

export function browserEnvironment() {
  const g = globalThis;
  return {
    storage() {
      try {
        const storage = g.localStorage;
        const probe = "countersign:probe";
        storage.setItem(probe, "1");
        storage.removeItem(probe);
        return storage;
      } catch {
        return new MemoryStorage(); // private modes and sandboxed frames may refuse storage
      }
    },
    fetch: (...args) => g.fetch(...args),
    now: () => Date.now(),
    random: Math.random,
    setTimeout: (fn, ms) => g.setTimeout(fn, ms),
    clearTimeout: (id) => g.clearTimeout(id),
    locks: g.navigator?.locks,
    /** Where the page is, for each event's context (SPEC 3.3). */
    where() {
      const doc = g.document;
      let timezone;
      try {
        timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      } catch {
        timezone = undefined;
      }
      return {
        page: { url: g.location?.href, path: g.location?.pathname, referrer: doc?.referrer, title: doc?.title },
        userAgent: g.navigator?.userAgent,
        locale: g.navigator?.language,
        timezone,
        screen: g.screen && { width: g.screen.width, height: g.screen.height },
      };
    },
    /** Call `hidden` when the page may be going away, `resumed` when sending is worth a new try. */
    watchPage({ hidden, resumed }) {
      const doc = g.document;
      if (!doc) return;
      doc.addEventListener("visibilitychange", () => (doc.visibilityState === "hidden" ? hidden() : resumed()));
      g.addEventListener("pagehide", hidden);
      g.addEventListener("pageshow", resumed);
      g.addEventListener("online", resumed);
    },
    warn: (...args) => g.console?.warn(...args),
  };
}
