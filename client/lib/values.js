// CRDT values: immutable states whose every merge, delta and encoding is the
// core's (core.js).  What this file adds is the shape of the API and one
// scheduling rule: merging a state much smaller than the receiver is deferred.
import * as core from './core.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const I64_MAX = 2n ** 63n - 1n;

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `by` of increment / decrement as the core's int64: a positive integer or bigint. */
function amount(by) {
  if (typeof by === 'number') {
    if (!Number.isSafeInteger(by)) throw new TypeError(`by must be an integer, not ${by}`);
    return BigInt(by);
  }
  if (typeof by !== 'bigint') throw new TypeError('by must be a positive integer or bigint');
  if (by > I64_MAX) throw new RangeError('counter out of range: by exceeds 9223372036854775807');
  if (by < -I64_MAX - 1n) throw new RangeError('counter out of range: by is below -9223372036854775808');
  return by; // zero and negatives: the core refuses them with its own message
}

const types = new Map();

/** The core's kind of a value's type. */
const kindOf = (v) => types.get(v.constructor).kind;

function join(head, kind) {
  const states = [];
  for (let l = head; l; l = l.next) states.push(l.bytes);
  return core.mergeAll(kind, states.reverse());
}

/**
 * The common part of every type.  A value is the join of a list of states,
 * each its canonical text in UTF-8: merge() only links the other value's
 * states in front, and the first read joins the list in one core call
 * (mergeAll: each state parsed once, joined as a binary counter) and keeps
 * the result.  So a set
 * that receives n single-element deltas costs O(n log n), not n passes over
 * the whole set.  Joining is associative and commutative: the result is
 * byte-equal to merging one by one.  A join that passes a limit of the core
 * throws its RangeError at that first read.
 */
const MAX_LINKS = 4096;

function link(bytes, next) {
  return { bytes, next, count: next ? next.count + 1 : 1 };
}

export class CRDT {
  #head;
  #text;

  /** @internal */
  constructor(head) {
    if (!types.has(this.constructor)) throw new TypeError('use X.from(json) or X.empty()');
    this.#head = head.count > MAX_LINKS ? link(join(head, kindOf(this)), null) : head;
    Object.freeze(this);
  }

  /** The SQL type name (gcounter, pncounter, orset, ...). */
  static get typeName() {
    return types.get(this)?.name;
  }

  /** @internal a value of this class from its canonical text in UTF-8, as the core returns it. */
  static wrap(bytes) {
    return new this(link(bytes, null));
  }

  /** Canonical JSON text or its parsed form; a TypeError names the problem. */
  static from(json) {
    if (json instanceof this) return json;
    if (json instanceof CRDT) throw new TypeError(`expected a ${this.typeName}, not a ${json.constructor.typeName}`);
    const text = typeof json === 'string' ? json : JSON.stringify(json);
    if (text === undefined) throw new TypeError(`invalid input for type ${this.typeName}: ${String(json)}`);
    return this.wrap(core.parse(types.get(this).kind, text));
  }

  static empty() {
    const t = types.get(this);
    t.empty ??= this.wrap(core.parse(t.kind, '{}'));
    return t.empty;
  }

  /** @internal the canonical text of the state, in UTF-8. */
  get bytes() {
    if (this.#head.count > 1) this.#head = link(join(this.#head, kindOf(this)), null);
    return this.#head.bytes;
  }

  #other(w, what) {
    if (!(w instanceof CRDT)) throw new TypeError(`${what} needs a ${this.constructor.typeName}`);
    if (w.constructor !== this.constructor)
      throw new TypeError(
        `cannot combine states of different types: one is a ${this.constructor.typeName}, the other a ${w.constructor.typeName}`,
      );
    return w;
  }

  toString() {
    this.#text ??= core.json(this.bytes);
    return this.#text;
  }

  toJSON() {
    return JSON.parse(this.toString());
  }

