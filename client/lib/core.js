// The JavaScript side of the one boundary with the CRDT core (client/wasm/lk_wasm.c
// is the other): loads laniakea.wasm, moves bytes in and out of its memory, and
// turns the core's errors into TypeError / RangeError.  States cross as their
// canonical JSON text in UTF-8 (a Uint8Array), each call told the state's kind.

/** The core's kinds (lk_kind), by SQL type name: each call names its states' kind. */
export const KINDS = Object.freeze({ gcounter: 1, pncounter: 2, orset: 3, lwwreg: 4 });

// The core's lk_code values; syntax, binary and bad arguments are TypeErrors.
const CODES = [null, 'syntax', 'binary', 'range', 'limit', 'value'];

async function instantiate() {
  const url = new URL('./laniakea.wasm', import.meta.url);
  const imports = {}; // the module imports nothing: no I/O, memory from memory.grow
  if (url.protocol === 'file:') {
    const { readFile } = await import(/* webpackIgnore: true */ 'node:fs/promises');
    return WebAssembly.instantiate(await readFile(url), imports);
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`laniakea: cannot load ${url}: HTTP ${response.status}`);
  if (WebAssembly.instantiateStreaming && response.headers.get('content-type') === 'application/wasm')
    return WebAssembly.instantiateStreaming(response, imports);
  return WebAssembly.instantiate(await response.arrayBuffer(), imports);
}

const { instance } = await instantiate();
const x = instance.exports;
x._initialize();
const RESULT = x.result();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
let bytes = new Uint8Array(x.memory.buffer);
let view = new DataView(x.memory.buffer);

/** The instance's memory, for tests that check it does not grow. */
export const memory = x.memory;

function views() {
  if (bytes.buffer !== x.memory.buffer) {
    bytes = new Uint8Array(x.memory.buffer);
    view = new DataView(x.memory.buffer);
  }
}

function cstring(at, max) {
  const end = bytes.indexOf(0, at);
  return decoder.decode(bytes.subarray(at, end < 0 || end > at + max ? at + max : end));
}

/** Calls into the core, for tests that count the work an operation costs. */
export const calls = { n: 0 };

function check(code) {
  calls.n++;
  if (code === 0) return;
  views();
  const msg = cstring(RESULT + 32, 160);
  const detail = cstring(RESULT + 192, 256);
  const name = CODES[code];
  const e = new (name === 'range' || name === 'limit' ? RangeError : TypeError)(detail ? `${msg}: ${detail}` : msg);
  e.code = name;
  e.detail = detail;
  throw e;
}

const LONE = 'it contains a lone surrogate (UTF-16 half of a pair)';

/** s itself when it is a string of well-formed UTF-16; a TypeError naming what otherwise. */
export function wellFormed(s, what) {
  if (typeof s !== 'string') throw new TypeError(`${what} must be a string`);
  if (!s.isWellFormed()) throw new TypeError(`${what} is not valid Unicode: ${LONE}`);
  return s;
}

/*
 * Writes the UTF-8 of s at `at` and returns its length, refusing a lone
 * surrogate: TextEncoder would replace it with U+FFFD, and the element or node
 * id stored would not be the one given.  Short ASCII strings, most node ids,
 * keys and elements, are copied here, which is several times faster than a
 * call into TextEncoder; the rest go through it.
 */
function put(s, at, what) {
  if (s.length <= 64) {
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128) break;
      bytes[at + i] = c;
    }
    if (i === s.length) return i;
  }
  wellFormed(s, what);
  return encoder.encodeInto(s, bytes.subarray(at, at + 3 * s.length)).written;
}

/*
 * Starts a call: writes its arguments (states, and strings as UTF-8, each a
 * [string, what] pair) into the arena and returns their addresses and lengths.
 */
function args(...parts) {
  let room = 0;
  for (const p of parts) {
    if (Array.isArray(p) && typeof p[0] !== 'string') throw new TypeError(`${p[1]} must be a string`);
    room += Array.isArray(p) ? 3 * p[0].length : p.length;
  }
  let at = x.input(room);
  views();
  const out = [];
  for (const p of parts) {
    let n;
    if (Array.isArray(p)) n = put(p[0], at, p[1]);
    else {
      bytes.set(p, at);
      n = p.length;
    }
    out.push(at, n);
    at += n;
  }
  return out;
}

// Element counts of the large orsets the core returned, so that their size
// needs no call (which would parse the whole set); a small one is counted by
// the core when asked, which costs less than a WeakMap entry for each of the
// many small deltas a connection receives.
const sizes = new WeakMap();

