// Client pushes: every kind, what reaches SQL and the other subscribers, the
// error replies, and deltas that try to speak for another node or, for a
// register, to date a write in the future.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CAPS,
  connect,
  join,
  push,
  rawFrame,
  rawWs,
  rowState,
  sql,
  startBridge,
  teardown,
  uniqueKey,
  waitFor,
} from './lib/harness.mjs';

const COLS = ['hits', 'stock', 'tags'];

describe('pushes', () => {
  let bridge;
  let socket;
  before(async () => {
    bridge = await startBridge({ name: 'push' });
    socket = await connect(bridge);
  });
  after(teardown);

  // a fresh row joined as node `me`
  async function joined(me = 'me', insert = true) {
    const key = uniqueKey('p');
    if (insert) await sql('INSERT INTO counters (id) VALUES ($1)', [key]);
    const s = await connect(bridge);
    const { channel } = await join(s, `crdt:counters:${key}`, { node: me, caps: CAPS.full });
    return { key, channel };
  }

  test('merge_push_of_own_delta_reaches_sql_and_other_clients', async () => {
    const { key, channel } = await joined('me');
    const { channel: other } = await join(socket, `crdt:counters:${key}`, { node: 'other', caps: CAPS.full });
    assert.deepEqual(await push(channel, 'merge', { column: 'hits', delta: { me: 4 } }), {
      status: 'ok',
      response: {},
    });
    assert.deepEqual(await push(channel, 'merge', { column: 'stock', delta: { p: { me: 3 }, n: { me: 1 } } }), {
      status: 'ok',
      response: {},
    });
    const tagsDelta = JSON.parse((await sql("SELECT add('{}'::orset, 'milk', 'me')::text AS s")).rows[0].s);
    assert.deepEqual(await push(channel, 'merge', { column: 'tags', delta: tagsDelta }), {
      status: 'ok',
      response: {},
    });
    // merging the same delta again is idempotent
    assert.equal((await push(channel, 'merge', { column: 'hits', delta: { me: 4 } })).status, 'ok');
    const state = await rowState('counters', key, COLS);
    assert.deepEqual(state.hits, { me: 4 });
    assert.deepEqual(state.stock, { n: { me: 1 }, p: { me: 3 } });
    assert.deepEqual(state.tags, tagsDelta);
    await waitFor(() => other.events.length >= 3, { what: 'the other client to get three deltas' });
    assert.deepEqual(
      other.events.slice(0, 3).map((e) => e.payload.deltas),
      [{ hits: { me: 4 } }, { stock: { n: { me: 1 }, p: { me: 3 } } }, { tags: tagsDelta }],
    );
    await socket.channels.find((c) => c.topic === `crdt:counters:${key}`).leave();
  });

  test('merge_push_creates_a_missing_row', async () => {
    const { key, channel } = await joined('me', false);
    assert.equal((await push(channel, 'merge', { column: 'hits', delta: { me: 2 } })).status, 'ok');
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { me: 2 });
  });

  test('increment_and_decrement_pushes_count_as_the_clients_node', async () => {
    const { key, channel } = await joined('me', false);
    assert.deepEqual(await push(channel, 'increment', { column: 'hits', by: 5 }), { status: 'ok', response: {} });
    assert.equal((await push(channel, 'increment', { column: 'hits' })).status, 'ok'); // by defaults to 1
    assert.equal((await push(channel, 'increment', { column: 'stock', by: 10 })).status, 'ok');
    assert.equal((await push(channel, 'decrement', { column: 'stock', by: 4 })).status, 'ok');
    const state = await rowState('counters', key, COLS);
    assert.deepEqual(state.hits, { me: 6 });
    assert.deepEqual(state.stock, { n: { me: 4 }, p: { me: 10 } });
    await waitFor(() => channel.events.length >= 4, { what: 'own pushes echoed as deltas' });
  });

  test('add_and_remove_pushes_change_the_set', async () => {
    const { key, channel } = await joined('me', false);
    assert.deepEqual(await push(channel, 'add', { column: 'tags', element: 'red' }), { status: 'ok', response: {} });
    assert.equal((await push(channel, 'add', { column: 'tags', element: 'blue' })).status, 'ok');
    let els = (await sql('SELECT elements(tags) AS e FROM counters WHERE id = $1', [key])).rows[0].e;
    assert.deepEqual(els, ['blue', 'red']);
    assert.equal((await push(channel, 'remove', { column: 'tags', element: 'red' })).status, 'ok');
    els = (await sql('SELECT elements(tags) AS e FROM counters WHERE id = $1', [key])).rows[0].e;
    assert.deepEqual(els, ['blue']);
    // the dots are the client's node's
    const tags = (await rowState('counters', key, ['tags'])).tags;
    assert.deepEqual(Object.keys(tags.c), ['me']);
    // removing from a row that does not exist is a no-op, not an error
    const { key: k2, channel: c2 } = await joined('me', false);
    assert.equal((await push(c2, 'remove', { column: 'tags', element: 'x' })).status, 'ok');
    assert.equal((await sql('SELECT count(*)::int AS n FROM counters WHERE id = $1', [k2])).rows[0].n, 0);
  });

  test('table_topic_pushes_name_the_key', async () => {
    const key = uniqueKey('tb');
    const s = await connect(bridge);
    const { channel } = await join(s, 'crdt:boards', { node: 'me', caps: CAPS.full });
    assert.equal((await push(channel, 'increment', { key, column: 'likes', by: 2 })).status, 'ok');
    assert.equal((await push(channel, 'add', { key, column: 'tags', element: 'x' })).status, 'ok');
    assert.equal((await push(channel, 'merge', { key, column: 'likes', delta: { me: 7 } })).status, 'ok');
    const r = (await sql('SELECT likes::text, elements(tags) AS e FROM boards WHERE id = $1', [key])).rows[0];
    assert.deepEqual(JSON.parse(r.likes), { me: 7 });
    assert.deepEqual(r.e, ['x']);
    await waitFor(() => channel.events.filter((e) => e.payload.key === key).length >= 3, { what: 'table deltas' });
    assert.deepEqual(await push(channel, 'increment', { column: 'likes' }), {
      status: 'error',
      response: { reason: 'key must be a string' },
    });
    assert.deepEqual(await push(channel, 'increment', { key: 5, column: 'likes' }), {
      status: 'error',
      response: { reason: 'key must be a string' },
    });
  });

  test('push_errors_name_what_is_wrong', async () => {
    const { key, channel } = await joined('me');
    const cases = [
      ['unknown column', 'increment', { column: 'nosuch' }, 'unknown column'],
      ['missing column', 'increment', {}, 'unknown column'],
      ['increment on an orset', 'increment', { column: 'tags', by: 1 }, 'increment needs a counter column'],
      ['decrement on a gcounter', 'decrement', { column: 'hits', by: 1 }, 'decrement needs a pncounter column'],
      ['decrement on an orset', 'decrement', { column: 'tags', by: 1 }, 'decrement needs a pncounter column'],
      ['add on a counter', 'add', { column: 'hits', element: 'x' }, 'add and remove need an orset column'],
      ['remove on a counter', 'remove', { column: 'stock', element: 'x' }, 'add and remove need an orset column'],
      ['by zero', 'increment', { column: 'hits', by: 0 }, 'by must be a positive integer'],
      ['by negative', 'increment', { column: 'hits', by: -3 }, 'by must be a positive integer'],
      ['by fraction', 'increment', { column: 'hits', by: 1.5 }, 'by must be a positive integer'],
      ['by string', 'decrement', { column: 'stock', by: '2' }, 'by must be a positive integer'],
      ['by null', 'increment', { column: 'hits', by: null }, 'by must be a positive integer'],
      ['missing element', 'add', { column: 'tags' }, 'element must be a string'],
      ['element not a string', 'remove', { column: 'tags', element: 7 }, 'element must be a string'],
      ['unknown event', 'frobnicate', { column: 'hits' }, 'unknown event'],
    ];
    for (const [what, event, payload, reason] of cases) {
      assert.deepEqual(await push(channel, event, payload), { status: 'error', response: { reason } }, what);
    }
    const invalid = [
      ['missing delta', { column: 'hits' }],
      ['negative count', { column: 'hits', delta: { me: -1 } }],
      ['not an object', { column: 'hits', delta: 'text' }],
      ['fractional count', { column: 'hits', delta: { me: 1.5 } }],
      ['pncounter unknown key', { column: 'stock', delta: { q: { me: 1 } } }],
      ['orset dot outside its context', { column: 'tags', delta: { e: { x: { me: [1] } } } }],
    ];
    for (const [what, payload] of invalid) {
      const r = await push(channel, 'merge', payload);
      assert.equal(r.status, 'error', what);
      assert.match(r.response.reason, /^invalid delta/, what);
    }
    // nothing of it reached SQL
    assert.deepEqual(await rowState('counters', key, COLS), { hits: {}, stock: {}, tags: {} });
    // the channel still works
    assert.equal((await push(channel, 'increment', { column: 'hits' })).status, 'ok');
    const m = await bridge.metrics();
    assert.ok(m.samples.laniakea_push_errors_total >= cases.length + invalid.length);
  });

  // JSON numbers beyond 2^53-1 are not exact in JavaScript, the clients'
  // language: a push's by stops there.  Integers beyond 64 bits are valid
  // JSON too, answered with an error rather than a closed connection.
  test('increment_by_past_2_53_minus_1_is_refused', async () => {
    const { key, channel } = await joined('me');
    const MAX = Number.MAX_SAFE_INTEGER;
    for (const [column, event, by, reason] of [
      ['hits', 'increment', MAX + 1, 'by must be at most 9007199254740991'],
      ['stock', 'decrement', 2 ** 62, 'by must be at most 9007199254740991'],
      ['hits', 'increment', 2 ** 63, 'number out of range'], // written 9223372036854776000
    ]) {
      assert.deepEqual(
        await push(channel, event, { column, by }),
        { status: 'error', response: { reason } },
        `${event} ${by}`,
      );
    }
    assert.deepEqual(await push(channel, 'increment', { column: 'hits', by: 1e30 }), {
      status: 'error',
      response: { reason: 'by must be a positive integer' },
    });
    assert.deepEqual(await rowState('counters', key, ['hits', 'stock']), { hits: {}, stock: {} });
    assert.deepEqual(await push(channel, 'increment', { column: 'hits', by: MAX }), { status: 'ok', response: {} });
    assert.equal((await sql('SELECT hits::text AS h FROM counters WHERE id = $1', [key])).rows[0].h, `{"me":${MAX}}`);

    // literals JSON.stringify would not write exactly
    const ws = await rawWs(bridge);
    const topic = `crdt:counters:${key}`;
    ws.send(JSON.stringify(['1', '1', topic, 'phx_join', { node: 'me', caps: CAPS.full }]));
    await rawFrame(ws, (m) => m[1] === '1');
    ws.send(`["1","2","${topic}","increment",{"column":"hits","by":9223372036854775807}]`);
    ws.send(`["1","3","${topic}","increment",{"column":"hits","by":9223372036854775808}]`);
    ws.send(`["1","4","${topic}","merge",{"column":"hits","delta":{"me":100000000000000000000}}]`);
    ws.send(JSON.stringify([null, '5', 'phoenix', 'heartbeat', {}]));
    assert.deepEqual((await rawFrame(ws, (m) => m[1] === '2'))[4], {
      status: 'error',
      response: { reason: 'by must be at most 9007199254740991' },
    });
    assert.deepEqual((await rawFrame(ws, (m) => m[1] === '3'))[4], {
      status: 'error',
      response: { reason: 'number out of range' },
    });
    assert.deepEqual((await rawFrame(ws, (m) => m[1] === '4'))[4], {
      status: 'error',
      response: { reason: 'number out of range' },
    });
    assert.equal((await rawFrame(ws, (m) => m[1] === '5'))[4].status, 'ok', 'the connection still works');
    ws.close();
    assert.equal((await sql('SELECT hits::text AS h FROM counters WHERE id = $1', [key])).rows[0].h, `{"me":${MAX}}`);
  });

  test('push_without_a_node_id_is_refused', async () => {
    const key = uniqueKey('nonode');
    const ws = await rawWs(bridge);
    ws.send(JSON.stringify(['1', '1', `crdt:counters:${key}`, 'phx_join', { caps: CAPS.full }]));
    await rawFrame(ws, (m) => m[1] === '1');
    ws.send(JSON.stringify(['1', '2', `crdt:counters:${key}`, 'increment', { column: 'hits' }]));
    const r = await rawFrame(ws, (m) => m[1] === '2');
    assert.deepEqual(r[4], { status: 'error', response: { reason: 'node id required: join with params.node' } });
    ws.close();
  });

  test('forged_counts_of_another_node_are_rejected', async () => {
    const { key, channel } = await joined('me');
    for (const [column, delta] of [
      ['hits', { other: 5 }],
      ['hits', { me: 1, other: 5 }],
      ['stock', { p: { other: 1 } }],
      ['stock', { n: { other: 1 } }],
      ['stock', { n: { me: 1 }, p: { other: 2 } }],
    ]) {
      assert.deepEqual(
        await push(channel, 'merge', { column, delta }),
        { status: 'error', response: { reason: 'delta has counts of another node' } },
        JSON.stringify(delta),
      );
    }
    assert.deepEqual(await rowState('counters', key, ['hits', 'stock']), { hits: {}, stock: {} });
  });

  test('forged_orset_dots_of_another_node_are_rejected', async () => {
    const { key, channel } = await joined('me');
    for (const delta of [
      { c: { other: [[1, 1]] }, e: { x: { other: [1] } } },
      { c: { me: [[1, 1]], other: [[1, 1]] }, e: { x: { me: [1], other: [1] } } },
    ]) {
      assert.deepEqual(
        await push(channel, 'merge', { column: 'tags', delta }),
        { status: 'error', response: { reason: 'delta adds dots of another node' } },
        JSON.stringify(delta),
      );
    }
    assert.deepEqual((await rowState('counters', key, ['tags'])).tags, {});
  });

  test('orset_context_covering_unseen_dots_is_rejected_and_observed_removes_pass', async () => {
    const key = uniqueKey('ctx');
    // the server's row holds other's dot (other,1) for "x"
    await sql("INSERT INTO counters (id, tags) VALUES ($1, add('{}'::orset, 'x', 'other'))", [key]);
    const s = await connect(bridge);
    const { channel, reply } = await join(s, `crdt:counters:${key}`, { node: 'me', caps: CAPS.full });
    assert.deepEqual(reply.state.tags, { c: { other: [[1, 1]] }, e: { x: { other: [1] } } });
    // a context claiming other's dots 1..5 would remove adds this client never saw
    for (const delta of [{ c: { other: [[1, 5]] } }, { c: { other: [[2, 2]] } }, { c: { third: [[1, 1]] } }]) {
      assert.deepEqual(
        await push(channel, 'merge', { column: 'tags', delta }),
        { status: 'error', response: { reason: 'delta context covers dots the server has not seen' } },
        JSON.stringify(delta),
      );
    }
    assert.deepEqual((await sql('SELECT elements(tags) AS e FROM counters WHERE id = $1', [key])).rows[0].e, ['x']);
    // removing what it observed is allowed: the context covers (other,1) only
    const removal = JSON.parse(
      (await sql('SELECT delta(tags, remove(tags, $2))::text AS d FROM counters WHERE id = $1', [key, 'x'])).rows[0].d,
    );
    assert.deepEqual(removal, { c: { other: [[1, 1]] } });
    assert.deepEqual(await push(channel, 'merge', { column: 'tags', delta: removal }), { status: 'ok', response: {} });
    assert.deepEqual((await sql('SELECT elements(tags) AS e FROM counters WHERE id = $1', [key])).rows[0].e, []);
  });

  const nowUs = () => Date.now() * 1000;

  async function joinedNote(me, caps = CAPS.full) {
    const key = uniqueKey('n');
    const s = await connect(bridge);
    const { channel, reply } = await join(s, `crdt:notes:${key}`, { node: me, caps });
    return { key, channel, reply };
  }

  test('lwwreg_merge_push_of_own_write_reaches_sql_and_other_clients_and_the_later_write_wins', async () => {
    const { key, channel, reply } = await joinedNote('me');
    assert.deepEqual(reply.columns, { title: 'lwwreg' });
    assert.deepEqual(reply.state.title, {});
    const other = await join(await connect(bridge), `crdt:notes:${key}`, { node: 'other', caps: CAPS.full });
    const first = { c: nowUs(), n: 'me', v: 'buy milk' };
    assert.deepEqual(await push(channel, 'merge', { column: 'title', delta: first }), { status: 'ok', response: {} });
    assert.deepEqual((await rowState('notes', key, ['title'])).title, first);
    await waitFor(() => other.channel.events.length >= 1, { what: 'the other client to get the write' });
    assert.deepEqual(other.channel.events[0].payload.deltas, { title: first });
    // an earlier write merges but does not win; the same write again is idempotent
    assert.equal(
      (await push(channel, 'merge', { column: 'title', delta: { ...first, c: first.c - 1, v: 'older' } })).status,
      'ok',
    );
    assert.equal((await push(channel, 'merge', { column: 'title', delta: first })).status, 'ok');
    assert.deepEqual((await rowState('notes', key, ['title'])).title, first);
    // a later one replaces it, and the other client learns it
    const second = { c: first.c + 1, n: 'me', v: 'buy oat milk' };
    assert.equal((await push(channel, 'merge', { column: 'title', delta: second })).status, 'ok');
    assert.equal((await sql('SELECT get(title) AS v FROM notes WHERE id = $1', [key])).rows[0].v, 'buy oat milk');
    await waitFor(() => other.channel.events.some((e) => e.payload.deltas.title.v === 'buy oat milk'), {
      what: 'the other client to get the later write',
    });
    // the empty register carries nothing and is accepted
    assert.equal((await push(channel, 'merge', { column: 'title', delta: {} })).status, 'ok');
  });

  test('lwwreg_merge_push_of_another_nodes_write_is_rejected', async () => {
    const { key, channel } = await joinedNote('me');
    assert.deepEqual(
      await push(channel, 'merge', { column: 'title', delta: { c: nowUs(), n: 'other', v: 'forged' } }),
      { status: 'error', response: { reason: 'delta is a write of another node' } },
    );
    assert.equal((await sql('SELECT count(*)::int AS n FROM notes WHERE id = $1', [key])).rows[0].n, 0);
  });

  test('lwwreg_merge_push_dated_more_than_five_minutes_ahead_is_rejected', async () => {
    const { key, channel } = await joinedNote('me');
    for (const c of [nowUs() + 6 * 60 * 1000000, 2 ** 62]) {
      assert.deepEqual(
        await push(channel, 'merge', { column: 'title', delta: { c, n: 'me', v: 'from the future' } }),
        { status: 'error', response: { reason: 'delta clock is too far in the future' } },
        String(c),
      );
    }
    assert.equal((await sql('SELECT count(*)::int AS n FROM notes WHERE id = $1', [key])).rows[0].n, 0);
    // a little ahead (a client's clock may run fast) is accepted
    const soon = { c: nowUs() + 60 * 1000000, n: 'me', v: 'soon' };
    assert.equal((await push(channel, 'merge', { column: 'title', delta: soon })).status, 'ok');
    assert.deepEqual((await rowState('notes', key, ['title'])).title, soon);
  });

  test('lwwreg_push_errors_name_the_problem', async () => {
    const { channel } = await joinedNote('me');
    for (const [what, event, payload, reason] of [
      ['increment on a register', 'increment', { column: 'title', by: 1 }, 'increment needs a counter column'],
      ['decrement on a register', 'decrement', { column: 'title', by: 1 }, 'decrement needs a pncounter column'],
      ['add on a register', 'add', { column: 'title', element: 'x' }, 'add and remove need an orset column'],
    ]) {
      assert.deepEqual(await push(channel, event, payload), { status: 'error', response: { reason } }, what);
    }
    for (const [what, delta, detail] of [
      [
        'missing value',
        { c: 1, n: 'me' },
        'Invalid register at position 0: "v" is missing; a register has all of "c", "n" and "v", or none.',
      ],
      ['negative clock', { c: -1, n: 'me', v: 'x' }, 'The clock at position 5 is negative.'],
      ['value not a string', { c: 1, n: 'me', v: 7 }, 'Unexpected character "7" at position 20: expected a string.'],
    ]) {
      assert.deepEqual(
        await push(channel, 'merge', { column: 'title', delta }),
        { status: 'error', response: { reason: `invalid delta: ${detail}` } },
        what,
      );
    }
  });

  test('lwwreg_minimal_profile_gets_the_value_as_escaped_html', async () => {
    const key = uniqueKey('n');
    await sql("INSERT INTO notes (id, title) VALUES ($1, set('{}'::lwwreg, '<b>\"milk\" & ''eggs''</b>', 'n', 1))", [
      key,
    ]);
    const s = await connect(bridge);
    const { channel } = await join(s, `crdt:notes:${key}`, { node: 'me', caps: CAPS.minimal });
    await sql("UPDATE notes SET title = set(title, '<i>bread</i> & jam', 'n') WHERE id = $1", [key]);
    const e = await waitFor(() => channel.events.find((x) => x.event === 'state'), { what: 'a state event' });
    assert.equal(e.payload.html, '<span class="lk-title">&lt;i&gt;bread&lt;/i&gt; &amp; jam</span>');
    assert.equal(e.payload.state.title.v, '<i>bread</i> & jam');
  });
});
