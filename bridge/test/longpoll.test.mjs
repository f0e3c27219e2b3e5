// The LongPoll transport (/socket/longpoll): the official phoenix client over
// it, directly and as the fallback when WebSockets are refused; sessions,
// their expiry and their bounded memory; the limits and auth a WebSocket
// connection has; and every bad request answered with its status.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import jwt from 'jsonwebtoken';
import { LongPoll, Socket } from 'phoenix';
import WebSocket from 'ws';
import {
  CAPS,
  connect,
  disconnect,
  gcMerge,
  join,
  push,
  rowState,
  runBridge,
  sql,
  startBridge,
  teardown,
  tryWs,
  uniqueKey,
  waitFor,
  withTimeout,
} from './lib/harness.mjs';

const SECRET = 'longpoll-secret';
const token = (claims = {}) =>
  jwt.sign(
    { node: 'lp-node', read: ['crdt:*'], write: ['crdt:*'], exp: Math.floor(Date.now() / 1000) + 3600, ...claims },
    SECRET,
    { algorithm: 'HS256' },
  );

const lpUrl = (bridge, query = '') => `${bridge.url}/socket/longpoll?vsn=2.0.0${query}`;

// One raw LongPoll request: {http, body} with the body parsed.
async function lp(bridge, { method = 'GET', query = '', body, headers = {} } = {}) {
  const r = await fetch(lpUrl(bridge, query), { method, body, headers });
  const text = await r.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { http: r.status, body: parsed };
}

// A raw session: its token, after the opening GET.
async function openSession(bridge, query = '') {
  const r = await lp(bridge, { query });
  assert.equal(r.http, 200);
  assert.equal(r.body.status, 410);
  assert.match(r.body.token, /^[0-9a-f]{48}$/);
  return r.body.token;
}

const frame = (joinRef, ref, topic, event, payload) => JSON.stringify([joinRef, ref, topic, event, payload]);
const ndjson = (...frames) => ({ body: frames.join('\n'), headers: { 'content-type': 'application/x-ndjson' } });

// Poll until the replies to refs have come; returns every message seen (parsed).
async function pollUntil(bridge, tok, pred, what) {
  const seen = [];
  await waitFor(
    async () => {
      const r = await lp(bridge, { query: `&token=${tok}` });
      assert.equal(r.http, 200);
      if (r.body.status === 200) seen.push(...r.body.messages.map((m) => JSON.parse(m)));
      return pred(seen);
    },
    { timeout: 15000, what },
  );
  return seen;
}

async function metric(bridge, name) {
  return (await bridge.metrics()).samples[name];
}

// A phoenix Socket over LongPoll, opened.
async function connectLongPoll(bridge, opts = {}) {
  return connect(bridge, { transport: LongPoll, ...opts });
}

after(teardown);

