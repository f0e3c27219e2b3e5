// Whole rows that converge (docs/replication.md): every row carries its
// causal length (laniakea_cl, odd while it exists), a DELETE leaves a
// tombstone one above it, states of a smaller causal length are discarded
// everywhere; and a last-writer-wins register ends at its latest write on
// every node.  Each scenario checks the outcome the rule gives, row by row, on
// every node, and that the mesh stands still afterwards.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { meshPerFile, PUBLICATION, sleep } from './lib/cluster.js';
import { rng, seedFromEnv, isConnectionError } from './lib/workload.js';

const seed = seedFromEnv();
let mesh;
meshPerFile({ nnodes: 3, name: 'deletes' }, (m) => {
  mesh = m;
});

async function waitFor(what, fn, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// The row of key on a node ({cl, hits} or null) and its tombstone (the greatest deletion, 0 if none).
async function rowOf(node, key) {
  const r = await node.query('SELECT laniakea_cl::int AS cl, hits::text AS hits FROM items WHERE id = $1', [key]);
  const t = await node.one(
    "SELECT coalesce(max(cl), 0)::int AS cl FROM laniakea.tombstones WHERE nsp = 'public' AND rel = 'items' AND key = $1",
    [key],
  );
  return { row: r.rows[0] || null, tomb: t.cl };
}

async function expectEverywhere(key, want) {
  for (const n of mesh.nodes) assert.deepEqual(await rowOf(n, key), want, `${n.name}: ${key}`);
}

async function assertStill(t) {
  assert.deepEqual(await mesh.movedAfterQuiescence(t), [], 'the mesh did not stand still after quiescence');
}

// No apply worker failed on the data it applied (pg_stat_subscription_stats
// would also count a publisher that went away, as kill -9 makes one).
function noApplyErrors() {
  const found = [];
  for (const n of mesh.nodes) {
    const lines = fs.readFileSync(n.log, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (/ ERROR: /.test(line) && lines.slice(i + 1, i + 4).some((l) => /processing remote data/.test(l)))
        found.push(`${n.name}: ${line}`);
    });
  }
  assert.deepEqual(found, [], 'apply workers failed on data');
}

test('a row deleted as soon as every node has it settles everywhere, and the mesh stands still', async (t) => {
  const [n1, n2, n3] = mesh.nodes;
  await n1.query("INSERT INTO items (id, hits) VALUES ('storm', increment('{}'::gcounter, 1))");
  await waitFor('every node to have the row', async () => {
    for (const n of mesh.nodes) if (!(await rowOf(n, 'storm')).row) return false;
    return true;
  });
  await n2.query("DELETE FROM items WHERE id = 'storm'");
  const q = await mesh.waitQuiescent();
  t.diagnostic(`quiescent in ${q.ms} ms`);
  await expectEverywhere('storm', { row: null, tomb: 2 });
  await assertStill(t);

  // an INSERT after the DELETE is the next incarnation, on every node
  await n3.query("INSERT INTO items (id, hits) VALUES ('storm', increment('{}'::gcounter, 5))");
  await mesh.waitQuiescent();
  await expectEverywhere('storm', { row: { cl: 3, hits: '{"n3":5}' }, tomb: 2 });
  noApplyErrors();
});

test('a DELETE concurrent with an UPDATE elsewhere ends deleted on every node (the stale update is discarded)', async () => {
  const [n1, , n3] = mesh.nodes;
  for (const key of ['race-a', 'race-b']) await n1.query('INSERT INTO items (id) VALUES ($1)', [key]);
  await mesh.waitQuiescent();

  await mesh.setPartitioned(n3, true);
  // race-a: updated on the cut-off node, deleted on the others
  await n3.query("UPDATE items SET hits = increment(hits, 7) WHERE id = 'race-a'");
  await n1.query("DELETE FROM items WHERE id = 'race-a'");
  // race-b: deleted on the cut-off node, updated on the others
  await n3.query("DELETE FROM items WHERE id = 'race-b'");
  await n1.query("UPDATE items SET hits = increment(hits, 3) WHERE id = 'race-b'");
  await mesh.setPartitioned(n3, false);

  await mesh.waitQuiescent();
  await expectEverywhere('race-a', { row: null, tomb: 2 });
  await expectEverywhere('race-b', { row: null, tomb: 2 });
  noApplyErrors();
});

