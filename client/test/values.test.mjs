// The values API of DESIGN §7 on the core in WebAssembly: shapes, laws,
// limits, errors, and the wasm instance's memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GCounter, PNCounter, ORSet, LWWRegister } from '../lib/laniakea.js';
import { memory } from '../lib/core.js';

const MAX63 = 2n ** 63n - 1n;

test('gcounter_text_is_canonical_and_values_are_immutable', () => {
  const g = GCounter.from(' { "b" : 5, "a":3 } ');
  assert.equal(g.toString(), '{"a":3,"b":5}');
  assert.deepEqual(g.toJSON(), { a: 3, b: 5 });
  const h = g.increment('a', 2);
  assert.equal(g.toString(), '{"a":3,"b":5}', 'increment returns a new value');
  assert.equal(h.toString(), '{"a":5,"b":5}');
  assert.ok(Object.isFrozen(h));
  assert.equal(GCounter.empty().toString(), '{}');
  assert.equal(GCounter.from({}).equals(GCounter.empty()), true);
  assert.equal(JSON.stringify({ v: h }), '{"v":{"a":5,"b":5}}');
});

test('counter_merge_delta_leq_equals', () => {
  const a = GCounter.from({ x: 3, y: 1 });
  const b = GCounter.from({ x: 1, y: 4, z: 2 });
  const m = a.merge(b);
  assert.equal(m.toString(), '{"x":3,"y":4,"z":2}');
  assert.ok(m.equals(b.merge(a)));
  assert.ok(a.leq(m) && b.leq(m) && !m.leq(a));
  const d = a.delta(m);
  assert.equal(d.toString(), '{"y":4,"z":2}');
  assert.ok(a.merge(d).equals(m));
  assert.ok(m.merge(m).equals(m), 'idempotent');
});

test('pncounter_increment_decrement_value', () => {
  const p = PNCounter.empty().increment('a', 10).decrement('b', 3).decrement('a');
  assert.equal(p.toString(), '{"n":{"a":1,"b":3},"p":{"a":10}}');
  assert.equal(p.value(), 6);
  assert.equal(p.bigValue(), 6n);
  assert.equal(PNCounter.empty().decrement('a', 5n).value(), -5);
});

test('counters_near_2_53_value_is_exact_or_a_range_error', () => {
  const edge = GCounter.from({ a: Number.MAX_SAFE_INTEGER });
  assert.equal(edge.value(), Number.MAX_SAFE_INTEGER);
  const over = edge.increment('a');
  assert.equal(over.bigValue(), 2n ** 53n);
  assert.throws(() => over.value(), { name: 'RangeError', message: /beyond ±\(2\^53−1\).*bigValue/ });
  const neg = PNCounter.empty().decrement('a', 2n ** 53n);
  assert.throws(() => neg.value(), RangeError);
  assert.equal(neg.bigValue(), -(2n ** 53n));
  assert.equal(
    PNCounter.empty()
      .decrement('a', 2n ** 53n - 1n)
      .value(),
    -Number.MAX_SAFE_INTEGER,
  );
});

test('counters_near_2_63_refuse_overflow_with_the_core_message', () => {
  const g = GCounter.from(`{"a":${MAX63 - 1n}}`);
  assert.equal(g.increment('a').bigValue(), MAX63);
  assert.throws(() => g.increment('a', 2), {
    name: 'RangeError',
    message: /^counter out of range: The count of node "a" would exceed 9223372036854775807\.$/,
  });
  assert.throws(() => GCounter.from(`{"a":${MAX63 + 1n}}`), {
    name: 'RangeError',
    message: /exceeds 9223372036854775807/,
  });
  // sums past the bigint range are exact in bigValue (the core sums in 128 bits)
  const two = GCounter.from(`{"a":${MAX63},"b":${MAX63}}`);
  assert.equal(two.bigValue(), 2n * MAX63);
  assert.throws(() => g.increment('a', 2n ** 63n), { name: 'RangeError', message: /by exceeds/ });
});