describe('longpoll', () => {
  let bridge;
  before(async () => {
    bridge = await startBridge({ name: 'longpoll', args: ['--longpoll-window', '300', '--longpoll-expiry', '1500'] });
  });
  after(() => bridge.stop());

  test('phoenix_longpoll_transport_joins_pushes_and_receives_deltas', async () => {
    const key = uniqueKey('lp');
    await sql('INSERT INTO counters (id, hits) VALUES ($1, $2)', [key, '{"db":2}']);
    const socket = await connectLongPoll(bridge);
    assert.equal(socket.transport, LongPoll);
    const { channel, reply } = await join(socket, `crdt:counters:${key}`, { node: 'lp', caps: CAPS.full });
    assert.equal(reply.profile, 'full');
    assert.deepEqual(reply.state.hits, { db: 2 });
    assert.deepEqual(await push(channel, 'increment', { column: 'hits', by: 3 }), { status: 'ok', response: {} });
    assert.deepEqual(await push(channel, 'merge', { column: 'stock', delta: { p: { lp: 5 } } }), {
      status: 'ok',
      response: {},
    });
    await sql("UPDATE counters SET hits = increment(hits, 'db', 4) WHERE id = $1", [key]);
    // the deltas of the client's own push and of the SQL update both arrive
    const hits = () =>
      channel.events
        .filter((e) => e.event === 'delta' && e.payload.deltas.hits)
        .reduce((s, e) => gcMerge(s, e.payload.deltas.hits), reply.state.hits);
    await waitFor(() => hits().db === 6 && hits().lp === 3, { what: 'both deltas over LongPoll' });
    const state = await rowState('counters', key, ['hits', 'stock']);
    assert.deepEqual(state, { hits: { db: 6, lp: 3 }, stock: { p: { lp: 5 } } });
    await disconnect(socket);
  });

  test('profiles_apply_over_longpoll_minimal_gets_full_state_with_html', async () => {
    const key = uniqueKey('lpp');
    await sql('INSERT INTO counters (id) VALUES ($1)', [key]);
    const socket = await connectLongPoll(bridge);
    const { channel, reply } = await join(socket, `crdt:counters:${key}`, { node: 'mini', caps: CAPS.minimal });
    assert.equal(reply.profile, 'minimal');
    await sql("UPDATE counters SET hits = increment(hits, 'db', 7) WHERE id = $1", [key]);
    const e = await waitFor(() => channel.events.find((x) => x.event === 'state' && x.payload.state.hits?.db === 7), {
      what: 'the minimal profile state event',
    });
    assert.match(e.payload.html, /<span class="lk-hits">7<\/span>/);
    await disconnect(socket);
  });

  test('a_burst_of_pushes_in_one_batch_is_answered_in_order', async () => {
    const key = uniqueKey('lpb');
    const socket = await connectLongPoll(bridge);
    const { channel } = await join(socket, `crdt:counters:${key}`, { node: 'burst', caps: CAPS.full });
    // pushed in one turn of the event loop: the phoenix client sends them as one POST
    const replies = await Promise.all(Array.from({ length: 40 }, () => push(channel, 'increment', { column: 'hits' })));
    assert.ok(replies.every((r) => r.status === 'ok'));
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { burst: 40 });
    await disconnect(socket);
  });

  test('longpoll_sessions_count_as_connections_in_metrics', async () => {
    const before = (await bridge.metrics()).samples;
    const socket = await connectLongPoll(bridge);
    await waitFor(
      async () => (await metric(bridge, 'laniakea_longpoll_sessions')) === before.laniakea_longpoll_sessions + 1,
      { what: 'the session gauge' },
    );
    const now = (await bridge.metrics()).samples;
    assert.equal(now.laniakea_connections, before.laniakea_connections + 1);
    assert.equal(now.laniakea_connections_total, before.laniakea_connections_total + 1);
    assert.equal(now.laniakea_longpoll_sessions_total, before.laniakea_longpoll_sessions_total + 1);
    assert.ok(now.laniakea_longpoll_polls_total > before.laniakea_longpoll_polls_total);
    const fam = (await bridge.metrics()).families;
    for (const [name, type] of Object.entries({
      laniakea_longpoll_sessions: 'gauge',
      laniakea_longpoll_sessions_total: 'counter',
      laniakea_longpoll_expired_total: 'counter',
      laniakea_longpoll_polls_total: 'counter',
      laniakea_longpoll_posts_total: 'counter',
      laniakea_longpoll_refused_total: 'counter',
    }))
      assert.equal(fam[name]?.type, type, name);
    await disconnect(socket);
  });

  test('a_poll_with_nothing_to_send_is_answered_204_after_the_window', async () => {
    const tok = await openSession(bridge);
    const start = Date.now();
    const r = await lp(bridge, { query: `&token=${tok}` });
    assert.deepEqual(r, { http: 200, body: { status: 204, token: tok } });
    assert.ok(Date.now() - start >= 250, 'held for the window');
  });

  test('a_second_poll_answers_the_first_with_204', async () => {
    const tok = await openSession(bridge);
    const first = lp(bridge, { query: `&token=${tok}` });
    await new Promise((r) => setTimeout(r, 50));
    const second = lp(bridge, { query: `&token=${tok}` });
    assert.deepEqual(await first, { http: 200, body: { status: 204, token: tok } });
    assert.deepEqual(await second, { http: 200, body: { status: 204, token: tok } });
  });

  test('ndjson_batch_is_served_and_replies_arrive_by_poll', async () => {
    const key = uniqueKey('lpn');
    const tok = await openSession(bridge);
    const topic = `crdt:counters:${key}`;
    await lp(bridge, {
      method: 'POST',
      query: `&token=${tok}`,
      ...ndjson(frame('1', '1', topic, 'phx_join', { node: 'raw', caps: CAPS.full })),
    });
    await pollUntil(bridge, tok, (s) => s.some((m) => m[1] === '1'), 'the join reply');
    const r = await lp(bridge, {
      method: 'POST',
      query: `&token=${tok}`,
      ...ndjson(
        frame('1', '2', topic, 'increment', { column: 'hits', by: 2 }),
        frame(null, '3', 'phoenix', 'heartbeat', {}),
        frame('1', '4', topic, 'increment', { column: 'nope' }),
      ),
    });
    assert.deepEqual(r, { http: 200, body: { status: 200 } });
    const seen = await pollUntil(
      bridge,
      tok,
      (s) => ['2', '3', '4'].every((ref) => s.some((m) => m[1] === ref)),
      'three replies',
    );
    const replies = seen.filter((m) => m[3] === 'phx_reply');
    // the heartbeat is answered at once, the pushes once PostgreSQL ran them
    assert.deepEqual(replies.map((m) => [m[1], m[4].status]).sort(), [
      ['2', 'ok'],
      ['3', 'ok'],
      ['4', 'error'],
    ]);
    assert.equal(replies.find((m) => m[1] === '4')[4].response.reason, 'unknown column');
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { raw: 2 });
  });

  test('a_single_json_message_without_ndjson_type_is_one_message', async () => {
    const tok = await openSession(bridge);
    const r = await lp(bridge, {
      method: 'POST',
      query: `&token=${tok}`,
      body: frame(null, '7', 'phoenix', 'heartbeat', {}),
      headers: { 'content-type': 'application/json' },
    });
    assert.deepEqual(r, { http: 200, body: { status: 200 } });
    const seen = await pollUntil(bridge, tok, (s) => s.some((m) => m[1] === '7'), 'the heartbeat reply');
    assert.deepEqual(
      seen.find((m) => m[1] === '7'),
      [null, '7', 'phoenix', 'phx_reply', { status: 'ok', response: {} }],
    );
  });

  test('unknown_or_malformed_session_token_gets_410', async () => {
    const unknown = 'ab'.repeat(24);
    assert.deepEqual(await lp(bridge, { query: `&token=${unknown}` }), { http: 200, body: { status: 410 } });
    const post = await lp(bridge, {
      method: 'POST',
      query: `&token=${unknown}`,
      ...ndjson(frame(null, '1', 'phoenix', 'heartbeat', {})),
    });
    assert.equal(post.http, 410);
    assert.equal(post.body.status, 410);
    const none = await lp(bridge, { method: 'POST', ...ndjson(frame(null, '1', 'phoenix', 'heartbeat', {})) });
    assert.equal(none.http, 410);
  });

  test('abandoned_session_expires_and_its_token_then_gets_410', async () => {
    const before = await metric(bridge, 'laniakea_longpoll_expired_total');
    const tok = await openSession(bridge);
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok((await metric(bridge, 'laniakea_longpoll_expired_total')) >= before + 1);
    assert.deepEqual(await lp(bridge, { query: `&token=${tok}` }), { http: 200, body: { status: 410 } });
  });

  test('a_session_that_keeps_polling_does_not_expire', async () => {
    const tok = await openSession(bridge);
    // four windows of 300 ms, well past the 1500 ms expiry in all
    for (let i = 0; i < 7; i++) assert.equal((await lp(bridge, { query: `&token=${tok}` })).body.status, 204);
  });

  test('oversized_batch_gets_413_and_the_session_goes_on', async () => {
    const key = uniqueKey('lpo');
    const tok = await openSession(bridge);
    const topic = `crdt:counters:${key}`;
    const big = frame(null, '1', topic, 'increment', { column: 'hits', pad: 'x'.repeat(1100000) });
    const r = await lp(bridge, {
      method: 'POST',
      query: `&token=${tok}`,
      ...ndjson(frame('1', '0', topic, 'phx_join', { node: 'o' }), big),
    });
    assert.equal(r.http, 413);
    assert.equal(r.body.status, 413);
    // a message over --max-message, in a small batch
    const r2 = await lp(bridge, {
      method: 'POST',
      query: `&token=${tok}`,
      ...ndjson(frame(null, '1', topic, 'x', { pad: 'x'.repeat(70000) })),
    });
    assert.equal(r2.http, 413);
    // nothing of either was served: not even the join
    const ok = await lp(bridge, {
      method: 'POST',
      query: `&token=${tok}`,
      ...ndjson(frame(null, '9', 'phoenix', 'heartbeat', {})),
    });
    assert.equal(ok.http, 200);
    const seen = await pollUntil(bridge, tok, (s) => s.some((m) => m[1] === '9'), 'the heartbeat reply');
    assert.deepEqual(
      seen.map((m) => m[1]),
      ['9'],
    );
  });

  test('malformed_batch_gets_400_and_nothing_of_it_is_served', async () => {
    const key = uniqueKey('lpm');
    await sql('INSERT INTO counters (id) VALUES ($1)', [key]);
    const tok = await openSession(bridge);
    const topic = `crdt:counters:${key}`;
    const join1 = frame('1', '1', topic, 'phx_join', { node: 'm', caps: CAPS.full });
    await lp(bridge, { method: 'POST', query: `&token=${tok}`, ...ndjson(join1) });
    await pollUntil(bridge, tok, (s) => s.some((m) => m[1] === '1'), 'the join reply');
    for (const bad of ['not json', '{"a":1}', '[1,2,3]', '']) {
      const r = await lp(bridge, {
        method: 'POST',
        query: `&token=${tok}`,
        ...ndjson(frame('1', '2', topic, 'increment', { column: 'hits' }), bad || '\n'),
      });
      if (bad === '') {
        // a trailing empty line is allowed: this batch is served
        assert.equal(r.http, 200);
        continue;
      }
      assert.equal(r.http, 400, bad);
      assert.equal(r.body.status, 400);
      assert.equal(typeof r.body.reason, 'string');
    }
    await waitFor(async () => (await rowState('counters', key, ['hits'])).hits.m === 1, { what: 'the one good batch' });
    // the refused batches' increments never ran
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { m: 1 });
    const empty = await lp(bridge, {
      method: 'POST',
      query: `&token=${tok}`,
      body: '',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    assert.equal(empty.http, 400);
  });

  test('chunked_batch_is_411_and_nothing_of_it_is_served', async () => {
    // lws frames request bodies by Content-Length only: a chunked batch was read as empty
    const key = uniqueKey('lpch');
    const tok = await openSession(bridge);
    const topic = `crdt:counters:${key}`;
    await lp(bridge, {
      method: 'POST',
      query: `&token=${tok}`,
      ...ndjson(frame('1', '1', topic, 'phx_join', { node: 'ch', caps: CAPS.full })),
    });
    await pollUntil(bridge, tok, (s) => s.some((m) => m[1] === '1'), 'the join reply');
    const text = frame('1', '2', topic, 'increment', { column: 'hits' });
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(text));
        c.close();
      },
    });
    const r = await fetch(lpUrl(bridge, `&token=${tok}`), {
      method: 'POST',
      body,
      duplex: 'half',
      headers: { 'content-type': 'application/x-ndjson' },
    });
    assert.equal(r.status, 411);
    const reply = await r.json();
    assert.equal(reply.status, 411);
    assert.match(reply.reason, /needs a Content-Length/);
    // the session goes on, and the same batch with a length is served
    assert.equal((await lp(bridge, { method: 'POST', query: `&token=${tok}`, ...ndjson(text) })).http, 200);
    await waitFor(async () => (await rowState('counters', key, ['hits'])).hits.ch === 1, { what: 'the framed batch' });
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { ch: 1 });
  });

  test('wrong_vsn_or_method_is_refused', async () => {
    const r = await fetch(`${bridge.url}/socket/longpoll?vsn=1.0.0`);
    assert.equal(r.status, 400);
    const r2 = await fetch(`${bridge.url}/socket/longpoll`);
    assert.equal(r2.status, 400);
  });

  test('undelivered_deltas_of_a_session_that_does_not_poll_are_merged', async () => {
    const key = uniqueKey('lpf');
    await sql('INSERT INTO counters (id) VALUES ($1)', [key]);
    const tok = await openSession(bridge);
    const topic = `crdt:counters:${key}`;
    await lp(bridge, {
      method: 'POST',
      query: `&token=${tok}`,
      ...ndjson(frame('1', '1', topic, 'phx_join', { node: 'f', caps: CAPS.full })),
    });
    await pollUntil(bridge, tok, (s) => s.some((m) => m[1] === '1'), 'the join reply');
    // 300 updates of the row, one NOTIFY each, while the client does not poll
    await sql(
      `DO $$ BEGIN FOR i IN 1..300 LOOP UPDATE counters SET hits = increment(hits, 'db', 1) WHERE id = '${key}'; END LOOP; END $$`,
    );
    await waitFor(async () => (await rowState('counters', key, ['hits'])).hits.db === 300, { what: 'the updates' });
    await new Promise((r) => setTimeout(r, 300));
    let view = {};
    let frames = 0;
    await waitFor(
      async () => {
        const r = await lp(bridge, { query: `&token=${tok}` });
        for (const m of r.body.messages || []) {
          const f = JSON.parse(m);
          if (f[3] === 'delta') {
            view = gcMerge(view, f[4].deltas.hits);
            frames++;
          }
        }
        return view.db === 300;
      },
      { timeout: 10000, what: 'the merged deltas' },
    );
    // the ring holds at most CONN_RING / 2 deltas before the rest are merged into one
    assert.ok(frames < 300 && frames <= 40, `${frames} delta frames for 300 updates`);
  });

  test('max_channels_applies_to_longpoll_sessions', async () => {
    const b = await startBridge({ name: 'longpoll-limits', args: ['--max-channels', '1'] });
    const socket = await connectLongPoll(b);
    await join(socket, `crdt:counters:${uniqueKey('mc')}`, { node: 'mc' });
    await assert.rejects(
      join(socket, `crdt:counters:${uniqueKey('mc')}`, { node: 'mc' }),
      (e) => e.response.reason === 'too many channels',
    );
    await disconnect(socket);
    await b.stop();
  });

  test('max_per_ip_counts_longpoll_sessions_and_refuses_with_a_retryable_status', async () => {
    const b = await startBridge({ name: 'longpoll-perip', args: ['--max-per-ip', '1'] });
    const tok = await openSession(b);
    const r = await lp(b);
    assert.equal(r.http, 429);
    assert.equal(r.body.status, 500, 'phoenix.js retries after 500');
    assert.equal((await tryWs(b.wsUrl)).opened, false, 'the session counts against WebSockets too');
    assert.equal((await lp(b, { query: `&token=${tok}` })).body.status, 204);
    await b.stop();
  });
});

