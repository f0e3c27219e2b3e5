// The same operations in PostgreSQL (the extension's SQL functions) and in the
// client (the core in WebAssembly) give byte-equal canonical text for every
// state, merge and delta.  Random sequences on three replicas, plus the edge
// cases.  Needs PGHOST/PGPORT/PGUSER and a database with the extension
// (test/run.sh vectors sets them up).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { GCounter, PNCounter, ORSet, LWWRegister } from '../lib/laniakea.js';

let db;
before(async () => {
  db = new pg.Client({ database: process.env.LK_VECTORS_DB ?? 'lk_vectors' });
  await db.connect();
});
after(async () => db?.end());

// A seeded generator, so a failure names a sequence that can be replayed.
function rng(seed) {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

async function sql(text, params) {
  try {
    const q = text.startsWith('SELECT ') ? text : `SELECT ${text}`;
    return { value: (await db.query({ text: q, values: params, rowMode: 'array' })).rows[0][0] };
  } catch (e) {
    return { error: e.message };
  }
}

function js(fn) {
  try {
    return { value: fn() };
  } catch (e) {
    if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
    return { error: e.message };
  }
}

const NODES = ['a', 'b', 'node-ü', '日本', '😀'];
const ELEMENTS = ['x', 'y', 'z', '', 'é', '日本語', '😀 astral', 'a\tb', 'q"uote', 'back\\slash', '10', '9'];
const TYPES = { gcounter: GCounter, pncounter: PNCounter, orset: ORSet };

/** One step of a sequence, as SQL and as JS, on replica states (canonical text). */
function step(type, r, reps) {
  const i = r(reps.length);
  const j = r(reps.length);
  const node = NODES[r(NODES.length)];
  const el = ELEMENTS[r(ELEMENTS.length)];
  const by = [1, 2, 7, 1000, 2 ** 31][r(5)];
  const T = TYPES[type];
  const ops = {
    increment: [`increment($1::${type}, $2, $3)::text`, [reps[i], node, by], () => T.from(reps[i]).increment(node, by)],
    decrement: [
      `decrement($1::pncounter, $2, $3)::text`,
      [reps[i], node, by],
      () => T.from(reps[i]).decrement(node, by),
    ],
    add: [`add($1::orset, $2, $3)::text`, [reps[i], el, node], () => T.from(reps[i]).add(el, node)],
    remove: [`remove($1::orset, $2)::text`, [reps[i], el], () => T.from(reps[i]).remove(el)],
    merge: [`($1::${type} || $2::${type})::text`, [reps[i], reps[j]], () => T.from(reps[i]).merge(T.from(reps[j]))],
  };
  const names =
    type === 'orset'
      ? ['add', 'add', 'remove', 'merge']
      : type === 'pncounter'
        ? ['increment', 'decrement', 'merge']
        : ['increment', 'merge'];
  const name = names[r(names.length)];
  return { name, i, j, sql: ops[name][0], params: ops[name][1], js: ops[name][2] };
}

async function compare(label, sqlText, params, jsFn, sameMessage = false) {
  const a = await sql(sqlText, params);
  const b = js(() => {
    const v = jsFn();
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v.toString() : v;
  });
  if (a.error !== undefined || b.error !== undefined) {
    const show = (x) => String(x.error ?? x.value).slice(0, 200);
    assert.ok(
      a.error !== undefined && b.error !== undefined,
      `${label.slice(0, 300)}: one side failed: sql ${show(a)} / js ${show(b)}`,
    );
    // the core's message, and in JavaScript its detail after it
    if (sameMessage)
      assert.ok(b.error.startsWith(a.error), `${label.slice(0, 300)}: sql "${a.error}", js "${b.error}"`);
    return undefined;
  }
  assert.deepEqual(b.value, a.value, label.slice(0, 300));
  return a.value;
}

for (const type of Object.keys(TYPES)) {
  test(`${type}_random_sequences_are_byte_equal_in_postgresql_and_wasm`, async () => {
    const T = TYPES[type];
    let steps = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const r = rng(seed * 7919 + type.length);
      const reps = ['{}', '{}', '{}'];
      for (let k = 0; k < 40; k++) {
        const s = step(type, r, reps);
        const label = `${type} seed ${seed} step ${k} ${s.name}(${JSON.stringify(s.params)})`;
        const out = await compare(label, s.sql, s.params, s.js);
        const old = reps[s.i];
        if (out === undefined) continue;
        reps[s.i] = out;
        // every delta, order and equality between the states on both sides
        await compare(`${label} delta`, `delta($1::${type}, $2::${type})::text`, [old, out], () =>
          T.from(old).delta(T.from(out)),
        );
        await compare(`${label} delta other`, `delta($1::${type}, $2::${type})::text`, [reps[s.j], out], () =>
          T.from(reps[s.j]).delta(T.from(out)),
        );
        await compare(`${label} leq`, `$1::${type} <= $2::${type}`, [reps[s.j], out], () =>
          T.from(reps[s.j]).leq(T.from(out)),
        );
        await compare(`${label} eq`, `$1::${type} = $2::${type}`, [reps[s.j], out], () =>
          T.from(reps[s.j]).equals(T.from(out)),
        );
        if (type === 'orset') {
          await compare(`${label} elements`, `elements($1::orset)`, [out], () => T.from(out).elements());
          await compare(`${label} cardinality`, `cardinality($1::orset)`, [out], () => T.from(out).size);
        } else await compare(`${label} value`, `value($1::${type})::text`, [out], () => String(T.from(out).bigValue()));
        steps++;
      }
      // the replicas converge once every one has merged every other, in any order
      const all = await compare(
        `${type} seed ${seed} merge_agg`,
        `SELECT merge_agg(s::${type})::text FROM unnest($1::text[]) s`,
        [reps],
        () => reps.map((x) => T.from(x)).reduceRight((acc, x) => acc.merge(x)),
      );
      assert.ok(all !== undefined);
    }
    assert.ok(steps > 300, `${steps} steps compared`);
  });
}

