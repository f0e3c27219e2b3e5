// What the bridge does with the notifications it gets: deltas it cannot
// read are counted and the row read again; tables whose names hold '.', ':'
// or '%' have topics of their own (lk_topic.h), joined, notified and pushed
// to like any other.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CAPS,
  SOURCE,
  connect,
  join,
  pgClient,
  push,
  sql,
  startBridge,
  teardown,
  uniqueKey,
  waitFor,
} from './lib/harness.mjs';

// A notification as the extension's trigger sends them, made by hand.
const notify = (rows) => sql('SELECT pg_notify($1, $2)', ['laniakea', JSON.stringify({ ts: 1, rows })]);

// Change a row of quiet without the bridge being told (its notify trigger off meanwhile).
async function quietly(text, params) {
  await sql('ALTER TABLE quiet DISABLE TRIGGER laniakea_notify');
  try {
    await sql(text, params);
  } finally {
    await sql('ALTER TABLE quiet ENABLE ALWAYS TRIGGER laniakea_notify');
  }
}

let bridge;
before(async () => {
  bridge = await startBridge({ name: 'notify' });
});
after(teardown);

describe('notifications', () => {
  test('a_notified_delta_that_does_not_parse_is_counted_logged_once_and_the_row_read_again', {
    skip: SOURCE === 'wal' && 'sends a NOTIFY payload by hand, which the WAL source ignores',
  }, async () => {
    const key = uniqueKey('bad');
    await sql(`INSERT INTO quiet (id, hits) VALUES ($1, '{"a":1}')`, [key]);
    const s = await connect(bridge);
    const { channel, reply } = await join(s, `crdt:quiet:${key}`, { node: 'n', caps: CAPS.full });
    assert.deepEqual(reply.state.hits, { a: 1 });
    const before = (await bridge.metrics()).samples.laniakea_cell_errors_total;
    await quietly(`UPDATE quiet SET hits = hits || '{"b":2}' WHERE id = $1`, [key]);

    // one column's delta does not parse, the other's does: that one is delivered
    await notify([{ table: 'quiet', key, deltas: { hits: { a: 'x' }, stock: { p: { q: 4 } } } }]);
    await waitFor(() => channel.events.some((e) => e.event === 'delta' && e.payload.deltas.stock), {
      what: 'the good delta',
    });
    const delta = channel.events.find((e) => e.event === 'delta' && e.payload.deltas.stock);
    assert.deepEqual(delta.payload.deltas, { stock: { p: { q: 4 } } });
    // the row is read again: the client gets what the database has, nothing emptied
    const state = await waitFor(() => channel.events.find((e) => e.event === 'state'), { what: 'the re-read row' });
    assert.deepEqual(state.payload.state.hits, { a: 1, b: 2 });
    assert.equal((await bridge.metrics()).samples.laniakea_cell_errors_total, before + 1);

    // a second one is counted, not logged again
    await notify([{ table: 'quiet', key, deltas: { hits: 'not a gcounter' } }]);
    await waitFor(async () => (await bridge.metrics()).samples.laniakea_cell_errors_total === before + 2, {
      what: 'the second error counted',
    });
    assert.equal(bridge.log().match(/cannot parse a notified delta of column hits of quiet/g).length, 1);
    const { reply: again } = await join(await connect(bridge), `crdt:quiet:${key}`, { node: 'n2', caps: CAPS.full });
    assert.deepEqual(again.state, { hits: { a: 1, b: 2 }, stock: { p: { q: 4 } } });
  });
});

