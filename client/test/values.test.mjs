// The values API of DESIGN §7 on the core in WebAssembly: shapes, laws,
// limits, errors, and the wasm instance's memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { GCounter, PNCounter, ORSet } from "../lib/laniakea.js";
import { memory } from "../lib/core.js";

const MAX63 = 2n ** 63n - 1n;

test("gcounter_text_is_canonical_and_values_are_immutable", () => {
  const g = GCounter.from(' { "b" : 5, "a":3 } ');
  assert.equal(g.toString(), '{"a":3,"b":5}');
  assert.deepEqual(g.toJSON(), { a: 3, b: 5 });
  const h = g.increment("a", 2);
  assert.equal(g.toString(), '{"a":3,"b":5}', "increment returns a new value");
  assert.equal(h.toString(), '{"a":5,"b":5}');
  assert.ok(Object.isFrozen(h));
  assert.equal(GCounter.empty().toString(), "{}");
  assert.equal(GCounter.from({}).equals(GCounter.empty()), true);
  assert.equal(JSON.stringify({ v: h }), '{"v":{"a":5,"b":5}}');
});

test("counter_merge_delta_leq_equals", () => {
  const a = GCounter.from({ x: 3, y: 1 });
  const b = GCounter.from({ x: 1, y: 4, z: 2 });
  const m = a.merge(b);
  assert.equal(m.toString(), '{"x":3,"y":4,"z":2}');
  assert.ok(m.equals(b.merge(a)));
  assert.ok(a.leq(m) && b.leq(m) && !m.leq(a));
  const d = a.delta(m);
  assert.equal(d.toString(), '{"y":4,"z":2}');
  assert.ok(a.merge(d).equals(m));
  assert.ok(m.merge(m).equals(m), "idempotent");
});

test("pncounter_increment_decrement_value", () => {
  const p = PNCounter.empty().increment("a", 10).decrement("b", 3).decrement("a");
  assert.equal(p.toString(), '{"n":{"a":1,"b":3},"p":{"a":10}}');
  assert.equal(p.value(), 6);
  assert.equal(p.bigValue(), 6n);
  assert.equal(PNCounter.empty().decrement("a", 5n).value(), -5);
});

test("counters_near_2_53_value_is_exact_or_a_range_error", () => {
  const edge = GCounter.from({ a: Number.MAX_SAFE_INTEGER });
  assert.equal(edge.value(), Number.MAX_SAFE_INTEGER);
  const over = edge.increment("a");
  assert.equal(over.bigValue(), 2n ** 53n);
  assert.throws(() => over.value(), { name: "RangeError", message: /beyond ±\(2\^53−1\).*bigValue/ });
  const neg = PNCounter.empty().decrement("a", 2n ** 53n);
  assert.throws(() => neg.value(), RangeError);
  assert.equal(neg.bigValue(), -(2n ** 53n));
  assert.equal(PNCounter.empty().decrement("a", 2n ** 53n - 1n).value(), -Number.MAX_SAFE_INTEGER);
});

test("counters_near_2_63_refuse_overflow_with_the_core_message", () => {
  const g = GCounter.from(`{"a":${MAX63 - 1n}}`);
  assert.equal(g.increment("a").bigValue(), MAX63);
  assert.throws(() => g.increment("a", 2), { name: "RangeError", message: /^counter out of range: The count of node "a" would exceed 9223372036854775807\.$/ });
  assert.throws(() => GCounter.from(`{"a":${MAX63 + 1n}}`), { name: "RangeError", message: /exceeds 9223372036854775807/ });
  // sums past the bigint range are exact in bigValue (the core sums in 128 bits)
  const two = GCounter.from(`{"a":${MAX63},"b":${MAX63}}`);
  assert.equal(two.bigValue(), 2n * MAX63);
  assert.throws(() => g.increment("a", 2n ** 63n), { name: "RangeError", message: /by exceeds/ });
});