test('an old incarnation updated behind a partition never comes back over a re-inserted row', async () => {
  const [n1, n2, n3] = mesh.nodes;
  await n1.query("INSERT INTO items (id, hits) VALUES ('reborn', increment('{}'::gcounter, 1))");
  await mesh.waitQuiescent();

  await mesh.setPartitioned(n3, true);
  await n3.query("UPDATE items SET hits = increment(hits, 100) WHERE id = 'reborn'");
  await n1.query("DELETE FROM items WHERE id = 'reborn'");
  // re-inserted where the delete has arrived (before it, the INSERT would merge into the old row)
  await waitFor('the delete on n2', async () => (await rowOf(n2, 'reborn')).tomb === 2);
  await n2.query("INSERT INTO items (id, hits) VALUES ('reborn', increment('{}'::gcounter, 2))");
  await mesh.setPartitioned(n3, false);

  await mesh.waitQuiescent();
  await expectEverywhere('reborn', { row: { cl: 3, hits: '{"n2":2}' }, tomb: 2 });
  noApplyErrors();
});

test('two nodes re-inserting a deleted key at once merge into one incarnation', async () => {
  const [n1, n2, n3] = mesh.nodes;
  await n1.query("INSERT INTO items (id) VALUES ('twice')");
  await mesh.waitQuiescent();
  await n2.query("DELETE FROM items WHERE id = 'twice'");
  await mesh.waitQuiescent();

  await mesh.setPartitioned(n3, true);
  await n3.query("INSERT INTO items (id, hits) VALUES ('twice', increment('{}'::gcounter, 4))");
  await n1.query("INSERT INTO items (id, hits) VALUES ('twice', increment('{}'::gcounter, 6))");
  await mesh.setPartitioned(n3, false);

  await mesh.waitQuiescent();
  await expectEverywhere('twice', { row: { cl: 3, hits: '{"n1":6,"n3":4}' }, tomb: 2 });
  noApplyErrors();
});

test('TRUNCATE deletes every row of the table on every node', async () => {
  const [n1, n2] = mesh.nodes;
  // a table of its own, so that the other scenarios' rows stay
  for (const n of mesh.nodes) {
    await n.query('CREATE TABLE scratch (id int PRIMARY KEY, c gcounter)');
    await n.query("SELECT laniakea.track('scratch')");
    await n.query(`ALTER PUBLICATION ${PUBLICATION} ADD TABLE scratch`);
    for (const s of mesh.nodes.filter((x) => x !== n)) {
      await n.query(`ALTER SUBSCRIPTION lk_sub_${n.name}_from_${s.name} REFRESH PUBLICATION WITH (copy_data = false)`);
    }
  }
  await n1.query("INSERT INTO scratch SELECT i, increment('{}'::gcounter, i) FROM generate_series(1, 50) i");
  await waitFor('the rows everywhere', async () => {
    for (const n of mesh.nodes) if ((await n.one('SELECT count(*)::int AS c FROM scratch')).c !== 50) return false;
    return true;
  });
  await n2.query('TRUNCATE scratch');
  await mesh.waitQuiescent();
  for (const n of mesh.nodes) {
    const r = await n.one(
      "SELECT (SELECT count(*) FROM scratch)::int AS rows, (SELECT count(*) FROM laniakea.tombstones WHERE rel = 'scratch' AND cl = 2)::int AS tombs",
    );
    assert.deepEqual(r, { rows: 0, tombs: 50 }, n.name);
  }
  noApplyErrors();
});

test('reconcile repairs a delete that replication never delivered', async () => {
  const [n1, ...lagging] = mesh.nodes;
  await n1.query("INSERT INTO items (id, hits) VALUES ('ae-del', increment('{}'::gcounter, 3))");
  await mesh.waitQuiescent();
  // n1 deletes while the tombstones are out of its publication: never sent
  await n1.query(`ALTER PUBLICATION ${PUBLICATION} DROP TABLE laniakea.tombstones`);
  await n1.query("DELETE FROM items WHERE id = 'ae-del'");
  await n1.query(`ALTER PUBLICATION ${PUBLICATION} ADD TABLE laniakea.tombstones`);
  const targets = await Promise.all(mesh.nodes.map((n) => n.one('SELECT pg_current_wal_lsn() AS lsn')));
  await mesh.waitApplied(
    targets.map((x) => x.lsn),
    Date.now() + 60000,
    'replay_lsn',
  );
  for (const n of lagging) assert.ok((await rowOf(n, 'ae-del')).row, `${n.name} lost the row without the tombstone`);

  for (const n of lagging) {
    await mesh.importPeer(n, n1, 'del_n1');
    await n.one("SELECT laniakea.reconcile('items', 'del_n1.items', 'del_n1.tombstones')");
  }
  await mesh.waitQuiescent();
  await expectEverywhere('ae-del', { row: null, tomb: 2 });
  noApplyErrors();
});

