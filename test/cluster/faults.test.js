// Faults under load: a node cut off from the mesh, and a node killed with
// SIGKILL.  Every node keeps writing throughout; after the fault ends the
// mesh must converge to exactly the operations that committed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meshPerFile } from './lib/cluster.js';
import {
  Model,
  SQL,
  params,
  seedFromEnv,
  keysFor,
  insertRows,
  runWorkload,
  contest,
  settleAndCheck,
  background,
  join,
  pause,
} from './lib/workload.js';

const P = params();
const seed = seedFromEnv();
let mesh;
meshPerFile({ nnodes: P.nodes, name: 'faults' }, (m) => {
  mesh = m;
});

test('partition: a node cut off while every node writes converges after healing, counters exact, add wins', async (t) => {
  t.diagnostic(`seed ${seed}`);
  const [n1] = mesh.nodes;
  const victim = mesh.nodes[mesh.nodes.length - 1];
  const keys = keysFor('part', P.keys);
  await insertRows(n1, keys);
  const model = new Model(keys);
  // elements everyone has seen before the partition
  const contested = keys.slice(0, 4);
  for (const k of contested) {
    await n1.query(SQL.add, [k, `part.px.${k}`]);
    await n1.query(SQL.add, [k, `part.py.${k}`]);
  }
  await mesh.waitQuiescent();
  const errorsBefore = await mesh.applyErrors();

  const control = { stopped: false };
  const work = background(
    runWorkload(model, { nodes: mesh.nodes, clientsPerNode: P.clients, seed, control, thinkMs: P.thinkMs }),
    control,
  );
  let stats;
  try {
    await pause(P.faultMs / 3, control);
    let t0 = Date.now();
    await mesh.setPartitioned(victim, true);
    t.diagnostic(
      `${victim.name} partitioned: its replication connections were down ${Date.now() - t0} ms after DISABLE`,
    );
    // during the partition: victim removes px and py; n1 adds px again
    for (const k of contested) {
      await victim.query(SQL.remove, [k, `part.px.${k}`]);
      await n1.query(SQL.add, [k, `part.px.${k}`]);
      await victim.query(SQL.remove, [k, `part.py.${k}`]);
      model.claim(
        k,
        `part.px.${k}`,
        true,
        `removed on ${victim.name} during the partition, added again on n1: add wins`,
      );
      model.claim(k, `part.py.${k}`, false, `removed on ${victim.name} during the partition, no concurrent add`);
    }
    await pause(P.faultMs, control);
    // the partition is real: the victim's rows differ from n1's
    const [a, b] = await Promise.all([mesh.signature(n1), mesh.signature(victim)]);
    assert.notEqual(a, b, 'the partitioned node has the same rows as the others');
    t0 = Date.now();
    await mesh.setPartitioned(victim, false);
    t.diagnostic(`${victim.name} healed: replication streaming again ${Date.now() - t0} ms after ENABLE`);
    await pause(P.faultMs / 3, control);
  } finally {
    control.stopped = true;
    [stats] = await join(work);
  }
  await settleAndCheck(t, mesh, model, 'partition', stats);
  assert.deepEqual(await mesh.applyErrors(), errorsBefore, 'pg_stat_subscription_stats.apply_error_count went up');
});

test('kill -9 of a node mid-run: after restart every acknowledged operation counts exactly once', async (t) => {
  t.diagnostic(`seed ${seed + 1}`);
  const victim = mesh.nodes[1];
  const others = mesh.nodes.filter((n) => n !== victim);
  const keys = keysFor('kill', P.keys);
  await insertRows(mesh.nodes[0], keys);
  await mesh.waitQuiescent();
  const errorsBefore = await mesh.applyErrors();

  const model = new Model(keys);
  const control = { stopped: false };
  // the victim's clients see their connections die and retry until it is
  // back; an operation in flight at the kill has an unknown outcome, which
  // the oplog written in its transaction settles afterwards
  const work = background(
    runWorkload(model, {
      nodes: mesh.nodes,
      clientsPerNode: P.clients,
      seed: seed + 1,
      control,
      thinkMs: P.thinkMs,
      oplog: true,
      tolerant: (n) => n === victim,
    }),
    control,
  );
  const fight = background(
    contest(model, { nodes: others, seed: seed + 1, rounds: P.rounds, prefix: 'kill', control }),
    control,
  );
  let stats;
  try {
    await pause(P.faultMs / 2, control);
    if (!control.stopped) {
      await victim.kill9();
      t.diagnostic(`${victim.name} killed (postmaster and children, SIGKILL)`);
      await pause(P.faultMs, control);
      const t0 = Date.now();
      await victim.restart();
      t.diagnostic(`${victim.name} restarted (crash recovery) in ${Date.now() - t0} ms`);
      await pause(P.faultMs / 2, control);
    }
  } finally {
    control.stopped = true;
    [stats] = await join(work, fight);
  }
  t.diagnostic(
    `victim's clients: ${stats.lostConnections} operations cut off by the kill, ${stats.connectFailures} refused connections while down`,
  );
  assert.ok(stats.lostConnections > 0, 'the kill did not interrupt any operation: it did not happen mid-run');
  const t0 = Date.now();
  await mesh.waitConnected();
  t.diagnostic(`replication streaming everywhere ${Date.now() - t0} ms after the workload ended`);
  await settleAndCheck(t, mesh, model, 'kill -9', stats);
  const errorsAfter = await mesh.applyErrors();
  t.diagnostic(
    `apply_error_count before ${JSON.stringify(errorsBefore)}, after ${JSON.stringify(errorsAfter)} (lost connections count too)`,
  );
});