test("bad_input_is_a_type_error_naming_the_problem", () => {
  assert.throws(() => GCounter.from('{"a":'), { name: "TypeError", message: /^invalid input syntax.*position 5/ });
  assert.throws(() => GCounter.from('{"a":1.5}'), TypeError);
  assert.throws(() => GCounter.from("[]"), TypeError);
  assert.throws(() => ORSet.from('{"e":{"x":{"n":[1]}}}'), { name: "TypeError", message: /context/ });
  assert.throws(() => GCounter.from(undefined), TypeError);
  assert.throws(() => GCounter.empty().increment("", 1), { name: "TypeError", message: /node id/ });
  assert.throws(() => GCounter.empty().increment("a\u0001", 1), { name: "TypeError", message: /control character/ });
  assert.throws(() => GCounter.empty().increment("a", 0), { name: "TypeError", message: /^increment must be positive: The amount was 0\.$/ });
  assert.throws(() => GCounter.empty().increment("a", -3n), { name: "TypeError", message: /The amount was -3\./ });
  assert.throws(() => GCounter.empty().increment("a", 1.5), TypeError);
  assert.throws(() => GCounter.empty().increment("a", "1"), TypeError);
  assert.throws(() => GCounter.empty().merge(PNCounter.empty()), { name: "TypeError", message: /different types/ });
  assert.throws(() => GCounter.from(PNCounter.empty()), TypeError);
  assert.throws(() => ORSet.empty().add("x".repeat(4097), "n"), { name: "RangeError", message: /^orset element is too long: An element has at most 4096 bytes/ });
});

test("lone_surrogates_are_refused_not_replaced", () => {
  for (const bad of ["\ud800", "a\udc00b", "\udbff\u0041", "x\ud83d"]) {
    assert.throws(() => ORSet.empty().add(bad, "n"), { name: "TypeError", message: /element is not valid Unicode.*lone surrogate/ });
    assert.throws(() => GCounter.empty().increment(bad, 1), { name: "TypeError", message: /node id is not valid Unicode/ });
    assert.throws(() => ORSet.empty().remove(bad), TypeError);
    assert.throws(() => ORSet.empty().has(bad), TypeError);
    assert.throws(() => GCounter.from(`{"${bad}":1}`), TypeError);
  }
  // JSON.stringify escapes a lone surrogate; the core refuses the escape
  assert.throws(() => GCounter.from({ "\ud800": 1 }), TypeError);
  // a pair is one character, accepted
  assert.deepEqual(ORSet.empty().add("\ud83d\ude00", "n").elements(), ["😀"]);
});

test("strings_reach_the_core_as_exact_utf8_short_and_long", () => {
  let seed = 7;
  const rand = (n) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const ranges = [[0x20, 0x7e], [0x80, 0x7ff], [0x800, 0xd7ff], [0xe000, 0xfffd], [0x10000, 0x10ffff]];
  for (let k = 0; k < 300; k++) {
    let s = "";
    const len = [1, 5, 40, 64, 65, 200][k % 6];
    while (s.length < len) {
      const [lo, hi] = ranges[rand(ranges.length)];
      s += String.fromCodePoint(lo + rand(hi - lo + 1));
    }
    const set = ORSet.empty().add(s, "n");
    assert.deepEqual(set.elements(), [s]);
    assert.ok(set.has(s));
    const bytes = Buffer.from(s, "utf8").length;
    assert.equal(JSON.parse(set.toString()).e[s] !== undefined, true, `${bytes} bytes`);
  }
  for (const bad of ["x".repeat(100) + "\ud800", "\udfff" + "y".repeat(100)])
    assert.throws(() => ORSet.empty().add(bad, "n"), { name: "TypeError", message: /lone surrogate/ });
});

test("orset_add_remove_has_elements_size", () => {
  const s = ORSet.empty().add("b", "n1").add("a", "n1").add("c", "n2").remove("b");
  assert.deepEqual(s.elements(), ["a", "c"]);
  assert.equal(s.size, 2);
  assert.ok(s.has("a") && !s.has("b"));
  assert.equal(s.toString(), '{"c":{"n1":[[1,2]],"n2":[[1,1]]},"e":{"a":{"n1":[2]},"c":{"n2":[1]}}}');
  const e = s.elements();
  e.push("z");
  assert.deepEqual(s.elements(), ["a", "c"], "elements() is a copy");
  assert.ok(s.remove("zzz").equals(s), "removing an absent element changes nothing");
});