describe('topics', () => {
  const deltasOf = (channel) =>
    channel.events.filter((e) => e.event === 'delta').map((e) => [e.payload.key, e.payload.deltas]);

  test('a_table_a_dot_b_of_public_and_table_b_of_schema_a_have_topics_of_their_own', async () => {
    const key = uniqueKey('k');
    await sql(`INSERT INTO "a.b" (id, hits) VALUES ($1, '{"public":1}')`, [key]);
    await sql(`INSERT INTO a.b (id, hits) VALUES ($1, '{"schema_a":1}')`, [key]);
    const s = await connect(bridge);
    const dotted = await join(s, `crdt:a%2Eb:${key}`, { node: 'n', caps: CAPS.full });
    const ofA = await join(s, `crdt:a.b:${key}`, { node: 'n', caps: CAPS.full });
    assert.deepEqual(dotted.reply.state, { hits: { public: 1 } });
    assert.deepEqual(ofA.reply.state, { hits: { schema_a: 1 } });
    const dottedTable = await join(s, 'crdt:a%2Eb', { node: 'n', caps: CAPS.full });
    assert.deepEqual(dottedTable.reply.rows.find((r) => r.key === key).state, { hits: { public: 1 } });

    await sql(`UPDATE "a.b" SET hits = hits || '{"public":2}' WHERE id = $1`, [key]);
    await sql(`UPDATE a.b SET hits = hits || '{"schema_a":3}' WHERE id = $1`, [key]);
    // (an INSERT's notification may come after the join: a harmless duplicate of the state)
    const has = (channel, hits) =>
      deltasOf(channel).some(([k, d]) => k === key && JSON.stringify(d.hits) === JSON.stringify(hits));
    await waitFor(
      () =>
        has(dotted.channel, { public: 2 }) &&
        has(dottedTable.channel, { public: 2 }) &&
        has(ofA.channel, { schema_a: 3 }),
      { what: "each table's delta on its own topics" },
    );
    for (const ch of [dotted.channel, dottedTable.channel])
      assert.ok(
        deltasOf(ch).every(([, d]) => !d.hits.schema_a),
        'nothing of a.b',
      );
    assert.ok(
      deltasOf(ofA.channel).every(([, d]) => !d.hits.public),
      'nothing of "a.b"',
    );
  });

  test('rows_of_a_colon_b_and_of_a_written_in_one_transaction_reach_their_own_topics', async () => {
    const k = uniqueKey('c');
    const s = await connect(bridge);
    // without escaping both rows would be crdt:a:b:<k>
    const colon = await join(s, `crdt:a%3Ab:${k}`, { node: 'n', caps: CAPS.full });
    const plain = await join(s, `crdt:a:b:${k}`, { node: 'n', caps: CAPS.full });
    const c = await pgClient();
    try {
      await c.query('BEGIN');
      await c.query(`INSERT INTO "a:b" (id, x) VALUES ($1, '{"n":1}')`, [k]);
      await c.query(`INSERT INTO a (id, x) VALUES ($1, add('{}'::orset, 'e', 'n'))`, [`b:${k}`]);
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
    await waitFor(() => deltasOf(colon.channel).length && deltasOf(plain.channel).length, { what: 'both deltas' });
    assert.deepEqual(deltasOf(colon.channel), [[k, { x: { n: 1 } }]]);
    assert.deepEqual(deltasOf(plain.channel), [[`b:${k}`, { x: { c: { n: [[1, 1]] }, e: { e: { n: [1] } } } }]]);
  });

  test('a_table_with_a_colon_in_its_name_is_joined_and_pushed_to', async () => {
    const k = uniqueKey('push');
    const s = await connect(bridge);
    const { channel } = await join(s, `crdt:a%3Ab:${k}`, { node: 'me', caps: CAPS.full });
    const table = await join(s, 'crdt:a%3Ab', { node: 'me', caps: CAPS.full });
    assert.deepEqual(await push(channel, 'increment', { column: 'x', by: 2 }), { status: 'ok', response: {} });
    assert.deepEqual(await push(table.channel, 'merge', { key: k, column: 'x', delta: { me: 5 } }), {
      status: 'ok',
      response: {},
    });
    const r = await sql('SELECT x::text FROM "a:b" WHERE id = $1', [k]);
    assert.deepEqual(JSON.parse(r.rows[0].x), { me: 5 });
    await waitFor(() => deltasOf(channel).some(([, d]) => d.x.me === 5), { what: 'the pushed delta' });
    assert.deepEqual(
      await sql('SELECT count(*)::int AS n FROM a WHERE id LIKE $1', [`%${k}`]).then((q) => q.rows[0].n),
      0,
    );
  });

  test('topics_that_name_no_table_are_refused', async () => {
    const s = await connect(bridge);
    for (const topic of [
      'crdt:public.counters:1',
      'crdt:a%2xb:1',
      'crdt:a%2eb:1',
      'crdt:a.b.c:1',
      'crdt::1',
      'crdt:a%3Ab:',
    ]) {
      await assert.rejects(join(s, topic, { node: 'n', caps: CAPS.full }), (e) => {
        assert.deepEqual(e.response, { reason: 'unmatched topic' }, topic);
        return true;
      });
    }
  });
});

describe('causal lengths', () => {
  test('a_key_inserted_again_after_its_tombstone_was_collected_is_read_back_at_cl_1', async () => {
    const key = uniqueKey('collected');
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"old":1}')`, [key]);
    const s = await connect(bridge);
    const { channel: row } = await join(s, `crdt:dels:${key}`, { node: 'n', caps: CAPS.full });
    await sql('DELETE FROM dels WHERE id = $1', [key]);
    await waitFor(() => row.events.some((e) => e.event === 'delete' && e.payload.cl === 2), {
      what: 'the deletion at cl 2',
    });

    // no tombstone left: the key starts over at causal length 1, below the 2 the bridge holds
    await sql("SELECT laniakea.collect_tombstones('0')");
    await sql(`INSERT INTO dels (id, likes) VALUES ($1, '{"new":1}')`, [key]);
    assert.deepEqual((await sql('SELECT laniakea_cl::int AS cl FROM dels WHERE id = $1', [key])).rows, [{ cl: 1 }]);
    // its notification (cl 1) is older than the row held: the bridge reads the row, and takes the database's cl
    const state = await waitFor(() => row.events.find((e) => e.event === 'state'), { what: 'the row read again' });
    assert.deepEqual(state.payload, { key, state: { likes: { new: 1 }, tags: {} } });
    const { reply } = await join(await connect(bridge), `crdt:dels:${key}`, { node: 'n2', caps: CAPS.full });
    assert.deepEqual(
      { cl: reply.cl, deleted: reply.deleted, likes: reply.state.likes },
      { cl: 1, deleted: undefined, likes: { new: 1 } },
    );
    const { reply: t } = await join(await connect(bridge), 'crdt:dels', { node: 'n3', caps: CAPS.full });
    assert.deepEqual(
      t.rows.find((r) => r.key === key),
      { key, state: { likes: { new: 1 }, tags: {} } },
    );

    // and the row goes on from there
    await sql(`UPDATE dels SET likes = likes || '{"more":2}' WHERE id = $1`, [key]);
    await waitFor(
      () => row.events.some((e) => e.event === 'delta' && e.payload.deltas.likes && e.payload.deltas.likes.more === 2),
      { what: 'a delta of the incarnation read' },
    );
  });
});
