// JWT (HS256): where the token may come from, what it allows, and every way
// of getting it wrong.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import jwt from 'jsonwebtoken';
import {
  CAPS,
  connect,
  join,
  push,
  rawFrame,
  rawWs,
  rowState,
  sleep,
  sql,
  startBridge,
  teardown,
  tryWs,
  uniqueKey,
  waitFor,
  withTimeout,
} from './lib/harness.mjs';

const SECRET = 'bridge-test-secret-0123456789abcdef';
const hour = () => Math.floor(Date.now() / 1000) + 3600;

function token(claims = {}, { secret = SECRET, algorithm = 'HS256' } = {}) {
  return jwt.sign(
    { node: 'tok-node', read: ['crdt:counters:*'], write: ['crdt:counters:*'], exp: hour(), ...claims },
    secret,
    { algorithm },
  );
}

// the phoenix client's encoding of a token as a subprotocol
const bearer = (t) => `base64url.bearer.phx.${Buffer.from(t).toString('base64').replace(/=/g, '')}`;

after(teardown);

describe('authentication', () => {
  let bridge;
  before(async () => {
    bridge = await startBridge({ name: 'auth', args: ['--jwt-secret', SECRET] });
  });

  test('valid_token_in_query_joins_and_counts_as_the_tokens_node', async () => {
    const key = uniqueKey('jq');
    const socket = await connect(bridge, { params: { token: token() } });
    const { channel, reply } = await join(socket, `crdt:counters:${key}`, { caps: CAPS.full });
    assert.equal(reply.node, 'tok-node');
    assert.equal((await push(channel, 'increment', { column: 'hits', by: 2 })).status, 'ok');
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { 'tok-node': 2 });
  });

  // The official client's authToken option sends the token as the subprotocol
  // "base64url.bearer.phx.<base64 token>" beside "phoenix".  libwebsockets
  // 4.1 hangs up on a Sec-WebSocket-Protocol header of 127 bytes or more, and
  // an HS256 JWT alone is over 100: the bridge has lws truncate its copy and
  // reads the whole header through its guard (src/lws/guard.c).
  test('valid_token_in_subprotocol_joins', async () => {
    const key = uniqueKey('js');
    const socket = await connect(bridge, { authToken: token({ node: 'sub-node' }) });
    const { reply } = await join(socket, `crdt:counters:${key}`, { node: 'sub-node', caps: CAPS.full });
    assert.equal(reply.node, 'sub-node');
    assert.equal(socket.conn.protocol, 'phoenix');
  });

  test('invalid_token_in_subprotocol_is_refused', async () => {
    for (const t of [
      token({ exp: Math.floor(Date.now() / 1000) - 10 }),
      token({}, { secret: 'wrong' }),
      token({ pad: 'p'.repeat(3000) }, { secret: 'wrong' }),
    ]) {
      assert.equal((await tryWs(bridge.wsUrl, ['phoenix', bearer(t)])).opened, false);
    }
  });

  test('expired_token_is_refused', async () => {
    const t = token({ exp: Math.floor(Date.now() / 1000) - 10 });
    assert.equal((await tryWs(`${bridge.wsUrl}&token=${t}`)).opened, false);
  });

  test('token_with_bad_signature_is_refused', async () => {
    const t = token({}, { secret: 'not-the-secret' });
    assert.equal((await tryWs(`${bridge.wsUrl}&token=${t}`)).opened, false);
    // a tampered payload with the original signature
    const [h, , s] = token().split('.');
    const forged = Buffer.from(JSON.stringify({ node: 'tok-node', read: ['*'], write: ['*'], exp: hour() })).toString(
      'base64url',
    );
    assert.equal((await tryWs(`${bridge.wsUrl}&token=${h}.${forged}.${s}`)).opened, false);
  });

  test('missing_or_malformed_token_is_refused', async () => {
    const before = (await bridge.metrics()).samples;
    assert.equal((await tryWs(bridge.wsUrl)).opened, false);
    assert.equal((await tryWs(`${bridge.wsUrl}&token=`)).opened, false);
    assert.equal((await tryWs(`${bridge.wsUrl}&token=not.a.jwt`)).opened, false);
    assert.equal((await tryWs(bridge.wsUrl, ['phoenix'])).opened, false);
    const now = (await bridge.metrics()).samples;
    assert.equal(now.laniakea_connections_total, before.laniakea_connections_total, 'no connection was accepted');
  });

  test('asking_for_a_database_protocol_does_not_bypass_the_token', async () => {
    // lws lets a client name any protocol of the vhost as its subprotocol: the
    // query connection's and the replication connection's alike
    for (const protocol of ['laniakea-pg', 'laniakea-wal']) {
      assert.equal((await tryWs(bridge.wsUrl, [protocol])).opened, false, protocol);
      assert.equal((await tryWs(`${bridge.wsUrl}&token=${token()}`, [protocol])).opened, false, protocol);
    }
  });

  test('token_that_is_not_hs256_or_lacks_claims_is_refused', async () => {
    for (const [what, t] of [
      ['HS512', token({}, { algorithm: 'HS512' })],
      ['no exp', jwt.sign({ node: 'n', read: ['*'] }, SECRET, { algorithm: 'HS256' })],
      ['no node', jwt.sign({ read: ['*'], exp: hour() }, SECRET, { algorithm: 'HS256' })],
      ['bad node', token({ node: '' })],
      ['alg none', jwt.sign({ node: 'n', read: ['*'], exp: hour() }, null, { algorithm: 'none' })],
    ]) {
      assert.equal((await tryWs(`${bridge.wsUrl}&token=${t}`)).opened, false, what);
    }
  });

  test('join_of_a_topic_the_token_does_not_name_is_unauthorized', async () => {
    const mine = uniqueKey('mine');
    const t = token({ read: [`crdt:counters:${mine}*`, 'crdt:boards'], write: [] });
    const socket = await connect(bridge, { params: { token: t } });
    await join(socket, `crdt:counters:${mine}`, { caps: CAPS.full });
    await join(socket, `crdt:counters:${mine}-2`, { caps: CAPS.full }); // prefix pattern
    await join(socket, 'crdt:boards', { caps: CAPS.full }); // exact pattern
    for (const topic of [`crdt:counters:${uniqueKey('theirs')}`, 'crdt:counters', 'crdt:feed']) {
      await assert.rejects(
        join(socket, topic, { caps: CAPS.full }),
        (e) => assert.deepEqual(e.response, { reason: 'unauthorized' }) ?? true,
        topic,
      );
    }
  });

  test('push_to_a_topic_the_token_may_only_read_is_unauthorized', async () => {
    const w = uniqueKey('w');
    const r = uniqueKey('r');
    const t = token({ read: ['crdt:counters:*'], write: [`crdt:counters:${w}`] });
    const socket = await connect(bridge, { params: { token: t } });
    const { channel: cw } = await join(socket, `crdt:counters:${w}`, { caps: CAPS.full });
    const { channel: cr } = await join(socket, `crdt:counters:${r}`, { caps: CAPS.full });
    assert.equal((await push(cw, 'increment', { column: 'hits' })).status, 'ok');
    assert.deepEqual(await push(cr, 'increment', { column: 'hits' }), {
      status: 'error',
      response: { reason: 'unauthorized' },
    });
    assert.deepEqual(await push(cr, 'merge', { column: 'hits', delta: { 'tok-node': 1 } }), {
      status: 'error',
      response: { reason: 'unauthorized' },
    });
    assert.equal((await sql('SELECT count(*)::int AS n FROM counters WHERE id = $1', [r])).rows[0].n, 0);
  });

  // seconds since the epoch, and how long until then
  const nowS = () => Math.floor(Date.now() / 1000);
  const untilS = (s) => s * 1000 - Date.now();

  test('token_expiring_on_an_open_connection_closes_it_with_4001_and_the_reconnect_is_refused', async () => {
    const exp = nowS() + 2;
    const key = uniqueKey('exp');
    const socket = await connect(bridge, { params: { token: token({ exp }) } });
    const { channel } = await join(socket, `crdt:counters:${key}`, { caps: CAPS.full });
    assert.equal((await push(channel, 'increment', { column: 'hits' })).status, 'ok');
    const accepted = (await bridge.metrics()).samples.laniakea_connections_total;
    await withTimeout(
      waitFor(() => socket.closes.length > 0, { timeout: untilS(exp) + 3000, what: 'the close' }),
      untilS(exp) + 4000,
      'the close at exp',
    );
    assert.equal(socket.closes[0], 4001);
    assert.ok(Date.now() >= exp * 1000, 'not closed before exp');
    // the phoenix client reconnects on its own, with the same (expired) token
    await waitFor(() => socket.closes.length >= 3, { timeout: 5000, what: 'two refused reconnects' });
    assert.equal(socket.opens, 1, 'no reconnect got in');
    assert.equal((await bridge.metrics()).samples.laniakea_connections_total, accepted);
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { 'tok-node': 1 });
    socket.disconnect();
  });

  // Frames read after exp but before the expiry timer runs are refused one by
  // one.  The bridge is stopped across exp with the frames waiting in its
  // socket: when it resumes, libwebsockets serves ready sockets before due
  // timers, so the join and push are read, refused, and then the timer
  // closes the connection.
  test('join_and_push_read_after_exp_are_refused', async () => {
    const exp = nowS() + 2;
    const key = uniqueKey('late');
    const ws = await rawWs(bridge, { query: `&token=${token({ exp })}` });
    ws.send(JSON.stringify(['1', '1', `crdt:counters:${key}`, 'phx_join', { caps: CAPS.full }]));
    assert.equal((await rawFrame(ws, (m) => m[1] === '1'))[4].status, 'ok');
    await sleep(untilS(exp) - 500);
    bridge.proc.kill('SIGSTOP');
    try {
      ws.send(JSON.stringify(['1', '2', `crdt:counters:${key}`, 'increment', { column: 'hits' }]));
      ws.send(JSON.stringify(['3', '3', `crdt:counters:${uniqueKey('late2')}`, 'phx_join', { caps: CAPS.full }]));
      await sleep(untilS(exp) + 300);
    } finally {
      bridge.proc.kill('SIGCONT');
    }
    const closed = await withTimeout(ws.closed, 5000, 'the close');
    assert.deepEqual(closed, { code: 4001, reason: 'token expired' });
    assert.deepEqual(
      ws.messages.slice(1).map((m) => [m[1], m[4]]),
      [
        ['2', { status: 'error', response: { reason: 'token expired' } }],
        ['3', { status: 'error', response: { reason: 'token expired' } }],
      ],
    );
    assert.equal((await sql('SELECT count(*)::int AS n FROM counters WHERE id = $1', [key])).rows[0].n, 0);
  });

  test('token_not_yet_valid_is_refused_until_nbf', async () => {
    assert.equal((await tryWs(`${bridge.wsUrl}&token=${token({ nbf: nowS() + 60 })}`)).opened, false);
    // jsonwebtoken will not sign a malformed nbf: sign it by hand
    const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ node: 'tok-node', read: ['*'], exp: hour(), nbf: 'soon' })}`;
    const badNbf = `${body}.${crypto.createHmac('sha256', SECRET).update(body).digest('base64url')}`;
    assert.equal((await tryWs(`${bridge.wsUrl}&token=${badNbf}`)).opened, false);
    const ok = await tryWs(`${bridge.wsUrl}&token=${token({ nbf: nowS() - 10 })}`);
    assert.equal(ok.opened, true);
    ok.ws.close();
  });

  test('join_naming_another_node_than_the_token_is_refused', async () => {
    const socket = await connect(bridge, { params: { token: token() } });
    await assert.rejects(
      join(socket, `crdt:counters:${uniqueKey('n')}`, { node: 'someone-else', caps: CAPS.full }),
      (e) => assert.deepEqual(e.response, { reason: 'node does not match the token' }) ?? true,
    );
    const { reply } = await join(socket, `crdt:counters:${uniqueKey('n')}`, { node: 'tok-node', caps: CAPS.full });
    assert.equal(reply.node, 'tok-node');
  });
});

describe('development mode', () => {
  test('without_a_secret_the_bridge_says_it_runs_in_development_mode', async () => {
    const bridge = await startBridge({ name: 'devmode' });
    assert.match(bridge.log(), /DEVELOPMENT MODE/);
    const socket = await connect(bridge);
    const { reply } = await join(socket, `crdt:counters:${uniqueKey('dev')}`, { node: 'anyone', caps: CAPS.full });
    assert.equal(reply.node, 'anyone');
    await bridge.stop();
  });
});