test('non_canonical_input_normalizes_to_the_same_text', async () => {
  const inputs = {
    gcounter: [' {"b":2 , "a" : 1}', '{"a":0,"b":3}', '{}'],
    pncounter: ['{"p":{"b":1,"a":2},"n":{}}', '{ "n" : {"x":5} }'],
    orset: [
      '{"e":{"y":{"n":[3,1]},"x":{"m":[2]}},"c":{"n":[[2,3],[1,1],[5,9],[4,4]],"m":[[1,2]]}}',
      '{"c":{"n":[[1,1],[1,1]]},"e":{}}',
      '{"c":{"日本":[[1,3]],"😀":[[1,1]]},"e":{"😀":{"😀":[1]},"\\u00e9":{"日本":[2]}}}',
    ],
  };
  for (const [type, texts] of Object.entries(inputs))
    for (const t of texts) await compare(`${type} ${t}`, `$1::${type}::text`, [t], () => TYPES[type].from(t));
});

test('malformed_input_fails_on_both_sides', async () => {
  const bad = {
    gcounter: ['{"a":-1}', '{"a":1.5}', '{"a":"1"}', '{"":1}', '[', '{"a":9223372036854775808}', '{"\\ud800":1}'],
    pncounter: ['{"q":{}}', '{"p":[]}'],
    orset: [
      '{"e":{"x":{"n":[1]}}}',
      '{"c":{"n":[[2,1]]}}',
      '{"c":{"n":[[0,1]]}}',
      '{"c":{"n":[[1,2]]},"e":{"x":{"n":[1]},"y":{"n":[1]}}}',
    ],
  };
  for (const [type, texts] of Object.entries(bad))
    for (const t of texts) {
      const a = await sql(`$1::${type}::text`, [t]);
      const b = js(() => TYPES[type].from(t).toString());
      assert.ok(a.error && b.error, `${type} ${t}: sql ${a.error ?? a.value}, js ${b.error ?? b.value}`);
    }
});

