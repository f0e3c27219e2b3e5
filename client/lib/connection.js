// The offline-first connection: rows and tables of tracked tables, kept in
// storage, edited at once, and merged with laniakea-bridge over the official
// phoenix client whenever it can be reached.
//
// Each row is a record in storage (see docs/client.md, "Storage"):
//   {v, cl, types, base, pend, del, queue, x}
// base is what the server is known to have, pend the deltas of this node's
// own operations not acknowledged yet, per column a list of chunks [delta,
// operations, bytes] that each fit in a message; del the incarnation of a
// delete not acknowledged yet, queue operations on columns whose type is not
// known yet, x whether the row exists.  What the row shows is base joined
// with pend, plus operations not stored yet.  Every change to a record is one
// atomic storage.update (IndexedDB serializes them across tabs), computed
// from the record as stored: that is what lets two tabs with one node id
// never reuse a dot or lose an increment.
import * as core from './core.js';
import { Serializer, Socket } from './phoenix.mjs';
import { IndexedDBStorage, MemoryStorage } from './storage.js';
import { setWith, typeNamed } from './values.js';
import { Raw, byteLength, parse, stateText, stringify } from './wire.js';

/**
 * The topic of a table, or of one of its rows: every topic string is built
 * here, by the core (lk_topic_put), so that it is byte for byte the one the
 * database and the bridge use.  A table is a name in schema public, or
 * {schema, name}; neither is parsed ("a.b" is the table named a.b).
 */
export function topic(table, key) {
  const { schema, name } = typeof table === 'string' ? { schema: 'public', name: table } : (table ?? {});
  if (typeof schema !== 'string' || typeof name !== 'string' || !schema || !name)
    throw new TypeError('table must be a non-empty string, or {schema, name} of non-empty strings');
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
    hasWorkers: typeof Worker !== 'undefined',
    hasSharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
    hasWebTransport: typeof WebTransport !== 'undefined',
    memoryMb: nav.deviceMemory ? nav.deviceMemory * 1024 : 2048,
    connectionType: net.type ?? 'unknown',
    effectiveType: net.effectiveType ?? '4g',
  };
}

class Emitter {
  #handlers = new Map();

  /** Calls fn on each event of that name; returns a function that stops it. */
  on(event, fn) {
    const fns = this.#handlers.get(event) ?? this.#handlers.set(event, new Set()).get(event);
    fns.add(fn);
    return () => fns.delete(fn);
  }