// ---- random deletes, updates and re-inserts with a partition and kill -9 ----

// Each operation runs in a transaction that also records, in the node's local
// oplog, the incarnation it acted on: so an operation whose reply was lost to
// kill -9 is still known exactly.
const OPS = {
  // an increment of the row there is, as this node
  inc: `WITH u AS (UPDATE items SET hits = increment(hits, $2::bigint) WHERE id = $1 RETURNING laniakea_cl)
        INSERT INTO lk_dellog SELECT $3, 'inc', $1, laniakea_cl, $2 FROM u RETURNING cl`,
  // a delete: its tombstone is one above the row's causal length
  del: `WITH d AS (DELETE FROM items WHERE id = $1 RETURNING laniakea_cl)
        INSERT INTO lk_dellog SELECT $3, 'del', $1, laniakea_cl + 1, $2 FROM d RETURNING cl`,
  // an empty row where the key is absent here (lk_ins, below)
  ins: 'SELECT lk_ins($1, $3) AS cl, $2::bigint AS unused',
};

// An INSERT that replication may turn into a merge at the last moment
// returns no row; read the incarnation it acted on afterwards instead.
const LK_INS = `
CREATE OR REPLACE FUNCTION lk_ins(k text, op text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	c bigint;
BEGIN
	IF EXISTS (SELECT FROM items WHERE id = k) THEN
		RETURN NULL;
	END IF;
	INSERT INTO items (id) VALUES (k);
	SELECT laniakea_cl INTO c FROM items WHERE id = k;
	INSERT INTO lk_dellog VALUES (op, 'ins', k, c, 0);
	RETURN c;
END $$`;

async function deleteWorkload({ keys, opsPerClient, clientsPerNode, seed: s, control }) {
  const log = [];
  const random = rng(s);
  let next = 0;
  const clients = [];
  for (const node of mesh.nodes) {
    for (let c = 0; c < clientsPerNode; c++) {
      const r = rng(s + 17 * (clients.length + 1));
      clients.push(
        (async () => {
          for (let i = 0; i < opsPerClient && !control.stopped; i++) {
            const kind = r.pick(['inc', 'inc', 'inc', 'del', 'ins', 'ins']);
            const op = { id: `op${next++}`, node: node.name, kind, key: r.pick(keys), by: 1 + r.int(9) };
            log.push(op);
            try {
              const res = await node.query(OPS[kind], [op.key, op.by, op.id]);
              op.status = 'ok';
              op.cl = res.rows[0] && res.rows[0].cl !== null ? Number(res.rows[0].cl) : 0; // 0: it did nothing
            } catch (e) {
              if (!isConnectionError(e)) throw e;
              op.status = 'uncertain';
              await sleep(100);
            }
            if (random() < 0.1) await sleep(r.int(20));
          }
        })(),
      );
    }
  }
  await Promise.all(clients);
  return log;
}

// The outcome the rule gives for one key: the greatest causal length any
// operation reached wins; if it is a deletion's, the row is gone; otherwise
// the row holds exactly the increments made to that incarnation.
function expectedRow(ops, key) {
  let cl = 1;
  for (const op of ops) if (op.key === key && op.cl) cl = Math.max(cl, op.cl);
  const maxTomb = Math.max(0, ...ops.filter((o) => o.key === key && o.kind === 'del' && o.cl).map((o) => o.cl));
  if (cl % 2 === 0) return { row: null, tomb: cl };
  const hits = {};
  for (const op of ops)
    if (op.key === key && op.cl === cl && op.kind === 'inc') hits[op.node] = (hits[op.node] || 0) + op.by;
  const text = `{${Object.keys(hits)
    .sort()
    .map((n) => `"${n}":${hits[n]}`)
    .join(',')}}`;
  return { row: { cl, hits: text }, tomb: maxTomb };
}

