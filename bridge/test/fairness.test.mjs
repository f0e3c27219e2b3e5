// One client cannot starve the others: its pushes waiting for PostgreSQL are
// bounded, the clients' queries take turns on the bridge's connection, the
// queued pushes of a client that disconnects are dropped, and a push blocked
// on a row lock held elsewhere is answered with an error (--push-timeout)
// instead of stalling every client.
//
// A trigger makes every push to a row whose key starts with "slow" take 50 ms
// in PostgreSQL and logs the order in which pushes run, so a flooder's backlog
// is still queued when the other client pushes, and what is asserted is the
// order and the counts, never a duration.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CAPS,
  connect,
  disconnect,
  join,
  pgClient,
  push,
  rawFrame,
  rawWs,
  sql,
  startBridge,
  teardown,
  uniqueKey,
  waitFor,
} from './lib/harness.mjs';

const T = `fair_${process.pid}`;

after(teardown);

before(async () => {
  await sql(`CREATE TABLE ${T} (id text PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}')`);
  await sql(`SELECT laniakea.track('${T}')`);
  await sql(`CREATE TABLE ${T}_log (seq bigserial PRIMARY KEY, id text NOT NULL)`);
  await sql(`CREATE FUNCTION ${T}_slow() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO ${T}_log (id) VALUES (NEW.id);
			IF NEW.id LIKE 'slow%' THEN PERFORM pg_sleep(0.05); END IF;
			RETURN NEW;
		END $$`);
  await sql(`CREATE TRIGGER slow BEFORE UPDATE ON ${T} FOR EACH ROW EXECUTE FUNCTION ${T}_slow()`);
});

// A raw client joined to a fresh row; the row exists so that pushes are UPDATEs.
async function flooder(bridge, key) {
  await sql(`INSERT INTO ${T} (id) VALUES ($1)`, [key]);
  const ws = await rawWs(bridge);
  ws.send(JSON.stringify(['1', 'j', `crdt:${T}:${key}`, 'phx_join', { node: 'flood', caps: CAPS.full }]));
  assert.equal((await rawFrame(ws, (m) => m[1] === 'j'))[4].status, 'ok');
  return ws;
}

function flood(ws, key, n) {
  for (let i = 0; i < n; i++)
    ws.send(JSON.stringify(['1', String(i), `crdt:${T}:${key}`, 'increment', { column: 'hits' }]));
}

const metric = async (bridge, name) => (await bridge.metrics()).samples[name];
const value = async (key) => {
  const r = await sql(`SELECT hits::text AS h FROM ${T} WHERE id = $1`, [key]);
  return Object.values(JSON.parse(r.rows[0].h)).reduce((a, b) => a + b, 0);
};
const log = async () => (await sql(`SELECT id FROM ${T}_log ORDER BY seq`)).rows.map((r) => r.id);

describe('a client flooding pushes', () => {
  let bridge;
  before(async () => {
    bridge = await startBridge({ name: 'fair', args: ['--max-pending-pushes', '300'] });
  });

  test('another_clients_push_runs_before_the_flooders_backlog', async (t) => {
    const N = 200;
    const slow = uniqueKey('slow');
    const fast = uniqueKey('fast');
    const ws = await flooder(bridge, slow);
    const queued = await metric(bridge, 'laniakea_pushes_total');
    flood(ws, slow, N);
    await waitFor(async () => (await metric(bridge, 'laniakea_pushes_total')) === queued + N, {
      what: 'the flood to be queued',
    });

    const socket = await connect(bridge);
    const { channel } = await join(socket, `crdt:${T}:${fast}`, { node: 'other', caps: CAPS.full });
    const ranBefore = (await log()).filter((id) => id === slow).length;
    assert.ok(ranBefore < N / 4, `the backlog is still queued (${ranBefore} of ${N} ran)`);
    assert.deepEqual(await push(channel, 'increment', { column: 'hits' }), { status: 'ok', response: {} });

    // The push waited for at most the flooder's push running when it arrived
    // and one more turn of the flooder's queue (plus one that may have
    // started while the log was read): not for the backlog.
    const order = await log();
    const aheadOfIt = order.slice(0, order.indexOf(fast)).filter((id) => id === slow).length;
    t.diagnostic(
      `${ranBefore} of the flooder's ${N} pushes had run when the other push was sent, ${aheadOfIt} when it ran`,
    );
    assert.ok(
      aheadOfIt <= ranBefore + 3,
      `${aheadOfIt} of the flooder's pushes ran before it (${ranBefore} had run when it was sent)`,
    );
    await disconnect(socket);
    ws.terminate();
  });

  test('queued_pushes_of_a_client_that_disconnects_are_not_run', async (t) => {
    const N = 100;
    const slow = uniqueKey('slow');
    const ws = await flooder(bridge, slow);
    const queued = await metric(bridge, 'laniakea_pushes_total');
    const dropped = await metric(bridge, 'laniakea_pushes_dropped_total');
    flood(ws, slow, N);
    await waitFor(async () => (await metric(bridge, 'laniakea_pushes_total')) === queued + N, {
      what: 'the flood to be queued',
    });
    const open = await metric(bridge, 'laniakea_connections');
    ws.terminate();
    await waitFor(async () => (await metric(bridge, 'laniakea_connections')) === open - 1, {
      what: 'the disconnect to be seen',
    });

    // a push of another client: its reply means the flooder's last query is done
    const socket = await connect(bridge);
    const { channel } = await join(socket, `crdt:${T}:${uniqueKey('after')}`, { node: 'other', caps: CAPS.full });
    assert.equal((await push(channel, 'increment', { column: 'hits' })).status, 'ok');

    const droppedNow = (await metric(bridge, 'laniakea_pushes_dropped_total')) - dropped;
    const ran = await value(slow);
    t.diagnostic(`of ${N} queued pushes ${ran} ran and ${droppedNow} were dropped`);
    assert.equal(ran + droppedNow, N, `${ran} ran and ${droppedNow} were dropped`);
    assert.ok(ran < N / 4, `${ran} of ${N} ran: the backlog was dropped`);
    assert.equal((await log()).filter((id) => id === slow).length, ran);
  });
});

