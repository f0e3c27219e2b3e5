// The offline-first connection: rows and tables of tracked tables, kept in
// storage, edited at once, and merged with laniakea-bridge over the official
// phoenix client whenever it can be reached.
//
// Each row is a record in storage (see docs/client.md, "Storage"):
//   {cl, types, state, pending, seq, acked, del, queue}
// state is everything this profile knows (server and local), pending the join
// of this node's own operations not yet acknowledged (what a merge push
// sends), seq / acked count local operations made / acknowledged, del the
// incarnation of a delete not yet acknowledged, queue operations on columns
// whose type is not known yet.  Every change to a record is one atomic
// storage.update (IndexedDB serializes them across tabs), computed from the
// record as stored: that is what lets two tabs with one node id never reuse
// a dot or lose an increment.
import * as core from "./core.js";
import { Socket } from "./phoenix.mjs";
import { IndexedDBStorage, MemoryStorage } from "./storage.js";
import { setWith, typeNamed } from "./values.js";

/**
 * The topic of a table, or of one of its rows: every topic string is built
 * here, by the core (lk_topic_put), so that it is byte for byte the one the
 * database and the bridge use.  A table is a name in schema public, or
 * {schema, name}; neither is parsed ("a.b" is the table named a.b).
 */
export function topic(table, key) {
  const { schema, name } = typeof table === "string" ? { schema: "public", name: table } : (table ?? {});
  if (typeof schema !== "string" || typeof name !== "string" || !schema || !name)
    throw new TypeError("table must be a non-empty string, or {schema, name} of non-empty strings");
  return core.topic(schema, name, key === undefined ? undefined : String(key));
}

/**
 * What this runtime can do, in the seed's names: the bridge picks a delivery
 * profile from it.  Anything unknown is reported as such, which lowers the
 * profile (never fails the join).
 */
export function probe() {
  const nav = globalThis.navigator ?? {};
  const net = nav.connection ?? {};
  return {
    hasWorkers: typeof Worker !== "undefined",
    hasSharedArrayBuffer: typeof SharedArrayBuffer !== "undefined",
    hasWebTransport: typeof WebTransport !== "undefined",
    memoryMb: nav.deviceMemory ? nav.deviceMemory * 1024 : 2048,
    connectionType: net.type ?? "unknown",
    effectiveType: net.effectiveType ?? "4g",
  };
}

class Emitter {
  #handlers = new Map();

