// Joins, state, deltas, table topics, heartbeat and leave, with the official
// phoenix client (and a raw WebSocket where the frame order itself matters).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CAPS,
  GC,
  connect,
  disconnect,
  gcMerge,
  join,
  pnMerge,
  rawFrame,
  rawWs,
  rowState,
  rowView,
  sleep,
  sql,
  startBridge,
  teardown,
  uniqueKey,
  waitFor,
} from './lib/harness.mjs';

const COLS = ['hits', 'stock', 'tags'];

describe('joins and deltas', () => {
  let bridge;
  before(async () => {
    bridge = await startBridge({ name: 'join' });
  });
  after(teardown);

  test('join_row_topic_replies_profile_columns_and_current_state', async () => {
    const key = uniqueKey('j');
    await sql(
      `INSERT INTO counters (id, hits, stock, tags) VALUES ($1,
			increment('{}'::gcounter, 'sql-a', 5),
			decrement(increment('{}'::pncounter, 'sql-a', 7), 'sql-b', 2),
			add(add('{}'::orset, 'red', 'sql-a'), 'blue', 'sql-b'))`,
      [key],
    );
    const socket = await connect(bridge);
    const { reply } = await join(socket, `crdt:counters:${key}`, { node: 'client-1', caps: CAPS.full });
    assert.equal(reply.profile, 'full');
    assert.equal(reply.node, 'client-1');
    assert.equal(reply.key, key);
    assert.deepEqual(reply.columns, { hits: 'gcounter', stock: 'pncounter', tags: 'orset' });
    assert.equal(reply.delta, undefined);
    assert.deepEqual(reply.state, await rowState('counters', key, COLS));
    assert.deepEqual(reply.state.hits, { 'sql-a': 5 });
    await disconnect(socket);
  });

  test('join_of_a_missing_row_replies_empty_states', async () => {
    const key = uniqueKey('missing');
    const socket = await connect(bridge);
    const { channel, reply } = await join(socket, `crdt:counters:${key}`, { node: 'client-1', caps: CAPS.full });
    assert.deepEqual(reply.state, { hits: {}, stock: {}, tags: {} });
    // the row's first write still reaches the subscriber: an INSERT's
    // delta is the full state of every non-NULL column (docs/protocol.md)
    await sql('INSERT INTO counters (id, hits) VALUES ($1, \'{"w":2}\')', [key]);
    await waitFor(() => channel.events.some((e) => e.event === 'delta'), { what: 'the insert as a delta' });
    assert.deepEqual(channel.events[0].payload, { key, deltas: { hits: { w: 2 }, stock: {}, tags: {} } });
    await disconnect(socket);
  });

  // The bridge hears of laniakea.track on channel laniakea_catalog, and re-reads
  // the catalog before it refuses a join of a table it does not know: the
  // phoenix client's first join gets in.
  test('table_tracked_while_the_bridge_runs_is_joined_at_once', async () => {
    const name = `late_${process.pid}_${Date.now()}`;
    // the row is written before the table is tracked: no write NOTIFYs after
    await sql(`CREATE TABLE ${name} (id text PRIMARY KEY, c gcounter)`);
    await sql(`INSERT INTO ${name} VALUES ('k', '{"z":4}')`);
    await sql(`SELECT laniakea.track('${name}')`);
    const socket = await connect(bridge);
    const replies = [];
    const ch = socket.channel(`crdt:${name}:k`, { node: 'late', caps: CAPS.full });
    ch.join()
      .receive('ok', (r) => replies.push(['ok', r]))
      .receive('error', (e) => replies.push(['error', e]));
    await waitFor(() => replies.length > 0, { what: 'the join reply' });
    assert.deepEqual(replies, [
      ['ok', { profile: 'full', node: 'late', columns: { c: 'gcounter' }, key: 'k', cl: 1, state: { c: { z: 4 } } }],
    ]);
    await disconnect(socket);
    await sql(`DROP TABLE ${name}`);
  });

  test('join_of_an_unknown_table_reads_the_catalog_before_it_is_refused', async () => {
    // a catalog change the bridge was not told of (as when its notification
    // has not been read yet): a row added to laniakea.tracked by hand
    const name = `quiet_${process.pid}_${Date.now()}`;
    await sql(`CREATE TABLE ${name} (id text PRIMARY KEY, c gcounter, laniakea_cl bigint NOT NULL DEFAULT 1)`);
    await sql(`INSERT INTO ${name} VALUES ('k', '{"q":1}')`);
    await sql(`INSERT INTO laniakea.tracked VALUES ('${name}', 'id', '{c}', 'public', '${name}')`);
    const ws = await rawWs(bridge);
    ws.send(JSON.stringify(['1', '1', `crdt:${name}:k`, 'phx_join', { node: 'q', caps: CAPS.full }]));
    ws.send(JSON.stringify(['2', '2', `crdt:${name}_nosuch:k`, 'phx_join', { node: 'q', caps: CAPS.full }]));
    const ok = await rawFrame(ws, (m) => m[1] === '1');
    assert.deepEqual(ok[4], {
      status: 'ok',
      response: { profile: 'full', node: 'q', columns: { c: 'gcounter' }, key: 'k', cl: 1, state: { c: { q: 1 } } },
    });
    assert.deepEqual((await rawFrame(ws, (m) => m[1] === '2'))[4], {
      status: 'error',
      response: { reason: 'unmatched topic' },
    });
    ws.close();
    await sql(`DROP TABLE ${name}`);
  });

  test('schema_qualified_table_with_integer_key_joins', async () => {
    const id = 100000 + Math.floor(Math.random() * 1e6);
    await sql('INSERT INTO app.items (id, votes) VALUES ($1, \'{"p":{"a":3}}\')', [id]);
    const socket = await connect(bridge);
    const { channel, reply } = await join(socket, `crdt:app.items:${id}`, { node: 'c', caps: CAPS.full });
    assert.deepEqual(reply.columns, { votes: 'pncounter' });
    assert.deepEqual(reply.state, { votes: { p: { a: 3 } } });
    await sql("UPDATE app.items SET votes = decrement(votes, 'b', 1) WHERE id = $1", [id]);
    await waitFor(() => channel.events.length === 1, { what: 'the delta' });
    assert.equal(channel.events[0].event, 'delta');
    assert.deepEqual(channel.events[0].payload, { key: String(id), deltas: { votes: { n: { b: 1 } } } });
    await disconnect(socket);
  });

  test('sql_update_reaches_two_clients', async () => {
    const key = uniqueKey('two');
    await sql('INSERT INTO counters (id) VALUES ($1)', [key]);
    const topic = `crdt:counters:${key}`;
    const s1 = await connect(bridge);
    const s2 = await connect(bridge);
    const a = await join(s1, topic, { node: 'client-a', caps: CAPS.full });
    const b = await join(s2, topic, { node: 'client-b', caps: CAPS.full });
    await sql("UPDATE counters SET hits = increment(hits, 'sql', 3) WHERE id = $1", [key]);
    await sql("UPDATE counters SET stock = decrement(stock, 'sql', 2), tags = add(tags, 'x', 'sql') WHERE id = $1", [
      key,
    ]);
    for (const { channel } of [a, b]) {
      await waitFor(() => channel.events.length >= 2, { what: 'two deltas' });
      assert.deepEqual(
        channel.events.map((e) => e.event),
        ['delta', 'delta'],
      );
      assert.deepEqual(channel.events[0].payload, { key, deltas: { hits: { sql: 3 } } });
      const second = channel.events[1].payload;
      assert.deepEqual(Object.keys(second.deltas).sort(), ['stock', 'tags']);
      assert.deepEqual(second.deltas.stock, { n: { sql: 2 } });
    }
    const state = await rowState('counters', key, COLS);
    for (const { channel, reply } of [a, b]) {
      const view = rowView(reply, channel, { hits: gcMerge, stock: pnMerge });
      assert.deepEqual(view, { hits: state.hits, stock: state.stock });
    }
    // the orset delta, merged by SQL into the join state, gives SQL's state
    const merged = await sql('SELECT ($1::orset || $2::orset)::text AS s', [
      JSON.stringify(a.reply.state.tags),
      JSON.stringify(a.channel.events[1].payload.deltas.tags),
    ]);
    assert.deepEqual(JSON.parse(merged.rows[0].s), state.tags);
    await disconnect(s1);
    await disconnect(s2);
  });

  test('join_with_have_replies_delta_against_have', async () => {
    const key = uniqueKey('have');
    await sql(
      `INSERT INTO counters (id, hits, stock, tags) VALUES ($1, '{"a":3,"b":5}',
			'{"n":{"x":1},"p":{"x":4}}', add(add('{}'::orset, 'old', 'sa'), 'new', 'sb'))`,
      [key],
    );
    const haveTags = (await sql("SELECT add('{}'::orset, 'old', 'sa')::text AS s")).rows[0].s;
    const have = { hits: { a: 3 }, stock: { n: { x: 1 }, p: { x: 4 } }, tags: JSON.parse(haveTags) };
    const socket = await connect(bridge);
    const { channel, reply } = await join(socket, `crdt:counters:${key}`, { node: 'c', caps: CAPS.full, have });
    assert.equal(reply.state, undefined);
    assert.equal(reply.key, key);
    const expected = await sql(
      `SELECT delta($1::gcounter, hits)::text AS hits, delta($2::pncounter, stock)::text AS stock,
			delta($3::orset, tags)::text AS tags FROM counters WHERE id = $4`,
      [JSON.stringify(have.hits), JSON.stringify(have.stock), haveTags, key],
    );
    const want = Object.fromEntries(COLS.map((c) => [c, JSON.parse(expected.rows[0][c])]));
    assert.deepEqual(reply.delta, want);
    assert.deepEqual(reply.delta.hits, { b: 5 });
    assert.deepEqual(reply.delta.stock, {});
    // have ⊔ delta is the current state
    const view = rowView({ delta: { hits: gcMerge(have.hits, reply.delta.hits) } }, channel, GC);
    assert.deepEqual(view.hits, (await rowState('counters', key, ['hits'])).hits);
    await disconnect(socket);
  });

  test('join_with_partial_have_sends_full_state_for_the_other_columns', async () => {
    const key = uniqueKey('have-part');
    await sql(`INSERT INTO counters (id, hits, stock) VALUES ($1, '{"a":3,"b":5}', '{"p":{"x":4}}')`, [key]);
    const socket = await connect(bridge);
    const { reply } = await join(socket, `crdt:counters:${key}`, {
      node: 'c',
      caps: CAPS.full,
      have: { hits: { a: 3, b: 5 } },
    });
    assert.deepEqual(reply.delta, { hits: {}, stock: { p: { x: 4 } }, tags: {} });
    await disconnect(socket);
  });

  test('join_with_invalid_have_is_refused', async () => {
    const socket = await connect(bridge);
    const topic = `crdt:counters:${uniqueKey('bad-have')}`;
    for (const have of [{ hits: { a: -1 } }, { nosuch: {} }, { hits: 'text' }, [1]]) {
      await assert.rejects(
        join(socket, topic, { node: 'c', caps: CAPS.full, have }),
        (e) => e.response && e.response.reason === 'invalid have',
        JSON.stringify(have),
      );
    }
    await disconnect(socket);
  });

  test('table_topic_join_lists_rows_and_streams_deltas', async () => {
    const k1 = uniqueKey('b1');
    const k2 = uniqueKey('b2');
    await sql('INSERT INTO boards (id, likes) VALUES ($1, \'{"a":1}\'), ($2, \'{"b":2}\')', [k1, k2]);
    const socket = await connect(bridge);
    const { channel, reply } = await join(socket, 'crdt:boards', { node: 'c', caps: CAPS.full });
    assert.equal(reply.profile, 'full');
    assert.deepEqual(reply.columns, { likes: 'gcounter', tags: 'orset' });
    const all = (await sql('SELECT id, likes::text, tags::text FROM boards ORDER BY id')).rows;
    assert.deepEqual(reply.rows.map((r) => r.key).sort(), all.map((r) => r.id).sort());
    for (const r of all) {
      const got = reply.rows.find((x) => x.key === r.id);
      assert.deepEqual(got.state, { likes: JSON.parse(r.likes), tags: JSON.parse(r.tags) });
    }
    await sql("UPDATE boards SET likes = increment(likes, 'w', 4) WHERE id = $1", [k1]);
    const k3 = uniqueKey('b3');
    await sql('INSERT INTO boards (id, likes) VALUES ($1, \'{"z":9}\')', [k3]);
    await waitFor(() => channel.events.length >= 2, { what: 'two table deltas' });
    assert.deepEqual(
      channel.events.map((e) => e.payload),
      [
        { key: k1, deltas: { likes: { w: 4 } } },
        { key: k3, deltas: { likes: { z: 9 }, tags: {} } },
      ],
    );
    await disconnect(socket);
  });

  test('row_inserted_with_every_column_empty_reaches_table_subscribers', async () => {
    const socket = await connect(bridge);
    const { channel } = await join(socket, 'crdt:boards', { node: 'c', caps: CAPS.full });
    const k = uniqueKey('be');
    await sql('INSERT INTO boards (id) VALUES ($1)', [k]);
    await waitFor(() => channel.events.some((e) => e.payload.key === k), { what: 'the empty row' });
    assert.deepEqual(channel.events.find((e) => e.payload.key === k).payload, {
      key: k,
      deltas: { likes: {}, tags: {} },
    });
    await disconnect(socket);
  });

  test('row_inserted_with_every_column_null_reaches_table_and_row_subscribers', async () => {
    const k = uniqueKey('sn');
    const socket = await connect(bridge);
    const { channel: tab } = await join(socket, 'crdt:sparse', { node: 'c', caps: CAPS.full });
    const { channel: row } = await join(socket, `crdt:sparse:${k}`, { node: 'c', caps: CAPS.full });
    await sql('INSERT INTO sparse (id) VALUES ($1)', [k]);
    await waitFor(() => tab.events.some((e) => e.payload.key === k), { what: 'the row on the table topic' });
    await waitFor(() => row.events.length > 0, { what: 'the row on its row topic' });
    const { reply } = await join(socket, 'crdt:sparse', { node: 'c', caps: CAPS.full });
    assert.ok(
      reply.rows.some((r) => r.key === k),
      'a later table joiner lists the row',
    );
    await disconnect(socket);
  });

  test('table_topic_join_with_have_replies_deltas_per_row', async () => {
    const k1 = uniqueKey('bh');
    await sql('INSERT INTO boards (id, likes) VALUES ($1, \'{"a":1,"b":2}\')', [k1]);
    const socket = await connect(bridge);
    const { reply } = await join(socket, 'crdt:boards', {
      node: 'c',
      caps: CAPS.full,
      have: { [k1]: { likes: { a: 1 } } },
    });
    const row = reply.rows.find((r) => r.key === k1);
    assert.deepEqual(row.delta.likes, { b: 2 });
    await disconnect(socket);
  });

  test('unknown_topic_gets_unmatched_topic_error', async () => {
    const socket = await connect(bridge);
    for (const topic of [
      'crdt:nosuch:1',
      'crdt:nosuch',
      'crdt:plain:1',
      'crdt:plain',
      'room:lobby',
      'crdt:counters:',
      'crdt:',
    ]) {
      await assert.rejects(
        join(socket, topic, { node: 'c', caps: CAPS.full }),
        (e) => assert.deepEqual(e.response, { reason: 'unmatched topic' }) ?? true,
        topic,
      );
    }
    // the connection is still good
    const key = uniqueKey('after-unknown');
    const { reply } = await join(socket, `crdt:counters:${key}`, { node: 'c', caps: CAPS.full });
    assert.equal(reply.key, key);
    await disconnect(socket);
  });

  test('invalid_node_id_is_refused', async () => {
    const socket = await connect(bridge);
    const topic = `crdt:counters:${uniqueKey('node')}`;
    for (const node of ['', 'x'.repeat(256), 'bad\u0001id', 42]) {
      await assert.rejects(
        join(socket, topic, { node, caps: CAPS.full }),
        (e) => e.response && e.response.reason === 'invalid node id',
        JSON.stringify(node),
      );
    }
    await disconnect(socket);
  });

  test('push_to_a_topic_not_joined_gets_unmatched_topic', async () => {
    const ws = await rawWs(bridge);
    ws.send(JSON.stringify(['1', '2', 'crdt:counters:nope', 'increment', { column: 'hits' }]));
    const reply = await rawFrame(ws, (m) => m[1] === '2');
    assert.deepEqual(reply, [
      '1',
      '2',
      'crdt:counters:nope',
      'phx_reply',
      { status: 'error', response: { reason: 'unmatched topic' } },
    ]);
    ws.close();
  });

  test('heartbeat_is_answered_and_keeps_the_socket_open', async () => {
    const ws = await rawWs(bridge);
    ws.send(JSON.stringify([null, '7', 'phoenix', 'heartbeat', {}]));
    const reply = await rawFrame(ws, (m) => m[1] === '7');
    assert.deepEqual(reply, [null, '7', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
    ws.close();
    // the phoenix client's own heartbeat, every 100 ms for a second: no timeout, no reconnect
    const socket = await connect(bridge, { heartbeatIntervalMs: 100 });
    const rtt = await new Promise((resolve) => socket.ping(resolve));
    assert.ok(rtt >= 0);
    await sleep(1000);
    assert.equal(socket.opens, 1);
    assert.deepEqual(socket.closes, []);
    assert.ok(socket.isConnected());
    await disconnect(socket);
  });

  test('phx_leave_replies_then_closes_the_channel', async () => {
    const key = uniqueKey('leave');
    const topic = `crdt:counters:${key}`;
    const ws = await rawWs(bridge);
    ws.send(JSON.stringify(['1', '1', topic, 'phx_join', { node: 'c', caps: CAPS.full }]));
    await rawFrame(ws, (m) => m[1] === '1' && m[3] === 'phx_reply');
    ws.send(JSON.stringify(['1', '2', topic, 'phx_leave', {}]));
    await rawFrame(ws, (m) => m[3] === 'phx_close');
    const after = ws.messages.slice(1);
    assert.deepEqual(after, [
      ['1', '2', topic, 'phx_reply', { status: 'ok', response: {} }],
      ['1', '1', topic, 'phx_close', {}],
    ]);
    // nothing arrives for the topic any more, and pushes to it are refused
    await sql('INSERT INTO counters (id, hits) VALUES ($1, \'{"w":1}\')', [key]);
    ws.send(JSON.stringify(['1', '3', topic, 'increment', { column: 'hits' }]));
    const refused = await rawFrame(ws, (m) => m[1] === '3');
    assert.deepEqual(refused[4], { status: 'error', response: { reason: 'unmatched topic' } });
    await sleep(200);
    assert.equal(ws.messages.filter((m) => m[3] === 'delta').length, 0);
    ws.close();

    // and the official client's leave resolves "ok"
    const socket = await connect(bridge);
    const { channel } = await join(socket, topic, { node: 'c', caps: CAPS.full });
    const left = await new Promise((resolve) =>
      channel
        .leave()
        .receive('ok', () => resolve('ok'))
        .receive('timeout', () => resolve('timeout')),
    );
    assert.equal(left, 'ok');
    await disconnect(socket);
  });

  test('second_join_of_a_topic_replaces_the_first', async () => {
    const key = uniqueKey('rejoin');
    const topic = `crdt:counters:${key}`;
    const ws = await rawWs(bridge);
    ws.send(JSON.stringify(['1', '1', topic, 'phx_join', { node: 'c', caps: CAPS.full }]));
    await rawFrame(ws, (m) => m[1] === '1');
    ws.send(JSON.stringify(['5', '5', topic, 'phx_join', { node: 'c', caps: CAPS.full }]));
    await rawFrame(ws, (m) => m[1] === '5');
    assert.deepEqual(ws.messages[1], ['1', '1', topic, 'phx_close', {}]);
    assert.equal(ws.messages[2][3], 'phx_reply');
    await sql('INSERT INTO counters (id, hits) VALUES ($1, \'{"w":1}\')', [key]);
    const d = await rawFrame(ws, (m) => m[3] === 'delta');
    await sleep(200);
    assert.equal(ws.messages.filter((m) => m[3] === 'delta').length, 1, 'one subscription, one delta');
    assert.deepEqual(d[4], { key, deltas: { hits: { w: 1 }, stock: {}, tags: {} } });
    ws.close();
  });
});
