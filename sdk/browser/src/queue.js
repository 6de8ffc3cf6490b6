// The persisted queue: one storage key per event (tabs never overwrite each other's queue), session
// records, and the consent choice, under `countersign:<appId>:`. Storage that refuses a write is
// replaced by memory for the rest of the page, with what it held of ours.

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

export class Queue {
  constructor(storage, appId) {
    this.storage = storage;
    this.prefix = `countersign:${appId}:`;
    this.dropped = 0; // events this page dropped because the queue was full
  }

  read(key) {
    try {
      return JSON.parse(this.storage.getItem(this.prefix + key));
    } catch {
      return null;
    }
  }

  /** Write, or false if storage refused (full, or gone). */
  tryWrite(key, value) {
    try {
      this.storage.setItem(this.prefix + key, JSON.stringify(value));
      return true;
    } catch {
      return false;
    }
  }

  /** Write; storage that refuses is replaced by memory for this page, with what it held of ours. */
  write(key, value) {
    if (this.tryWrite(key, value)) return;
    const memory = new MemoryStorage();
    for (const name of this.keys("")) memory.setItem(this.prefix + name, this.storage.getItem(this.prefix + name));
    this.storage = memory;
    this.tryWrite(key, value);
  }

  forget(key) {
    this.storage.removeItem(this.prefix + key);
  }

  /** Our keys starting with `kind` (`e:` events, `s:` session records), without the prefix. */
  keys(kind) {
    const found = [];
    for (let i = 0; i < this.storage.length; i++) {
      const key = this.storage.key(i);
      if (key?.startsWith(this.prefix + kind)) found.push(key.slice(this.prefix.length));
    }
    return found;
  }

  /** The queued events ({e: event, s: session key, n: order, c: client time, f: timestamp settled}), oldest first. */
  events() {
    const items = [];
    for (const key of this.keys("e:")) {
      const item = this.read(key);
      if (item?.e?.insertId) items.push(item);
      else this.forget(key); // unreadable: it can never be sent
    }
    // In tracking order: `c` is the client's clock when tracked (timestamps may be corrected since).
    return items.sort((a, b) => (a.c ?? a.e.timestamp) - (b.c ?? b.e.timestamp) || a.n - b.n);
  }

  remove(items) {
    for (const item of items) this.forget("e:" + item.e.insertId);
  }

  dropOldest(count) {
    const victims = this.events().slice(0, count);
    this.remove(victims);
    this.dropped += victims.length;
    this.write("dropped", (this.read("dropped") || 0) + victims.length);
  }

  /** Queue `item`, keeping at most `max` events: the oldest give way (counted), as they do to a full storage. */
  add(item, max) {
    const count = this.keys("e:").length;
    if (count >= max) this.dropOldest(count - max + 1);
    for (;;) {
      if (this.tryWrite("e:" + item.e.insertId, item)) return;
      // Storage refuses even one event: memory keeps the rest for this page.
      if (!this.keys("e:").length) return this.write("e:" + item.e.insertId, item);
      this.dropOldest(1);
    }
  }
}