describe('longpoll command line and shutdown', () => {
  test('help_documents_the_longpoll_and_view_options', async () => {
    const r = await runBridge(['--help']);
    assert.equal(r.code, 0);
    for (const [flag, env] of [
      ['longpoll-window', 'LANIAKEA_LONGPOLL_WINDOW'],
      ['longpoll-expiry', 'LANIAKEA_LONGPOLL_EXPIRY'],
      ['max-body', 'LANIAKEA_MAX_BODY'],
      ['websocket', 'LANIAKEA_WEBSOCKET'],
    ]) {
      assert.match(r.stdout, new RegExp(`--${flag}\\b`), flag);
      assert.match(r.stdout, new RegExp(`\\b${env}\\b`), env);
    }
    assert.match(r.stdout, /\/socket\/longpoll\?vsn=2\.0\.0/);
    assert.match(r.stdout, /\/view\/TABLE\/KEY/);
    for (const [args, message] of [
      [['--websocket', '2'], /invalid value "2" for --websocket/],
      [['--longpoll-window', '10'], /invalid value "10" for --longpoll-window/],
      [['--max-body', 'x'], /for --max-body/],
    ]) {
      const bad = await runBridge(args);
      assert.equal(bad.code, 2, args.join(' '));
      assert.match(bad.stderr, message);
    }
  });

  test('shutdown_answers_a_held_poll_410_and_exits', async () => {
    const b = await startBridge({ name: 'longpoll-stop' });
    const tok = await openSession(b);
    const held = lp(b, { query: `&token=${tok}` });
    await waitFor(async () => (await metric(b, 'laniakea_longpoll_sessions')) === 1, { what: 'the session' });
    await new Promise((r) => setTimeout(r, 100));
    const stopped = b.stop();
    assert.deepEqual(await held, { http: 200, body: { status: 410 } });
    assert.equal((await stopped).code, 0);
  });
});