test("orset_concurrent_add_wins_over_remove", () => {
  const base = ORSet.empty().add("x", "n1");
  const removed = base.remove("x");
  const readded = base.add("x", "n2");
  const m = removed.merge(readded);
  assert.deepEqual(m.elements(), ["x"]);
  assert.ok(m.equals(readded.merge(removed)));
});

test("orset_remove_of_an_unseen_element_does_not_affect_it_elsewhere", () => {
  const other = ORSet.empty().add("x", "n2");
  const here = ORSet.empty().remove("x");
  assert.deepEqual(here.merge(other).elements(), ["x"]);
});

test("orset_elements_sort_by_utf8_bytes_like_sql", () => {
  const items = ["b", "a", "é", "z", "😀", "\uffff", "10", "9", "Z", "日本"];
  let s = ORSet.empty();
  for (const x of items) s = s.add(x, "n");
  const bytes = (x) => Buffer.from(x, "utf8");
  assert.deepEqual(s.elements(), [...items].sort((x, y) => Buffer.compare(bytes(x), bytes(y))));
  assert.deepEqual(s.elements().slice(0, 2), ["10", "9"], "numeric-looking elements keep byte order");
});

test("deferred_merges_are_byte_equal_to_merging_one_by_one", () => {
  let lazy = ORSet.empty();
  let eager = ORSet.empty();
  for (let i = 0; i < 300; i++) {
    const d = ORSet.from({ c: { [`n${i % 7}`]: [[i + 1, i + 1]] }, e: { [`e${i % 50}`]: { [`n${i % 7}`]: [i + 1] } } });
    lazy = lazy.merge(d);
    eager = ORSet.from(eager.merge(d).toString());
  }
  assert.equal(lazy.toString(), eager.toString());
  // and a value keeps answering the same after it is joined
  assert.equal(lazy.size, eager.size);
});

test("delta_of_sets_reaches_the_same_state", () => {
  const old = ORSet.empty().add("a", "n1").add("b", "n1");
  const newer = old.remove("a").add("c", "n2");
  const d = old.delta(newer);
  assert.ok(old.merge(d).equals(old.merge(newer)));
  assert.ok(d.toString().length < newer.toString().length);
});

test("wasm_memory_does_not_grow_with_the_number_of_calls", () => {
  let a = GCounter.from({ a: 1, b: 2 });
  const b = GCounter.from({ b: 3, c: 4 });
  let s = ORSet.empty().add("x", "n1").add("y", "n2");
  const t = ORSet.empty().add("z", "n3");
  for (let i = 0; i < 1000; i++) {
    a = GCounter.wrap(a.merge(b).bytes);
    s = ORSet.wrap(s.merge(t).bytes);
  }
  const before = memory.buffer.byteLength;
  for (let i = 0; i < 100000; i++) {
    a = GCounter.wrap(a.merge(b).bytes); // wrap(): one core merge per iteration, no deferral
    s = ORSet.wrap(s.merge(t).bytes);
    if (i % 1000 === 0) assert.throws(() => GCounter.from("{"), TypeError); // failures release too
  }
  assert.equal(a.toString(), '{"a":1,"b":3,"c":4}');
  assert.equal(memory.buffer.byteLength, before, "200,000 merges and 100 failures later");
});

test("wasm_memory_is_reused_after_a_large_call", () => {
  const big = {};
  for (let i = 0; i < 20000; i++) big[`element-${i}`] = { n: [i + 1] };
  const s = ORSet.from({ c: { n: [[1, 20000]] }, e: big });
  assert.equal(s.size, 20000);
  const after = memory.buffer.byteLength;
  for (let i = 0; i < 50; i++) ORSet.from({ c: { n: [[1, 20000]] }, e: big }).merge(s).bytes;
  assert.equal(memory.buffer.byteLength, after, "the largest call sets the size, repeats do not add to it");
});
