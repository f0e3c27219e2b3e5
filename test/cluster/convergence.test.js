// Convergence of a full mesh under concurrent writes: exact counters, the
// add-wins set, the end of the replication echo, and the same new key
// inserted on two nodes at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { meshPerFile, sleep } from './lib/cluster.js';
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
meshPerFile({ nnodes: P.nodes, name: 'convergence' }, (m) => {
  mesh = m;
});

test('concurrent increments, decrements, adds and removes on every node converge to exactly the acknowledged operations, add wins', async (t) => {
  t.diagnostic(
    `seed ${seed} (LK_SEED=${seed} repeats the choices), ${P.nodes} nodes × ${P.clients} clients × ${P.ops} operations on ${P.keys} rows`,
  );
  const keys = keysFor('conc', P.keys);
  await insertRows(mesh.nodes[0], keys);
  await mesh.waitQuiescent();
  const errorsBefore = await mesh.applyErrors();

  const model = new Model(keys);
  const control = { stopped: false };
  const [stats] = await join(
    background(
      runWorkload(model, { nodes: mesh.nodes, clientsPerNode: P.clients, opsLimit: P.ops, seed, control }),
      control,
    ),
    background(contest(model, { nodes: mesh.nodes, seed, rounds: P.rounds, prefix: 'conc', control }), control),
  );
  await settleAndCheck(t, mesh, model, 'concurrent', stats);
  assert.deepEqual(await mesh.applyErrors(), errorsBefore, 'pg_stat_subscription_stats.apply_error_count went up');
});

test('echo ends: after quiescence no node writes WAL or updates a row for 5 s', async (t) => {
  const keys = keysFor('echo', 5);
  await insertRows(mesh.nodes[1], keys);
  await mesh.waitQuiescent();
  // something to echo: every node updates every row, several times
  const model = new Model(keys);
  await runWorkload(model, { nodes: mesh.nodes, clientsPerNode: 2, opsLimit: 40, seed: seed + 1 });
  await mesh.waitQuiescent();
  assert.deepEqual(await mesh.movedAfterQuiescence(t), [], 'rows changed or WAL was written after quiescence');
});

const INSERT =
  "INSERT INTO items (id, hits, stock, tags) VALUES ($1, increment('{}'::gcounter, $2::bigint), decrement('{}'::pncounter, $2::bigint), add('{}'::orset, $3))";

// A local INSERT of a new key can still lose a race of microseconds with the
// apply worker inserting the same key (the probe in merge_trigger.c finds
// nothing, the apply worker's row lands before this one's index entry) and
// fail with 23505.  That is the client's error, not replication's: the retry
// merges.  Retries are reported.
async function insertAtOnce(node, args, retried) {
  try {
    await node.query(INSERT, args);
  } catch (e) {
    if (e.code !== '23505') throw e;
    retried.push(`${node.name}:${args[0]}`);
    await node.query(INSERT, args);
  }
}

// Wait until node's apply worker is blocked on a lock (the row another
// transaction of that node has inserted and not committed).
async function waitApplyWorkerBlocked(node, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await node.one(
      "SELECT count(*)::int AS c FROM pg_stat_activity WHERE backend_type = 'logical replication worker' AND wait_event_type = 'Lock'",
    );
    if (r.c > 0) return;
    if (Date.now() > deadline)
      throw new Error(`${node.name}: the apply worker never waited for the uncommitted insert`);
    await sleep(20);
  }
}