describe('longpoll fallback', () => {
  let bridge;
  before(async () => {
    bridge = await startBridge({ name: 'longpoll-nows', args: ['--websocket', '0'] });
  });
  after(() => bridge.stop());

  test('websocket_0_refuses_the_upgrade', async () => {
    const r = await tryWs(bridge.wsUrl);
    assert.equal(r.opened, false);
    assert.match(r.why, /HTTP|socket hang up|closed/);
  });

  test('phoenix_client_with_longPollFallbackMs_falls_back_joins_pushes_and_receives_deltas', async () => {
    const key = uniqueKey('fb');
    await sql('INSERT INTO counters (id) VALUES ($1)', [key]);
    const socket = new Socket(bridge.socketUrl, {
      transport: WebSocket,
      longPollFallbackMs: 500,
      reconnectAfterMs: () => 200,
      rejoinAfterMs: () => 200,
    });
    const transports = [];
    socket.onOpen(() => transports.push(socket.transport));
    await withTimeout(
      new Promise((resolve) => {
        const ref = socket.onOpen(() => {
          socket.off([ref]);
          resolve();
        });
        socket.connect();
      }),
      15000,
      'the fallback to open',
    );
    try {
      assert.equal(socket.transport, LongPoll);
      assert.deepEqual(transports, [LongPoll]);
      const { channel } = await join(socket, `crdt:counters:${key}`, { node: 'fb', caps: CAPS.full });
      assert.equal((await push(channel, 'increment', { column: 'hits', by: 2 })).status, 'ok');
      await sql("UPDATE counters SET hits = increment(hits, 'db', 5) WHERE id = $1", [key]);
      await waitFor(() => channel.events.some((e) => e.event === 'delta' && e.payload.deltas.hits?.db === 5), {
        what: 'the SQL delta over the fallback',
      });
      assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { db: 5, fb: 2 });
    } finally {
      socket.disconnect();
    }
  });
});