  /** Calls fn on each event of that name; returns a function that stops it. */
  on(event, fn) {
    if (!this.#handlers.has(event)) this.#handlers.set(event, new Set());
    this.#handlers.get(event).add(fn);
    return () => this.#handlers.get(event).delete(fn);
  }

  emit(event, ...args) {
    for (const fn of this.#handlers.get(event) ?? []) fn(...args);
  }
}

const RETRY_MS = [250, 1000, 2000, 5000];

function newNodeId() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return "web-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function defaultStorage(url) {
  if (typeof indexedDB === "undefined") return new MemoryStorage();
  const base = globalThis.location?.href;
  return new IndexedDBStorage(`laniakea ${new URL(url, base).href}`);
}

// ---- documents: a row's record with its states as values ----

function emptyDoc() {
  return { cl: 1, types: {}, state: {}, pending: {}, seq: 0, acked: 0, del: null, queue: [] };
}

function valueOf(type, text) {
  const T = typeNamed(type);
  return T ? T.from(text) : undefined;
}

function fromRecord(rec) {
  const doc = emptyDoc();
  if (!rec) return doc;
  Object.assign(doc, { cl: rec.cl, types: { ...rec.types }, seq: rec.seq, acked: rec.acked, del: rec.del });
  doc.queue = [...rec.queue];
  for (const [c, t] of Object.entries(rec.state)) doc.state[c] = valueOf(rec.types[c], t);
  for (const [c, t] of Object.entries(rec.pending)) doc.pending[c] = valueOf(rec.types[c], t);
  return doc;
}

function toRecord(doc) {
  const text = (m) => Object.fromEntries(Object.entries(m).map(([c, v]) => [c, v.toString()]));
  return { ...doc, types: { ...doc.types }, queue: [...doc.queue], state: text(doc.state), pending: text(doc.pending) };
}

/** A newer incarnation (causal length) replaces everything of the older ones. */
function advance(doc, cl) {
  doc.cl = cl;
  doc.state = {};
  doc.pending = {};
  doc.del = null;
  doc.acked = doc.seq;
}

/** Whether the stored document holds changes the server has not acknowledged. */
function waiting(doc) {
  return doc.seq > doc.acked || doc.del != null || doc.queue.length > 0;
}

/**
 * Server information: merged, never overwriting; a stale incarnation is
 * ignored.  Except that the server's whole row (a join reply, a state event:
 * inc.whole) is authoritative when nothing here waits to be sent (busy: local
 * operations not stored yet): a server row of a smaller cl then replaces this
 * one, since it is no stale echo but a key that laniakea.collect_tombstones
 * let start again at cl 1.
 */
function receive(doc, inc, busy) {
  if (inc.cl < doc.cl && (!inc.whole || busy || waiting(doc))) return;
  if (inc.cl !== doc.cl) advance(doc, inc.cl);
  if (doc.cl % 2 === 0) return; // a deleted incarnation holds nothing
  for (const [c, json] of Object.entries(inc.cols ?? {})) {
    const T = typeNamed(doc.types[c]);
    if (!T) continue;
    const v = json instanceof T ? json : T.from(json);
    doc.state[c] = doc.state[c] ? doc.state[c].merge(v) : v;
  }
}

function operate(value, op, node, hlc) {
  const need = (m, what) => {
    if (typeof value[m] !== "function") throw new TypeError(`${op.o} needs ${what} column, and ${op.c} is not one`);
  };
  switch (op.o) {
    case "increment":
      need("increment", "a counter");
      return value.increment(node, BigInt(op.a));
    case "decrement":
      need("decrement", "a pncounter");
      return value.decrement(node, BigInt(op.a));
    case "add":
      need("add", "an orset");
      return value.add(op.a, node);
    case "remove":
      need("remove", "an orset");
      return value.remove(op.a);
    case "set":
      need("set", "an lwwreg");
      return setWith(value, op.a, node, hlc);
  }
  throw new TypeError(`unknown operation ${op.o}`);
}

/**
 * Local operations on a document, each computed from the document as it is
 * (in storage: as stored, whatever other tabs did).  An operation carries the
 * incarnation it was made in: older ones are dropped (a delete wins over what
 * it did not see), a newer one re-creates a deleted row.  Errors are
 * collected, not thrown, so one bad operation never blocks the others.  hlc
 * is the node's hybrid logical clock ({last}), which register sets advance.
 */
function applyOps(doc, ops, node, errors, hlc = { last: 0n }) {
  const rest = [];
  for (const op of ops) {
    if (op.cl < doc.cl) continue;
    if (op.o === "delete") {
      if (op.cl !== doc.cl) continue;
      advance(doc, doc.cl + 1);
      doc.del = op.cl;
      doc.seq++;
      continue;
    }
    const T = typeNamed(doc.types[op.c]);
    if (!T) {
      if (doc.types[op.c] === undefined) rest.push(op);
      else errors?.push(new TypeError(`column ${op.c} has type ${doc.types[op.c]}, which this client does not know`));
      continue;
    }
    const before = op.cl > doc.cl ? null : doc.state[op.c] ?? T.empty();
    try {
      const after = operate(before ?? T.empty(), op, node, hlc);
      if (!before) advance(doc, op.cl);
      const d = (before ?? T.empty()).delta(after);
      doc.state[op.c] = after;
      doc.pending[op.c] = doc.pending[op.c] ? doc.pending[op.c].merge(d) : d;
      doc.seq++;
    } catch (e) {
      errors?.push(e);
    }
  }
  doc.queue = rest;
}

function ack(doc, a) {
  if (a.del != null && doc.del === a.del) doc.del = null;
  if (a.cl === doc.cl)
    for (const [c, sent] of Object.entries(a.pending)) {
      const cur = doc.pending[c];
      if (!cur) continue;
      const rest = sent.delta(cur);
      if (rest.equals(rest.constructor.empty())) delete doc.pending[c];
      else doc.pending[c] = rest;
    }
  doc.acked = Math.max(doc.acked, a.seq);
}

// ---- rows ----

/** One row of a tracked table: its columns as CRDT values, edited offline-first. */
export class Row extends Emitter {
  #client;
  #key;
  #link = null;
  #doc = emptyDoc(); // as last committed or read from storage
  #tentative = []; // operations not yet in storage
  #incoming = []; // server information not yet in storage
  #view = null;
  #commitQueued = false;
  #committing = Promise.resolve();
  #flushing = false;
  #retry = 0;
  #retryTimer = null;
  #waiters = [];
  #loaded;
  #gone; // deleted as last announced (undefined before the first change)

