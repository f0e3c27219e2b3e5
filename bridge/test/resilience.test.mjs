// Convergence when things race or break: PostgreSQL restarted under a stream
// of writes, and a hundred clients joining while writes pour in.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import {
  CAPS,
  connect,
  gcMerge,
  join,
  pgClient,
  push,
  rowState,
  rowView,
  sleep,
  sql,
  startBridge,
  startCluster,
  teardown,
  uniqueKey,
  waitFor,
} from './lib/harness.mjs';

after(teardown);

// A writer that keeps incrementing through outages: on a connection error it
// reconnects and goes on.  Resolves with the number of committed updates.
function writeLoop(url, statement, params, { every = 20, stop }) {
  return (async () => {
    let client = null;
    let committed = 0;
    while (!stop.now) {
      try {
        if (!client) {
          client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
          client.on('error', () => {});
          await client.connect();
        }
        await client.query(statement, params);
        committed++;
      } catch {
        if (client) client.end().catch(() => {});
        client = null;
      }
      await sleep(every);
    }
    if (client) await client.end().catch(() => {});
    return committed;
  })();
}

describe('PostgreSQL restarted mid-stream', () => {
  test('clients_converge_after_a_postgres_restart_without_reconnecting', async (t) => {
    const cluster = await startCluster('restart');
    try {
      const bridge = await startBridge({ name: 'restart', db: cluster.url });
      const key = uniqueKey('r');
      const tkey = uniqueKey('rt');
      const setup = await pgClient(cluster.url);
      await setup.query('INSERT INTO counters (id) VALUES ($1)', [key]);
      await setup.query('INSERT INTO feed (id) VALUES ($1)', [tkey]);
      await setup.end();

      const subs = [];
      for (const [topic, caps] of [
        [`crdt:counters:${key}`, CAPS.full],
        [`crdt:counters:${key}`, CAPS.constrained],
        [`crdt:counters:${key}`, CAPS.minimal],
        ['crdt:feed', CAPS.full],
      ]) {
        const socket = await connect(bridge);
        subs.push({ socket, topic, ...(await join(socket, topic, { node: `c${subs.length}`, caps })) });
      }

      const stop = { now: false };
      const writers = [
        writeLoop(cluster.url, "UPDATE counters SET hits = increment(hits, 'w', 1) WHERE id = $1", [key], { stop }),
        writeLoop(cluster.url, "UPDATE feed SET likes = increment(likes, 'w', 1) WHERE id = $1", [tkey], { stop }),
      ];
      await sleep(1000);

      await cluster.stop();
      await waitFor(async () => (await bridge.healthz()).postgres === 'down', { what: 'the bridge to notice' });
      // while PostgreSQL is away: the bridge serves what it holds, refuses the rest
      const probe = await connect(bridge);
      const held = await join(probe, `crdt:counters:${key}`, { node: 'probe', caps: CAPS.full });
      assert.ok(held.reply.state.hits.w > 0, 'a held row joins from the bridge copy');
      assert.deepEqual(await push(held.channel, 'increment', { column: 'hits' }), {
        status: 'error',
        response: { reason: 'database unavailable' },
      });
      for (const topic of [`crdt:counters:${uniqueKey('new')}`, 'crdt:boards']) {
        await assert.rejects(
          join(probe, topic, { node: 'probe', caps: CAPS.full }),
          (e) => assert.deepEqual(e.response, { reason: 'database unavailable' }) ?? true,
          topic,
        );
      }
      assert.equal((await bridge.metrics()).samples.laniakea_pg_up, 0);
      await sleep(500);

      await cluster.start();
      await waitFor(async () => (await bridge.healthz()).postgres === 'up', {
        timeout: 15000,
        what: 'the bridge to reconnect',
      });
      await sleep(1000);
      stop.now = true;
      const committed = await Promise.all(writers);
      t.diagnostic(`committed ${committed.join(' + ')} updates across the restart`);

      const check = await pgClient(cluster.url);
      const want = await rowState('counters', key, ['hits', 'stock', 'tags'], (q, p) => check.query(q, p));
      const wantFeed = (await rowState('feed', tkey, ['likes'], (q, p) => check.query(q, p))).likes;
      await check.end();
      assert.equal(want.hits.w, committed[0]);

      const viewOf = (s) => {
        if (s.topic === 'crdt:feed') {
          let v = (s.reply.rows.find((r) => r.key === tkey) || { state: { likes: {} } }).state.likes;
          for (const e of s.channel.events) {
            if (e.payload.key !== tkey) continue;
            v = gcMerge(v, e.event === 'delta' ? e.payload.deltas.likes : e.payload.state.likes);
          }
          return v;
        }
        return rowView(s.reply, s.channel, { hits: gcMerge }).hits;
      };
      await waitFor(
        () =>
          subs.every(
            (s) => JSON.stringify(viewOf(s)) === JSON.stringify(s.topic === 'crdt:feed' ? wantFeed : want.hits),
          ),
        { timeout: 15000, what: 'every client to converge' },
      ).catch(() => {});
      for (const s of subs) {
        assert.deepEqual(viewOf(s), s.topic === 'crdt:feed' ? wantFeed : want.hits, `${s.topic} ${s.reply.profile}`);
        assert.equal(s.socket.opens, 1, 'the websocket was never reopened');
        assert.deepEqual(s.socket.closes, [], 'the websocket was never closed');
        assert.equal(s.channel.state, 'joined');
      }
      // the resynchronization after the reconnect came as full state
      assert.ok(
        subs[0].channel.events.some((e) => e.event === 'state'),
        'a state event after the reconnect',
      );
      const m = (await bridge.metrics()).samples;
      assert.ok(m.laniakea_pg_reconnects_total >= 1);
      assert.equal(m.laniakea_pg_up, 1);
      // and pushes work again
      assert.equal((await push(subs[0].channel, 'increment', { column: 'hits' })).status, 'ok');
      await bridge.stop();
    } finally {
      await cluster.stop().catch(() => {});
    }
  });
});

