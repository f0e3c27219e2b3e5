// Storage adapters.  A storage keeps plain records (structured-cloneable
// objects) by string key and knows nothing of CRDTs; the connection is its only
// user.  Two operations carry the guarantees:
//
//   update(key, fn)  atomically replaces the record with fn(record): no other
//                    update of the same storage (another tab included) runs
//                    between the read and the write.  fn is synchronous; it
//                    returns the new record, undefined to leave it as it is,
//                    or null to remove it.  Updates run in the order they were
//                    called.  Resolves with the record as stored once it is
//                    durable.  With an array of keys, fn gets and returns an
//                    array of records, all replaced in one atomic update.
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

  // fn runs a microtask after the call, as IndexedDB's runs after its read:
  // the updates a caller makes in one task see each other in order
  async update(key, fn) {
    await null;
    const keys = [key].flat();
    const next = one(key, fn)(keys.map((k) => structuredClone(this.#records.get(k))));
    const stored = keys.map((k, i) => {
      const rec = next?.[i];
      if (rec === undefined) return structuredClone(this.#records.get(k));
      if (rec === null) this.#records.delete(k);
      else this.#records.set(k, structuredClone(rec));
      // like another tab's BroadcastChannel message: after the write, never during
      queueMicrotask(() => {
        for (const w of this.#watchers) w(k);
      });
      return rec ? structuredClone(rec) : undefined;
    });
    return Array.isArray(key) ? stored : stored[0];
  }

  /** Every watcher hears of every write, its own writer's too: a reader must be idempotent. */
  watch(fn) {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }
}

/** fn of update(key, fn) as a function of arrays of records, whether key is one key or several. */
function one(key, fn) {
  if (Array.isArray(key)) return fn;
  return ([rec]) => {
    const next = fn(rec);
    return next === undefined ? undefined : [next];
  };
}

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/**
 * IndexedDB: the default in browsers.  Atomicity comes from IndexedDB itself:
 * readwrite transactions on one store never overlap, across tabs too, and run
 * in the order they were created.  Once the database is open, update() creates
 * its transaction within the call, so a change is on its way to disk before
 * the caller's code goes on.  Tabs learn of each other's writes through a
 * BroadcastChannel of the same name.
 */
export class IndexedDBStorage {
  #db;
  #open = null;
  #channel;
  #watchers = new Set();

  constructor(name = "laniakea") {
    this.#db = new Promise((resolve, reject) => {
      const open = indexedDB.open(name, 1);
      open.onupgradeneeded = () => open.result.createObjectStore("records");
      open.onsuccess = () => resolve((this.#open = open.result));
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
    return (this.#open ?? (await this.#db)).transaction("records", mode).objectStore("records");
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

  update(key, fn) {
    return this.#open ? this.#update(this.#open, key, fn) : this.#db.then((db) => this.#update(db, key, fn));
  }

  #update(db, key, fn) {
    const keys = [key].flat();
    const tx = db.transaction("records", "readwrite");
    const store = tx.objectStore("records");
    return new Promise((resolve, reject) => {
      const old = [];
      let got = 0;
      let stored;
      const changed = [];
      let failure;
      keys.forEach((k, i) => {
        store.get(k).onsuccess = (e) => {
          old[i] = e.target.result;
          if (++got < keys.length) return;
          try {
            const next = one(key, fn)(old);
            stored = keys.map((k, j) => {
              const rec = next?.[j];
              if (rec === undefined) return old[j];
              if (rec === null) store.delete(k);
              else store.put(rec, k);
              changed.push(k);
              return rec ?? undefined;
            });
            tx.commit?.(); // nothing more will come: do not wait for the event loop
          } catch (err) {
            failure = err;
            tx.abort();
          }
        };
      });
      tx.oncomplete = () => {
        for (const k of changed) this.#channel?.postMessage(k);
        resolve(Array.isArray(key) ? stored : stored[0]);
      };
      tx.onabort = tx.onerror = () => reject(failure ?? tx.error);
    });
  }

  watch(fn) {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }
}