  /** @internal */
  constructor(client, table, key, rec) {
    super();
    this.#client = client;
    this.table = table;
    this.tableTopic = topic(table);
    this.#key = key;
    this.topic = topic(table, key);
    this.#loaded = rec !== undefined ? Promise.resolve(this.#absorb(rec)) : this.#reload();
  }

  get key() {
    return this.#key;
  }

  /** @internal */
  get loaded() {
    return this.#loaded;
  }

  /** @internal the channel this row talks through (its own, or its table's). */
  attach(link) {
    this.#link = link;
  }

  #current() {
    if (!this.#view) {
      const doc = { ...this.#doc, state: { ...this.#doc.state }, pending: { ...this.#doc.pending } };
      doc.types = { ...this.#client.typesOf(this.tableTopic), ...doc.types };
      if (this.#client.node) applyOps(doc, [...doc.queue, ...this.#tentative], this.#client.node);
      this.#view = doc;
    }
    return this.#view;
  }

  /** The current value of a column, local edits included; undefined while its type is unknown. */
  get(column) {
    const doc = this.#current();
    const T = typeNamed(doc.types[column]);
    return T && (doc.state[column] ?? T.empty());
  }

  /** The columns whose type is known, with their values. */
  columns() {
    const doc = this.#current();
    return Object.keys(doc.types).filter((c) => typeNamed(doc.types[c]));
  }

  /** The causal length: odd while the row exists, even once deleted. */
  get cl() {
    return this.#current().cl;
  }

  get deleted() {
    return this.#current().cl % 2 === 0;
  }

  /** Local changes the server has not acknowledged yet. */
  get pending() {
    const d = this.#doc;
    return d.seq - d.acked + d.queue.length + this.#tentative.length;
  }

  /** Resolves once every local change made so far is acknowledged. */
  flushed() {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  increment(column, by = 1) {
    return this.#op("increment", column, by);
  }

  decrement(column, by = 1) {
    return this.#op("decrement", column, by);
  }

  add(column, element) {
    return this.#op("add", column, element);
  }

  remove(column, element) {
    return this.#op("remove", column, element);
  }

  set(column, value) {
    return this.#op("set", column, value);
  }

  /** Deletes the row (for every column); a later write re-creates it, empty. */
  delete() {
    const cl = this.cl;
    if (cl % 2 === 0) return this;
    this.#tentative.push({ o: "delete", cl });
    this.#changed();
    this.#schedule();
    return this;
  }

  #op(o, c, a) {
    if (typeof c !== "string") throw new TypeError("column must be a string");
    const arg = o === "increment" || o === "decrement" ? String(checkInt(a)) : a;
    const cl = this.cl % 2 === 0 ? this.cl + 1 : this.cl;
    const op = { o, c, a: arg, cl };
    // an operation that would fail fails here, in the caller's hands
    const doc = this.#current();
    const T = typeNamed(doc.types[c]);
    if (T && this.#client.node) {
      const probeDoc = { ...doc, state: { ...doc.state }, pending: {}, queue: [] };
      const errors = [];
      applyOps(probeDoc, [op], this.#client.node, errors);
      if (errors.length) throw errors[0];
    } else if (o === "set" || o === "add" || o === "remove") core.wellFormed(a, o === "set" ? "value" : "element");
    this.#tentative.push(op);
    this.#changed();
    this.#schedule();
    return this;
  }

  #changed() {
    this.#view = null;
    const gone = this.deleted;
    if (this.#gone !== gone) {
      const first = this.#gone === undefined;
      this.#gone = gone;
      if (gone && !first) {
        this.emit("delete", this);
        this.#client.rowGone(this);
      } else if (!gone && !first) this.#client.rowBack(this);
    }
    this.emit("change", this);
    if (this.pending === 0) for (const w of this.#waiters.splice(0)) w();
  }

  // ---- storage ----

  #schedule() {
    if (this.#commitQueued) return;
    this.#commitQueued = true;
    this.#committing = this.#committing.then(() => this.#commit());
  }

  async #commit(a) {
    await this.#loaded;
    const node = await this.#client.nodeReady;
    this.#commitQueued = false;
    const ops = this.#tentative.splice(0);
    const incoming = this.#incoming.splice(0);
    const types = this.#client.typesOf(this.tableTopic);
    const errors = [];
    let doc;
    try {
      // the row and its node's clock in one atomic update: a clock a register
      // was set at is in storage with it, so no later set (after a reload, in
      // another tab) takes a smaller one
      await this.#client.storage.update([this.topic, `clock:${node}`], ([rec, clock]) => {
        errors.length = 0;
        doc = fromRecord(rec);
        Object.assign(doc.types, types);
        for (const inc of incoming) receive(doc, inc, ops.length > 0);
        const hlc = { last: BigInt(clock?.last ?? 0) };
        applyOps(doc, [...doc.queue, ...ops], node, errors, hlc);
        if (a) ack(doc, a);
        return [toRecord(doc), hlc.last !== BigInt(clock?.last ?? 0) ? { last: String(hlc.last) } : undefined];
      });
    } catch (e) {
      // storage refused (quota, closed): keep everything for the next try
      this.#tentative.unshift(...ops);
      this.#incoming.unshift(...incoming);
      this.emit("error", e);
      return;
    }
    for (const e of errors) this.emit("error", e);
    this.#take(doc, true);
    this.#flush();
  }

