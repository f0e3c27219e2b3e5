// The same operations in PostgreSQL (the extension's SQL functions) and in the
// client (the core in WebAssembly) give byte-equal canonical text for every
// state, merge and delta.  Random sequences on three replicas, plus the edge
// cases.  Needs PGHOST/PGPORT/PGUSER and a database with the extension
// (test/run.sh vectors sets them up).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { GCounter, PNCounter, ORSet } from "../lib/laniakea.js";

let db;
before(async () => {
  db = new pg.Client({ database: process.env.LK_VECTORS_DB ?? "lk_vectors" });
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
    const q = text.startsWith("SELECT ") ? text : `SELECT ${text}`;
    return { value: (await db.query({ text: q, values: params, rowMode: "array" })).rows[0][0] };
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

const NODES = ["a", "b", "node-ü", "日本", "😀"];
const ELEMENTS = ["x", "y", "z", "", "é", "日本語", "😀 astral", "a\tb", 'q"uote', "back\\slash", "10", "9"];
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
    decrement: [`decrement($1::pncounter, $2, $3)::text`, [reps[i], node, by], () => T.from(reps[i]).decrement(node, by)],
    add: [`add($1::orset, $2, $3)::text`, [reps[i], el, node], () => T.from(reps[i]).add(el, node)],
    remove: [`remove($1::orset, $2)::text`, [reps[i], el], () => T.from(reps[i]).remove(el)],
    merge: [`($1::${type} || $2::${type})::text`, [reps[i], reps[j]], () => T.from(reps[i]).merge(T.from(reps[j]))],
  };
  const names =
    type === "orset" ? ["add", "add", "remove", "merge"] : type === "pncounter" ? ["increment", "decrement", "merge"] : ["increment", "merge"];
  const name = names[r(names.length)];
  return { name, i, j, sql: ops[name][0], params: ops[name][1], js: ops[name][2] };
}

async function compare(label, sqlText, params, jsFn) {
  const a = await sql(sqlText, params);
  const b = js(() => {
    const v = jsFn();
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v.toString() : v;
  });
  if (a.error !== undefined || b.error !== undefined) {
    const show = (x) => String(x.error ?? x.value).slice(0, 200);
    assert.ok(a.error !== undefined && b.error !== undefined, `${label.slice(0, 300)}: one side failed: sql ${show(a)} / js ${show(b)}`);
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
      const reps = ["{}", "{}", "{}"];
      for (let k = 0; k < 40; k++) {
        const s = step(type, r, reps);
        const label = `${type} seed ${seed} step ${k} ${s.name}(${JSON.stringify(s.params)})`;
        const out = await compare(label, s.sql, s.params, s.js);
        const old = reps[s.i];
        if (out === undefined) continue;
        reps[s.i] = out;
        // every delta, order and equality between the states on both sides
        await compare(`${label} delta`, `delta($1::${type}, $2::${type})::text`, [old, out], () => T.from(old).delta(T.from(out)));
        await compare(`${label} delta other`, `delta($1::${type}, $2::${type})::text`, [reps[s.j], out], () =>
          T.from(reps[s.j]).delta(T.from(out)));
        await compare(`${label} leq`, `$1::${type} <= $2::${type}`, [reps[s.j], out], () => T.from(reps[s.j]).leq(T.from(out)));
        await compare(`${label} eq`, `$1::${type} = $2::${type}`, [reps[s.j], out], () => T.from(reps[s.j]).equals(T.from(out)));
        if (type === "orset") {
          await compare(`${label} elements`, `elements($1::orset)`, [out], () => T.from(out).elements());
          await compare(`${label} cardinality`, `cardinality($1::orset)`, [out], () => T.from(out).size);
        } else await compare(`${label} value`, `value($1::${type})::text`, [out], () => String(T.from(out).bigValue()));
        steps++;
      }
      // the replicas converge once every one has merged every other, in any order
      const all = await compare(`${type} seed ${seed} merge_agg`, `SELECT merge_agg(s::${type})::text FROM unnest($1::text[]) s`, [reps], () =>
        reps.map((x) => T.from(x)).reduceRight((acc, x) => acc.merge(x)));
      assert.ok(all !== undefined);
    }
    assert.ok(steps > 300, `${steps} steps compared`);
  });
}

