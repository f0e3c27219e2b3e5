'use strict';
// Replication settings and repair: subscriptions in binary mode, and
// anti-entropy with laniakea.reconcile where replication cannot help.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { meshPerFile, PUBLICATION, quoteLiteral } = require('./lib/cluster');
const {
  Model,
  params,
  seedFromEnv,
  keysFor,
  insertRows,
  runWorkload,
  contest,
  settleAndCheck,
  background,
  join,
} = require('./lib/workload');

const P = params();
const seed = seedFromEnv();
let mesh;
meshPerFile({ nnodes: P.nodes, name: 'replication' }, (m) => {
  mesh = m;
});

test('subscriptions with binary = true carry the CRDT columns in binary form and converge exactly', async (t) => {
  t.diagnostic(`seed ${seed}`);
  // nothing is being written: dropping and recreating the mesh loses nothing
  await mesh.unsubscribe();
  await mesh.subscribe({ binary: true });
  for (const n of mesh.nodes) {
    const r = await n.query("SELECT subname, subbinary FROM pg_subscription WHERE subname LIKE 'lk\\_sub\\_%'");
    assert.equal(r.rowCount, mesh.nodes.length - 1);
    assert.ok(
      r.rows.every((x) => x.subbinary),
      `${n.name}: ${JSON.stringify(r.rows)}`,
    );
  }
  const keys = keysFor('bin', P.keys);
  await insertRows(mesh.nodes[0], keys);
  await mesh.waitQuiescent();
  const model = new Model(keys);
  const control = { stopped: false };
  const [stats] = await join(
    background(
      runWorkload(model, {
        nodes: mesh.nodes,
        clientsPerNode: P.clients,
        opsLimit: Math.ceil(P.ops / 3),
        seed,
        control,
      }),
      control,
    ),
    background(
      contest(model, { nodes: mesh.nodes, seed, rounds: Math.ceil(P.rounds / 2), prefix: 'bin', control }),
      control,
    ),
  );
  await settleAndCheck(t, mesh, model, 'binary', stats);
  const errors = await mesh.applyErrors();
  assert.ok(
    Object.values(errors).every((c) => c === 0),
    `apply errors: ${JSON.stringify(errors)}`,
  );
});

test('anti-entropy: laniakea.reconcile over postgres_fdw repairs a row that replication never delivered', async (t) => {
  const [n1, ...lagging] = mesh.nodes;
  const keys = keysFor('ae', 3);
  await insertRows(n1, keys);
  await mesh.waitQuiescent();

  // n1 writes a row while items is out of its publication: never sent
  await n1.query(`ALTER PUBLICATION ${PUBLICATION} DROP TABLE items`);
  await n1.query(
    "INSERT INTO items (id, hits, stock, tags) VALUES ('ae-orphan', increment('{}'::gcounter, 5), decrement('{}'::pncounter, 2), add('{}'::orset, 'hidden'))",
  );
  await n1.query(`ALTER PUBLICATION ${PUBLICATION} ADD TABLE items`);
  // its later update is sent, and silently skipped where the row is missing
  await n1.query("UPDATE items SET hits = increment(hits, 2), tags = add(tags, 'later') WHERE id = 'ae-orphan'");
  await n1.query("UPDATE items SET hits = increment(hits, 1) WHERE id = 'ae-k00'");
  const targets = await Promise.all(mesh.nodes.map((n) => n.one('SELECT pg_current_wal_lsn() AS lsn')));
  await mesh.waitApplied(
    targets.map((x) => x.lsn),
    Date.now() + 60000,
    'replay_lsn',
  );
  const want = await n1.one(
    "SELECT hits::text AS hits, stock::text AS stock, elements(tags) AS tags FROM items WHERE id = 'ae-orphan'",
  );
  assert.deepEqual(want, { hits: '{"n1":7}', stock: '{"n":{"n1":2}}', tags: ['hidden', 'later'] });
  for (const n of lagging) {
    const r = await n.one("SELECT count(*)::int AS c FROM items WHERE id = 'ae-orphan'");
    assert.equal(r.c, 0, `${n.name} has the row replication should not have delivered`);
    // the later update of another row did arrive: replication itself runs
    const k = await n.one("SELECT hits::text AS hits FROM items WHERE id = 'ae-k00'");
    assert.equal(k.hits, '{"n1":1}', `${n.name}: ae-k00`);
  }
  const sigs = await Promise.all(mesh.nodes.map((n) => mesh.signature(n)));
  assert.notEqual(sigs[0], sigs[1], 'the nodes do not differ');
  t.diagnostic(`diverged: ${mesh.nodes.map((n, i) => `${n.name} ${sigs[i]}`).join(', ')}`);

  // the repair: each lagging node merges n1's rows, read through postgres_fdw
  for (const n of lagging) {
    await n.query('CREATE EXTENSION IF NOT EXISTS postgres_fdw');
    await n.query(
      `CREATE SERVER peer_n1 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port ${quoteLiteral(String(n1.port))}, dbname 'lk')`,
    );
    await n.query("CREATE USER MAPPING FOR postgres SERVER peer_n1 OPTIONS (user 'postgres')");
    await n.query('CREATE SCHEMA peer_n1');
    await n.query('IMPORT FOREIGN SCHEMA public LIMIT TO (items) FROM SERVER peer_n1 INTO peer_n1');
    const r = await n.one("SELECT laniakea.reconcile('items', 'peer_n1.items') AS n");
    const total = await n1.one('SELECT count(*)::int AS c FROM items');
    assert.equal(Number(r.n), total.c, `${n.name}: reconcile merged every row of n1`);
    t.diagnostic(`${n.name}: reconcile merged ${r.n} rows of n1`);
  }
  const q = await mesh.waitQuiescent();
  t.diagnostic(`converged in ${q.ms} ms`);
  for (const n of mesh.nodes) {
    const r = await n.one(
      "SELECT hits::text AS hits, stock::text AS stock, elements(tags) AS tags FROM items WHERE id = 'ae-orphan'",
    );
    assert.deepEqual(r, want, `${n.name}: ae-orphan`);
  }
  const errors = await mesh.applyErrors();
  assert.ok(
    Object.values(errors).every((c) => c === 0),
    `apply errors: ${JSON.stringify(errors)}`,
  );
});