describe('a client past its bound of pending pushes', () => {
  test('pushes_past_max_pending_pushes_are_refused_and_the_rest_run', async () => {
    const BOUND = 10;
    const N = 50;
    const bridge = await startBridge({ name: 'fair-bound', args: ['--max-pending-pushes', String(BOUND)] });
    const slow = uniqueKey('slow');
    const ws = await flooder(bridge, slow);
    const errors = await metric(bridge, 'laniakea_push_errors_total');
    flood(ws, slow, N);
    await waitFor(() => ws.messages.filter((m) => m[3] === 'phx_reply' && m[1] !== 'j').length === N, {
      timeout: 15000,
      what: `${N} replies`,
    });
    const replies = ws.messages.filter((m) => m[3] === 'phx_reply' && m[1] !== 'j');
    const refused = replies.filter((m) => m[4].status === 'error');
    const ok = replies.filter((m) => m[4].status === 'ok');
    assert.ok(refused.length > 0, 'some pushes were refused');
    assert.ok(ok.length >= BOUND, `${ok.length} ran`);
    for (const m of refused) assert.deepEqual(m[4].response, { reason: 'too many pending pushes' });
    // the first BOUND were queued before any was refused
    assert.deepEqual(
      ok.slice(0, BOUND).map((m) => m[1]),
      Array.from({ length: BOUND }, (_, i) => String(i)),
    );
    assert.equal(await value(slow), ok.length);
    assert.equal((await metric(bridge, 'laniakea_push_errors_total')) - errors, refused.length);
    ws.close();
    await bridge.stop();
  });
});

describe('a push blocked on a row lock held elsewhere', () => {
  test('is_answered_with_an_error_after_push_timeout_and_the_other_clients_pushes_and_joins_go_on', async () => {
    const bridge = await startBridge({ name: 'fair-lock', args: ['--push-timeout', '300'] });
    const locked = uniqueKey('locked');
    const free = uniqueKey('free');
    await sql(`INSERT INTO ${T} (id) VALUES ($1), ($2)`, [locked, free]);
    const a = await join(await connect(bridge), `crdt:${T}:${locked}`, { node: 'a', caps: CAPS.full });
    const b = await join(await connect(bridge), `crdt:${T}:${free}`, { node: 'b', caps: CAPS.full });
    const holder = await pgClient();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT FROM ${T} WHERE id = $1 FOR UPDATE`, [locked]);
      // all while the lock is held: the blocked push fails, the others are served
      const blocked = push(a.channel, 'increment', { column: 'hits' });
      const other = push(b.channel, 'increment', { column: 'hits' });
      assert.deepEqual(await blocked, {
        status: 'error',
        response: { reason: 'canceling statement due to statement timeout' },
      });
      assert.deepEqual(await other, { status: 'ok', response: {} });
      const { reply } = await join(await connect(bridge), `crdt:${T}:${free}`, { node: 'c', caps: CAPS.full });
      assert.deepEqual(reply.state.hits, { b: 1 });
      assert.deepEqual(await push(b.channel, 'increment', { column: 'hits' }), { status: 'ok', response: {} });
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    // the lock gone, the same push runs; nothing of the failed one was applied
    assert.deepEqual(await push(a.channel, 'increment', { column: 'hits' }), { status: 'ok', response: {} });
    assert.equal(await value(locked), 1);
    assert.equal(await value(free), 2);
    await bridge.stop();
  });
});