  /**
   * Adopts a document: merged into what is known, never replacing it, unless
   * it is of an older incarnation; forced, when it is one the server's row
   * replaced this one with (see receive()).
   */
  #take(doc, force) {
    const mine = this.#doc;
    if (force || doc.cl >= mine.cl) {
      if (doc.cl === mine.cl)
        for (const [c, v] of Object.entries(mine.state)) doc.state[c] = doc.state[c] ? doc.state[c].merge(v) : v;
      this.#doc = doc;
      this.#changed();
    }
  }

  #absorb(rec) {
    if (rec) this.#take(fromRecord(rec));
  }

  async #reload() {
    this.#absorb(await this.#client.storage.get(this.topic));
  }

  /** @internal another tab changed this row in storage. */
  async refresh() {
    await this.#loaded;
    await this.#reload();
    this.#flush();
  }

  // ---- the server ----

  /**
   * @internal a join reply's or an event's row: {cl, cols, whole}, cols in
   * canonical JSON, whole when they are the server's whole row.
   */
  receive(inc) {
    const cl = inc.cl ?? 1;
    const doc = this.#doc;
    const busy = this.#tentative.length > 0;
    if (cl < doc.cl && (!inc.whole || busy || waiting(doc))) return;
    // parsed once, merged in memory at once and in storage with the next commit
    const types = { ...this.#client.typesOf(this.tableTopic), ...doc.types };
    const cols = {};
    for (const [c, json] of Object.entries(inc.cols ?? {})) {
      const T = typeNamed(types[c]);
      try {
        if (T) cols[c] = T.from(json);
      } catch (e) {
        // a state the core refuses is reported and left out; the rest still merges
        this.emit("error", new TypeError(`${this.topic}: column ${c} from the server: ${e.message}`));
      }
    }
    const next = { ...doc, types, state: { ...doc.state }, pending: { ...doc.pending } };
    receive(next, { cl, cols, whole: inc.whole }, busy);
    this.#incoming.push({ cl, cols, whole: inc.whole });
    this.#take(next, cl < doc.cl);
    this.#schedule();
  }

  /**
   * @internal the parameters of a join: what this profile already has.  For a
   * row deleted before (cl above 1), nothing: the server cannot tell which
   * incarnation a state is of, and answers with its whole row.
   */
  have() {
    const doc = this.#doc;
    if (doc.cl % 2 === 0) return undefined;
    if (doc.cl > 1) return {};
    const out = {};
    for (const [c, v] of Object.entries(doc.state)) out[c] = v.toJSON();
    return out;
  }

  /** @internal the channel is joined: its column types are known now; push what is pending. */
  joined() {
    const known = this.columns().length;
    this.#view = null;
    if (this.columns().length !== known) this.#changed();
    this.#retry = 0;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#loaded.then(() => this.#flush());
  }

  async #flush() {
    const link = this.#link;
    const doc = this.#doc;
    if (this.#flushing || !link?.isJoined() || this.#retryTimer) return;
    const cols = Object.keys(doc.pending);
    if (doc.del == null && cols.length === 0) {
      if (this.pending === 0) for (const w of this.#waiters.splice(0)) w();
      return;
    }
    this.#flushing = true;
    const sent = { cl: doc.cl, del: doc.del, seq: doc.seq, pending: { ...doc.pending } };
    try {
      if (sent.del != null) await link.push(this.#key, "delete", { cl: sent.del });
      if (doc.cl % 2 === 1)
        await Promise.all(
          cols.map((c) => link.push(this.#key, "merge", { column: c, delta: sent.pending[c].toJSON(), cl: sent.cl })),
        );
      this.#retry = 0;
      // not flushing again before the acknowledgement is stored: what is
      // pending until then would be sent twice
      this.#committing = this.#committing
        .then(() => this.#commit(sent))
        .finally(() => {
          this.#flushing = false;
          this.#flush();
        });
    } catch (e) {
      this.#flushing = false;
      this.emit("error", e);
      if (link.isJoined()) {
        const ms = RETRY_MS[Math.min(this.#retry++, RETRY_MS.length - 1)];
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = null;
          this.#flush();
        }, ms);
      }
    }
  }
}

function checkInt(by) {
  if (typeof by === "bigint" ? by <= 0n : !Number.isSafeInteger(by) || by <= 0)
    throw new TypeError(`by must be a positive integer or bigint, not ${by}`);
  return by;
}

// ---- channels ----

/** A phoenix channel that answers pushes with promises, and rejects them when the connection drops. */
class Link {
  #channel;
  #inflight = new Set();
  #withKey;

  constructor(client, name, params, withKey, handlers) {
    this.#withKey = withKey;
    this.#channel = client.socket.channel(name, params);
    for (const [event, fn] of Object.entries(handlers.events)) this.#channel.on(event, fn);
    this.#channel.onError(() => {
      for (const reject of this.#inflight) reject(new Error("connection lost"));
      this.#inflight.clear();
    });
    this.#channel
      .join()
      .receive("ok", handlers.joined)
      .receive("error", (r) => client.emit("error", new Error(`join ${name}: ${r?.reason ?? "refused"}`)));
  }

  isJoined() {
    return this.#channel.state === "joined";
  }

  push(key, event, payload) {
    const body = this.#withKey ? { key, ...payload } : payload;
    return new Promise((resolve, reject) => {
      const fail = (e) => {
        this.#inflight.delete(fail);
        reject(e);
      };
      this.#inflight.add(fail);
      this.#channel
        .push(event, body)
        .receive("ok", (r) => {
          this.#inflight.delete(fail);
          resolve(r);
        })
        .receive("error", (r) => fail(new Error(`${event} refused: ${r?.reason ?? "error"}`)))
        .receive("timeout", () => fail(new Error(`${event} timed out`)));
    });
  }

  leave() {
    this.#channel.leave();
  }
}

/** An event's row; a state (not a delta) is the server's whole row. */
function rowOf(payload) {
  return { cl: payload.cl, cols: payload.deltas ?? payload.state ?? payload.delta ?? {}, whole: payload.state !== undefined };
}

/** Every row of a tracked table, as they appear and go. */
export class Table extends Emitter {
  #client;
  #rows = new Map();
  #link;
  #named = new Set(); // the keys the last join's have named

  /** @internal */
  constructor(client, table) {
    super();
    this.#client = client;
    this.name = table;
    this.topic = topic(table);
    this.loaded = this.#load();
  }

  async #load() {
    await this.#client.tableTypes(this.topic);
    for (const [k, rec] of await this.#client.storage.list(`${this.topic}:`)) {
      const key = k.slice(this.topic.length + 1);
      if (!this.#rows.has(key)) this.#adopt(new Row(this.#client, this.name, key, rec));
    }
    const rowEvent = (p) => this.#row(p.key)?.receive(rowOf(p));
    this.#link = new Link(this.#client, this.topic, () => this.#params(), true, {
      events: {
        delta: rowEvent,
        state: rowEvent,
        batch: ({ rows }) => rows.forEach(rowEvent),
        delete: ({ key, cl }) => this.#row(key)?.receive({ cl, cols: {} }),
      },
      joined: (reply) => {
        this.#client.joinedWith(this.topic, reply);
        // the reply is the server's whole table: a row named in have and not
        // listed does not exist there (never written, or its tombstone collected)
        const listed = new Set();
        for (const r of reply.rows ?? []) {
          listed.add(r.key);
          this.#row(r.key)?.receive({ ...rowOf(r), whole: true });
        }
        for (const k of this.#named) if (!listed.has(k)) this.#rows.get(k)?.receive({ cl: 1, cols: {}, whole: true });
        for (const row of this.#rows.values()) row.joined();
      },
    });
    for (const row of this.#rows.values()) row.attach(this.#link);
  }

  #params() {
    const have = {};
    for (const [k, row] of this.#rows) {
      const h = row.have();
      if (h && (row.cl > 1 || Object.keys(h).length)) have[k] = h;
    }
    this.#named = new Set(Object.keys(have));
    return { ...this.#client.joinParams(), have };
  }

  #adopt(row) {
    this.#rows.set(row.key, row);
    row.on("change", (r) => this.emit("change", r));
    row.on("error", (e) => this.emit("error", e));
    this.#client.register(row);
    if (this.#link) row.attach(this.#link);
    // a row read from storage changed before anyone could listen: told once it is read
    row.loaded.then(() => {
      if (!row.deleted && row.columns().length) this.emit("row", row);
      this.emit("change", row);
    });
    return row;
  }

  #row(key) {
    if (typeof key !== "string") return undefined;
    return this.#rows.get(key) ?? this.#adopt(new Row(this.#client, this.name, key));
  }

  /** The row of that key (created when it is written); rows() lists only live ones. */
  row(key) {
    return this.#row(String(key));
  }

  /** Local changes to its rows (deleted ones too) the server has not acknowledged. */
  get pending() {
    let n = 0;
    for (const row of this.#rows.values()) n += row.pending;
    return n;
  }

  /** The rows that exist (known locally or from the server), in key order. */
  rows() {
    return [...this.#rows.values()]
      .filter((r) => !r.deleted && r.columns().length > 0 && (r.pending > 0 || hasState(r)))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** @internal */
  announce(row, alive) {
    this.emit(alive ? "row" : "delete", row);
  }

  /** @internal another tab wrote a row of this table. */
  touched(key) {
    return this.#rows.get(key) ?? this.#row(key);
  }

  leave() {
    this.#link?.leave();
  }
}

function hasState(row) {
  return row.columns().some((c) => row.get(c).toString() !== "{}");
}

// ---- the client ----

/** A connection to laniakea-bridge. */
export class Client extends Emitter {
  #options;
  #rows = new Map();
  #tables = new Map();
  #types = new Map();
  #down = false;

  constructor(options) {
    super();
    const { url, token, node, storage, WebSocket, caps, socket } = options ?? {};
    if (typeof url !== "string") throw new TypeError("connect() needs options.url, like \"/socket\" or \"ws://host:4000/socket\"");
    const transport = WebSocket ?? globalThis.WebSocket;
    if (!transport)
      throw new TypeError("no WebSocket in this runtime: pass one, e.g. connect({url, WebSocket}) with the ws package");
    this.#options = { caps };
    this.storage = storage ?? defaultStorage(url);
    this.status = "connecting";
    this.profile = null;
    this.node = null;
    this.nodeReady = (node !== undefined ? Promise.resolve(checkNode(node)) : this.#storedNode()).then((id) => {
      this.node = id;
      for (const row of this.#rows.values()) row.refresh();
      return id;
    });
    this.socket = new Socket(url, { ...socket, transport, params: token ? { token } : {} });
    this.socket.onOpen(() => this.#setStatus("online"));
    this.socket.onClose(() => this.#setStatus("offline"));
    this.socket.onError(() => this.#setStatus("offline"));
    this.storage.watch?.((key) => this.#touched(key));
    this.nodeReady.then(() => {
      if (!this.#down) this.socket.connect();
    });
  }

  async #storedNode() {
    const rec = await this.storage.update("node", (old) => old ?? { id: newNodeId() });
    return rec.id;
  }

  #setStatus(s) {
    if (this.status === s) return;
    this.status = s;
    this.emit("status", s);
  }

  /** @internal */
  joinParams() {
    return { node: this.node, caps: { ...probe(), ...this.#options.caps } };
  }

  // Tables are known by their topic (tt), the name of their storage record.

  /** @internal the column types of a table, as the bridge last told them. */
  typesOf(tt) {
    return this.#types.get(tt) ?? {};
  }

  /** @internal loads the types this profile learned before. */
  async tableTypes(tt) {
    if (!this.#types.has(tt)) {
      const rec = await this.storage.get(tt);
      if (!this.#types.has(tt)) this.#types.set(tt, rec?.types ?? {});
    }
    return this.#types.get(tt);
  }

  /** @internal a join reply: its profile and the table's column types. */
  joinedWith(tt, reply) {
    this.profile = reply.profile ?? this.profile;
    this.emit("profile", this.profile);
    const cols = reply.columns ?? {};
    const known = this.#types.get(tt) ?? {};
    if (Object.entries(cols).some(([c, t]) => known[c] !== t)) {
      const types = { ...known, ...cols };
      this.#types.set(tt, types);
      this.storage.update(tt, (rec) => ({ ...rec, types }));
    }
  }

  /** @internal */
  register(row) {
    this.#rows.set(row.topic, row);
  }

  /** @internal */
  rowGone(row) {
    this.#tables.get(row.tableTopic)?.announce(row, false);
  }

  /** @internal */
  rowBack(row) {
    this.#tables.get(row.tableTopic)?.announce(row, true);
  }

  #touched(key) {
    const row = this.#rows.get(key);
    if (row) return row.refresh();
    for (const [tt, t] of this.#tables) if (key.startsWith(`${tt}:`)) return t.touched(key.slice(tt.length + 1))?.refresh();
  }

  /**
   * A row: joins crdt:<table>:<key> (or uses its table's channel when the
   * table is open).  table: a name in schema public, or {schema, name}.
   */
  row(table, key) {
    key = String(key);
    const t = topic(table, key);
    const tt = topic(table);
    if (this.#tables.has(tt)) return this.#tables.get(tt).row(key);
    let row = this.#rows.get(t);
    if (row) return row;
    row = new Row(this, table, key);
    this.register(row);
    this.tableTypes(tt).then(() =>
      row.loaded.then(() => {
        const link = new Link(this, t, () => ({ ...this.joinParams(), have: row.have() ?? {} }), false, {
          events: {
            delta: (p) => row.receive(rowOf(p)),
            state: (p) => row.receive(rowOf(p)),
            delete: (p) => row.receive({ cl: p.cl, cols: {} }),
          },
          joined: (reply) => {
            this.joinedWith(tt, reply);
            row.receive({ cl: reply.cl, cols: reply.state ?? reply.delta ?? {}, whole: true });
            row.joined();
          },
        });
        row.attach(link);
      }),
    );
    return row;
  }

  /** Every row of a table: joins crdt:<table>. */
  table(table) {
    const tt = topic(table);
    let t = this.#tables.get(tt);
    if (!t) {
      t = new Table(this, table);
      this.#tables.set(tt, t);
    }
    return t;
  }

  /** Goes offline on purpose: local changes go on, kept in storage, and are sent on connect(). */
  disconnect() {
    this.#down = true;
    this.socket.disconnect();
    this.#setStatus("offline");
  }

  connect() {
    if (!this.#down) return;
    this.#down = false;
    this.#setStatus("connecting");
    this.nodeReady.then(() => this.socket.connect());
  }
}

function checkNode(node) {
  if (typeof node !== "string" || node === "") throw new TypeError("node must be a non-empty string");
  return node;
}

/** Connects to laniakea-bridge; see docs/client.md. */
export function connect(options) {
  return new Client(options);
}