function resultRaw() {
  views();
  const at = view.getUint32(RESULT, true);
  return bytes.subarray(at, at + view.getUint32(RESULT + 4, true));
}

/** The state a call returned, a state of kind. */
function resultState(kind) {
  views();
  const at = view.getUint32(RESULT, true);
  const out = bytes.slice(at, at + view.getUint32(RESULT + 4, true));
  if (kind === KINDS.orset && out.length > 1024) sizes.set(out, view.getUint32(RESULT + 16, true));
  return out;
}

function resultText() {
  return decoder.decode(resultRaw());
}

function resultNumber() {
  views();
  return view.getBigInt64(RESULT + 24, true) * 2n ** 64n + view.getBigUint64(RESULT + 16, true);
}

/** The state of kind (its canonical text, UTF-8) from any JSON text of one. */
export function parse(kind, text) {
  check(x.parse(kind, ...args([text, 'the JSON text'])));
  return resultState(kind);
}

/** The canonical JSON text of a state, as a string. */
export function json(state) {
  return decoder.decode(state);
}

/** The join of states of kind (at least one), each parsed once, in one call. */
export function mergeAll(kind, states) {
  let total = 0;
  for (const s of states) total += 4 + s.length;
  let at = x.input(total);
  const start = at;
  views();
  for (const s of states) {
    view.setUint32(at, s.length, true);
    bytes.set(s, at + 4);
    at += 4 + s.length;
  }
  check(x.merge_all(kind, start, total, states.length));
  return resultState(kind);
}

/** The smallest d with merge(old, d) = merge(old, newer), both of kind. */
export function delta(kind, old, newer) {
  check(x.delta(kind, ...args(old, newer)));
  return resultState(kind);
}

export function leq(kind, a, b) {
  check(x.leq(kind, ...args(a, b)));
  return resultNumber() === 1n;
}

/** A counter of kind raised by `by` (a bigint) for node; a pncounter's decrement when down. */
export function count(kind, state, node, by, down) {
  const [p, n, q, m] = args(state, [node, 'node id']);
  check(x.count(kind, p, n, q, m, by, down ? 1 : 0));
  return resultState(kind);
}

/** The value of a counter of kind, exact (a bigint). */
export function value(kind, state) {
  check(x.value(kind, ...args(state)));
  return resultNumber();
}

export function add(state, element, node) {
  check(x.add(...args(state, [element, 'element'], [node, 'node id'])));
  return resultState(KINDS.orset);
}

export function remove(state, element) {
  check(x.remove(...args(state, [element, 'element'])));
  return resultState(KINDS.orset);
}

export function has(state, element) {
  check(x.has(...args(state, [element, 'element'])));
  return resultNumber() === 1n;
}

/** How many elements an orset has. */
export function size(state) {
  if (sizes.has(state)) return sizes.get(state);
  check(x.elements(...args(state)));
  return Number(resultNumber());
}

/** The elements of an orset in SQL's order (byte order of their UTF-8). */
export function elements(state) {
  check(x.elements(...args(state)));
  return JSON.parse(resultText());
}

/**
 * An lwwreg with value written as node: {state, clock}.  With `explicit`,
 * a is the write's clock and b the wall clock (µs, bigints); otherwise a is
 * the wall clock and b the writer's hybrid logical clock, and `clock` is
 * that writer's clock afterwards (lk_hlc_next decides it).
 */
export function set(state, value, node, a, b, explicit) {
  const [p, n, v, vn, q, m] = args(state, [value, 'value'], [node, 'node id']);
  check(x.set(p, n, v, vn, q, m, a, b, explicit ? 1 : 0));
  const out = resultState(KINDS.lwwreg);
  return { state: out, clock: view.getBigInt64(RESULT + 16, true) };
}

/** An lwwreg's write, {value, node, clock}, or null for the empty register. */
export function register(state) {
  check(x.register(...args(state)));
  views();
  if (view.getUint32(RESULT + 24, true) === 0) return null;
  const split = view.getUint32(RESULT + 12, true);
  const text = resultRaw();
  return {
    node: decoder.decode(text.subarray(0, split)),
    value: decoder.decode(text.subarray(split)),
    clock: view.getBigInt64(RESULT + 16, true),
  };
}

/** crdt:<table>[:<key>] as the core writes it (lk_topic_put). */
export function topic(schema, table, key) {
  const has = key !== undefined;
  check(x.topic(...args([schema, 'schema'], [table, 'table'], [has ? key : '', 'key']), has ? 1 : 0));
  return resultText();
}
