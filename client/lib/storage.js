// Storage adapters.  A storage keeps plain records (structured-cloneable
// objects) by string key and knows nothing of CRDTs; the connection is its only
// user.  Two operations carry the guarantees:
//
//   update(key, fn)  atomically replaces the record with fn(record): no other
//                    update of the same storage (another tab included) runs
//                    between the read and the write.  fn is synchronous; it
//                    returns the new record, or undefined to leave it as it is.
//                    Resolves with the record as stored once it is durable.
//   watch(fn)        fn(key) after another user of the same storage (another
//                    tab) changed a record.
//
// plus get(key) and list(prefix) → [[key, record], ...].

/** In memory: the default outside browsers, and what tests use. */
export class MemoryStorage {
  #records = new Map();
  #watchers = new Set();

  async get(key) {
    return structuredClone(this.#records.get(key));
  }

  async list(prefix) {
    const out = [];
    for (const [k, v] of this.#records) if (k.startsWith(prefix)) out.push([k, structuredClone(v)]);
    return out;
  }

  async update(key, fn) {
    const next = fn(structuredClone(this.#records.get(key)));
    if (next === undefined) return structuredClone(this.#records.get(key));
    this.#records.set(key, structuredClone(next));
    // like another tab's BroadcastChannel message: after the write, never during
    queueMicrotask(() => {
      for (const w of this.#watchers) w(key);
    });
    return structuredClone(next);
  }

  /** Every watcher hears of every write, its own writer's too: a reader must be idempotent. */
  watch(fn) {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }
}

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/**
 * IndexedDB: the default in browsers.  Atomicity comes from IndexedDB itself:
 * readwrite transactions on one store never overlap, across tabs too.  Tabs
 * learn of each other's writes through a BroadcastChannel of the same name.
 */
export class IndexedDBStorage {
  #db;
  #channel;
  #watchers = new Set();

  constructor(name = "laniakea") {
    this.#db = new Promise((resolve, reject) => {
      const open = indexedDB.open(name, 1);
      open.onupgradeneeded = () => open.result.createObjectStore("records");
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
      open.onblocked = () => reject(new Error(`IndexedDB ${name} is blocked by another tab`));
    });
    if (typeof BroadcastChannel !== "undefined") {
      this.#channel = new BroadcastChannel(`laniakea-storage:${name}`);
      this.#channel.onmessage = (e) => {
        for (const w of this.#watchers) w(e.data);
      };
    }
  }

  async #store(mode) {
    return (await this.#db).transaction("records", mode).objectStore("records");
  }

  async get(key) {
    return request((await this.#store("readonly")).get(key));
  }

  async list(prefix) {
    const store = await this.#store("readonly");
    const range = IDBKeyRange.bound(prefix, prefix + "\uffff");
    const [keys, values] = await Promise.all([request(store.getAllKeys(range)), request(store.getAll(range))]);
    return keys.map((k, i) => [k, values[i]]);
  }

  async update(key, fn) {
    const store = await this.#store("readwrite");
    return new Promise((resolve, reject) => {
      let stored;
      let changed = false;
      let failure;
      const tx = store.transaction;
      store.get(key).onsuccess = (e) => {
        try {
          const next = fn(e.target.result);
          stored = next === undefined ? e.target.result : next;
          if (next !== undefined) {
            store.put(next, key);
            changed = true;
          }
        } catch (err) {
          failure = err;
          tx.abort();
        }
      };
      tx.oncomplete = () => {
        if (changed) this.#channel?.postMessage(key);
        resolve(stored);
      };
      tx.onabort = tx.onerror = () => reject(failure ?? tx.error);
    });
  }

  watch(fn) {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }
}