describe('longpoll auth', () => {
  let bridge;
  before(async () => {
    bridge = await startBridge({ name: 'longpoll-auth', args: ['--jwt-secret', SECRET] });
  });
  after(() => bridge.stop());

  test('session_without_a_valid_token_is_refused_403', async () => {
    for (const q of ['', '&token=not.a.jwt', `&token=${token({ exp: Math.floor(Date.now() / 1000) - 5 })}`]) {
      const r = await lp(bridge, { query: q });
      assert.equal(r.http, 403, q);
      assert.equal(r.body.status, 403);
    }
  });

  test('token_in_params_opens_a_session_whose_node_is_the_tokens', async () => {
    const socket = await connectLongPoll(bridge, { params: { token: token() } });
    const key = uniqueKey('lpa');
    const { channel, reply } = await join(socket, `crdt:counters:${key}`, { caps: CAPS.full });
    assert.equal(reply.node, 'lp-node');
    assert.equal((await push(channel, 'increment', { column: 'hits' })).status, 'ok');
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { 'lp-node': 1 });
    await disconnect(socket);
  });

  test('authToken_option_is_sent_as_a_header_and_accepted', async () => {
    const socket = await connectLongPoll(bridge, { authToken: token({ node: 'hdr-node' }) });
    const { reply } = await join(socket, `crdt:counters:${uniqueKey('lph')}`, { caps: CAPS.full });
    assert.equal(reply.node, 'hdr-node');
    await disconnect(socket);
  });

  test('post_to_a_session_closed_by_token_expiry_is_410_and_serves_nothing', async () => {
    // the session lives on until its queue is polled, but takes no more
    // input: a batch accepted 200 then would have had its replies dropped
    const key = uniqueKey('lpx');
    await sql('INSERT INTO counters (id) VALUES ($1)', [key]);
    const exp = Math.floor(Date.now() / 1000) + 2;
    const tok = await openSession(bridge, `&token=${token({ exp })}`);
    const topic = `crdt:counters:${key}`;
    const posted = await lp(bridge, {
      method: 'POST',
      query: `&token=${tok}`,
      ...ndjson(frame('1', '1', topic, 'phx_join', { caps: CAPS.full })),
    });
    assert.equal(posted.http, 200);
    await waitFor(async () => Date.now() / 1000 > exp + 0.3, { timeout: 5000, what: 'the token to expire' });
    const r = await lp(bridge, {
      method: 'POST',
      query: `&token=${tok}`,
      ...ndjson(frame('1', '2', topic, 'increment', { column: 'hits' })),
    });
    assert.equal(r.http, 410);
    assert.equal(r.body.status, 410);
    // what was queued before the close still comes, then the session is gone
    const seen = await pollUntil(bridge, tok, (m) => m.some((x) => x[1] === '1'), 'the join reply');
    assert.ok(!seen.some((m) => m[1] === '2'), 'the refused push was not served');
    assert.equal((await lp(bridge, { query: `&token=${tok}` })).body.status, 410);
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, {});
  });

  test('topic_the_token_does_not_name_is_unauthorized_over_longpoll', async () => {
    const socket = await connectLongPoll(bridge, { params: { token: token({ read: ['crdt:boards:*'] }) } });
    await assert.rejects(
      join(socket, `crdt:counters:${uniqueKey('lpu')}`, {}),
      (e) => e.response.reason === 'unauthorized',
    );
    await disconnect(socket);
  });
});