test("non_canonical_input_normalizes_to_the_same_text", async () => {
  const inputs = {
    gcounter: [' {"b":2 , "a" : 1}', '{"a":0,"b":3}', "{}"],
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

test("malformed_input_fails_on_both_sides", async () => {
  const bad = {
    gcounter: ['{"a":-1}', '{"a":1.5}', '{"a":"1"}', '{"":1}', "[", '{"a":9223372036854775808}', '{"\\ud800":1}'],
    pncounter: ['{"q":{}}', '{"p":[]}'],
    orset: ['{"e":{"x":{"n":[1]}}}', '{"c":{"n":[[2,1]]}}', '{"c":{"n":[[0,1]]}}', '{"c":{"n":[[1,2]]},"e":{"x":{"n":[1]},"y":{"n":[1]}}}'],
  };
  for (const [type, texts] of Object.entries(bad))
    for (const t of texts) {
      const a = await sql(`$1::${type}::text`, [t]);
      const b = js(() => TYPES[type].from(t).toString());
      assert.ok(a.error && b.error, `${type} ${t}: sql ${a.error ?? a.value}, js ${b.error ?? b.value}`);
    }
});

test("counters_near_2_53_and_2_63_agree", async () => {
  const max = 2n ** 63n - 1n;
  const cases = [
    ["gcounter", `{"a":${2 ** 53 - 1}}`, "a", 1],
    ["gcounter", `{"a":${max - 5n}}`, "a", 5],
    ["gcounter", `{"a":${max - 5n}}`, "a", 6],
    ["gcounter", `{"a":${max}}`, "b", 1],
    ["pncounter", `{"n":{"a":${max}},"p":{"a":${max}}}`, "a", 1],
  ];
  for (const [type, state, node, by] of cases) {
    const out = await compare(`${type} ${state} +${by}`, `increment($1::${type}, $2, $3)::text`, [state, node, by], () =>
      TYPES[type].from(state).increment(node, by));
    if (out === undefined) continue;
    const v = await sql(`value($1::${type})::text`, [out]);
    const big = TYPES[type].from(out).bigValue();
    if (v.error) assert.ok(big > max || big < -max - 1n, `${out}: sql refuses ${v.error}, js has ${big}`);
    else assert.equal(String(big), v.value);
  }
  // decrement past the negative range on both
  await compare("pncounter negative", `value(decrement($1::pncounter, 'a', 9223372036854775807))::text`, [`{"n":{"b":1}}`], () => {
    const v = PNCounter.from(`{"n":{"b":1}}`).decrement("a", max).bigValue();
    if (v < -max - 1n) throw new RangeError("out of range");
    return String(v);
  });
});

test("orset_edge_cases_agree", async () => {
  const s0 = ORSet.empty().add("x", "a").toString();
  const cases = [
    // concurrent add and remove: add wins
    [`(remove($1::orset, 'x') || add($1::orset, 'x', 'b'))::text`, [s0], () => ORSet.from(s0).remove("x").merge(ORSet.from(s0).add("x", "b"))],
    // re-add after remove on the same node
    [`add(remove($1::orset, 'x'), 'x', 'a')::text`, [s0], () => ORSet.from(s0).remove("x").add("x", "a")],
    // removal of an element never seen
    [`(remove('{}'::orset, 'x') || $1::orset)::text`, [s0], () => ORSet.empty().remove("x").merge(ORSet.from(s0))],
    // an element added by many nodes, removed once
    [`remove(add(add(add($1::orset,'x','b'),'x','c'),'x','😀'), 'x')::text`, [s0], () =>
      ORSet.from(s0).add("x", "b").add("x", "c").add("x", "😀").remove("x")],
  ];
  for (const [q, params, fn] of cases) await compare(q, q, params, fn);
});

test("orset_large_contexts_agree", async () => {
  // a context of many ranges (every other dot) and a long version vector
  const ranges = [];
  for (let i = 1; i < 4000; i += 2) ranges.push([i, i]);
  const e = {};
  for (let i = 1; i < 4000; i += 40) e[`el-${i}`] = { n: [i] };
  const sparse = JSON.stringify({ c: { n: ranges, m: [[1, 1_000_000_000]] }, e });
  const dense = JSON.stringify({ c: { n: [[1, 4000]] }, e: { "el-2": { n: [2] } } });
  await compare("large sparse", `$1::orset::text`, [sparse], () => ORSet.from(sparse));
  await compare("large merge", `($1::orset || $2::orset)::text`, [sparse, dense], () => ORSet.from(sparse).merge(ORSet.from(dense)));
  await compare("large delta", `delta($1::orset, $2::orset)::text`, [dense, sparse], () => ORSet.from(dense).delta(ORSet.from(sparse)));
  await compare("large add", `add($1::orset, 'new', 'n')::text`, [sparse], () => ORSet.from(sparse).add("new", "n"));
});
