// The delta NOTIFY seen by a listener (LISTEN laniakea), on the node that
// writes and on a node where logical replication applies the write: the
// documented payload with the exact delta, and a reference entry for a delta
// too big for PostgreSQL's 8000-byte NOTIFY limit.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startMesh, sleep } from './lib/cluster.js';
import { insertRows } from './lib/workload.js';

let mesh;
const listeners = [];

// every node's initdb and start, and the mesh
before(
  async () => {
    mesh = await startMesh({ nnodes: 2, name: 'notify' });
  },
  { timeout: 300000 },
);

after(async () => {
  for (const l of listeners) await l.conn.end().catch(() => {});
  if (mesh) await mesh.destroy();
});

// A connection that LISTENs on channel laniakea and keeps every payload.
async function listen(node) {
  const conn = await node.connect();
  const l = { node, conn, payloads: [] };
  conn.on('notification', (m) => {
    if (m.channel === 'laniakea') l.payloads.push(m.payload);
  });
  await conn.query('LISTEN laniakea');
  listeners.push(l);
  return l;
}

// The first payload, from index `from` on, with an entry for key; returns
// { payload, entry }.
async function waitEntry(l, key, from = 0, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const payload of l.payloads.slice(from)) {
      const entry = JSON.parse(payload).rows.find((e) => e.key === key);
      if (entry) return { payload, entry };
    }
    if (Date.now() > deadline)
      throw new Error(`${l.node.name}: no notification for ${key}; got ${l.payloads.length} payloads`);
    await sleep(20);
  }
}

// The documented envelope (docs/protocol.md): {"ts": <commit time, Unix µs>,
// "rows": [...]}, under 8000 bytes.  since: a time (ms) before the write.
function checkPayload(payload, since) {
  assert.ok(Buffer.byteLength(payload) < 8000, `payload of ${Buffer.byteLength(payload)} bytes`);
  const doc = JSON.parse(payload);
  assert.deepEqual(Object.keys(doc), ['ts', 'rows'], payload);
  assert.ok(Number.isSafeInteger(doc.ts), `ts ${doc.ts}`);
  assert.ok(
    doc.ts >= (since - 1000) * 1000 && doc.ts <= (Date.now() + 1000) * 1000,
    `ts ${doc.ts} is not the commit time`,
  );
  assert.ok(Array.isArray(doc.rows) && doc.rows.length > 0);
  return doc;
}

test('a small write notifies topic, table, key and the exact delta as JSON, on the writing node and where it is applied', async (t) => {
  const [n1, n2] = mesh.nodes;
  await insertRows(n1, ['note-a', 'note-b']);
  await n1.query("UPDATE items SET hits = increment(hits, 4), tags = add(tags, 'red') WHERE id = 'note-a'");
  await mesh.waitQuiescent();
  const l1 = await listen(n1);
  const l2 = await listen(n2);

  const since = Date.now();
  const before = await n1.one("SELECT hits::text AS hits, tags::text AS tags FROM items WHERE id = 'note-a'");
  const after = await n1.one(
    "UPDATE items SET hits = increment(hits, 3), tags = add(tags, 'blue') WHERE id = 'note-a' RETURNING hits::text AS hits, tags::text AS tags",
  );
  const want = await n1.one(
    'SELECT delta($1::gcounter, $2::gcounter)::text AS hits, delta($3::orset, $4::orset)::text AS tags',
    [before.hits, after.hits, before.tags, after.tags],
  );
  t.diagnostic(`expected deltas: hits ${want.hits}, tags ${want.tags}`);
  for (const l of [l1, l2]) {
    const { payload, entry } = await waitEntry(l, 'note-a');
    t.diagnostic(`${l.node.name} payload: ${payload}`);
    checkPayload(payload, since);
    assert.deepEqual(Object.keys(entry), ['topic', 'table', 'key', 'deltas']);
    assert.equal(entry.topic, 'crdt:items:note-a');
    assert.equal(entry.table, 'items');
    assert.equal(entry.key, 'note-a');
    assert.deepEqual(Object.keys(entry.deltas).sort(), ['hits', 'tags']);
    // canonical JSON: the parsed delta prints back byte-equal to SQL's text
    assert.equal(JSON.stringify(entry.deltas.hits), want.hits, `${l.node.name}: hits delta`);
    assert.equal(JSON.stringify(entry.deltas.tags), want.tags, `${l.node.name}: tags delta`);
  }

  // one transaction, two rows: one payload carries both entries
  const from = l1.payloads.length;
  const since2 = Date.now();
  await n1.query(
    "BEGIN; UPDATE items SET stock = decrement(stock, 2) WHERE id = 'note-a'; UPDATE items SET stock = increment(stock, 9) WHERE id = 'note-b'; COMMIT",
  );
  const { payload } = await waitEntry(l1, 'note-b', from);
  const doc = checkPayload(payload, since2);
  const byKey = Object.fromEntries(doc.rows.map((e) => [e.key, e]));
  assert.deepEqual(Object.keys(byKey).sort(), ['note-a', 'note-b'], payload);
  assert.deepEqual(byKey['note-a'].deltas, { stock: { n: { n1: 2 } } });
  assert.deepEqual(byKey['note-b'].deltas, { stock: { p: { n1: 9 } } });
});