  merge(w) {
    const other = this.#other(w, 'merge');
    let head = this.#head;
    for (let l = other.#head.count > 1 ? link(other.bytes, null) : other.#head; l; l = l.next)
      head = link(l.bytes, head);
    return new this.constructor(head);
  }

  /** The smallest d with this.merge(d) equal to this.merge(newer). */
  delta(newer) {
    return this.constructor.wrap(core.delta(kindOf(this), this.bytes, this.#other(newer, 'delta').bytes));
  }

  equals(w) {
    return w instanceof CRDT && w.constructor === this.constructor && sameBytes(this.bytes, w.bytes);
  }

  /** this ≤ w in the lattice: w already contains this. */
  leq(w) {
    return core.leq(kindOf(this), this.bytes, this.#other(w, 'leq').bytes);
  }
}

/** Registers a class for a core kind: `columns` of that SQL type get it. */
export function defineType(name, kind, cls) {
  types.set(cls, { name, kind, empty: null });
  byName.set(name, cls);
}

const byName = new Map();

/** The class of an SQL type name, or undefined. */
export function typeNamed(name) {
  return byName.get(name);
}

class Counter extends CRDT {
  #value;

  increment(node, by = 1) {
    return this.constructor.wrap(core.count(kindOf(this), this.bytes, node, amount(by), false));
  }

  /** Exact, as a bigint. */
  bigValue() {
    this.#value ??= core.value(kindOf(this), this.bytes);
    return this.#value;
  }

  /** A number; a RangeError when it is beyond ±(2^53−1) (then use bigValue()). */
  value() {
    const v = this.bigValue();
    if (v > MAX_SAFE || v < -MAX_SAFE)
      throw new RangeError(
        `${this.constructor.typeName} value out of range: ${v} is beyond ±(2^53−1), which a number holds exactly; use bigValue()`,
      );
    return Number(v);
  }
}

export class GCounter extends Counter {}

export class PNCounter extends Counter {
  decrement(node, by = 1) {
    return this.constructor.wrap(core.count(kindOf(this), this.bytes, node, amount(by), true));
  }
}

export class ORSet extends CRDT {
  #elements;

  add(element, node) {
    return this.constructor.wrap(core.add(this.bytes, element, node));
  }

  /** Observed-remove: removes what this state has seen; absent elements are a no-op. */
  remove(element) {
    return this.constructor.wrap(core.remove(this.bytes, element));
  }

  has(element) {
    return core.has(this.bytes, element);
  }

  /** Sorted as in SQL (byte order of the UTF-8); a new array every call. */
  elements() {
    this.#elements ??= core.elements(this.bytes);
    return [...this.#elements];
  }

  get size() {
    return this.#elements ? this.#elements.length : core.size(this.bytes);
  }
}

/** A clock argument as the core's int64: a non-negative integer or bigint. */
function clockArg(c) {
  if (typeof c === 'number' && Number.isSafeInteger(c)) return BigInt(c);
  if (typeof c !== 'bigint') throw new TypeError(`clock must be an integer or bigint, not ${c}`);
  if (c > I64_MAX) throw new RangeError('lwwreg clock out of range: the clock exceeds 9223372036854775807');
  return c; // negatives: the core refuses them with its own message
}

/** The wall clock in µs since 1970, the only part of a clock that JavaScript gives. */
const wallClock = () => BigInt(Date.now()) * 1000n;

// The hybrid logical clocks of the writers this module set registers for
// without a clock of their own (node → lk_hlc.last): see LWWRegister.set.
const writers = new Map();

/**
 * @internal sets reg to value as node with the hybrid logical clock `hlc`
 * ({last: bigint}, the writer's lk_hlc), which the core advances, at wall
 * clock `now` (µs; by default the time of the call).
 */
export function setWith(reg, value, node, hlc, now = wallClock()) {
  const r = core.set(reg.bytes, value, node, now, hlc.last, false);
  hlc.last = r.clock;
  return reg.constructor.wrap(r.state);
}

/** The last-writer-wins register of text. */
export class LWWRegister extends CRDT {
  #write;

  /**
   * The register with value written as node.  Without `clock`, at node's
   * next clock: max(now, node's last clock + 1, this register's clock + 1),
   * kept per node for the life of this module (a connection keeps its own
   * node's in storage).  With `clock`, at that clock (or this register's
   * clock + 1 when that is not later), refused when it is more than 5
   * minutes ahead of now: SQL's set(r, value, node, clock).
   */
  set(value, node, clock) {
    if (clock !== undefined)
      return this.constructor.wrap(core.set(this.bytes, value, node, clockArg(clock), wallClock(), true).state);
    if (typeof node === 'string' && !writers.has(node)) writers.set(node, { last: 0n });
    return setWith(this, value, node, writers.get(node) ?? { last: 0n });
  }

  #read() {
    if (this.#write === undefined) this.#write = core.register(this.bytes);
    return this.#write;
  }

  /** The value written last; null for the empty register. */
  get() {
    return this.#read()?.value ?? null;
  }

  /** The clock of the last write (µs since 1970, a bigint); null for the empty register. */
  get clock() {
    return this.#read()?.clock ?? null;
  }

  /** The node id of the last write; null for the empty register. */
  get node() {
    return this.#read()?.node ?? null;
  }
}

defineType('gcounter', core.KINDS.gcounter, GCounter);
defineType('pncounter', core.KINDS.pncounter, PNCounter);
defineType('orset', core.KINDS.orset, ORSet);
defineType('lwwreg', core.KINDS.lwwreg, LWWRegister);