describe('join race', () => {
  test('hundred_clients_joining_during_1khz_writes_miss_nothing', async (t) => {
    const bridge = await startBridge({ name: 'race' });
    // 20 rows, so that 20 joins load a row from PostgreSQL while it is
    // written (later joins of a row are answered from the bridge's copy)
    const ROWS = 20;
    const keys = Array.from({ length: ROWS }, () => uniqueKey('race'));
    await sql('INSERT INTO race (id) SELECT unnest($1::text[])', [keys]);

    // Every update counts as a node id of its own, so a client that misses
    // any single delta ends up with a different state (with one node id per
    // writer, a missed delta would hide behind the next one).
    const WRITERS = 8;
    const RATE = 1000;
    const stop = { now: false };
    const writers = [];
    for (let w = 0; w < WRITERS; w++) {
      writers.push(
        (async () => {
          const c = await pgClient();
          let n = 0;
          const start = performance.now();
          while (!stop.now) {
            const due = start + (n * 1000 * WRITERS) / RATE;
            const now = performance.now();
            if (due > now) await sleep(due - now);
            await c.query('UPDATE race SET hits = increment(hits, $2, 1) WHERE id = $1', [
              keys[(n * WRITERS + w) % ROWS],
              `w${w}-${n}`,
            ]);
            n++;
          }
          await c.end();
          return n;
        })(),
      );
    }

    // 100 clients: 70 full and 20 constrained on the rows, 10 full on the table
    const plan = Array.from({ length: 100 }, (_, i) =>
      i < 70 ? ['row', CAPS.full] : i < 90 ? ['row', CAPS.constrained] : ['table', CAPS.full],
    );
    const sockets = await Promise.all(plan.map(() => connect(bridge)));
    const t0 = performance.now();
    await sleep(300);
    const joined = await Promise.all(
      plan.map(([kind, caps], i) =>
        (async () => {
          await sleep(i * 20); // joins spread over two seconds of writes
          const key = keys[i % ROWS];
          const topic = kind === 'row' ? `crdt:race:${key}` : 'crdt:race';
          return { i, kind, key, ...(await join(sockets[i], topic, { node: `j${i}`, caps })) };
        })(),
      ),
    );
    await sleep(500);
    stop.now = true;
    const counts = await Promise.all(writers);
    const total = counts.reduce((a, b) => a + b, 0);
    const rate = total / ((performance.now() - t0) / 1000);
    t.diagnostic(`${total} updates at ${Math.round(rate)}/s on ${ROWS} rows while 100 clients joined`);
    assert.ok(rate > 300, `writes ran at ${Math.round(rate)}/s: too slow to race anything`);

    const want = {};
    for (const r of (await sql('SELECT id, hits::text FROM race WHERE id = ANY($1)', [keys])).rows)
      want[r.id] = JSON.parse(r.hits);
    assert.equal(
      Object.values(want).reduce((a, h) => a + Object.keys(h).length, 0),
      total,
    );

    // a client's view: its join state merged with every event since
    const viewOf = (j) => {
      const v = {};
      if (j.kind === 'row') v[j.key] = rowView(j.reply, j.channel, { hits: gcMerge }).hits;
      else {
        for (const r of j.reply.rows) if (r.key in want) v[r.key] = r.state.hits;
        for (const e of j.channel.events) {
          if (!(e.payload.key in want)) continue;
          v[e.payload.key] = gcMerge(
            v[e.payload.key],
            e.event === 'delta' ? e.payload.deltas.hits : e.payload.state.hits,
          );
        }
      }
      return v;
    };
    const lacks = (j) => {
      const v = viewOf(j);
      let n = 0;
      for (const key of j.kind === 'row' ? [j.key] : keys) {
        n += Object.keys(want[key]).filter((k) => !(v[key] && k in v[key])).length;
      }
      return n;
    };
    await waitFor(() => joined.every((j) => lacks(j) === 0), {
      timeout: 15000,
      what: 'every client to converge',
    }).catch(() => {});
    const missed = joined
      .map((j) => ({ i: j.i, profile: j.reply.profile, kind: j.kind, lacks: lacks(j) }))
      .filter((m) => m.lacks > 0);
    assert.deepEqual(missed, [], 'clients that missed updates');
    for (const j of joined) {
      const v = viewOf(j);
      for (const key of j.kind === 'row' ? [j.key] : keys)
        assert.deepEqual(v[key], want[key], `client ${j.i} row ${key}`);
    }
    await bridge.stop();
  });
});