test('counters_near_2_53_and_2_63_agree', async () => {
  const max = 2n ** 63n - 1n;
  const cases = [
    ['gcounter', `{"a":${2 ** 53 - 1}}`, 'a', 1],
    ['gcounter', `{"a":${max - 5n}}`, 'a', 5],
    ['gcounter', `{"a":${max - 5n}}`, 'a', 6],
    ['gcounter', `{"a":${max}}`, 'b', 1],
    ['pncounter', `{"n":{"a":${max}},"p":{"a":${max}}}`, 'a', 1],
  ];
  for (const [type, state, node, by] of cases) {
    const out = await compare(
      `${type} ${state} +${by}`,
      `increment($1::${type}, $2, $3)::text`,
      [state, node, by],
      () => TYPES[type].from(state).increment(node, by),
    );
    if (out === undefined) continue;
    const v = await sql(`value($1::${type})::text`, [out]);
    const big = TYPES[type].from(out).bigValue();
    if (v.error) assert.ok(big > max || big < -max - 1n, `${out}: sql refuses ${v.error}, js has ${big}`);
    else assert.equal(String(big), v.value);
  }
  // decrement past the negative range on both
  await compare(
    'pncounter negative',
    `value(decrement($1::pncounter, 'a', 9223372036854775807))::text`,
    [`{"n":{"b":1}}`],
    () => {
      const v = PNCounter.from(`{"n":{"b":1}}`).decrement('a', max).bigValue();
      if (v < -max - 1n) throw new RangeError('out of range');
      return String(v);
    },
  );
});

test('orset_edge_cases_agree', async () => {
  const s0 = ORSet.empty().add('x', 'a').toString();
  const cases = [
    // concurrent add and remove: add wins
    [
      `(remove($1::orset, 'x') || add($1::orset, 'x', 'b'))::text`,
      [s0],
      () => ORSet.from(s0).remove('x').merge(ORSet.from(s0).add('x', 'b')),
    ],
    // re-add after remove on the same node
    [`add(remove($1::orset, 'x'), 'x', 'a')::text`, [s0], () => ORSet.from(s0).remove('x').add('x', 'a')],
    // removal of an element never seen
    [`(remove('{}'::orset, 'x') || $1::orset)::text`, [s0], () => ORSet.empty().remove('x').merge(ORSet.from(s0))],
    // an element added by many nodes, removed once
    [
      `remove(add(add(add($1::orset,'x','b'),'x','c'),'x','😀'), 'x')::text`,
      [s0],
      () => ORSet.from(s0).add('x', 'b').add('x', 'c').add('x', '😀').remove('x'),
    ],
  ];
  for (const [q, params, fn] of cases) await compare(q, q, params, fn);
});

test('orset_large_contexts_agree', async () => {
  // a context of many ranges (every other dot) and a long version vector
  const ranges = [];
  for (let i = 1; i < 4000; i += 2) ranges.push([i, i]);
  const e = {};
  for (let i = 1; i < 4000; i += 40) e[`el-${i}`] = { n: [i] };
  const sparse = JSON.stringify({ c: { n: ranges, m: [[1, 1_000_000_000]] }, e });
  const dense = JSON.stringify({ c: { n: [[1, 4000]] }, e: { 'el-2': { n: [2] } } });
  await compare('large sparse', `$1::orset::text`, [sparse], () => ORSet.from(sparse));
  await compare('large merge', `($1::orset || $2::orset)::text`, [sparse, dense], () =>
    ORSet.from(sparse).merge(ORSet.from(dense)),
  );
  await compare('large delta', `delta($1::orset, $2::orset)::text`, [dense, sparse], () =>
    ORSet.from(dense).delta(ORSet.from(sparse)),
  );
  await compare('large add', `add($1::orset, 'new', 'n')::text`, [sparse], () => ORSet.from(sparse).add('new', 'n'));
});

// ---- lwwreg: sets at explicit clocks (a set at the wall clock differs by
// its clock, which each side reads for itself) ----