test('bad_input_is_a_type_error_naming_the_problem', () => {
  assert.throws(() => GCounter.from('{"a":'), { name: 'TypeError', message: /^invalid input syntax.*position 5/ });
  assert.throws(() => GCounter.from('{"a":1.5}'), TypeError);
  assert.throws(() => GCounter.from('[]'), TypeError);
  assert.throws(() => ORSet.from('{"e":{"x":{"n":[1]}}}'), { name: 'TypeError', message: /context/ });
  assert.throws(() => GCounter.from(undefined), TypeError);
  assert.throws(() => GCounter.empty().increment('', 1), { name: 'TypeError', message: /node id/ });
  assert.throws(() => GCounter.empty().increment('a\u0001', 1), { name: 'TypeError', message: /control character/ });
  assert.throws(() => GCounter.empty().increment('a', 0), {
    name: 'TypeError',
    message: /^increment must be positive: The amount was 0\.$/,
  });
  assert.throws(() => GCounter.empty().increment('a', -3n), { name: 'TypeError', message: /The amount was -3\./ });
  assert.throws(() => GCounter.empty().increment('a', 1.5), TypeError);
  assert.throws(() => GCounter.empty().increment('a', '1'), TypeError);
  assert.throws(() => GCounter.empty().merge(PNCounter.empty()), { name: 'TypeError', message: /different types/ });
  assert.throws(() => GCounter.from(PNCounter.empty()), TypeError);
  assert.throws(() => ORSet.empty().add('x'.repeat(4097), 'n'), {
    name: 'RangeError',
    message: /^orset element is too long: An element has at most 4096 bytes/,
  });
});

test('lone_surrogates_are_refused_not_replaced', () => {
  for (const bad of ['\ud800', 'a\udc00b', '\udbff\u0041', 'x\ud83d']) {
    assert.throws(() => ORSet.empty().add(bad, 'n'), {
      name: 'TypeError',
      message: /element is not valid Unicode.*lone surrogate/,
    });
    assert.throws(() => GCounter.empty().increment(bad, 1), {
      name: 'TypeError',
      message: /node id is not valid Unicode/,
    });
    assert.throws(() => ORSet.empty().remove(bad), TypeError);
    assert.throws(() => ORSet.empty().has(bad), TypeError);
    assert.throws(() => GCounter.from(`{"${bad}":1}`), TypeError);
  }
  // JSON.stringify escapes a lone surrogate; the core refuses the escape
  assert.throws(() => GCounter.from({ '\ud800': 1 }), TypeError);
  // a pair is one character, accepted
  assert.deepEqual(ORSet.empty().add('\ud83d\ude00', 'n').elements(), ['😀']);
});

test('strings_reach_the_core_as_exact_utf8_short_and_long', () => {
  let seed = 7;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const ranges = [
    [0x20, 0x7e],
    [0x80, 0x7ff],
    [0x800, 0xd7ff],
    [0xe000, 0xfffd],
    [0x10000, 0x10ffff],
  ];
  for (let k = 0; k < 300; k++) {
    let s = '';
    const len = [1, 5, 40, 64, 65, 200][k % 6];
    while (s.length < len) {
      const [lo, hi] = ranges[rand(ranges.length)];
      s += String.fromCodePoint(lo + rand(hi - lo + 1));
    }
    const set = ORSet.empty().add(s, 'n');
    assert.deepEqual(set.elements(), [s]);
    assert.ok(set.has(s));
    const bytes = Buffer.from(s, 'utf8').length;
    assert.equal(JSON.parse(set.toString()).e[s] !== undefined, true, `${bytes} bytes`);
  }
  for (const bad of [`${'x'.repeat(100)}\ud800`, `\udfff${'y'.repeat(100)}`])
    assert.throws(() => ORSet.empty().add(bad, 'n'), { name: 'TypeError', message: /lone surrogate/ });
});

test('orset_add_remove_has_elements_size', () => {
  const s = ORSet.empty().add('b', 'n1').add('a', 'n1').add('c', 'n2').remove('b');
  assert.deepEqual(s.elements(), ['a', 'c']);
  assert.equal(s.size, 2);
  assert.ok(s.has('a') && !s.has('b'));
  assert.equal(s.toString(), '{"c":{"n1":[[1,2]],"n2":[[1,1]]},"e":{"a":{"n1":[2]},"c":{"n2":[1]}}}');
  const e = s.elements();
  e.push('z');
  assert.deepEqual(s.elements(), ['a', 'c'], 'elements() is a copy');
  assert.ok(s.remove('zzz').equals(s), 'removing an absent element changes nothing');
});