test('the same new key inserted on two nodes at once merges on every node, and replication never stops', async (t) => {
  const [n1, n2, n3] = mesh.nodes;
  assert.ok(mesh.nodes.length >= 3);
  const errorsBefore = await mesh.applyErrors();
  const logSize = Object.fromEntries(mesh.nodes.map((n) => [n.name, fs.statSync(n.log).size]));
  const expect = new Map(); // key -> {node: amount}

  // two nodes at once
  const retried = [];
  await Promise.all([
    insertAtOnce(n1, ['dup-a', 2, 'from-n1'], retried),
    insertAtOnce(n2, ['dup-a', 3, 'from-n2'], retried),
  ]);
  expect.set('dup-a', { n1: 2, n2: 3 });
  // three nodes at once, for a number of keys
  for (let i = 0; i < 20; i++) {
    const key = `dup-b${String(i).padStart(2, '0')}`;
    await Promise.all([n1, n2, n3].map((n, j) => insertAtOnce(n, [key, j + 1, `from-${n.name}`], retried)));
    expect.set(key, { n1: 1, n2: 2, n3: 3 });
  }
  t.diagnostic(
    `local inserts that lost the race with a replicated insert and were retried: ${retried.length ? retried.join(', ') : 'none'}`,
  );
  // the apply worker meets an insert of the key that is still in progress:
  // n1 inserts and holds its transaction open until n2's insert of the same
  // key has arrived and is waiting for it
  const c = await n1.connect();
  try {
    await c.query('BEGIN');
    await c.query(INSERT, ['dup-c', 4, 'from-n1']);
    await n2.query(INSERT, ['dup-c', 5, 'from-n2']);
    await waitApplyWorkerBlocked(n1);
    await c.query('COMMIT');
  } finally {
    await c.end();
  }
  expect.set('dup-c', { n1: 4, n2: 5 });
  // and the other way round: a local insert on n3 meets the apply worker's
  // insert of the key, in progress.  n2's transaction inserts dup-d, then
  // updates dup-a, whose row a transaction on n3 holds locked, so n3's apply
  // worker stops right after its insert of dup-d.
  const holder = await n3.connect();
  const c3 = await n3.connect();
  try {
    const pid = (await c3.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await holder.query('BEGIN');
    await holder.query("SELECT 1 FROM items WHERE id = 'dup-a' FOR UPDATE");
    await n2.query(
      "BEGIN; INSERT INTO items (id, hits, tags) VALUES ('dup-d', increment('{}'::gcounter, 6), add('{}'::orset, 'from-n2')); " +
        "UPDATE items SET hits = increment(hits, 1) WHERE id = 'dup-a'; COMMIT",
    );
    await waitApplyWorkerBlocked(n3);
    const local = c3.query(INSERT, ['dup-d', 7, 'from-n3']);
    local.catch(() => {}); // awaited below
    for (let deadline = Date.now() + 15000; ; ) {
      const r = await n3.one('SELECT wait_event_type AS w FROM pg_stat_activity WHERE pid = $1', [pid]);
      if (r.w === 'Lock') break;
      if (Date.now() > deadline) throw new Error('the local insert of dup-d never waited for the apply worker');
      await sleep(20);
    }
    await holder.query('COMMIT');
    await local;
  } finally {
    await holder.end();
    await c3.end();
  }
  expect.get('dup-a').n2 += 1;
  expect.set('dup-d', { n2: 6, n3: 7 });

  await mesh.waitQuiescent();
  for (const node of mesh.nodes) {
    const r = await node.query(
      "SELECT id, hits::text AS hits, elements(tags) AS tags FROM items WHERE id LIKE 'dup-%' ORDER BY id",
    );
    assert.equal(r.rowCount, expect.size, `${node.name}: rows`);
    for (const row of r.rows) {
      const want = expect.get(row.id);
      const hits = `{${Object.keys(want)
        .sort()
        .map((k) => `"${k}":${want[k]}`)
        .join(',')}}`;
      assert.equal(row.hits, hits, `${node.name} ${row.id}: hits`);
      const tags = Object.keys(want)
        .map((k) => `from-${k}`)
        .sort();
      assert.deepEqual(row.tags, tags, `${node.name} ${row.id}: tags`);
    }
  }
  const errorsAfter = await mesh.applyErrors();
  assert.deepEqual(errorsAfter, errorsBefore, 'pg_stat_subscription_stats.apply_error_count went up');
  for (const node of mesh.nodes) {
    const fd = fs.openSync(node.log, 'r');
    const size = fs.fstatSync(fd).size - logSize[node.name];
    const buf = Buffer.alloc(Math.max(0, size));
    fs.readSync(fd, buf, 0, buf.length, logSize[node.name]);
    fs.closeSync(fd);
    const errors = buf
      .toString()
      .split('\n')
      .filter((l) => /ERROR|FATAL/.test(l));
    assert.deepEqual(errors, [], `${node.name}: errors in the server log`);
  }
});