const VALUES = ['', 'x', 'Buy milk', 'é', '日本語', '😀 astral', 'q"uote', 'back\\slash', 'a\tb', 'z'.repeat(300)];
const CLOCKS = [0, 1, 2, 5, 1000, 2 ** 31, 2 ** 53 - 1, 2n ** 53n + 1n, 1_700_000_000_000_000];
const FAR = ['{"c":4611686018427387904,"n":"a","v":"far"}', '{"c":9223372036854775807,"n":"b","v":"last"}', '{}'];

test('lwwreg_random_sequences_are_byte_equal_in_postgresql_and_wasm', async () => {
  let steps = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const r = rng(seed * 104729);
    const reps = ['{}', '{}', '{}'];
    for (let k = 0; k < 40; k++) {
      const i = r(reps.length);
      const j = r(reps.length);
      const node = NODES[r(NODES.length)];
      const v = VALUES[r(VALUES.length)];
      const c = CLOCKS[r(CLOCKS.length)];
      const far = FAR[r(FAR.length)];
      const op = ['set', 'set', 'set', 'merge', 'far'][r(5)];
      const label = `lwwreg seed ${seed} step ${k} ${op} ${JSON.stringify([reps[i], reps[j], node, v, String(c)]).slice(0, 200)}`;
      const out =
        op === 'set'
          ? await compare(
              label,
              `set($1::lwwreg, $2, $3, $4)::text`,
              [reps[i], v, node, String(c)],
              () => LWWRegister.from(reps[i]).set(v, node, c),
              true,
            )
          : op === 'merge'
            ? await compare(label, `($1::lwwreg || $2::lwwreg)::text`, [reps[i], reps[j]], () =>
                LWWRegister.from(reps[i]).merge(LWWRegister.from(reps[j])),
              )
            : await compare(label, `$1::lwwreg::text`, [far], () => LWWRegister.from(far));
      if (out === undefined) continue;
      const old = reps[i];
      reps[i] = out;
      await compare(`${label} delta`, `delta($1::lwwreg, $2::lwwreg)::text`, [old, out], () =>
        LWWRegister.from(old).delta(LWWRegister.from(out)),
      );
      await compare(`${label} delta back`, `delta($1::lwwreg, $2::lwwreg)::text`, [out, reps[j]], () =>
        LWWRegister.from(out).delta(LWWRegister.from(reps[j])),
      );
      await compare(`${label} leq`, `$1::lwwreg <= $2::lwwreg`, [reps[j], out], () =>
        LWWRegister.from(reps[j]).leq(LWWRegister.from(out)),
      );
      await compare(`${label} eq`, `$1::lwwreg = $2::lwwreg`, [reps[j], out], () =>
        LWWRegister.from(reps[j]).equals(LWWRegister.from(out)),
      );
      await compare(`${label} get`, `get($1::lwwreg)`, [out], () => LWWRegister.from(out).get());
      await compare(
        `${label} clock`,
        `clock($1::lwwreg)::text`,
        [out],
        () => LWWRegister.from(out).clock?.toString() ?? null,
      );
      await compare(`${label} node`, `node($1::lwwreg)`, [out], () => LWWRegister.from(out).node);
      steps++;
    }
    await compare(
      `lwwreg seed ${seed} merge_agg`,
      `SELECT merge_agg(s::lwwreg)::text FROM unnest($1::text[]) s`,
      [reps],
      () => reps.map((x) => LWWRegister.from(x)).reduceRight((acc, x) => acc.merge(x)),
    );
  }
  assert.ok(steps > 500, `${steps} steps compared`);
});

