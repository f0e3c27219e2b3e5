// Deletes: a row's causal length (cl) on the wire, "delete" events on row and
// table topics for DELETE, TRUNCATE and bulk changes, rejoins that learn of
// deletions, pushes that name their incarnation, delete pushes, and topics
// that name keys in their canonical form.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import jwt from 'jsonwebtoken';
import {
  CAPS,
  DATABASE_URL,
  SOURCE,
  connect,
  gcMerge,
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

const SECRET = 'bridge-deletes-secret-0123456789abcdef';

// What a client following the contract ends with for a row's gcounter
// column `likes`: the join reply, then every event in order.  A greater cl
// empties the row first, a smaller one is stale, a deletion empties it.
function likesView(reply, events) {
  let cl = reply.cl ?? 1;
  let likes = reply.deleted ? {} : gcMerge({}, (reply.state ?? reply.delta).likes);
  for (const { event, payload } of events) {
    const incoming = payload.cl ?? 1;
    if (incoming < cl) continue;
    if (incoming > cl) {
      cl = incoming;
      likes = {};
    }
    if (event === 'delete') continue;
    const part = event === 'delta' ? payload.deltas : event === 'state' ? payload.state : null;
    if (part?.likes) likes = gcMerge(likes, part.likes);
  }
  return { cl, deleted: cl % 2 === 0, likes };
}

// A table topic's events about one key, batches opened up: {event, payload}.
function eventsFor(channel, key) {
  const out = [];
  for (const { event, payload } of channel.events) {
    if (event === 'batch') {
      for (const r of payload.rows) {
        if (r.key !== key) continue;
        out.push({ event: r.deleted ? 'delete' : r.state ? 'state' : 'delta', payload: r });
      }
    } else if (payload.key === key) out.push({ event, payload });
  }
  return out;
}

// Events of a later incarnation than the first, and deletions: those carry a cl.
// A row inserted just before a join may also be announced once more after it,
// a harmless duplicate (docs/protocol.md, Join) that these leave out.
const withCl = (events) => events.filter((e) => e.payload.cl !== undefined);

async function dbRow(table, key) {
  const r = await sql(`SELECT likes::text, laniakea_cl::int AS cl FROM ${table} WHERE id = $1`, [key]);
  return r.rows.length ? { likes: JSON.parse(r.rows[0].likes), cl: r.rows[0].cl } : null;
}

async function tombstone(table, key) {
  const r = await sql('SELECT max(cl)::int AS cl FROM laniakea.tombstones WHERE rel = $1 AND key = $2', [table, key]);
  return r.rows[0].cl;
}

// A role with the grants of docs/operations.md, for table dels: its URL.
async function bridgeRole() {
  await sql('DO $$ BEGIN CREATE ROLE lk_bridge_role LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$');
  await sql('GRANT USAGE ON SCHEMA laniakea TO lk_bridge_role');
  await sql('GRANT SELECT ON laniakea.tracked TO lk_bridge_role');
  await sql('GRANT SELECT ON laniakea.tombstones TO lk_bridge_role');
  await sql('GRANT USAGE ON SCHEMA public TO lk_bridge_role');
  await sql('GRANT SELECT, INSERT, UPDATE, DELETE ON dels TO lk_bridge_role');
  // the WAL source's replication connection needs the privilege (docs/operations.md)
  await sql(`ALTER ROLE lk_bridge_role ${SOURCE === 'wal' ? '' : 'NO'}REPLICATION`);
  const url = new URL(DATABASE_URL);
  url.username = 'lk_bridge_role';
  return url.toString();
}

describe('deletes', () => {
  let bridge;
  before(async () => {
    bridge = await startBridge({ name: 'deletes' });
  });
  after(teardown);

  test('sql_delete_reaches_row_and_table_subscribers_as_delete_and_new_joiners_see_it_deleted', async () => {
    const key = uniqueKey('d');
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"a":3}')`, [key]);
    const s = await connect(bridge);
    const { channel: row, reply } = await join(s, `crdt:dels:${key}`, { node: 'n', caps: CAPS.full });
    assert.equal(reply.cl, 1);
    assert.deepEqual(reply.state, { likes: { a: 3 }, tags: {} });
    const { channel: table, reply: treply } = await join(s, 'crdt:dels', { node: 'n', caps: CAPS.full });
    assert.deepEqual(
      treply.rows.find((r) => r.key === key),
      { key, state: { likes: { a: 3 }, tags: {} } },
    );
    const slow = await connect(bridge);
    const { channel: crow } = await join(slow, `crdt:dels:${key}`, { node: 'n', caps: CAPS.constrained });
    const { channel: ctable } = await join(slow, 'crdt:dels', { node: 'n', caps: CAPS.constrained });
    const min = await connect(bridge);
    const { channel: mrow } = await join(min, `crdt:dels:${key}`, { node: 'n', caps: CAPS.minimal });

    await sql('DELETE FROM dels WHERE id = $1', [key]);
    for (const [what, ch] of [
      ['full row', row],
      ['full table', table],
      ['constrained row', crow],
      ['minimal row', mrow],
    ]) {
      const e = await waitFor(() => eventsFor(ch, key).find((x) => x.event === 'delete'), {
        what: `delete on the ${what} topic`,
      });
      assert.deepEqual(e.payload, { key, cl: 2 }, what);
      const evs = eventsFor(ch, key);
      assert.equal(
        evs.findIndex((x) => x.event === 'delete'),
        evs.length - 1,
        `nothing after the deletion on the ${what} topic`,
      );
    }
    // a throttled table topic batches it, marked as a deletion
    const b = await waitFor(
      () => ctable.events.find((e) => e.event === 'batch' && e.payload.rows.some((r) => r.key === key && r.deleted)),
      { what: 'the deletion in a batch' },
    );
    assert.deepEqual(
      b.payload.rows.find((r) => r.key === key),
      { key, cl: 2, deleted: true },
    );

    // new joiners: the row is deleted, its old state is gone
    const s2 = await connect(bridge);
    const { reply: r2 } = await join(s2, `crdt:dels:${key}`, { node: 'n2', caps: CAPS.full });
    assert.deepEqual(
      { cl: r2.cl, deleted: r2.deleted, state: r2.state },
      { cl: 2, deleted: true, state: { likes: {}, tags: {} } },
    );
    const { reply: t2 } = await join(s2, 'crdt:dels', { node: 'n2', caps: CAPS.full });
    assert.equal(
      t2.rows.find((r) => r.key === key),
      undefined,
    );
    // a row never written is not deleted: cl 1
    const { reply: r3 } = await join(s2, `crdt:dels:${uniqueKey('never')}`, { node: 'n2', caps: CAPS.full });
    assert.deepEqual(
      { cl: r3.cl, deleted: r3.deleted, state: r3.state },
      { cl: 1, deleted: undefined, state: { likes: {}, tags: {} } },
    );
  });

  test('delete_then_insert_again_in_sql_reaches_subscribers_with_the_new_cl_and_only_the_new_state', async () => {
    const key = uniqueKey('again');
    await sql(`INSERT INTO dels (id, likes, tags) VALUES ($1, '{"a":3}', add('{}'::orset, 'old', 'db'))`, [key]);
    const s = await connect(bridge);
    const { channel: row, reply } = await join(s, `crdt:dels:${key}`, { node: 'n', caps: CAPS.full });
    const { channel: table, reply: treply } = await join(s, 'crdt:dels', { node: 'n', caps: CAPS.full });
    const slow = await connect(bridge);
    const { channel: crow, reply: creply } = await join(slow, `crdt:dels:${key}`, {
      node: 'n',
      caps: CAPS.constrained,
    });

    await sql('DELETE FROM dels WHERE id = $1', [key]);
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"b":1}')`, [key]);
    await waitFor(() => withCl(row.events).length >= 2, { what: 'the delete and the new incarnation' });
    assert.deepEqual(
      withCl(row.events).map((e) => [e.event, e.payload]),
      [
        ['delete', { key, cl: 2 }],
        ['delta', { key, cl: 3, deltas: { likes: { b: 1 }, tags: {} } }],
      ],
    );
    await waitFor(() => withCl(eventsFor(table, key)).length >= 2, { what: 'the table topic events' });
    assert.deepEqual(
      withCl(eventsFor(table, key)).map((e) => [e.event, e.payload]),
      [
        ['delete', { key, cl: 2 }],
        ['delta', { key, cl: 3, deltas: { likes: { b: 1 }, tags: {} } }],
      ],
    );

    // deleted and inserted in one transaction: one entry, of the next incarnation
    const c = await pgClient();
    await c.query('BEGIN');
    await c.query('DELETE FROM dels WHERE id = $1', [key]);
    await c.query(`INSERT INTO dels (id, likes) VALUES ($1, '{"c":1}')`, [key]);
    await c.query('COMMIT');
    await c.end();
    await waitFor(() => withCl(row.events).length >= 3, { what: 'the incarnation after' });
    assert.deepEqual(withCl(row.events)[2].payload, { key, cl: 5, deltas: { likes: { c: 1 }, tags: {} } });

    // every subscriber ends with the database's row, nothing of the old ones
    const db = await dbRow('dels', key);
    assert.deepEqual(db, { likes: { c: 1 }, cl: 5 });
    const want = { cl: 5, deleted: false, likes: { c: 1 } };
    assert.deepEqual(likesView(reply, row.events), want);
    await waitFor(() => withCl(eventsFor(table, key)).length >= 3, { what: 'the table topic event' });
    assert.deepEqual(
      likesView(
        treply.rows.find((r) => r.key === key),
        eventsFor(table, key),
      ),
      want,
    );
    await waitFor(() => likesView(creply, crow.events).cl === 5, { what: 'the constrained subscriber to reach cl 5' });
    assert.deepEqual(likesView(creply, crow.events), want);
    const s2 = await connect(bridge);
    const { reply: r2 } = await join(s2, `crdt:dels:${key}`, { node: 'n2', caps: CAPS.full });
    assert.deepEqual({ cl: r2.cl, state: r2.state }, { cl: 5, state: { likes: { c: 1 }, tags: {} } });
  });

  test('truncate_deletes_every_row_subscribers_hold', async () => {
    const keys = [uniqueKey('t1'), uniqueKey('t2'), uniqueKey('t3')];
    for (const k of keys) await sql(`INSERT INTO trunc (id, likes) VALUES ($1, '{"a":1}')`, [k]);
    const s = await connect(bridge);
    const { channel: table } = await join(s, 'crdt:trunc', { node: 'n', caps: CAPS.full });
    const { channel: row } = await join(s, `crdt:trunc:${keys[0]}`, { node: 'n', caps: CAPS.full });
    const slow = await connect(bridge);
    const { channel: ctable } = await join(slow, 'crdt:trunc', { node: 'n', caps: CAPS.constrained });

    await sql('TRUNCATE trunc');
    for (const k of keys) {
      const e = await waitFor(() => withCl(eventsFor(table, k))[0], { what: `the deletion of ${k}` });
      assert.deepEqual(e, { event: 'delete', payload: { key: k, cl: 2 } });
      const c = await waitFor(() => withCl(eventsFor(ctable, k))[0], { what: `the batched deletion of ${k}` });
      assert.deepEqual(c.payload, { key: k, cl: 2, deleted: true });
    }
    await waitFor(() => withCl(row.events).length >= 1, { what: 'the row topic deletion' });
    assert.deepEqual(
      withCl(row.events).map((e) => [e.event, e.payload]),
      [['delete', { key: keys[0], cl: 2 }]],
    );

    // rows written after a TRUNCATE in its transaction are the next incarnation:
    // keys[0] goes from 3 to 5 (which says that 3 is gone), keys[1] is deleted at 4
    for (const k of keys.slice(0, 2)) await sql(`INSERT INTO trunc (id, likes) VALUES ($1, '{"b":1}')`, [k]);
    await waitFor(() => withCl(eventsFor(table, keys[1])).length >= 2, { what: 'the rows inserted again' });
    const before = withCl(eventsFor(table, keys[0])).length;
    const c = await pgClient();
    await c.query('BEGIN');
    await c.query('TRUNCATE trunc');
    await c.query(`INSERT INTO trunc (id, likes) VALUES ($1, '{"z":1}')`, [keys[0]]);
    await c.query('COMMIT');
    await c.end();
    await waitFor(() => withCl(eventsFor(table, keys[1])).length >= 3, { what: 'the second truncation' });
    assert.deepEqual(withCl(eventsFor(table, keys[1])).at(-1), { event: 'delete', payload: { key: keys[1], cl: 4 } });
    await waitFor(() => withCl(eventsFor(table, keys[0])).length > before, {
      what: 'the incarnation after the truncation',
    });
    assert.deepEqual(
      withCl(eventsFor(table, keys[0]))
        .slice(before - 1, before + 1)
        .map((e) => [e.event, e.payload]),
      [
        ['delta', { key: keys[0], cl: 3, deltas: { likes: { b: 1 } } }],
        ['delta', { key: keys[0], cl: 5, deltas: { likes: { z: 1 } } }],
      ],
    );
    // what follows is at most the re-read's state of the new incarnation
    for (const e of withCl(eventsFor(table, keys[0])).slice(before + 1)) {
      assert.deepEqual(e, { event: 'state', payload: { key: keys[0], cl: 5, state: { likes: { z: 1 } } } });
    }
    assert.equal(withCl(eventsFor(table, keys[2])).length, 1, 'a row already deleted is not deleted again');
    assert.deepEqual(await dbRow('trunc', keys[0]), { likes: { z: 1 }, cl: 5 });
  });

  // Issue 8 item 2: the bridge kept the deleted row and merged later writes into it.
  test('push_after_a_delete_does_not_resurrect_the_old_state_for_new_joiners', async () => {
    const key = uniqueKey('res');
    await sql(`INSERT INTO dels (id, tags) VALUES ($1, add('{}'::orset, 'x', 'db'))`, [key]);
    const s = await connect(bridge);
    const { channel } = await join(s, `crdt:dels:${key}`, { node: 'me', caps: CAPS.full });
    const { channel: table } = await join(s, 'crdt:dels', { node: 'me', caps: CAPS.full });
    await sql('DELETE FROM dels WHERE id = $1', [key]);
    // notifications come in commit order: once a later write is seen, so was the DELETE
    const marker = uniqueKey('marker');
    await sql('INSERT INTO dels (id) VALUES ($1)', [marker]);
    await waitFor(() => eventsFor(table, marker).length, { what: 'a write after the DELETE' });
    assert.deepEqual(await push(channel, 'add', { column: 'tags', element: 'y' }), { status: 'ok', response: {} });
    const db = (
      await sql('SELECT tags::text, elements(tags) AS e, laniakea_cl::int AS cl FROM dels WHERE id = $1', [key])
    ).rows[0];
    assert.deepEqual(db.e, ['y']);
    const again = uniqueKey('marker');
    await sql('INSERT INTO dels (id) VALUES ($1)', [again]);
    await waitFor(() => eventsFor(table, again).length, { what: 'a write after the push' });

    const s2 = await connect(bridge);
    const { reply } = await join(s2, `crdt:dels:${key}`, { node: 'new', caps: CAPS.full });
    assert.deepEqual({ cl: reply.cl, tags: reply.state.tags }, { cl: db.cl, tags: JSON.parse(db.tags) });
    const { reply: treply } = await join(s2, 'crdt:dels', { node: 'new', caps: CAPS.full });
    assert.deepEqual(
      treply.rows.find((r) => r.key === key),
      { key, cl: db.cl, state: { likes: {}, tags: JSON.parse(db.tags) } },
    );
  });

  test('client_that_was_away_rejoins_with_have_and_learns_of_deletions', async () => {
    const gone = uniqueKey('gone'); // deleted while no subscriber held it
    const held = uniqueKey('held'); // deleted while a row subscriber held it
    const back = uniqueKey('back'); // deleted and inserted again
    const alive = uniqueKey('alive');
    const never = uniqueKey('never'); // the client's own, never pushed
    await sql(
      `INSERT INTO rejoin (id, likes) VALUES ($1, '{"a":1}'), ($2, '{"a":2}'), ($3, '{"a":3}'), ($4, '{"a":4}')`,
      [gone, held, back, alive],
    );
    const watcher = await connect(bridge);
    const { channel: heldRow } = await join(watcher, `crdt:rejoin:${held}`, { node: 'w', caps: CAPS.full });
    await sql('DELETE FROM rejoin WHERE id IN ($1, $2, $3)', [gone, held, back]);
    await sql(`INSERT INTO rejoin (id, likes) VALUES ($1, '{"b":1}')`, [back]);
    await waitFor(() => heldRow.events.some((e) => e.event === 'delete'), { what: 'the held row deleted' });

    // a table topic: the keys its have names that are deleted now come back as
    // such, from the tombstones when the bridge does not hold them
    const have = {
      [gone]: { likes: { a: 1 } },
      [held]: { likes: { a: 2 } },
      [back]: { likes: { a: 3 } },
      [alive]: { likes: { a: 4 } },
      [never]: { likes: { me: 1 } },
    };
    const expect = (rows) => {
      const mine = Object.fromEntries(rows.filter((x) => x.key in have).map((x) => [x.key, x]));
      assert.deepEqual(mine, {
        [gone]: { key: gone, cl: 2, deleted: true },
        [held]: { key: held, cl: 2, deleted: true },
        [back]: { key: back, cl: 3, state: { likes: { b: 1 } } },
        [alive]: { key: alive, delta: { likes: {} } },
      });
    };
    const s = await connect(bridge);
    expect((await join(s, 'crdt:rejoin', { node: 'me', caps: CAPS.full, have })).reply.rows);

    // row topics
    let r = (await join(s, `crdt:rejoin:${gone}`, { node: 'me', caps: CAPS.full, have: { likes: { a: 1 } } })).reply;
    assert.deepEqual({ cl: r.cl, deleted: r.deleted, state: r.state }, { cl: 2, deleted: true, state: { likes: {} } });
    r = (await join(s, `crdt:rejoin:${held}`, { node: 'me', caps: CAPS.full, have: { likes: { a: 2 } } })).reply;
    assert.deepEqual({ cl: r.cl, deleted: r.deleted, state: r.state }, { cl: 2, deleted: true, state: { likes: {} } });
    // have is of an older incarnation: the whole state, never a delta against it
    r = (await join(s, `crdt:rejoin:${back}`, { node: 'me', caps: CAPS.full, have: { likes: { a: 3 } } })).reply;
    assert.deepEqual(
      { cl: r.cl, state: r.state, delta: r.delta },
      { cl: 3, state: { likes: { b: 1 } }, delta: undefined },
    );
    r = (await join(s, `crdt:rejoin:${alive}`, { node: 'me', caps: CAPS.full, have: { likes: { a: 4 } } })).reply;
    assert.deepEqual({ cl: r.cl, delta: r.delta }, { cl: 1, delta: { likes: {} } });

    // a table join again, while the bridge holds the table and these rows
    const s2 = await connect(bridge);
    expect((await join(s2, 'crdt:rejoin', { node: 'me', caps: CAPS.constrained, have })).reply.rows);
  });

  test('tombstone_from_another_node_deletes_the_row_for_subscribers', async () => {
    const key = uniqueKey('peer');
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"a":1}')`, [key]);
    const s = await connect(bridge);
    const { channel: row } = await join(s, `crdt:dels:${key}`, { node: 'n', caps: CAPS.full });
    const { channel: table } = await join(s, 'crdt:dels', { node: 'n', caps: CAPS.full });
    // as a logical replication apply worker applies one: a replication origin, replica role
    const c = await pgClient();
    await c.query(
      "SELECT pg_replication_origin_create('lk_bridge_peer') WHERE NOT EXISTS (SELECT FROM pg_replication_origin WHERE roname = 'lk_bridge_peer')",
    );
    await c.query('SET session_replication_role = replica');
    await c.query("SELECT pg_replication_origin_session_setup('lk_bridge_peer')");
    // the peer deleted the row, inserted it again and deleted that: its tombstone is 4
    await c.query("INSERT INTO laniakea.tombstones (nsp, rel, key, cl) VALUES ('public', 'dels', $1, 4)", [key]);
    await c.query('SELECT pg_replication_origin_session_reset()');
    await c.end();
    assert.equal(await dbRow('dels', key), null);
    await waitFor(() => withCl(row.events).length >= 1 && withCl(eventsFor(table, key)).length >= 1, {
      what: 'the deletion',
    });
    assert.deepEqual(
      withCl(row.events).map((e) => [e.event, e.payload]),
      [['delete', { key, cl: 4 }]],
    );
    assert.deepEqual(withCl(eventsFor(table, key)), [{ event: 'delete', payload: { key, cl: 4 } }]);
  });

  test('bridge_that_was_away_from_postgres_learns_of_deletions_when_it_reconnects', async () => {
    const b = await startBridge({ name: 'deletes-away', db: await bridgeRole() });
    const [held, listed, back] = [uniqueKey('away'), uniqueKey('away'), uniqueKey('away')];
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"a":1}'), ($2, '{"a":2}'), ($3, '{"a":3}')`, [
      held,
      listed,
      back,
    ]);
    const s = await connect(b);
    const { channel: heldRow } = await join(s, `crdt:dels:${held}`, { node: 'n', caps: CAPS.full });
    const { channel: backRow } = await join(s, `crdt:dels:${back}`, { node: 'n', caps: CAPS.full });
    const { channel: table } = await join(s, 'crdt:dels', { node: 'n', caps: CAPS.full });
    // the bridge cannot reconnect until LOGIN is given back: what follows is never notified to it
    await sql('ALTER ROLE lk_bridge_role NOLOGIN');
    try {
      await sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'lk_bridge_role'");
      await waitFor(async () => (await b.healthz()).postgres === 'down', { what: 'the bridge to lose PostgreSQL' });
      await sql('DELETE FROM dels WHERE id IN ($1, $2, $3)', [held, listed, back]);
      await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"b":1}')`, [back]);
    } finally {
      await sql('ALTER ROLE lk_bridge_role LOGIN');
    }
    await waitFor(
      () =>
        withCl(heldRow.events).length >= 1 &&
        withCl(backRow.events).length >= 1 &&
        withCl(eventsFor(table, held)).length >= 1 &&
        withCl(eventsFor(table, listed)).length >= 1 &&
        withCl(eventsFor(table, back)).length >= 1,
      { timeout: 15000, what: 'the resync after the reconnection' },
    );
    assert.deepEqual(
      withCl(heldRow.events).map((e) => [e.event, e.payload]),
      [['delete', { key: held, cl: 2 }]],
    );
    assert.deepEqual(
      withCl(backRow.events).map((e) => [e.event, e.payload]),
      [['state', { key: back, cl: 3, state: { likes: { b: 1 }, tags: {} } }]],
    );
    assert.deepEqual(withCl(eventsFor(table, held)), [{ event: 'delete', payload: { key: held, cl: 2 } }]);
    assert.deepEqual(withCl(eventsFor(table, listed)), [{ event: 'delete', payload: { key: listed, cl: 2 } }]);
    assert.deepEqual(withCl(eventsFor(table, back)), [
      { event: 'state', payload: { key: back, cl: 3, state: { likes: { b: 1 }, tags: {} } } },
    ]);
    await b.stop();
  });

  // A read can run between a commit and its notification, so a notification
  // may come after a read that saw a later state.  Played here by sending,
  // after the facts, the payloads the trigger sent for earlier commits.
  test('late_notifications_older_than_a_read_bring_nothing_back', {
    skip: SOURCE === 'wal' && 'plays NOTIFY payloads, which the WAL source ignores',
  }, async () => {
    const key = uniqueKey('late');
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"old":1}')`, [key]);
    await sql('DELETE FROM dels WHERE id = $1', [key]);
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"new":1}')`, [key]);
    const s = await connect(bridge);
    const { channel: row, reply } = await join(s, `crdt:dels:${key}`, { node: 'n', caps: CAPS.full });
    await waitFor(() => likesView(reply, row.events).cl === 3, { what: 'the row at cl 3' });
    const marks = await join(s, 'crdt:trunc', { node: 'n', caps: CAPS.full });
    // notifications come in order: once a write after them is seen, so were they
    const mark = async () => {
      const m = uniqueKey('mark');
      await sql('INSERT INTO trunc (id) VALUES ($1)', [m]);
      await waitFor(() => eventsFor(marks.channel, m).length, { what: 'a later write' });
    };
    const late = (entry) => sql('SELECT pg_notify($1, $2)', ['laniakea', JSON.stringify({ ts: 1, rows: [entry] })]);
    const seen = row.events.length;

    // the first incarnation's insert (no cl: 1) and its deletion
    await late({ topic: `crdt:dels:${key}`, table: 'dels', key, deltas: { likes: { old: 1 } } });
    await late({ topic: `crdt:dels:${key}`, table: 'dels', key, cl: 2, deleted: true });
    await mark();
    assert.deepEqual(row.events.slice(seen), []);
    const { reply: r2 } = await join(await connect(bridge), `crdt:dels:${key}`, { node: 'n2', caps: CAPS.full });
    assert.deepEqual({ cl: r2.cl, likes: r2.state.likes }, { cl: 3, likes: { new: 1 } });

    // a TRUNCATE before the rows there are now: they stay
    const kept = uniqueKey('kept');
    await sql(`INSERT INTO trunc (id, likes) VALUES ($1, '{"k":1}')`, [kept]);
    const { channel: keptRow } = await join(s, `crdt:trunc:${kept}`, { node: 'n', caps: CAPS.full });
    await late({ topic: 'crdt:trunc', table: 'trunc', truncated: true });
    await mark();
    // the re-read resends the row to both topics: then nothing more can come of it
    await waitFor(
      () =>
        keptRow.events.some((e) => e.event === 'state') &&
        eventsFor(marks.channel, kept).some((e) => e.event === 'state'),
      { what: 'the re-read' },
    );
    assert.deepEqual(
      keptRow.events.filter((e) => e.event === 'delete'),
      [],
    );
    assert.deepEqual(
      eventsFor(marks.channel, kept).filter((e) => e.event === 'delete'),
      [],
    );
    const { reply: r3 } = await join(await connect(bridge), `crdt:trunc:${kept}`, { node: 'n2', caps: CAPS.full });
    assert.deepEqual(
      { cl: r3.cl, deleted: r3.deleted, likes: r3.state.likes },
      { cl: 1, deleted: undefined, likes: { k: 1 } },
    );
  });

  test('merge_push_of_a_stale_incarnation_is_discarded_and_of_the_current_one_merges', async () => {
    const key = uniqueKey('cl');
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"db":1}')`, [key]);
    await sql('DELETE FROM dels WHERE id = $1', [key]);
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"db":2}')`, [key]);
    const s = await connect(bridge);
    const { channel, reply } = await join(s, `crdt:dels:${key}`, { node: 'me', caps: CAPS.full });
    // a join answered from a row the bridge holds may be a notification behind: it follows
    await waitFor(() => likesView(reply, channel.events).cl === 3, { what: 'the client to reach cl 3' });

    // of the incarnation deleted before: ok, and the database discards it
    assert.deepEqual(await push(channel, 'merge', { column: 'likes', delta: { me: 5 }, cl: 1 }), {
      status: 'ok',
      response: {},
    });
    assert.deepEqual(await dbRow('dels', key), { likes: { db: 2 }, cl: 3 });
    // of the current one: merged
    assert.deepEqual(await push(channel, 'merge', { column: 'likes', delta: { me: 6 }, cl: 3 }), {
      status: 'ok',
      response: {},
    });
    assert.deepEqual(await dbRow('dels', key), { likes: { db: 2, me: 6 }, cl: 3 });

    // after a delete, a push of the deleted incarnation does not bring it back
    await sql('DELETE FROM dels WHERE id = $1', [key]);
    await waitFor(() => channel.events.some((e) => e.event === 'delete'), { what: 'the delete event' });
    assert.equal((await push(channel, 'merge', { column: 'likes', delta: { me: 7 }, cl: 3 })).status, 'ok');
    assert.equal(await dbRow('dels', key), null);
    assert.equal(await tombstone('dels', key), 4);
    const s2 = await connect(bridge);
    const { reply: r2 } = await join(s2, `crdt:dels:${key}`, { node: 'other', caps: CAPS.full });
    assert.deepEqual({ cl: r2.cl, deleted: r2.deleted, likes: r2.state.likes }, { cl: 4, deleted: true, likes: {} });

    // a client re-creating the row names the next incarnation: it starts afresh
    assert.equal((await push(channel, 'merge', { column: 'likes', delta: { me: 8 }, cl: 5 })).status, 'ok');
    assert.deepEqual(await dbRow('dels', key), { likes: { me: 8 }, cl: 5 });
    await waitFor(() => channel.events.some((e) => e.payload.cl === 5), { what: 'the new incarnation' });
    assert.deepEqual(channel.events.find((e) => e.payload.cl === 5).payload, {
      key,
      cl: 5,
      deltas: { likes: { me: 8 }, tags: {} },
    });
    // a later incarnation than the database's replaces the row whole
    assert.equal((await push(channel, 'merge', { column: 'likes', delta: { me: 9 }, cl: 7 })).status, 'ok');
    assert.deepEqual(await dbRow('dels', key), { likes: { me: 9 }, cl: 7 });
  });

  test('delete_push_deletes_the_row_and_with_cl_only_that_incarnation_or_an_earlier_one', async () => {
    const key = uniqueKey('dp');
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"a":1}')`, [key]);
    const s = await connect(bridge);
    const { channel } = await join(s, `crdt:dels:${key}`, { node: 'me', caps: CAPS.full });
    const { channel: other } = await join(await connect(bridge), `crdt:dels:${key}`, {
      node: 'other',
      caps: CAPS.full,
    });
    assert.deepEqual(await push(channel, 'delete', {}), { status: 'ok', response: {} });
    assert.equal(await dbRow('dels', key), null);
    assert.equal(await tombstone('dels', key), 2);
    await waitFor(() => withCl(other.events).length >= 1, { what: 'the deletion' });
    assert.deepEqual(withCl(other.events).map((e) => [e.event, e.payload])[0], ['delete', { key, cl: 2 }]);

    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"b":1}')`, [key]);
    // a client that saw only the incarnation deleted before cannot delete this one
    assert.deepEqual(await push(channel, 'delete', { cl: 1 }), { status: 'ok', response: {} });
    assert.deepEqual(await dbRow('dels', key), { likes: { b: 1 }, cl: 3 });
    assert.deepEqual(await push(channel, 'delete', { cl: 3 }), { status: 'ok', response: {} });
    assert.equal(await dbRow('dels', key), null);
    assert.equal(await tombstone('dels', key), 4);

    // a table topic names the key
    const k2 = uniqueKey('dpt');
    const { channel: table } = await join(s, 'crdt:dels', { node: 'me', caps: CAPS.full });
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"a":1}')`, [k2]);
    await waitFor(() => eventsFor(table, k2).length >= 1, { what: 'the row on the table topic' });
    assert.deepEqual(await push(table, 'delete', { key: k2 }), { status: 'ok', response: {} });
    assert.equal(await dbRow('dels', k2), null);
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"b":1}')`, [k2]);
    assert.equal((await push(table, 'delete', { key: k2, cl: 1 })).status, 'ok');
    assert.deepEqual(await dbRow('dels', k2), { likes: { b: 1 }, cl: 3 });
    assert.equal((await push(table, 'delete', { key: k2, cl: 3 })).status, 'ok');
    assert.equal(await dbRow('dels', k2), null);
    await waitFor(() => eventsFor(table, k2).filter((e) => e.event === 'delete').length >= 2, {
      what: 'both deletions',
    });
    assert.deepEqual(
      eventsFor(table, k2).map((e) => [e.event, e.payload.cl]),
      [
        ['delta', undefined],
        ['delete', 2],
        ['delta', 3],
        ['delete', 4],
      ],
    );
  });

  test('delete_push_with_cl_of_an_absent_row_records_the_deletion_for_other_nodes', async () => {
    // a client created the row offline (cl 1) and deleted it before it was ever sent
    const key = uniqueKey('ghost');
    const s = await connect(bridge);
    const { channel } = await join(s, `crdt:dels:${key}`, { node: 'me', caps: CAPS.full });
    assert.deepEqual(await push(channel, 'delete', { cl: 1 }), { status: 'ok', response: {} });
    assert.equal(await tombstone('dels', key), 2);
    // incarnation 1, arriving later from another writer, is the one deleted: it is discarded
    const { channel: other } = await join(await connect(bridge), `crdt:dels:${key}`, {
      node: 'other',
      caps: CAPS.full,
    });
    assert.equal((await push(other, 'merge', { column: 'likes', delta: { other: 5 }, cl: 1 })).status, 'ok');
    assert.equal(await dbRow('dels', key), null);
    // the next incarnation is the row, for everyone
    assert.equal((await push(other, 'merge', { column: 'likes', delta: { other: 5 }, cl: 3 })).status, 'ok');
    assert.deepEqual(await dbRow('dels', key), { likes: { other: 5 }, cl: 3 });
    // a delete without cl of an absent row deletes nothing and records nothing
    const k2 = uniqueKey('ghost');
    const { channel: c2 } = await join(s, `crdt:dels:${k2}`, { node: 'me', caps: CAPS.full });
    assert.deepEqual(await push(c2, 'delete', {}), { status: 'ok', response: {} });
    assert.equal(await tombstone('dels', k2), null);
  });

  // the WAL source's bulk change: wal.test.mjs
  test('resync_entry_of_a_bulk_change_reaches_subscribers_as_state_and_delete', {
    skip: SOURCE === 'wal' && "NOTIFY's resync entry (laniakea.notify_memory); the WAL has every row",
  }, async () => {
    const n = 1000;
    const prefix = uniqueKey('bulk');
    const key = (i) => `${prefix}-${String(i).padStart(4, '0')}`;
    await sql(
      `INSERT INTO bulk (id, likes) SELECT $1 || '-' || lpad(i::text, 4, '0'), '{"a":1}' FROM generate_series(1, ${n}) i`,
      [prefix],
    );
    const s = await connect(bridge);
    const { channel: table } = await join(s, 'crdt:bulk', { node: 'n', caps: CAPS.full });
    const { channel: row } = await join(s, `crdt:bulk:${key(1)}`, { node: 'n', caps: CAPS.full });
    const { channel: goneRow } = await join(s, `crdt:bulk:${key(2)}`, { node: 'n', caps: CAPS.full });

    // more changes than 64 kB of notification records: the table is sent as one resync entry
    const c = await pgClient();
    await c.query('BEGIN');
    await c.query("SET LOCAL laniakea.notify_memory = '64kB'");
    await c.query(`UPDATE bulk SET likes = increment(likes, 'b', 1) WHERE id LIKE $1 || '%'`, [prefix]);
    await c.query('DELETE FROM bulk WHERE id IN ($1, $2)', [key(2), key(3)]);
    await c.query('DELETE FROM bulk WHERE id = $1', [key(4)]);
    await c.query(`INSERT INTO bulk (id, likes) VALUES ($1, '{"c":1}')`, [key(4)]);
    await c.query('COMMIT');
    await c.end();

    // the resync: state and delete events; a delta of the change would mean it came as rows
    const resync = (evs) => evs.filter((e) => e.event !== 'delta' || e.payload.deltas.likes?.b || e.payload.cl);
    const st = await waitFor(() => row.events.find((e) => e.event === 'state'), { what: 'the row topic resync' });
    assert.deepEqual(st.payload, { key: key(1), state: { likes: { a: 1, b: 1 } } });
    assert.deepEqual(resync(row.events), [st]);
    await waitFor(() => resync(goneRow.events).length >= 1, { what: 'the row topic deletion' });
    assert.deepEqual(
      resync(goneRow.events).map((e) => [e.event, e.payload]),
      [['delete', { key: key(2), cl: 2 }]],
    );
    await waitFor(() => resync(eventsFor(table, key(n))).length >= 1 && resync(eventsFor(table, key(3))).length >= 1, {
      what: 'the table topic resync',
    });
    assert.deepEqual(resync(eventsFor(table, key(n))), [
      { event: 'state', payload: { key: key(n), state: { likes: { a: 1, b: 1 } } } },
    ]);
    assert.deepEqual(resync(eventsFor(table, key(2))), [{ event: 'delete', payload: { key: key(2), cl: 2 } }]);
    assert.deepEqual(resync(eventsFor(table, key(3))), [{ event: 'delete', payload: { key: key(3), cl: 2 } }]);
    await waitFor(() => resync(eventsFor(table, key(4))).length >= 1, { what: 'the new incarnation' });
    assert.deepEqual(resync(eventsFor(table, key(4))), [
      { event: 'state', payload: { key: key(4), cl: 3, state: { likes: { c: 1 } } } },
    ]);
  });

  test('reference_entry_of_a_new_incarnation_replaces_the_row', async () => {
    const key = uniqueKey('big');
    // a set whose state does not fit a NOTIFY payload: its entry is a reference
    const big = `DO $$ DECLARE s orset := '{}'; BEGIN
			FOR i IN 1..400 LOOP s := add(s, 'element-' || i || repeat('x', 20), 'db'); END LOOP;
			INSERT INTO dels (id, likes, tags) VALUES ('${key}', '{"new":1}', s); END $$`;
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"old":1}')`, [key]);
    const s = await connect(bridge);
    const { channel, reply } = await join(s, `crdt:dels:${key}`, { node: 'n', caps: CAPS.full });
    const c = await pgClient();
    await c.query('BEGIN');
    await c.query('DELETE FROM dels WHERE id = $1', [key]);
    await c.query(big);
    await c.query('COMMIT');
    await c.end();
    await waitFor(() => withCl(channel.events).length >= 1, { what: 'the fetched row' });
    assert.equal(withCl(channel.events)[0].payload.cl, 3);
    assert.deepEqual(withCl(channel.events)[0].payload.deltas.likes, { new: 1 });
    assert.equal((await sql('SELECT cardinality(tags) AS n FROM dels WHERE id = $1', [key])).rows[0].n, 400);
    assert.deepEqual(likesView(reply, channel.events), { cl: 3, deleted: false, likes: { new: 1 } });
  });

  test('join_of_a_key_not_in_canonical_form_is_refused_naming_the_canonical_form', async () => {
    const s = await connect(bridge);
    const refused = async (topic) => {
      try {
        await join(s, topic, { node: 'n', caps: CAPS.full });
      } catch (e) {
        return e.response;
      }
      throw new Error(`${topic} was joined`);
    };
    assert.deepEqual(await refused('crdt:app.items:042'), { reason: 'key is not in canonical form: "42"' });
    assert.deepEqual(await refused('crdt:app.items: 42'), { reason: 'key is not in canonical form: "42"' });
    assert.deepEqual(await refused('crdt:app.items:+42'), { reason: 'key is not in canonical form: "42"' });
    assert.deepEqual(await refused('crdt:app.items:forty-two'), { reason: 'invalid key' });
    assert.deepEqual(await refused('crdt:app.items:99999999999'), { reason: 'invalid key' });
    assert.deepEqual(await refused('crdt:stamps:2024-01-02T03:04:05Z'), {
      reason: 'key is not in canonical form: "2024-01-02 03:04:05+00"',
    });
    assert.deepEqual(await refused('crdt:stamps:Jan 2 2024 04:04:05+01'), {
      reason: 'key is not in canonical form: "2024-01-02 03:04:05+00"',
    });
    assert.deepEqual(await refused('crdt:stamps:yesterday-ish'), { reason: 'invalid key' });
    assert.deepEqual(await refused(`crdt:dels:${'k'.repeat(3000)}`), { reason: 'invalid key' });

    // the canonical topic is the row's, whatever the settings of the session that writes it
    const id = 7000000 + Math.floor(Math.random() * 1e6);
    const { channel: items } = await join(s, `crdt:app.items:${id}`, { node: 'n', caps: CAPS.full });
    await sql(`INSERT INTO app.items (id, votes) VALUES ($1, '{"p":{"a":1}}')`, [id]);
    await waitFor(() => items.events.length >= 1, { what: 'the integer-keyed row' });
    const at = `2024-01-02 03:04:${String(10 + Math.floor(Math.random() * 49)).padStart(2, '0')}.${Math.floor(Math.random() * 1e6)}+00`;
    const canonical = (await sql('SELECT laniakea.key_text($1, $2) AS k', ['stamps', at])).rows[0].k;
    const { channel: stamp } = await join(s, `crdt:stamps:${canonical}`, { node: 'n', caps: CAPS.full });
    const { channel: stamps } = await join(s, 'crdt:stamps', { node: 'n', caps: CAPS.full });
    const c = await pgClient();
    await c.query("SET TimeZone = 'America/New_York'");
    await c.query("SET DateStyle = 'SQL, DMY'");
    await c.query(`INSERT INTO stamps (at, hits) VALUES ($1::timestamptz, '{"a":1}')`, [
      at.replace('+00', 'Z').replace(' ', 'T'),
    ]);
    await c.end();
    await waitFor(() => stamp.events.length >= 1, { what: 'the timestamp-keyed row' });
    assert.deepEqual(stamp.events[0].payload, { key: canonical, deltas: { hits: { a: 1 } } });
    await waitFor(() => stamps.events.length >= 1, { what: 'the table topic' });
    assert.equal(stamps.events[0].payload.key, canonical);
    // a table read writes keys as topics do, whatever the database's default settings
    await sql(`ALTER DATABASE ${new URL(process.env.DATABASE_URL).pathname.slice(1)} SET TimeZone = 'Asia/Tokyo'`);
    try {
      const b2 = await startBridge({ name: 'deletes-tz' });
      const s2 = await connect(b2);
      const { reply } = await join(s2, 'crdt:stamps', { node: 'n', caps: CAPS.full });
      assert.ok(
        reply.rows.some((r) => r.key === canonical),
        `${canonical} in ${JSON.stringify(reply.rows.map((r) => r.key))}`,
      );
      await b2.stop();
    } finally {
      await sql(`ALTER DATABASE ${new URL(process.env.DATABASE_URL).pathname.slice(1)} RESET TimeZone`);
    }
  });

  test('bridge_as_the_documented_least_privileged_role_serves_deletes', async () => {
    const b = await startBridge({ name: 'deletes-role', db: await bridgeRole() });
    const gone = uniqueKey('role');
    const key = uniqueKey('role');
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"a":1}'), ($2, '{"a":2}')`, [gone, key]);
    await sql('DELETE FROM dels WHERE id = $1', [gone]);
    const s = await connect(b);
    const { reply: g } = await join(s, `crdt:dels:${gone}`, { node: 'me', caps: CAPS.full });
    assert.deepEqual({ cl: g.cl, deleted: g.deleted }, { cl: 2, deleted: true });
    const { reply: t } = await join(s, 'crdt:dels', {
      node: 'me',
      caps: CAPS.full,
      have: { [gone]: { likes: { a: 1 } } },
    });
    assert.deepEqual(
      t.rows.find((r) => r.key === gone),
      { key: gone, cl: 2, deleted: true },
    );
    const { channel } = await join(s, `crdt:dels:${key}`, { node: 'me', caps: CAPS.full });
    assert.equal((await push(channel, 'merge', { column: 'likes', delta: { me: 1 }, cl: 1 })).status, 'ok');
    assert.deepEqual(await dbRow('dels', key), { likes: { a: 2, me: 1 }, cl: 1 });
    assert.deepEqual(await push(channel, 'delete', { cl: 1 }), { status: 'ok', response: {} });
    assert.equal(await dbRow('dels', key), null);
    assert.equal((await push(channel, 'merge', { column: 'likes', delta: { me: 2 }, cl: 3 })).status, 'ok');
    assert.deepEqual(await dbRow('dels', key), { likes: { me: 2 }, cl: 3 });
    await b.stop();
  });

  test('bad_cl_and_delete_pushes_get_their_errors', async () => {
    const key = uniqueKey('err');
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"a":1}')`, [key]);
    const s = await connect(bridge);
    const { channel } = await join(s, `crdt:dels:${key}`, { node: 'me', caps: CAPS.full });
    const bad = [0, -1, 2, 4, 1.5, '3', null, true, { n: 3 }, 2 ** 53];
    for (const cl of bad) {
      assert.deepEqual(
        await push(channel, 'delete', { cl }),
        { status: 'error', response: { reason: 'cl must be a positive odd integer' } },
        `delete cl ${JSON.stringify(cl)}`,
      );
      assert.deepEqual(
        await push(channel, 'merge', { column: 'likes', delta: { me: 1 }, cl }),
        { status: 'error', response: { reason: 'cl must be a positive odd integer' } },
        `merge cl ${JSON.stringify(cl)}`,
      );
    }
    // an odd cl past 2^53 - 1 (which a JavaScript client cannot write) needs a raw frame
    const ws = await rawWs(bridge);
    ws.send(JSON.stringify(['1', '1', `crdt:dels:${key}`, 'phx_join', { node: 'me', caps: CAPS.full }]));
    await rawFrame(ws, (m) => m[1] === '1');
    ws.send(`["1","2","crdt:dels:${key}","delete",{"cl":9007199254740993}]`);
    ws.send(`["1","3","crdt:dels:${key}","merge",{"column":"likes","delta":{"me":1},"cl":9007199254740993}]`);
    for (const ref of ['2', '3']) {
      assert.deepEqual((await rawFrame(ws, (m) => m[1] === ref))[4], {
        status: 'error',
        response: { reason: 'cl must be a positive odd integer' },
      });
    }
    ws.close();
    // nothing was deleted or merged
    assert.deepEqual(await dbRow('dels', key), { likes: { a: 1 }, cl: 1 });

    // a table topic's delete names its key
    const { channel: table } = await join(s, 'crdt:dels', { node: 'me', caps: CAPS.full });
    assert.deepEqual(await push(table, 'delete', {}), {
      status: 'error',
      response: { reason: 'key must be a string' },
    });
    assert.deepEqual(await push(table, 'delete', { key: 5 }), {
      status: 'error',
      response: { reason: 'key must be a string' },
    });
    assert.deepEqual(await push(table, 'delete', { key, cl: 2 }), {
      status: 'error',
      response: { reason: 'cl must be a positive odd integer' },
    });
    assert.deepEqual(await dbRow('dels', key), { likes: { a: 1 }, cl: 1 });

    // deleting is writing: a token that may only read cannot
    const secured = await startBridge({ name: 'deletes-jwt', args: ['--jwt-secret', SECRET] });
    const token = jwt.sign(
      { node: 'reader', read: ['crdt:dels:*', 'crdt:dels'], write: [], exp: Math.floor(Date.now() / 1000) + 3600 },
      SECRET,
    );
    const rs = await connect(secured, { params: { token } });
    const { channel: ro } = await join(rs, `crdt:dels:${key}`, { caps: CAPS.full });
    assert.deepEqual(await push(ro, 'delete', {}), { status: 'error', response: { reason: 'unauthorized' } });
    assert.deepEqual(await push(ro, 'merge', { column: 'likes', delta: { reader: 1 }, cl: 1 }), {
      status: 'error',
      response: { reason: 'unauthorized' },
    });
    const { channel: rot } = await join(rs, 'crdt:dels', { caps: CAPS.full });
    assert.deepEqual(await push(rot, 'delete', { key }), { status: 'error', response: { reason: 'unauthorized' } });
    assert.deepEqual(await dbRow('dels', key), { likes: { a: 1 }, cl: 1 });
    await secured.stop();
  });
});