test('a delta over the 8000-byte NOTIFY limit commits and is notified as a reference entry with "ref": true', async (t) => {
  const [n1, n2] = mesh.nodes;
  await insertRows(n1, ['note-big', 'note-big3']);
  await mesh.waitQuiescent();
  const l1 = await listen(n1);
  const l2 = await listen(n2);
  const since = Date.now();
  const big = () => crypto.randomBytes(2000).toString('hex'); // 4000 bytes, an orset element may have 4096

  // one element of 4000 bytes, added twice in one transaction: the row's
  // coalesced delta is over 8000 bytes
  const e1 = big();
  const e2 = big();
  const c = await n1.connect();
  try {
    await c.query('BEGIN');
    await c.query("UPDATE items SET tags = add(tags, $1) WHERE id = 'note-big'", [e1]);
    await c.query("UPDATE items SET tags = add(tags, $1) WHERE id = 'note-big'", [e2]);
    await c.query('COMMIT');
  } finally {
    await c.end();
  }
  // three elements of 4000 bytes in one UPDATE
  const three = [big(), big(), big()];
  await n1.query(
    "UPDATE items SET tags = add(add(add(tags, $1), $2), $3), hits = increment(hits, 1) WHERE id = 'note-big3'",
    three,
  );

  for (const [key, elements] of [
    ['note-big', [e1, e2]],
    ['note-big3', three],
  ]) {
    for (const l of [l1, l2]) {
      const { payload, entry } = await waitEntry(l, key);
      checkPayload(payload, since);
      t.diagnostic(`${l.node.name}: ${JSON.stringify(entry)} (payload ${Buffer.byteLength(payload)} bytes)`);
      assert.deepEqual(entry, { topic: `crdt:items:${key}`, table: 'items', key, ref: true });
    }
    await mesh.waitQuiescent();
    for (const n of mesh.nodes) {
      const r = await n.one('SELECT elements(tags) AS e, octet_length(tags::text) AS len FROM items WHERE id = $1', [
        key,
      ]);
      assert.deepEqual(r.e, [...elements].sort(), `${n.name}: ${key} holds the elements`);
      t.diagnostic(`${n.name}: ${key} state is ${r.len} bytes of JSON`);
    }
  }
});

test('a DELETE notifies the row deleted with the causal length of its tombstone, where it is made and where the tombstone arrives', async (t) => {
  const [n1, n2] = mesh.nodes;
  await insertRows(n1, ['note-del']);
  await mesh.waitQuiescent();
  const l1 = await listen(n1);
  const l2 = await listen(n2);
  const since = Date.now();
  await n1.query("DELETE FROM items WHERE id = 'note-del'");
  for (const l of [l1, l2]) {
    const { payload, entry } = await waitEntry(l, 'note-del');
    checkPayload(payload, since);
    t.diagnostic(`${l.node.name}: ${JSON.stringify(entry)}`);
    assert.deepEqual(entry, { topic: 'crdt:items:note-del', table: 'items', key: 'note-del', cl: 2, deleted: true });
  }
  await mesh.waitQuiescent();
  // inserted again: the next incarnation, whose deltas are whole states
  const from = [l1.payloads.length, l2.payloads.length];
  await n2.query("INSERT INTO items (id, hits) VALUES ('note-del', increment('{}'::gcounter, 2))");
  for (const [i, l] of [l1, l2].entries()) {
    const { entry } = await waitEntry(l, 'note-del', from[i]);
    assert.equal(entry.cl, 3, JSON.stringify(entry));
    assert.deepEqual(entry.deltas.hits, { n2: 2 });
    assert.equal(entry.deleted, undefined);
  }
  // deleted and inserted again in one transaction: one entry, the new incarnation
  await mesh.waitQuiescent();
  const from2 = l1.payloads.length;
  await n1.query(
    "BEGIN; UPDATE items SET hits = increment(hits, 1) WHERE id = 'note-del'; DELETE FROM items WHERE id = 'note-del'; INSERT INTO items (id, hits) VALUES ('note-del', increment('{}'::gcounter, 7)); COMMIT",
  );
  const { entry } = await waitEntry(l1, 'note-del', from2);
  assert.deepEqual(entry, {
    topic: 'crdt:items:note-del',
    table: 'items',
    key: 'note-del',
    cl: 5,
    deltas: { hits: { n1: 7 }, stock: {}, tags: {} },
  });
});