test('random deletes, updates and re-inserts on three nodes, with a partition and kill -9, converge to the rule row by row', async (t) => {
  t.diagnostic(`seed ${seed}`);
  const keys = Array.from({ length: 6 }, (_, i) => `mix-${i}`);
  for (const n of mesh.nodes) {
    // local, never published: the operations each node committed
    await n.query('CREATE TABLE lk_dellog (id text PRIMARY KEY, kind text, key text, cl bigint, by bigint)');
    await n.query(LK_INS);
  }
  await mesh.nodes[0].query('INSERT INTO items (id) SELECT unnest($1::text[])', [keys]);
  await mesh.waitQuiescent();

  const control = { stopped: false };
  const work = deleteWorkload({ keys, opsPerClient: 60, clientsPerNode: 2, seed, control });
  const faults = (async () => {
    await sleep(300);
    await mesh.setPartitioned(mesh.nodes[2], true);
    await sleep(800);
    await mesh.setPartitioned(mesh.nodes[2], false);
    await sleep(300);
    await mesh.nodes[1].kill9();
    await sleep(500);
    await mesh.nodes[1].restart();
  })();
  const [log] = await Promise.all([work, faults]);

  // operations whose reply died with the node: the oplog of that node knows
  for (const op of log.filter((o) => o.status === 'uncertain')) {
    const node = mesh.node(op.node);
    const r = await node.query('SELECT cl FROM lk_dellog WHERE id = $1', [op.id]);
    op.cl = r.rows[0] ? Number(r.rows[0].cl) : 0;
    op.status = 'resolved';
  }
  const q = await mesh.waitQuiescent({ timeoutMs: 120000 });
  t.diagnostic(
    `${log.length} operations (${log.filter((o) => o.kind === 'del' && o.cl).length} deletes), quiescent in ${q.ms} ms`,
  );
  const applied = log.filter((o) => o.cl);
  for (const key of keys) await expectEverywhere(key, expectedRow(applied, key));
  await assertStill(t);
  noApplyErrors();
});

test('lwwreg sets from three nodes, some behind a partition, end everywhere at the write with the highest clock', async (t) => {
  const keys = ['reg-a', 'reg-b', 'reg-c'];
  await mesh.nodes[0].query('INSERT INTO items (id) SELECT unnest($1::text[])', [keys]);
  await mesh.waitQuiescent();
  const writes = [];
  const setOn = async (node, key, value) => {
    const r = await node.one(
      "UPDATE items SET title = set(coalesce(title, '{}'::lwwreg), $2) WHERE id = $1 RETURNING clock(title)::text AS clock, node(title) AS node",
      [key, value],
    );
    writes.push({ key, value, clock: BigInt(r.clock), node: r.node });
  };
  const r = rng(seed + 5);
  await mesh.setPartitioned(mesh.nodes[2], true);
  for (let i = 0; i < 30; i++) {
    const node = r.pick(mesh.nodes);
    await setOn(node, r.pick(keys), `${node.name} ✎ ${i}`);
    if (i === 15) await mesh.setPartitioned(mesh.nodes[2], false);
  }
  // a register of a row deleted and inserted again starts afresh: only later writes count
  await mesh.setPartitioned(mesh.nodes[2], false).catch(() => {});
  await mesh.waitQuiescent();
  await mesh.nodes[1].query("DELETE FROM items WHERE id = 'reg-c'");
  await mesh.waitQuiescent();
  await mesh.nodes[2].query("INSERT INTO items (id) VALUES ('reg-c')");
  await mesh.waitQuiescent();
  for (let i = 0; i < 3; i++) await setOn(mesh.nodes[i], 'reg-c', `after ${i}`);
  const since = writes.findIndex((w) => w.value === 'after 0');

  await mesh.waitQuiescent();
  for (const key of keys) {
    const candidates = writes.filter((w, i) => w.key === key && (key !== 'reg-c' || i >= since));
    // the greatest (clock, node id, value) write wins
    const win = candidates.reduce((a, b) =>
      a.clock !== b.clock
        ? a.clock > b.clock
          ? a
          : b
        : a.node !== b.node
          ? a.node > b.node
            ? a
            : b
          : a.value > b.value
            ? a
            : b,
    );
    t.diagnostic(`${key}: ${candidates.length} writes, winner ${win.value} at ${win.clock} by ${win.node}`);
    for (const n of mesh.nodes) {
      const got = await n.one('SELECT get(title) AS v, clock(title)::text AS c FROM items WHERE id = $1', [key]);
      assert.deepEqual(got, { v: win.value, c: String(win.clock) }, `${n.name}: ${key}`);
    }
  }
  await assertStill(t);
  noApplyErrors();
});