test('lwwreg_clock_edges_agree', async () => {
  const now = BigInt(Date.now()) * 1000n;
  const cases = [
    // the register's clock is not below the one given: its clock + 1, unchecked
    ['{"c":4611686018427387904,"n":"a","v":"far"}', 'mine', 'b', 5n],
    // at the greatest clock nothing can be later
    ['{"c":9223372036854775807,"n":"a","v":"x"}', 'y', 'b', 1n],
    ['{}', 'y', 'b', 9223372036854775807n],
    ['{}', 'y', 'b', -1n],
    // the far-future bound (5 minutes), well inside and well past it
    ['{}', 'soon', 'b', now + 60_000_000n],
    ['{}', 'late', 'b', now + 3_600_000_000n],
    // ties of the clock: the node id, then the value, by bytes
    ['{"c":7,"n":"b","v":"x"}', 'y', 'a', 7n],
    ['{"c":7,"n":"日本","v":"x"}', 'y', '😀', 6n],
  ];
  for (const [state, v, node, c] of cases) {
    const out = await compare(
      `set(${state}, ${v}, ${node}, ${c})`,
      `set($1::lwwreg, $2, $3, $4)::text`,
      [state, v, node, String(c)],
      () => LWWRegister.from(state).set(v, node, c),
      true,
    );
    if (state === '{}' && c === now + 60_000_000n) assert.ok(out, 'a minute ahead is accepted on both sides');
  }
  for (const [a, b] of [
    ['{"c":7,"n":"b","v":"x"}', '{"c":7,"n":"a","v":"z"}'],
    ['{"c":7,"n":"a","v":"ab"}', '{"c":7,"n":"a","v":"a"}'],
    ['{"c":7,"n":"a","v":"é"}', '{"c":7,"n":"a","v":"z"}'],
    ['{"c":7,"n":"a","v":"😀"}', '{"c":7,"n":"a","v":"\uffff"}'],
  ]) {
    await compare(`${a} || ${b}`, `($1::lwwreg || $2::lwwreg)::text`, [a, b], () =>
      LWWRegister.from(a).merge(LWWRegister.from(b)),
    );
    await compare(`delta ${a} ${b}`, `delta($1::lwwreg, $2::lwwreg)::text`, [a, b], () =>
      LWWRegister.from(a).delta(LWWRegister.from(b)),
    );
  }
});

test('lwwreg_text_normalizes_and_malformed_text_fails_on_both_sides', async () => {
  for (const t of [
    ' { "v" : "x" , "n":"a" ,"c" :1 } ',
    '{"c":0,"n":"\\u65e5","v":"\\u00e9\\/\\ud83d\\ude00"}',
    ' {} ',
    '{"n":"a","c":12,"v":""}',
  ])
    await compare(`lwwreg ${t}`, `$1::lwwreg::text`, [t], () => LWWRegister.from(t));
  for (const t of [
    '{"c":1,"n":"a"}',
    '{"c":1,"v":"x"}',
    '{"c":-1,"n":"a","v":"x"}',
    '{"c":"1","n":"a","v":"x"}',
    '{"c":1.5,"n":"a","v":"x"}',
    '{"c":9223372036854775808,"n":"a","v":"x"}',
    '{"c":1,"n":"","v":"x"}',
    '{"c":1,"n":"a\u0001","v":"x"}',
    '{"c":1,"n":"a","v":"\\u0000"}',
    '{"c":1,"n":"a","v":"\\ud800"}',
    '{"c":1,"n":"a","v":"x","x":1}',
    '{"c":1,"n":"a","v":"x","c":2}',
    '[]',
  ]) {
    const a = await sql(`$1::lwwreg::text`, [t]);
    const b = js(() => LWWRegister.from(t).toString());
    assert.ok(a.error && b.error, `${t}: sql ${a.error ?? a.value}, js ${b.error ?? b.value}`);
  }
  // the same refusals of values and node ids in set
  for (const [v, node] of [
    ['a\u0000b', 'n'],
    ['x', ''],
    ['x', 'n\u0007'],
    ['x'.repeat(1024 * 1024 + 1), 'n'],
  ])
    await compare(
      `set refuses ${JSON.stringify(v).slice(0, 20)} ${JSON.stringify(node)}`,
      `set('{}'::lwwreg, $1, $2, 5)::text`,
      [v, node],
      () => LWWRegister.empty().set(v, node, 5),
      !v.includes('\u0000'),
    ); // PostgreSQL's text holds no NUL: refused before set()
});