test('TRUNCATE notifies the table once where it runs; elsewhere each row arrives deleted', async (t) => {
  const [n1, n2] = mesh.nodes;
  for (const n of mesh.nodes) {
    await n.query('CREATE TABLE notes (id int PRIMARY KEY, c gcounter)');
    await n.query("SELECT laniakea.track('notes')");
  }
  await n1.query(`ALTER PUBLICATION lk_pub ADD TABLE notes`);
  await n2.query(`ALTER SUBSCRIPTION lk_sub_n2_from_n1 REFRESH PUBLICATION WITH (copy_data = false)`);
  await n1.query("INSERT INTO notes VALUES (1, '{}'), (2, '{}')");
  await mesh.waitQuiescent();
  for (;;) {
    if ((await n2.one('SELECT count(*)::int AS c FROM notes')).c === 2) break;
    await sleep(50);
  }
  const l1 = await listen(n1);
  const l2 = await listen(n2);
  // rows changed before the TRUNCATE in its transaction are not reported
  await n1.query(
    "BEGIN; UPDATE notes SET c = increment(c, 5) WHERE id = 1; TRUNCATE notes; INSERT INTO notes VALUES (3, '{}'); COMMIT",
  );
  const deadline = Date.now() + 15000;
  while (l1.payloads.length === 0 && Date.now() < deadline) await sleep(20);
  const rows = l1.payloads.flatMap((p) => JSON.parse(p).rows).filter((e) => e.table === 'notes');
  t.diagnostic(JSON.stringify(rows));
  assert.deepEqual(rows, [
    { topic: 'crdt:notes', table: 'notes', truncated: true },
    { topic: 'crdt:notes:3', table: 'notes', key: '3', deltas: { c: {} } },
  ]);
  for (const key of ['1', '2']) {
    const { entry } = await waitEntry(l2, key);
    assert.deepEqual(entry, { topic: `crdt:notes:${key}`, table: 'notes', key, cl: 2, deleted: true });
  }
});

test('a row that gains CRDT columns within its transaction notifies every column (no crash)', async () => {
  const [n1] = mesh.nodes;
  await n1.query('CREATE TABLE grows (id int PRIMARY KEY, a gcounter)');
  await n1.query("SELECT laniakea.track('grows')");
  await n1.query("INSERT INTO grows VALUES (1, '{}')");
  const l1 = await listen(n1);
  const cols = Array.from({ length: 8 }, (_, i) => `c${i + 1}`);
  await n1.query(
    `BEGIN; UPDATE grows SET a = '{"n":1}';
     ALTER TABLE grows ${cols.map((c) => `ADD ${c} gcounter`).join(', ')};
     UPDATE grows SET a = '{"n":2}', ${cols.map((c) => `${c} = '{"n":1}'`).join(', ')};
     COMMIT`,
  );
  const { entry } = await waitEntry(l1, '1');
  const want = { a: { n: 2 } };
  for (const c of cols) want[c] = { n: 1 };
  assert.deepEqual(entry.deltas, want);
});