test('orset_concurrent_add_wins_over_remove', () => {
  const base = ORSet.empty().add('x', 'n1');
  const removed = base.remove('x');
  const readded = base.add('x', 'n2');
  const m = removed.merge(readded);
  assert.deepEqual(m.elements(), ['x']);
  assert.ok(m.equals(readded.merge(removed)));
});

test('orset_remove_of_an_unseen_element_does_not_affect_it_elsewhere', () => {
  const other = ORSet.empty().add('x', 'n2');
  const here = ORSet.empty().remove('x');
  assert.deepEqual(here.merge(other).elements(), ['x']);
});

test('orset_elements_sort_by_utf8_bytes_like_sql', () => {
  const items = ['b', 'a', 'é', 'z', '😀', '\uffff', '10', '9', 'Z', '日本'];
  let s = ORSet.empty();
  for (const x of items) s = s.add(x, 'n');
  const bytes = (x) => Buffer.from(x, 'utf8');
  assert.deepEqual(
    s.elements(),
    [...items].sort((x, y) => Buffer.compare(bytes(x), bytes(y))),
  );
  assert.deepEqual(s.elements().slice(0, 2), ['10', '9'], 'numeric-looking elements keep byte order');
});

test('deferred_merges_are_byte_equal_to_merging_one_by_one', () => {
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

test('delta_of_sets_reaches_the_same_state', () => {
  const old = ORSet.empty().add('a', 'n1').add('b', 'n1');
  const newer = old.remove('a').add('c', 'n2');
  const d = old.delta(newer);
  assert.ok(old.merge(d).equals(old.merge(newer)));
  assert.ok(d.toString().length < newer.toString().length);
});

test('wasm_memory_does_not_grow_with_the_number_of_calls', () => {
  let a = GCounter.from({ a: 1, b: 2 });
  const b = GCounter.from({ b: 3, c: 4 });
  let s = ORSet.empty().add('x', 'n1').add('y', 'n2');
  const t = ORSet.empty().add('z', 'n3');
  let r = LWWRegister.empty().set('first', 'n1');
  const later = LWWRegister.from({ c: 2 ** 52, n: 'n2', v: 'later' });
  for (let i = 0; i < 1000; i++) {
    a = GCounter.wrap(a.merge(b).bytes);
    s = ORSet.wrap(s.merge(t).bytes);
    r = r.set(`v${i}`, 'n1');
  }
  const before = memory.buffer.byteLength;
  for (let i = 0; i < 100000; i++) {
    a = GCounter.wrap(a.merge(b).bytes); // wrap(): one core merge per iteration, no deferral
    s = ORSet.wrap(s.merge(t).bytes);
    r = LWWRegister.wrap(r.merge(later).bytes);
    if (i % 10 === 0) r = LWWRegister.empty().set(`v${i}`, 'n1').merge(r);
    if (i % 1000 === 0) assert.throws(() => GCounter.from('{'), TypeError); // failures release too
  }
  assert.equal(a.toString(), '{"a":1,"b":3,"c":4}');
  assert.equal(r.get(), 'later');
  assert.equal(memory.buffer.byteLength, before, '300,000 merges, 10,000 register sets and 100 failures later');
});

test('wasm_memory_is_reused_after_a_large_call', () => {
  const big = {};
  for (let i = 0; i < 20000; i++) big[`element-${i}`] = { n: [i + 1] };
  const s = ORSet.from({ c: { n: [[1, 20000]] }, e: big });
  assert.equal(s.size, 20000);
  // the largest call is the merge (two sets parsed, joined and written): the
  // first one sets the size, and 50 more do not add to it
  const largest = () => ORSet.from({ c: { n: [[1, 20000]] }, e: big }).merge(s).bytes;
  largest();
  const after = memory.buffer.byteLength;
  for (let i = 0; i < 50; i++) largest();
  assert.equal(memory.buffer.byteLength, after, 'the largest call sets the size, repeats do not add to it');
});

// ---- lwwreg ----

test('lwwreg_set_get_clock_node_and_canonical_text', () => {
  const empty = LWWRegister.empty();
  assert.equal(empty.toString(), '{}');
  assert.equal(empty.get(), null);
  assert.equal(empty.clock, null);
  assert.equal(empty.node, null);
  const r = LWWRegister.from(' { "v" : "Buy milk", "n":"a", "c": 300 } ');
  assert.equal(r.toString(), '{"c":300,"n":"a","v":"Buy milk"}');
  assert.equal(r.get(), 'Buy milk');
  assert.equal(r.clock, 300n);
  assert.equal(r.node, 'a');
  assert.ok(Object.isFrozen(r));
  assert.equal(LWWRegister.from({ c: 1, n: '日本', v: '' }).get(), '', 'the empty string is a value');
  assert.equal(LWWRegister.from({ c: 1, n: 'a', v: '😀 é\n"q"' }).get(), '😀 é\n"q"');
  const big = `{"c":9223372036854775807,"n":"a","v":"x"}`;
  assert.equal(LWWRegister.from(big).clock, 2n ** 63n - 1n, 'clocks past 2^53 are exact');
  assert.equal(LWWRegister.from(big).toString(), big);
});

test('lwwreg_set_takes_the_wall_clock_and_beats_the_register', () => {
  const before = BigInt(Date.now()) * 1000n;
  const r = LWWRegister.empty().set('x', 'lww-a');
  assert.equal(r.get(), 'x');
  assert.equal(r.node, 'lww-a');
  assert.ok(r.clock >= before && r.clock <= BigInt(Date.now()) * 1000n + 1000n, `${r.clock} is the wall clock in µs`);
  const ahead = LWWRegister.from({ c: Number(before) + 60e6, n: 'other', v: 'future' });
  const mine = ahead.set('mine', 'lww-a');
  assert.equal(mine.clock, ahead.clock + 1n, 'a set beats the state it was applied to');
  assert.ok(ahead.leq(mine) && !mine.leq(ahead));
  assert.equal(ahead.merge(mine).get(), 'mine');
});

test('lwwreg_sets_of_one_node_never_go_back_even_when_the_wall_clock_does', (t) => {
  const now = Date.now();
  t.mock.method(Date, 'now', () => now + 3_600_000);
  const a = LWWRegister.empty().set('an hour ahead', 'lww-b');
  Date.now.mock.mockImplementation(() => now);
  const b = LWWRegister.empty().set('back to now', 'lww-b');
  const c = LWWRegister.empty().set('again', 'lww-b');
  assert.ok(b.clock > a.clock, `${b.clock} after ${a.clock}: the node's clock did not go back`);
  assert.ok(c.clock > b.clock, 'two sets of one node never tie');
  const other = LWWRegister.empty().set('other node', 'lww-c');
  assert.ok(other.clock < a.clock, "another node's clock is its own");
});

test('lwwreg_merge_keeps_the_greater_write_and_delta_is_it_or_nothing', () => {
  const x = LWWRegister.from({ c: 5, n: 'a', v: 'x' });
  const y = LWWRegister.from({ c: 5, n: 'b', v: 'y' });
  const z = LWWRegister.from({ c: 4, n: 'z', v: 'z' });
  assert.ok(x.merge(y).equals(y), 'a clock tie goes to the greater node id');
  assert.ok(y.merge(x).equals(y), 'commutative');
  assert.ok(x.merge(z).equals(x));
  assert.ok(LWWRegister.from({ c: 5, n: 'a', v: 'w' }).merge(x).equals(x), 'then to the greater value');
  assert.ok(LWWRegister.empty().merge(z).equals(z));
  assert.equal(x.delta(y).toString(), y.toString());
  assert.equal(y.delta(x).toString(), '{}');
  assert.ok(z.leq(x) && x.leq(x) && !x.leq(z) && LWWRegister.empty().leq(z));
  assert.throws(() => x.merge(GCounter.empty()), { name: 'TypeError', message: /different types/ });
});

test('lwwreg_explicit_clock_is_sql_set_with_a_clock', () => {
  const r = LWWRegister.empty().set('v', 'n', 1000);
  assert.equal(r.toString(), '{"c":1000,"n":"n","v":"v"}');
  assert.equal(r.set('w', 'n', 10n).clock, 1001n, 'not later than the register: its clock + 1');
  assert.throws(() => r.set('w', 'n', -1), {
    name: 'RangeError',
    message: /^lwwreg clock out of range: The clock was -1/,
  });
  const future = BigInt(Date.now() + 3_600_000) * 1000n;
  assert.throws(() => r.set('w', 'n', future), {
    name: 'RangeError',
    message: /^lwwreg clock is too far in the future: .*300 seconds ahead/,
  });
  const soon = BigInt(Date.now() + 60_000) * 1000n;
  assert.equal(r.set('w', 'n', soon).clock, soon, 'a minute ahead is allowed');
  assert.throws(() => r.set('w', 'n', 1.5), TypeError);
  assert.throws(() => r.set('w', 'n', 2n ** 63n), RangeError);
  assert.throws(() => LWWRegister.from('{"c":9223372036854775807,"n":"a","v":"x"}').set('y', 'a'), {
    name: 'RangeError',
    message: /9223372036854775807, the greatest/,
  });
});

test('lwwreg_bad_input_and_values_are_refused_with_the_core_message', () => {
  assert.throws(() => LWWRegister.from('{"c":1,"n":"a"}'), { name: 'TypeError', message: /"v" is missing/ });
  assert.throws(() => LWWRegister.from('{"c":-1,"n":"a","v":"x"}'), {
    name: 'RangeError',
    message: /^value out of range: The clock at position 5 is negative\.$/,
  });
  assert.throws(() => LWWRegister.from('{"c":1,"n":"","v":"x"}'), TypeError);
  assert.throws(() => LWWRegister.empty().set('a\u0000b', 'n'), {
    name: 'TypeError',
    message: /^lwwreg value contains a NUL character$/,
  });
  assert.throws(() => LWWRegister.empty().set('x'.repeat(1024 * 1024 + 1), 'n'), {
    name: 'RangeError',
    message: /^lwwreg value is too long: A value has at most 1048576 bytes/,
  });
  assert.equal(
    LWWRegister.empty()
      .set('é'.repeat(512 * 1024), 'n')
      .get().length,
    512 * 1024,
    '1 MiB of UTF-8 is allowed',
  );
  assert.throws(() => LWWRegister.empty().set(42, 'n'), { name: 'TypeError', message: /value must be a string/ });
  assert.throws(() => LWWRegister.empty().set('x', ''), { name: 'TypeError', message: /node id/ });
  for (const bad of ['\ud800', 'a\udc00b', `${'x'.repeat(100)}\udbff`]) {
    assert.throws(() => LWWRegister.empty().set(bad, 'n'), {
      name: 'TypeError',
      message: /value is not valid Unicode.*lone surrogate/,
    });
    assert.throws(() => LWWRegister.empty().set('x', bad), {
      name: 'TypeError',
      message: /node id is not valid Unicode/,
    });
  }
  assert.throws(() => LWWRegister.from({ c: 1, n: 'a', v: '\ud800' }), TypeError);
  assert.throws(() => GCounter.from('{"c":1,"n":"a","v":"x"}'), TypeError, 'a register is no counter');
});

test('input_in_any_order_parses_to_the_canonical_state_at_every_size', () => {
  // the module's own qsort (a merge sort) sorts what the core parses
  let seed = 11;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (const n of [2, 3, 7, 64, 65, 1000, 1537]) {
    const names = Array.from({ length: n }, (_, i) => `k${i}`);
    const counts = Object.fromEntries(names.map((k, i) => [k, i + 1]));
    const canonical = GCounter.from(counts).toString();
    for (const order of [
      [...names].reverse(),
      names
        .map((k) => [rand(1e9), k])
        .sort((x, y) => x[0] - y[0])
        .map(([, k]) => k),
    ]) {
      const text = `{${order.map((k) => `"${k}":${counts[k]}`).join(',')}}`;
      assert.equal(GCounter.from(text).toString(), canonical, `${n} counts`);
    }
    const elems = names.map((k, i) => `"${k}":{"n":[${i + 1}]}`);
    const set = ORSet.from(`{"c":{"n":[[1,${n}]]},"e":{${[...elems].reverse().join(',')}}}`);
    assert.deepEqual(
      set.elements(),
      [...names].sort((x, y) => (x < y ? -1 : 1)),
      `${n} elements`,
    );
    assert.equal(set.toString(), ORSet.from(`{"c":{"n":[[1,${n}]]},"e":{${elems.join(',')}}}`).toString());
  }
});
