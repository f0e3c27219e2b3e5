// Replication settings and repair: subscriptions in binary mode, anti-entropy
// with laniakea.reconcile where replication cannot help, a subscription's
// initial copy into a tracked table, and a replicated merge past a limit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { meshPerFile, PUBLICATION, quoteLiteral } from './lib/cluster.js';
import {
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
} from './lib/workload.js';

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
    await mesh.importPeer(n, n1, 'peer_n1');
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

// A subscription of its own from `pub` to `sub` for one table, outside the
// mesh (its name does not start with lk_sub_, which the mesh's checks count).
async function sideSubscription(pub, sub, table, { copyData }) {
  await pub.query(`CREATE PUBLICATION side_pub_${table} FOR TABLE ${table}`);
  await sub.query(
    `CREATE SUBSCRIPTION side_sub_${table} CONNECTION ${quoteLiteral(pub.conninfo)} ` +
      `PUBLICATION side_pub_${table} WITH (copy_data = ${copyData})`,
  );
}

async function dropSideSubscription(pub, sub, table) {
  await sub.query(`DROP SUBSCRIPTION IF EXISTS side_sub_${table}`);
  await pub.query(`DROP PUBLICATION IF EXISTS side_pub_${table}`);
  for (const n of [pub, sub]) await n.query(`DROP TABLE IF EXISTS ${table}`);
}

// The initial copy is done when every table of the subscription is ready ('r').
async function waitCopied(node, table, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await node.one(
      `SELECT coalesce(min(srsubstate), '?') AS state FROM pg_subscription_rel WHERE srrelid = ${quoteLiteral(table)}::regclass`,
    );
    if (r.state === 'r') return;
    if (Date.now() > deadline) throw new Error(`${node.name}: ${table} not copied (state ${r.state})`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

test("a new subscription's initial copy (copy_data = true) of 25,000 rows merges into a tracked table within the default lock table", async (_t) => {
  const [n1, n2] = mesh.nodes;
  const table = 'bulk_copy';
  try {
    for (const n of [n1, n2]) {
      await n.query(
        `CREATE TABLE ${table} (id int PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}', tags orset NOT NULL DEFAULT '{}');
         SELECT laniakea.track('${table}')`,
      );
    }
    const locks = await n2.one('SHOW max_locks_per_transaction');
    assert.equal(locks.max_locks_per_transaction, '64');
    // n1 has 1 … 25,000; n2 already has 20,001 … 30,000, the overlap merges
    await n1.query(
      `INSERT INTO ${table} (id, hits, tags) SELECT i, increment('{}'::gcounter, i), add('{}'::orset, 'n1-' || i) FROM generate_series(1, 25000) i`,
    );
    await n2.query(
      `INSERT INTO ${table} (id, hits) SELECT i, increment('{}'::gcounter, 1) FROM generate_series(20001, 30000) i`,
    );
    await sideSubscription(n1, n2, table, { copyData: true });
    await waitCopied(n2, table, 180000);
    const r = await n2.one(
      `SELECT count(*)::int AS rows, sum(value(hits))::text AS total,
              count(*) FILTER (WHERE hits = format('{"n1":%s,"n2":1}', id)::gcounter)::int AS merged,
              count(*) FILTER (WHERE contains(tags, 'n1-' || id))::int AS tagged
       FROM ${table}`,
    );
    // sum over 1 … 25,000 of i, plus n2's 10,000 counts of 1
    assert.deepEqual(r, { rows: 30000, total: String((25000 * 25001) / 2 + 10000), merged: 5000, tagged: 25000 });
    const errors = await n2.one(
      `SELECT coalesce(sum(sync_error_count + apply_error_count), 0)::int AS c FROM pg_stat_subscription_stats WHERE subname = 'side_sub_${table}'`,
    );
    assert.equal(errors.c, 0, 'the copy or apply worker failed at least once');
  } catch (e) {
    e.message += `\n${mesh.logTails(8)}`;
    throw e;
  } finally {
    await dropSideSubscription(n1, n2, table);
  }
});

test('a replicated merge past a limit keeps the local value, records the incoming state in laniakea.rejected, and replication goes on', async (_t) => {
  const [n1, n2] = mesh.nodes;
  const table = 'limits';
  // 40,000 node ids each: their merge would name 80,000 (more than 65,536)
  const wide = (prefix) =>
    `(SELECT ('{' || string_agg(format('"${prefix}%s":1', i), ',') || '}')::gcounter FROM generate_series(1, 40000) i)`;
  try {
    for (const n of [n1, n2]) {
      await n.query(
        `CREATE TABLE ${table} (id int PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}', tags orset NOT NULL DEFAULT '{}');
         SELECT laniakea.track('${table}')`,
      );
    }
    await n2.query(`INSERT INTO ${table} (id, hits) VALUES (1, ${wide('b')})`);
    await sideSubscription(n1, n2, table, { copyData: false });
    await waitCopied(n2, table, 60000);
    // n1 writes its own wide state of key 1 and, after it, other changes
    await n1.query(`INSERT INTO ${table} (id, hits, tags) VALUES (1, ${wide('a')}, add('{}'::orset, 'kept'))`);
    await n1.query(`INSERT INTO ${table} (id, hits) VALUES (2, increment('{}'::gcounter, 7))`);
    const target = await n1.one('SELECT pg_current_wal_lsn()::text AS lsn');
    const deadline = Date.now() + 60000;
    for (;;) {
      const r = await n1.one(
        `SELECT count(*)::int AS c FROM pg_stat_replication WHERE application_name = 'side_sub_${table}' AND replay_lsn >= $1::pg_lsn`,
        [target.lsn],
      );
      if (r.c === 1) break;
      if (Date.now() > deadline) throw new Error('replication from n1 to n2 stopped');
      await new Promise((res) => setTimeout(res, 200));
    }
    const rows = await n2.query(
      `SELECT id, bigvalue(hits)::text AS hits, elements(tags) AS tags FROM ${table} ORDER BY id`,
    );
    assert.deepEqual(rows.rows, [
      { id: 1, hits: '40000', tags: ['kept'] }, // hits kept n2's value; tags merged
      { id: 2, hits: '7', tags: [] }, // a later change arrived: replication goes on
    ]);
    const rej = await n2.query(
      `SELECT key, col, state::gcounter = ${wide('a')} AS state_is_n1s, reason, origin LIKE 'pg\\_%' AS from_subscription
       FROM laniakea.rejected WHERE tbl = ${quoteLiteral(table)}::regclass`,
    );
    assert.deepEqual(rej.rows, [
      {
        key: '1',
        col: 'hits',
        state_is_n1s: true,
        reason: 'gcounter has too many nodes: A state holds at most 65536 node ids.',
        from_subscription: true,
      },
    ]);
    const errors = await n2.one(
      `SELECT coalesce(sum(apply_error_count), 0)::int AS c FROM pg_stat_subscription_stats WHERE subname = 'side_sub_${table}'`,
    );
    assert.equal(errors.c, 0, 'the apply worker failed');
    const log = fs.readFileSync(n2.log, 'utf8');
    assert.match(
      log,
      /WARNING: {2}could not merge replicated value of column "hits" of table "limits": gcounter has too many nodes/,
    );
  } catch (e) {
    e.message += `\n${mesh.logTails(8)}`;
    throw e;
  } finally {
    await dropSideSubscription(n1, n2, table);
  }
});