test('tables whose topics looked alike have topics of their own and are coalesced apart: a table "a:b" and a table "a"', async () => {
  const [n1] = mesh.nodes;
  await n1.query('CREATE TABLE "a:b" (id text PRIMARY KEY, x gcounter)');
  await n1.query('CREATE TABLE a (id text PRIMARY KEY, x orset)');
  await n1.query(`SELECT laniakea.track('"a:b"'), laniakea.track('a')`);
  const l1 = await listen(n1);
  // unescaped, both rows would have the topic "crdt:a:b:c"; and columns of one name and two types
  await n1.query(
    `BEGIN; INSERT INTO "a:b" VALUES ('c', '{"n":1}'); INSERT INTO a VALUES ('b:c', add('{}'::orset, 'e', 'n')); COMMIT`,
  );
  const deadline = Date.now() + 15000;
  while (l1.payloads.length === 0 && Date.now() < deadline) await sleep(20);
  const rows = l1.payloads.flatMap((p) => JSON.parse(p).rows).sort((x, y) => x.table.localeCompare(y.table));
  assert.equal(rows.length, 2, JSON.stringify(rows));
  assert.deepEqual(
    rows.map((e) => [e.topic, e.table, e.key, e.deltas]),
    [
      ['crdt:a:b:c', 'a', 'b:c', { x: { c: { n: [[1, 1]] }, e: { e: { n: [1] } } } }],
      ['crdt:a%3Ab:c', 'a%3Ab', 'c', { x: { n: 1 } }],
    ],
  );
  const topics = await n1.one(`SELECT laniakea.topic('"a:b"', 'c') AS colon, laniakea.topic('a', 'b:c') AS plain`);
  assert.deepEqual(topics, { colon: 'crdt:a%3Ab:c', plain: 'crdt:a:b:c' });
});

test('a table "a.b" of schema public and a table b of schema a notify topics of their own, and the catalog channel names them so', async () => {
  const [n1] = mesh.nodes;
  await n1.query('CREATE TABLE "a.b" (id text PRIMARY KEY, x gcounter)');
  await n1.query('CREATE SCHEMA IF NOT EXISTS a');
  await n1.query('CREATE TABLE a.b (id text PRIMARY KEY, x gcounter)');
  const catalog = await n1.connect();
  const named = [];
  catalog.on('notification', (m) => {
    if (m.channel === 'laniakea_catalog') named.push(JSON.parse(m.payload).table);
  });
  await catalog.query('LISTEN laniakea_catalog');
  listeners.push({ conn: catalog });
  await n1.query(`SELECT laniakea.track('"a.b"'), laniakea.track('a.b')`);
  const l1 = await listen(n1);
  await n1.query(`BEGIN; INSERT INTO "a.b" VALUES ('k', '{"p":1}'); INSERT INTO a.b VALUES ('k', '{"s":1}'); COMMIT`);
  const deadline = Date.now() + 15000;
  while ((l1.payloads.length === 0 || named.length < 2) && Date.now() < deadline) await sleep(20);
  const rows = l1.payloads.flatMap((p) => JSON.parse(p).rows).sort((x, y) => (x.topic < y.topic ? -1 : 1));
  assert.deepEqual(
    rows.map((e) => [e.topic, e.table, e.key, e.deltas]),
    [
      ['crdt:a%2Eb:k', 'a%2Eb', 'k', { x: { p: 1 } }],
      ['crdt:a.b:k', 'a.b', 'k', { x: { s: 1 } }],
    ],
  );
  assert.deepEqual(named.sort(), ['a%2Eb', 'a.b']);
  // a dropped table is named so too (laniakea.dropped_notify)
  await n1.query('DROP TABLE "a.b"');
  while (named.length < 3 && Date.now() < deadline + 15000) await sleep(20);
  assert.equal(named[2], 'a%2Eb');
});

test('past laniakea.notify_memory a transaction sends one resync entry per table instead of its rows', async () => {
  const [n1] = mesh.nodes;
  await n1.query("CREATE TABLE bulk (id int PRIMARY KEY, c gcounter NOT NULL DEFAULT '{}')");
  await n1.query("SELECT laniakea.track('bulk')");
  await n1.query('INSERT INTO bulk (id) SELECT generate_series(1, 5000)');
  const l1 = await listen(n1);
  await n1.query(
    "BEGIN; SET LOCAL laniakea.notify_memory = '64kB'; UPDATE bulk SET c = increment(c, 1); UPDATE items SET hits = increment(hits, 1) WHERE id = 'note-a'; COMMIT",
  );
  const deadline = Date.now() + 15000;
  while (l1.payloads.length === 0 && Date.now() < deadline) await sleep(20);
  await sleep(200);
  const rows = l1.payloads.flatMap((p) => JSON.parse(p).rows).sort((x, y) => x.table.localeCompare(y.table));
  assert.deepEqual(rows, [
    { topic: 'crdt:bulk', table: 'bulk', resync: true },
    { topic: 'crdt:items', table: 'items', resync: true },
  ]);
});