  emit(event, ...args) {
    for (const fn of this.#handlers.get(event) ?? []) fn(...args);
  }
}

const RETRY_MS = [250, 1000, 2000, 5000];
// Pushes one client has waiting for their replies: the bridge refuses those
// past its --max-pending-pushes (64 by default).
const WINDOW = 32;
// Push refusals that no retry can turn into success: the bridge's own about
// the delta or the push, and PostgreSQL's about rights, constraints and ranges.
// Anything else (database unavailable, a statement timeout, too many pending
// pushes, token expired, a deadlock, a lost connection, a remove covering dots
// that bridge has not seen yet) is retried.
const FINAL =
  /^(unknown (column|event)|invalid (delta|input)|delta (has|adds) |(cl|key|by|element) must|node id required|(add and remove|increment|decrement) needs? |unauthorized|permission denied|new row violates|null value|value too long|[\w ]*out of range)/;
// Frame text around a push's delta or a join's have, at its largest: refs
// are phoenix's counters, a column a PostgreSQL identifier (63 bytes).
const REF = '0000000000';

function newNodeId() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return `web-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
}

function storageName(url) {
  return `laniakea ${new URL(url, globalThis.location?.href).href}`;
}

/**
 * The write-ahead journal of a page: IndexedDB writes complete after the task
 * that made the change, and a reload or a closed tab before then would lose
 * it.  So each operation is first appended, synchronously, to this instance's
 * journal in localStorage; an IndexedDB update that stores operations records
 * their numbers in the record journal:<instance>, atomically with the rows,
 * and the entries then leave localStorage.  An instance holds the Web Lock of
 * its id while it lives; the journals of instances that are gone (their lock
 * free) are replayed once, leaving out the operations their record lists.
 */
class Journal {
  #prefix;
  #id = newNodeId().slice(4);
  #entries = new Map(); // number → entry, as in localStorage once the lock is held
  #held = false;
  #seq = 0;
  #storage;

  constructor(name, client) {
    this.#storage = client.storage;
    this.#prefix = `${name} journal `;
    this.record = `journal:${this.#id}`;
    navigator.locks.request(this.#prefix + this.#id, () => {
      this.#held = true;
      this.#save();
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i);
        if (k.startsWith(this.#prefix) && k !== this.#prefix + this.#id)
          this.#recover(k.slice(this.#prefix.length), client);
      }
      return new Promise(() => {}); // held for the page's life
    });
  }

  /** Appends an operation of a row; returns its number. */
  add(row, op) {
    const e = { s: ++this.#seq, t: row.table, k: row.key, op };
    this.#entries.set(e.s, e);
    this.#save();
    return e.s;
  }

  /** The record journal:<id> with numbers stored now: those still in localStorage. */
  stored(rec, numbers) {
    return { done: [...(rec?.done ?? []).filter((s) => this.#entries.has(s)), ...numbers] };
  }

  /** Operations now in IndexedDB leave localStorage; with none left, the record goes too. */
  done(numbers) {
    for (const s of numbers) this.#entries.delete(s);
    this.#save();
    if (!this.#entries.size)
      this.#storage.update(this.record, () => (this.#entries.size ? undefined : null)).catch(() => {});
  }

  #save() {
    const key = this.#prefix + this.#id;
    if (this.#held)
      try {
        if (this.#entries.size) localStorage.setItem(key, JSON.stringify([...this.#entries.values()]));
        else localStorage.removeItem(key);
      } catch {
        // localStorage full or refused: IndexedDB alone keeps the operations, a moment later
      }
  }

  // Once the lock of another instance is free (now, or when that tab closes):
  // its operations not in IndexedDB are made again here, journaled here first.
  #recover(id, client) {
    navigator.locks.request(this.#prefix + id, async () => {
      const done = new Set((await client.storage.get(`journal:${id}`))?.done);
      const entries = JSON.parse(localStorage.getItem(this.#prefix + id) ?? '[]');
      const redo = entries.filter((e) => !done.has(e.s));
      const rows = redo.map((e) => client.row(e.t, e.k));
      await Promise.all(rows.map((r) => r.loaded));
      // made again and journaled here in the task that forgets them there
      for (const [i, e] of redo.entries()) rows[i].redo(e.op);
      localStorage.removeItem(this.#prefix + id);
      await client.storage.update(`journal:${id}`, () => null);
    });
  }
}

// ---- documents: a row's record with its states as values ----

function emptyDoc() {
  return { v: 0, cl: 1, types: {}, base: {}, pend: {}, cur: {}, del: null, queue: [], x: false };
}

function copy(doc) {
  return {
    ...doc,
    types: { ...doc.types },
    base: { ...doc.base },
    pend: { ...doc.pend },
    cur: { ...doc.cur },
    queue: [...doc.queue],
  };
}

/** A record's document; `cache` maps texts to the values they were written from. */
function fromRecord(rec, cache) {
  const doc = emptyDoc();
  if (!rec) return doc;
  Object.assign(doc, {
    v: rec.v ?? 0,
    cl: rec.cl,
    types: { ...rec.types },
    del: rec.del ?? null,
    queue: [...(rec.queue ?? [])],
    x: !!rec.x,
  });
  const value = (c, text) => cache?.get(text) ?? typeNamed(doc.types[c])?.from(text);
  for (const [c, t] of Object.entries(rec.base ?? rec.state ?? {})) doc.base[c] = value(c, t);
  // records written before chunks held one delta per column
  for (const [c, t] of Object.entries(rec.pending ?? {})) doc.pend[c] = [[value(c, t), 1, t.length]];
  for (const [c, list] of Object.entries(rec.pend ?? {})) doc.pend[c] = list.map(([t, n, b]) => [value(c, t), n, b]);
  return doc;
}

/**
 * The record of a document, or null for none: a deleted row with nothing
 * waiting keeps no record (the server's tombstone remembers the deletion, and
 * a join names only the keys held), nor does a row that holds nothing at cl 1.
 */
function toRecord(doc, cache) {
  const text = (v) => {
    const t = v.toString();
    cache.set(t, v);
    return t;
  };
  const base = {};
  for (const [c, v] of Object.entries(doc.base)) if (v.toString() !== '{}') base[c] = text(v);
  const pend = {};
  for (const [c, list] of Object.entries(doc.pend)) pend[c] = list.map(([v, n, b]) => [text(v), n, b]);
  if (!waiting(doc) && (doc.cl % 2 === 0 || (doc.cl === 1 && !doc.x && !Object.keys(base).length))) return null;
  return { v: doc.v, cl: doc.cl, types: doc.types, base, pend, del: doc.del, queue: doc.queue, x: doc.x };
}

/** A newer incarnation (causal length) replaces everything of the older ones. */
function advance(doc, cl) {
  Object.assign(doc, { cl, base: {}, pend: {}, cur: {}, del: null, x: false });
  doc.queue = doc.queue.filter((op) => op.cl >= cl);
}

/** Whether the document holds changes the server has not acknowledged. */
function waiting(doc) {
  return doc.del != null || doc.queue.length > 0 || Object.keys(doc.pend).length > 0;
}

/** Local operations not acknowledged: those in chunks, a delete, the queue. */
function count(doc) {
  let n = (doc.del != null) + doc.queue.length;
  for (const list of Object.values(doc.pend)) for (const [, k] of list) n += k;
  return n;
}

/** A column's value: base joined with the pending chunks. */
function current(doc, c) {
  const T = typeNamed(doc.types[c]);
  if (T && !doc.cur[c]) doc.cur[c] = (doc.pend[c] ?? []).reduce((v, [d]) => v.merge(d), doc.base[c] ?? T.empty());
  return doc.cur[c];
}

/**
 * Server information: merged, never overwriting; a stale incarnation is
 * ignored.  Except that the server's whole row (a join reply, a state event:
 * inc.whole) is authoritative when nothing here waits to be sent (hold: local
 * operations not stored yet): a server row of a smaller cl then replaces this
 * one, since it is no stale echo but a key that laniakea.collect_tombstones
 * let start again at cl 1.  seen(column, value) is told of each state merged.
 */
function receiveInto(doc, inc, hold, seen) {
  if (inc.cl < doc.cl && (!inc.whole || hold || waiting(doc))) return;
  if (inc.cl !== doc.cl) advance(doc, inc.cl);
  if (doc.cl % 2 === 0) return; // a deleted incarnation holds nothing
  if (inc.x) doc.x = true;
  for (const [c, v] of Object.entries(inc.cols ?? {})) {
    if (v.constructor !== typeNamed(doc.types[c])) continue;
    seen?.(c, v);
    doc.base[c] = doc.base[c] ? doc.base[c].merge(v) : v;
    if (doc.cur[c]) doc.cur[c] = doc.cur[c].merge(v);
  }
}

// The operations, with the kind of column each needs (the value's method of that name)
const NEEDS = {
  increment: 'a counter',
  decrement: 'a pncounter',
  add: 'an orset',
  remove: 'an orset',
  set: 'an lwwreg',
};

function operate(value, op, ctx) {
  const o = op.o;
  if (!Object.hasOwn(NEEDS, o)) throw new TypeError(`unknown operation ${o}`);
  if (typeof value[o] !== 'function') throw new TypeError(`${o} needs ${NEEDS[o]} column, and ${op.c} is not one`);
  if (o === 'set') return setWith(value, op.a, ctx.node, ctx.hlc, BigInt(op.t));
  if (o === 'add') return value.add(op.a, ctx.node);
  return o === 'remove' ? value.remove(op.a) : value[o](ctx.node, BigInt(op.a));
}

/**
 * A local operation applied to a document: computed from the document as it
 * is (in storage: as stored, whatever other tabs did).  An operation carries
 * the incarnation it was made in: an older one is dropped (a delete wins over
 * what it did not see), a newer one re-creates a deleted row.  Throws, before
 * changing anything, for an operation that cannot apply.  ctx: {node, hlc (the
 * node's hybrid logical clock {last}, which sets advance), live (the table's
 * columns are known from a join), room (bytes a delta may have to be sent),
 * view (only the values, for showing)}.
 */
function applyOp(doc, op, ctx) {
  if (op.cl < doc.cl) return;
  if (op.o === 'delete') {
    if (op.cl === doc.cl && op.cl % 2) {
      advance(doc, op.cl + 1);
      doc.del = op.cl;
    }
    return;
  }
  const type = doc.types[op.c];
  const T = typeNamed(type);
  if (!T) {
    if (type !== undefined) throw new TypeError(`column ${op.c} has type ${type}, which this client does not know`);
    if (ctx.live) throw new TypeError(`column ${op.c} does not exist in ${ctx.table}`);
    doc.queue.push(op);
    return;
  }
  const fresh = op.cl > doc.cl;
  const before = fresh ? T.empty() : current(doc, op.c);
  const after = operate(before, op, ctx);
  // a register is one write: one that does not fit in a message could never be sent
  if (op.o === 'set' && byteLength(after.toString()) > ctx.room)
    throw new RangeError(`value too large to send: ${op.c}'s write is over the message size (connect({maxMessage}))`);
  if (fresh) advance(doc, op.cl);
  doc.cur[op.c] = after;
  doc.x = true;
  if (ctx.view) return;
  const d = before.delta(after);
  const size = byteLength(d.toString());
  const list = [...(doc.pend[op.c] ?? [])];
  doc.pend[op.c] = list;
  const last = list.at(-1);
  if (last && last[2] + size <= ctx.room) list[list.length - 1] = [last[0].merge(d), last[1] + 1, last[2] + size];
  else list.push([d, 1, size]);
}

/**
 * A push answered: acknowledged (ok), its delta is now the server's; or
 * refused for good, its delta is dropped.  Either way what was sent leaves
 * the column's chunks (what was added to them since stays), and a's counts
 * of operations leave their counts.
 */
function settle(doc, a) {
  if (a.del != null) {
    if (doc.del === a.del) doc.del = null;
    return;
  }
  if (a.cl !== doc.cl) return;
  const c = a.c;
  if (a.ok) doc.base[c] = doc.base[c]?.merge(a.sent) ?? a.sent;
  else delete doc.cur[c];
  const list = [];
  (doc.pend[c] ?? []).forEach(([v, n, b], i) => {
    const rest = a.sent.delta(v);
    if (rest.toString() === '{}') return;
    list.push(i < a.counts.length ? [rest, Math.max(1, n - a.counts[i]), b] : [v, n, b]);
  });
  if (list.length) doc.pend[c] = list;
  else delete doc.pend[c];
}

/** This node's part of a state, as text (its count, the dots it has seen, its write), or undefined. */
function own(v, node) {
  const j = parse(v.toString());
  const t = v.constructor.typeName;
  const part =
    t === 'lwwreg'
      ? j.n === node
        ? j
        : undefined
      : t === 'orset'
        ? j.c?.[node]
        : t === 'pncounter'
          ? (j.p?.[node] ?? j.n?.[node]) && [j.p?.[node], j.n?.[node]]
          : j[node];
  return part === undefined ? undefined : stringify(part);
}

// ---- rows ----

/** One row of a tracked table: its columns as CRDT values, edited offline-first. */
export class Row extends Emitter {
  #client;
  #key;
  #link = null;
  #own = null; // the row's own channel (not its table's)
  #doc = emptyDoc(); // as last stored or read from storage
  #view = null; // #doc with the operations not stored yet
  #tentative = []; // operations not in storage yet
  #inflight = []; // operations of transactions that read the record and have not completed
  #incoming = []; // server information not in storage yet
  #settles = []; // answered pushes not in storage yet
  #cache = new Map(); // the texts of the last record stored, with their values
  #started = false; // a storage transaction that has not read the record yet
  #ready = false;
  #force = false; // commit even with nothing new: queued operations may fail now
  #pushing = new Set(); // columns with a push out ("" a delete)
  #retry = 0;
  #timer = null;
  #waiters = [];
  #room;
  #loaded;
  #gone; // deleted as last told (undefined before the first change)

  /** @internal rec: the stored record, null for none, undefined to read it. */
  constructor(client, table, key, rec) {
    super();
    this.#client = client;
    this.table = table;
    this.tableTopic = topic(table);
    this.#key = key;
    this.topic = topic(table, key);
    this.#room =
      client.maxMessage -
      byteLength(
        stringify([
          REF,
          REF,
          this.topic,
          'merge',
          { key, column: 'c'.repeat(63), delta: new Raw(''), cl: Number.MAX_SAFE_INTEGER },
        ]),
      );
    this.#loaded = (rec !== undefined ? Promise.resolve(rec) : client.storage.get(this.topic)).then((r) => {
      this.#ready = true;
      this.#take(fromRecord(r), true);
      this.#commit();
    });
  }

  get key() {
    return this.#key;
  }

  /** @internal */
  get loaded() {
    return this.#loaded;
  }

  /** @internal the channel this row talks through; own: its row topic's. */
  attach(link, own) {
    if (this.#own !== link) this.#own?.leave();
    this.#own = own ? link : null;
    this.#link = link;
    this.#flush();
  }

  #current() {
    if (!this.#view) this.#rebuild();
    return this.#view;
  }

  /** The current value of a column, local edits included; undefined while its type is unknown. */
  get(column) {
    return current(this.#current(), column);
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
    return this.cl % 2 === 0;
  }

  /** @internal whether the row exists: the server has it, or it was written here. */
  get exists() {
    return !this.deleted && this.#current().x;
  }

  /** Local changes the server has not acknowledged yet. */
  get pending() {
    return count(this.#doc) + this.#inflight.length + this.#tentative.length;
  }

  /** Resolves once every local change made so far is acknowledged. */
  flushed() {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  increment(column, by = 1) {
    return this.#op('increment', column, amount(by));
  }

  decrement(column, by = 1) {
    return this.#op('decrement', column, amount(by));
  }

  add(column, element) {
    return this.#op('add', column, core.wellFormed(element, 'element'));
  }

  remove(column, element) {
    return this.#op('remove', column, core.wellFormed(element, 'element'));
  }

  set(column, value) {
    return this.#op('set', column, core.wellFormed(value, 'value'));
  }

  /** Deletes the row (for every column); a later write re-creates it, empty. */
  delete() {
    const cl = this.cl;
    return cl % 2 === 0 ? this : this.#do({ o: 'delete', cl });
  }

  #op(o, c, a) {
    core.wellFormed(c, 'column');
    const view = this.#current();
    const op = { o, c, a, cl: view.cl % 2 ? view.cl : view.cl + 1 };
    if (o === 'set') op.t = String(BigInt(Date.now()) * 1000n);
    const ctx = this.#ctx({ last: 0n }, true);
    // an operation that cannot apply throws here, in the caller's hands, and is not kept
    if (ctx.node) applyOp(view, op, ctx);
    else if (ctx.live && !(c in view.types)) throw new TypeError(`column ${c} does not exist in ${ctx.table}`);
    return this.#do(op);
  }

  /** @internal an operation of another instance that did not reach storage, made again. */
  redo(op) {
    this.#do({ ...op });
  }

  #do(op) {
    op.j = this.#client.journal?.add(this, op);
    this.#tentative.push(op);
    if (op.o === 'delete') applyOp(this.#current(), op, {});
    this.#changed();
    this.#commit();
    return this;
  }

  #ctx(hlc, view) {
    const tt = this.tableTopic;
    return { node: this.#client.node, hlc, live: this.#client.live(tt), room: this.#room, view, table: tt };
  }

  #busy() {
    return this.#tentative.length > 0 || this.#inflight.length > 0;
  }

  #rebuild() {
    const view = copy(this.#doc);
    Object.assign(view.types, this.#client.typesOf(this.tableTopic));
    const ctx = this.#ctx({ last: 0n }, true);
    if (ctx.node)
      for (const op of [...this.#inflight, ...this.#tentative])
        try {
          applyOp(view, op, ctx);
        } catch {
          // refused when it was made, or by a state that came since: its commit reports it
        }
    this.#view = view;
  }

  #changed() {
    const gone = this.deleted;
    if (this.#gone !== gone) {
      const first = this.#gone === undefined;
      this.#gone = gone;
      if (gone && !first) this.emit('delete', this);
    }
    this.#client.rowChanged(this);
    this.emit('change', this);
    if (this.pending === 0) for (const w of this.#waiters.splice(0)) w();
  }

  // ---- storage ----

  /**
   * Writes what is waiting (operations, server information, answered pushes)
   * to storage in one atomic update of the row and its node's clock, computed
   * from the record as stored.  Once the row is read and the node id known,
   * the update starts within the call (an operation's transaction is created
   * before the operation returns); operations made before its read join it.
   */
  #commit() {
    const node = this.#client.node;
    if (this.#started || !this.#ready || !node) return;
    if (!this.#tentative.length && !this.#incoming.length && !this.#settles.length && !this.#force) return;
    this.#started = true;
    this.#force = false;
    let batch, incoming, settles, doc, cache;
    const errors = [];
    const journal = this.#client.journal;
    this.#client.storage
      .update([this.topic, `clock:${node}`, ...(journal ? [journal.record] : [])], ([rec, clock, written]) => {
        this.#started = false;
        batch = this.#tentative.splice(0);
        incoming = this.#incoming.splice(0);
        settles = this.#settles.splice(0);
        this.#inflight.push(...batch);
        errors.length = 0;
        doc = this.#read(rec);
        doc.v++;
        Object.assign(doc.types, this.#client.typesOf(this.tableTopic));
        const hlc = { last: BigInt(clock?.last ?? 0) };
        const last = hlc.last;
        for (const inc of incoming) receiveInto(doc, inc, batch.length > 0, (c, v) => this.#check(doc, c, v, node));
        const ops = [...doc.queue, ...batch];
        doc.queue = [];
        const ctx = this.#ctx(hlc, false);
        for (const op of ops)
          try {
            applyOp(doc, op, ctx);
          } catch (e) {
            errors.push(e);
          }
        for (const a of settles) settle(doc, a);
        cache = new Map();
        const out = [toRecord(doc, cache), hlc.last !== last ? { last: String(hlc.last) } : undefined];
        const numbers = batch.flatMap((op) => op.j ?? []);
        return journal && numbers.length ? [...out, journal.stored(written, numbers)] : out;
      })
      .then(
        () => {
          this.#cache = cache;
          this.#inflight.splice(0, batch.length);
          journal?.done(batch.flatMap((op) => op.j ?? []));
          for (const a of settles) this.#pushing.delete(a.del != null ? '' : a.c);
          this.#take(doc, true);
          for (const e of errors) this.emit('error', e);
          this.#commit();
          this.#flush();
        },
        (e) => {
          // storage refused (quota, closed): everything waits for the next try
          this.#started = false;
          if (batch) {
            this.#inflight.splice(0, batch.length);
            this.#tentative.unshift(...batch);
            this.#incoming.unshift(...incoming);
            this.#settles.unshift(...settles);
          }
          this.emit('error', e);
          setTimeout(() => this.#commit(), RETRY_MS[2]);
        },
      );
  }

  /**
   * A state from the server with this node's part beyond what this profile
   * stored: another device writes as this node id (docs/client.md, "Node
   * ids"), and their writes and ours overwrite each other.
   */
  #check(doc, c, v, node) {
    const local = current(doc, c);
    const mine = own(local, node);
    if (own(v, node) !== undefined && mine !== undefined && own(local.merge(v), node) !== mine) {
      const e = new Error(
        `another client writes as node ${node}: the server has more of its ${c} in ${this.topic} than this one stored`,
      );
      e.code = 'node';
      this.#client.emit('error', e);
    }
  }

  /**
   * The document of a record read.  No record after a deletion is that
   * deletion settled and pruned: the row stays at its causal length.
   */
  #read(rec) {
    const doc = fromRecord(rec, this.#cache);
    if (!rec && this.#doc.cl % 2 === 0) doc.cl = this.#doc.cl;
    return doc;
  }

  /**
   * Adopts a document stored (force) or read from storage, with the server
   * information not in storage yet.
   */
  #take(doc, force) {
    if (!force && doc.v < this.#doc.v) return; // a read older than the last write
    for (const inc of this.#incoming) receiveInto(doc, inc, this.#busy());
    this.#doc = doc;
    this.#rebuild();
    this.#changed();
  }

  /** @internal another tab changed this row in storage. */
  async refresh() {
    await this.#loaded;
    this.#take(this.#read(await this.#client.storage.get(this.topic)));
    this.#flush();
  }

  /** @internal the node id is known: operations made before it can be shown and stored. */
  nodeKnown() {
    this.#view = null;
    this.#changed();
    this.#commit();
  }

  // ---- the server ----

  /**
   * @internal a join reply's or an event's row: {cl, cols, whole, x}, cols in
   * JSON (text or parsed), whole when they are the server's whole row, x
   * when it says the row exists.
   */
  receive(inc) {
    const cl = inc.cl ?? 1;
    const types = { ...this.#doc.types, ...this.#client.typesOf(this.tableTopic) };
    const cols = {};
    for (const [c, json] of Object.entries(inc.cols ?? {})) {
      const T = typeNamed(types[c]);
      try {
        if (T) cols[c] = T.from(stateText(json));
      } catch (e) {
        // a state the core refuses is reported and left out; the rest still merges
        this.emit('error', new TypeError(`${this.topic}: column ${c} from the server: ${e.message}`));
      }
    }
    const i = { cl, cols, whole: inc.whole, x: inc.x };
    this.#incoming.push(i);
    const before = this.#doc.cl;
    this.#doc = copy(this.#doc);
    Object.assign(this.#doc.types, types);
    receiveInto(this.#doc, i, this.#busy());
    if (this.#doc.cl !== before || !this.#view) this.#view = null;
    else receiveInto(this.#view, i, true);
    this.#changed();
    this.#commit();
  }

  /** @internal the table's join did not list this row: the server has none (named: its have named the key). */
  absent(named) {
    const doc = this.#doc;
    if (this.#busy() || waiting(doc)) return;
    if (doc.cl % 2 === 0) {
      // deleted here and its tombstone collected there: the key starts again
      if (named) this.receive({ cl: 1, whole: true });
    } else if (doc.x || Object.keys(doc.base).length) this.receive({ cl: doc.cl + 1 });
  }

  /**
   * @internal what this profile has, for a join's have, in at most `room`
   * bytes ({column: state} as Raw JSON): for a row deleted before (cl above
   * 1) nothing, since the server cannot tell which incarnation a state is
   * of, and answers with its whole row; past room, the largest states are
   * left out (the server then sends them whole).
   */
  have(room) {
    const doc = this.#doc;
    const out = {};
    if (doc.cl !== 1) return out;
    const states = Object.entries(doc.base).map(([c, v]) => [c, v.toString()]);
    states.sort((a, b) => a[1].length - b[1].length);
    for (const [c, t] of states) {
      const n = byteLength(t) + byteLength(JSON.stringify(c)) + 2;
      if (n > room) break;
      room -= n;
      out[c] = new Raw(t);
    }
    return out;
  }

  /** @internal the channel is joined: its column types are known now; push what is pending. */
  joined() {
    this.#view = null;
    this.#retry = 0;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#changed();
    // queued operations on columns the table does not have fail now
    this.#force = this.#doc.queue.length > 0;
    this.#commit();
    this.#flush();
  }

  // ---- pushes ----

  #flush() {
    const link = this.#link;
    const doc = this.#doc;
    if (!link?.ready() || this.#timer) return;
    if (doc.del != null && !this.#pushing.has('')) this.#send('', 'delete', { cl: doc.del }, { del: doc.del });
    if (doc.cl % 2) for (const c of Object.keys(doc.pend)) if (!this.#pushing.has(c)) this.#sendColumn(c);
  }

  /** Pushes a column's first chunks, joined as far as they fit in one message. */
  #sendColumn(c) {
    const [[first, n], ...rest] = this.#doc.pend[c];
    const a = { c, sent: first, counts: [n], cl: this.#doc.cl };
    for (const [v, k] of rest) {
      const joined = a.sent.merge(v);
      if (byteLength(joined.toString()) > this.#room) break;
      a.sent = joined;
      a.counts.push(k);
    }
    if (byteLength(a.sent.toString()) > this.#room) {
      // kept from a larger maxMessage: it can never be sent now
      this.#pushing.add(c);
      return this.#refused(a, new RangeError(`${this.topic}: a change of ${c} is too large to send (over maxMessage)`));
    }
    this.#send(c, 'merge', { column: c, delta: new Raw(a.sent.toString()), cl: a.cl }, a);
  }

  #send(slot, event, payload, a) {
    this.#pushing.add(slot);
    this.#link.push(this.#key, event, payload).then(
      () => {
        this.#retry = 0;
        a.ok = true;
        this.#settles.push(a);
        this.#commit();
      },
      (e) => {
        if (e.final) return this.#refused(a, e);
        this.#pushing.delete(slot);
        this.emit('error', e);
        if (e.retry && !this.#timer)
          this.#timer = setTimeout(
            () => {
              this.#timer = null;
              this.#flush();
            },
            RETRY_MS[Math.min(this.#retry++, RETRY_MS.length - 1)],
          );
      },
    );
  }

  /**
   * A push refused for good: its operations are dropped, and the application
   * told (a delete refused: the row comes back with the server's next whole row).
   */
  #refused(a, e) {
    e.final = true;
    e.column = a.c;
    e.operations = a.counts?.reduce((x, y) => x + y) ?? 1;
    this.emit('error', e);
    this.#settles.push(a);
    this.#commit();
  }
}

/** `by` of an increment or decrement, as an operation keeps it (text). */
function amount(by) {
  if (typeof by === 'bigint' ? by <= 0n : !Number.isSafeInteger(by) || by <= 0)
    throw new TypeError(`by must be a positive integer or bigint, not ${by}`);
  return String(by);
}

// ---- channels ----

/** A push's refusal as an Error: final when no retry can succeed, retry when one should be tried. */
function refusal(event, reason, code, joined) {
  const e = new Error(`${event} refused: ${reason}`);
  e.reason = reason;
  e.final = code ? !/^(08|40|53|57|58|XX)/.test(code) : FINAL.test(reason);
  e.retry = joined;
  return e;
}

/** A phoenix channel that answers pushes with promises, and rejects them when the connection drops. */
class Link {
  #client;
  #channel;
  #inflight = new Set();
  #withKey;

  constructor(client, name, params, withKey, handlers) {
    this.#client = client;
    this.#withKey = withKey;
    this.#channel = client.socket.channel(name, params);
    for (const [event, fn] of Object.entries(handlers.events)) this.#channel.on(event, fn);
    this.#channel.onError(() => {
      for (const reject of this.#inflight) reject(refusal('push', 'connection lost', null, false));
      this.#inflight.clear();
    });
    this.#channel
      .join()
      .receive('ok', handlers.joined)
      .receive('error', (r) => client.emit('error', new Error(`join ${name}: ${r?.reason ?? 'refused'}`)));
  }

  /** Joined, on an open socket: a push now is sent now (never buffered by phoenix to be sent again). */
  ready() {
    return this.#channel.state === 'joined' && this.#client.socket.isConnected();
  }

  async push(key, event, payload) {
    const body = this.#withKey ? { key, ...payload } : payload;
    await this.#client.slot(true);
    try {
      return await new Promise((resolve, reject) => {
        const fail = (e) => {
          this.#inflight.delete(fail);
          reject(e);
        };
        if (!this.ready()) return reject(refusal(event, 'connection lost', null, false));
        this.#inflight.add(fail);
        this.#channel
          .push(event, body)
          .receive('ok', (r) => {
            this.#inflight.delete(fail);
            resolve(r);
          })
          .receive('error', (r) => fail(refusal(event, r?.reason ?? 'error', r?.code, this.ready())))
          .receive('timeout', () => fail(refusal(event, 'timed out', null, this.ready())));
      });
    } finally {
      this.#client.slot(false);
    }
  }

  leave() {
    this.#channel.leave();
  }
}

/** An event's row; a state (not a delta) is the server's whole row. */
function rowOf(payload) {
  return {
    cl: payload.cl,
    cols: payload.deltas ?? payload.state ?? payload.delta,
    whole: payload.state !== undefined,
    x: true,
  };
}

/** Whether a join reply's states hold anything: the row exists. */
const someState = (cols) => Object.values(cols ?? {}).some((s) => stateText(s) !== '{}');

/** Every row of a tracked table, as they appear and go. */
export class Table extends Emitter {
  #client;
  #rows = new Map();
  #dead = new Map(); // key → cl of deleted rows with nothing waiting, read from storage
  #listed = false; // #rows and #dead hold every row in storage
  #link;
  #named = new Set(); // the keys the last join's have named
  #shown = new Set(); // the rows last told of with "row"

  /** @internal */
  constructor(client, table) {
    super();
    this.#client = client;
    this.name = table;
    this.topic = topic(table);
    // rows asked for with client.row() before: the table takes them over
    for (const row of client.rowsOf(this.topic)) this.#adopt(row);
    this.loaded = this.#load();
  }

  async #load() {
    await this.#client.tableTypes(this.topic);
    for (const [k, rec] of await this.#client.storage.list(`${this.topic}:`)) {
      const key = k.slice(this.topic.length + 1);
      if (this.#rows.has(key)) continue;
      if (rec.types) this.#adopt(new Row(this.#client, this.name, key, rec));
      else this.#dead.set(key, rec.cl);
    }
    this.#listed = true;
    const rowEvent = (p) => this.#row(p.key)?.receive(rowOf(p));
    // the deletion of a row not held here: nothing to change, nothing to keep
    const gone = ({ key, cl }) => this.#held(key)?.receive({ cl });
    this.#link = new Link(
      this.#client,
      this.topic,
      () => this.#client.joinParams(this.topic, (room) => this.#have(room)),
      true,
      {
        events: {
          delta: rowEvent,
          state: rowEvent,
          batch: ({ rows }) => {
            for (const r of rows) {
              if (r.deleted) gone(r);
              else rowEvent(r);
            }
          },
          delete: gone,
        },
        joined: (reply) => {
          this.#client.joinedWith(this.topic, reply);
          // the reply is the server's whole table: a row not listed does not exist there
          const listed = new Set();
          for (const r of reply.rows ?? []) {
            listed.add(r.key);
            (r.deleted ? this.#held(r.key) : this.#row(r.key))?.receive({
              cl: r.cl ?? 1,
              cols: r.state ?? r.delta,
              whole: true,
              x: !r.deleted,
            });
          }
          for (const [k, row] of this.#rows) if (!listed.has(k)) row.absent(this.#named.has(k));
          for (const k of this.#dead.keys())
            if (this.#named.has(k) && !listed.has(k)) {
              // its tombstone was collected: nothing of the key is left to remember
              this.#dead.delete(k);
              this.#client.storage.update(`${this.topic}:${k}`, (rec) => (rec && !rec.types ? null : undefined));
            }
          for (const row of this.#rows.values()) row.joined();
        },
      },
    );
    for (const row of this.#rows.values()) row.attach(this.#link);
  }

  /**
   * The join's have, in at most room bytes: the keys of the rows that exist
   * here ({} each: the reply tells which are deleted), then their states
   * where they fit (the reply is then only what is missing), then the keys
   * of rows deleted here (the reply tells which the server no longer
   * remembers, which are then forgotten here too).
   */
  #have(room) {
    const have = {};
    const name = (k, text) => {
      // the key and its punctuation count once, on its first naming
      const n = have[k]
        ? byteLength(text) - byteLength(have[k].text)
        : byteLength(JSON.stringify(k)) + byteLength(text) + 2;
      if (n > room) return;
      room -= n;
      have[k] = new Raw(text);
    };
    const live = [...this.#rows.values()].filter((r) => !r.deleted && (r.exists || r.cl > 1));
    for (const row of live) name(row.key, '{}');
    for (const row of live) if (have[row.key]) name(row.key, stringify(row.have(room + 2)));
    for (const row of this.#rows.values()) if (row.deleted) name(row.key, '{}');
    for (const k of this.#dead.keys()) name(k, '{}');
    this.#named = new Set(Object.keys(have));
    return have;
  }

  #adopt(row) {
    this.#rows.set(row.key, row);
    this.#client.register(row);
    if (this.#link) row.attach(this.#link);
    return row;
  }

  /** The row of a key, if this table or the client holds one. */
  #held(key) {
    if (typeof key !== 'string') return undefined;
    const row = this.#rows.get(key) ?? this.#client.rowAt(`${this.topic}:${key}`);
    if (row && !this.#rows.has(key)) this.#adopt(row);
    return row;
  }

  #row(key) {
    let row = this.#held(key);
    if (!row && typeof key === 'string') {
      const dead = this.#dead.get(key);
      this.#dead.delete(key);
      row = this.#adopt(new Row(this.#client, this.name, key, dead ? { cl: dead } : this.#listed ? null : undefined));
    }
    return row;
  }

  /** The row of that key (created when it is written); rows() lists only those that exist. */
  row(key) {
    return this.#row(String(key));
  }

  /** Local changes to its rows (deleted ones too) the server has not acknowledged. */
  get pending() {
    let n = 0;
    for (const row of this.#rows.values()) n += row.pending;
    return n;
  }

  /** The rows that exist (the server's, and those written here), not deleted, in key order. */
  rows() {
    return [...this.#rows.values()]
      .filter((r) => r.exists)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * @internal a row changed: "row" when it comes to exist, "delete" when it
   * stops.  A deleted row with nothing waiting leaves the table's rows (the
   * client keeps it only while the application does).
   */
  changed(row) {
    if (!this.#rows.has(row.key) && !row.deleted) this.#adopt(row);
    if (this.#rows.get(row.key) !== row) return;
    if (row.exists && !this.#shown.has(row.key)) {
      this.#shown.add(row.key);
      this.emit('row', row);
    } else if (!row.exists && this.#shown.delete(row.key)) this.emit('delete', row);
    this.emit('change', row);
    if (row.deleted && row.pending === 0) this.#rows.delete(row.key);
  }

  /** @internal */
  failed(e) {
    this.emit('error', e);
  }

  /** @internal another tab wrote a row of this table. */
  touched(key) {
    return this.#row(key);
  }

  leave() {
    this.#link?.leave();
  }
}

// ---- the client ----

/** A connection to laniakea-bridge. */
export class Client extends Emitter {
  #caps;
  // topic → WeakRef of its Row: one object per row, for as long as anyone
  // (the application, a table, a channel) holds it
  #rows = new Map();
  #forget = new FinalizationRegistry((t) => this.#rows.get(t)?.deref() || this.#rows.delete(t));
  #tables = new Map();
  #types = new Map();
  #live = new Set(); // tables whose columns a join told in this session
  #down = false;
  #wsWorked = false; // a WebSocket opened in this session
  #token;
  #getToken = () => undefined;
  #slots = WINDOW;
  #queued = [];
  #refused; // the token the bridge last refused

  constructor(options) {
    super();
    const { url, token, node, storage, WebSocket, caps, socket, maxMessage = 65536 } = options ?? {};
    if (typeof url !== 'string')
      throw new TypeError('connect() needs options.url, like "/socket" or "ws://host:4000/socket"');
    const transport = WebSocket ?? globalThis.WebSocket;
    if (!transport)
      throw new TypeError('no WebSocket in this runtime: pass one, e.g. connect({url, WebSocket}) with the ws package');
    if (token !== undefined) this.#getToken = tokenOf(token);
    this.#caps = caps;
    this.maxMessage = maxMessage;
    this.storage =
      storage ?? (typeof indexedDB === 'undefined' ? new MemoryStorage() : new IndexedDBStorage(storageName(url)));
    if (!storage && globalThis.localStorage && globalThis.navigator?.locks)
      this.journal = new Journal(storageName(url), this);
    this.status = 'connecting';
    this.profile = null;
    this.node = null;
    this.nodeReady = (node !== undefined ? Promise.resolve(checkNode(node)) : this.#storedNode()).then((id) => {
      this.node = id;
      for (const row of this.#each()) row.nodeKnown();
      return id;
    });
    this.socket = new Socket(url, {
      // a network that refuses WebSockets (some proxies and carriers) gets LongPoll on the same URL
      longPollFallbackMs: 2500,
      ...socket,
      transport,
      // a function: every reconnection sends the token current then
      params: () => (this.#token ? { token: this.#token } : {}),
      encode: (m, send) => {
        const text = stringify([m.join_ref, m.ref, m.topic, m.event, m.payload]);
        // the bridge would close the connection (1009), and the same message come back after every reconnect
        if (byteLength(text) <= this.maxMessage) send(text);
        else
          this.emit(
            'error',
            new RangeError(`not sent: a ${m.event} of ${m.topic} is over maxMessage (${this.maxMessage} bytes)`),
          );
      },
      decode: (raw, take) => {
        if (typeof raw !== 'string') return Serializer.decode(raw, take);
        const [join_ref, ref, topic, event, payload] = parse(raw);
        take({ join_ref, ref, topic, event, payload });
      },
    });
    this.socket.onOpen(() => {
      if (this.socket.transport === transport) this.#wsWorked = true;
      this.#setStatus('online');
    });
    // phoenix's fallback keeps LongPoll for good once a WebSocket failed, an
    // outage included: where WebSockets worked, every reconnection tries them first
    const back = () => {
      if (this.#wsWorked) this.socket.transport = transport;
    };
    this.socket.onClose((e) => {
      back();
      this.#setStatus('offline');
      // 4001: the bridge closed for an expired token; an expired one is refused
      // at the upgrade (1006).  Phoenix would reconnect with it for ever.
      if (e?.code !== 4001 && (e?.code === 1000 || !expired(this.#token))) return;
      this.#refused = this.#token;
      this.socket.disconnect();
      if (!this.#down) this.#open();
    });
    this.socket.onError(() => {
      back();
      this.#setStatus('offline');
    });
    this.storage.watch?.((key) => this.#touched(key));
    this.#open();
  }

  async #open() {
    await this.nodeReady;
    try {
      this.#token = await this.#getToken();
    } catch (e) {
      this.emit('error', e);
    }
    if (this.#down) return;
    if (this.#token !== undefined && (this.#token === this.#refused || expired(this.#token))) {
      // nothing to reconnect with: the application supplies a token (setToken); edits wait in storage
      this.emit('auth', { reason: 'token expired' });
      return;
    }
    this.socket.connect();
  }

  /** A new token (a string, or a function returning one): the connection reopens with it. */
  setToken(token) {
    this.#getToken = tokenOf(token);
    this.socket.disconnect();
    if (!this.#down) this.#open();
  }

  async #storedNode() {
    const rec = await this.storage.update('node', (old) => old ?? { id: newNodeId() });
    return rec.id;
  }

  #setStatus(s) {
    if (this.status === s) return;
    this.status = s;
    this.emit('status', s);
  }

  /** @internal a push may go (take), or has been answered (!take): at most WINDOW at once. */
  slot(take) {
    if (!take) return this.#queued.length ? this.#queued.shift()() : this.#slots++;
    if (this.#slots > 0) return this.#slots--;
    return new Promise((r) => this.#queued.push(r));
  }

  /**
   * @internal the params of a join of topic t: node, caps, and have(room),
   * where room is what the message has left for the have.
   */
  joinParams(t, have) {
    const params = { node: this.node, caps: { ...probe(), ...this.#caps } };
    return {
      ...params,
      have: have(this.maxMessage - byteLength(stringify([REF, REF, t, 'phx_join', { ...params, have: {} }]))),
    };
  }

  // Tables are known by their topic (tt), the name of their storage record.

  /** @internal the column types of a table, as the bridge last told them. */
  typesOf(tt) {
    return this.#types.get(tt) ?? {};
  }

  /** @internal whether a join told the table's columns in this session (so that no other exists). */
  live(tt) {
    return this.#live.has(tt);
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
    this.emit('profile', this.profile);
    const types = reply.columns;
    if (!types) return;
    this.#live.add(tt);
    if (stringify(types) !== stringify(this.#types.get(tt))) {
      this.#types.set(tt, types);
      this.storage.update(tt, (rec) => ({ ...rec, types })).catch((e) => this.emit('error', e));
    }
  }

  /** @internal */
  register(row) {
    if (this.rowAt(row.topic) === row) return;
    this.#rows.set(row.topic, new WeakRef(row));
    this.#forget.register(row, row.topic);
    row.on('error', (e) => this.#tables.get(row.tableTopic)?.failed(e));
  }

  /** @internal the row of a topic, if there is one. */
  rowAt(t) {
    return this.#rows.get(t)?.deref();
  }

  *#each() {
    for (const ref of this.#rows.values()) {
      const row = ref.deref();
      if (row) yield row;
    }
  }

  /** @internal the rows of a table. */
  rowsOf(tt) {
    return [...this.#each()].filter((r) => r.tableTopic === tt);
  }

  /** @internal */
  rowChanged(row) {
    this.#tables.get(row.tableTopic)?.changed(row);
  }

  #touched(key) {
    const row = this.rowAt(key);
    if (row) return row.refresh();
    for (const [tt, t] of this.#tables)
      if (key.startsWith(`${tt}:`)) return t.touched(key.slice(tt.length + 1))?.refresh();
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
    let row = this.rowAt(t);
    if (row) return row;
    row = new Row(this, table, key);
    this.register(row);
    Promise.all([this.tableTypes(tt), row.loaded]).then(() => {
      if (this.#tables.has(tt)) return; // its table was opened meanwhile and took it over
      const event = (p) => row.receive(rowOf(p));
      const link = new Link(this, t, () => this.joinParams(t, (room) => row.have(room)), false, {
        events: { delta: event, state: event, delete: (p) => row.receive({ cl: p.cl }) },
        joined: (reply) => {
          this.joinedWith(tt, reply);
          const cols = reply.state ?? reply.delta;
          row.receive({ cl: reply.cl ?? 1, cols, whole: true, x: someState(cols) });
          row.joined();
        },
      });
      row.attach(link, true);
    });
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
    this.#setStatus('offline');
  }

  connect() {
    if (!this.#down) return;
    this.#down = false;
    this.#setStatus('connecting');
    this.#open();
  }
}

/** Whether a JWT's exp has passed (false for anything unreadable). */
function expired(token) {
  try {
    return JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).exp * 1000 <= Date.now();
  } catch {
    return false;
  }
}

/** A token option as the function that gives the token. */
function tokenOf(token) {
  if (typeof token !== 'string' && typeof token !== 'function')
    throw new TypeError('token must be a string or a function returning one (or a promise of one)');
  return typeof token === 'function' ? token : () => token;
}

function checkNode(node) {
  if (typeof node !== 'string' || node === '') throw new TypeError('node must be a non-empty string');
  return core.wellFormed(node, 'node');
}

/** Connects to laniakea-bridge; see docs/client.md. */
export function connect(options) {
  return new Client(options);
}
