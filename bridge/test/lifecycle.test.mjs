// The process around the protocol: flags and --help, /healthz and /metrics,
// the per-address connection limit, startup and graceful shutdown.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import {
  BRIDGE_BIN,
  DATABASE_URL,
  SOURCE,
  sleep,
  CAPS,
  connect,
  disconnect,
  freePort,
  join,
  push,
  rawFrame,
  rawTcp,
  rawWs,
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

after(teardown);

const FLAGS = [
  'db',
  'idle-timeout',
  'jwt-secret',
  'listen',
  'log-level',
  'max-channels',
  'max-message',
  'max-pending-pushes',
  'max-per-ip',
  'max-table-rows',
  'pending-cap',
  'port',
  'push-timeout',
  'source',
  'static-dir',
  'client-dir',
  'help',
  'version',
];
const ENVS = [
  'DATABASE_URL',
  'LANIAKEA_IDLE_TIMEOUT',
  'LANIAKEA_JWT_SECRET',
  'LANIAKEA_LISTEN',
  'LANIAKEA_LOG_LEVEL',
  'LANIAKEA_MAX_CHANNELS',
  'LANIAKEA_MAX_MESSAGE',
  'LANIAKEA_MAX_PENDING_PUSHES',
  'LANIAKEA_MAX_PER_IP',
  'LANIAKEA_MAX_TABLE_ROWS',
  'LANIAKEA_PENDING_CAP',
  'LANIAKEA_PORT',
  'LANIAKEA_PUSH_TIMEOUT',
  'LANIAKEA_SOURCE',
  'LANIAKEA_STATIC_DIR',
  'LANIAKEA_CLIENT_DIR',
];

// the metric families docs/operations.md documents, with their types
const METRICS = {
  laniakea_connections: 'gauge',
  laniakea_connections_total: 'counter',
  laniakea_joins_total: 'counter',
  laniakea_join_errors_total: 'counter',
  laniakea_frames_in_total: 'counter',
  laniakea_frames_out_total: 'counter',
  laniakea_notifications_total: 'counter',
  laniakea_pushes_total: 'counter',
  laniakea_push_errors_total: 'counter',
  laniakea_pushes_dropped_total: 'counter',
  laniakea_notify_lag_seconds: 'histogram',
  laniakea_pg_up: 'gauge',
  laniakea_pg_reconnects_total: 'counter',
  laniakea_pending_resyncs_total: 'counter',
  laniakea_protocol_errors_total: 'counter',
  laniakea_cell_errors_total: 'counter',
  laniakea_wal_source: 'gauge',
  laniakea_wal_up: 'gauge',
  laniakea_wal_slots_total: 'counter',
  laniakea_wal_errors_total: 'counter',
  laniakea_wal_received_bytes_total: 'counter',
  laniakea_wal_transactions_total: 'counter',
  laniakea_wal_changes_total: 'counter',
  laniakea_wal_flush_lsn: 'gauge',
};

describe('command line', () => {
  test('help_documents_every_option_and_exits_0', async () => {
    const r = await runBridge(['--help']);
    assert.equal(r.code, 0);
    for (const f of FLAGS) assert.match(r.stdout, new RegExp(`--${f}\\b`), f);
    for (const e of ENVS) assert.match(r.stdout, new RegExp(`\\b${e}\\b`), e);
    assert.match(r.stdout, /\/socket\/websocket\?vsn=2\.0\.0/);
    assert.match(r.stdout, /\/healthz/);
    assert.match(r.stdout, /\/metrics/);
    assert.equal((await runBridge(['-h'])).stdout, r.stdout);
    const v = await runBridge(['--version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^laniakea-bridge \d+\.\d+\.\d+\n$/);
  });

  test('invalid_flags_exit_2_with_a_message', async () => {
    for (const [args, message] of [
      [['--bogus'], /unknown option "--bogus"/],
      [['--port', 'abc'], /invalid value "abc" for --port/],
      [['--port', '70000'], /invalid value "70000"/],
      [['--port=0'], /invalid value "0"/],
      [['--max-message', '10'], /invalid value "10"/],
      [['--port'], /option "--port" needs a value/],
      [['--log-level', 'loud'], /invalid log level "loud"/],
      [['--source', 'binlog'], /invalid source "binlog": expected auto, wal or notify/],
      [['stray'], /unexpected argument "stray"/],
    ]) {
      const r = await runBridge(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
    const env = await runBridge([], { LANIAKEA_MAX_PER_IP: 'many' });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /invalid value "many" for LANIAKEA_MAX_PER_IP/);
  });

  test('two_bridge_processes_share_one_port', async () => {
    const a = await startBridge({ name: 'share-a' });
    const b = spawn(BRIDGE_BIN, ['--port', String(a.port)], {
      env: { ...process.env, DATABASE_URL },
      stdio: 'ignore',
    });
    try {
      await sleep(1000);
      assert.equal(b.exitCode, null, 'the second process on the same port is still running');
      const sockets = [];
      for (let i = 0; i < 40; i++) sockets.push(await connect(a));
      await waitFor(
        () => {
          const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${a.port} )`]).toString();
          const pids = new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => m[1]));
          return pids.has(String(a.proc.pid)) && pids.has(String(b.pid));
        },
        { what: 'connections served by both processes' },
      );
      for (const s of sockets) await disconnect(s);
    } finally {
      b.kill('SIGTERM');
    }
  });

  test('port_that_cannot_be_bound_exits_1', async () => {
    const port = await freePort(59000, 59999);
    const holder = net.createServer();
    await new Promise((r) => holder.listen(port, '127.0.0.1', r));
    try {
      const r = await runBridge(['--port', String(port)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
    } finally {
      holder.close();
    }
  });
});

describe('http endpoints', () => {
  test('healthz_reports_the_process_and_postgres', async () => {
    const bridge = await startBridge({ name: 'healthz' });
    const r = await bridge.get('/healthz');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.deepEqual(JSON.parse(r.body), { status: 'ok', postgres: 'up', source: SOURCE });
    await bridge.stop();
    // with no database to talk to, the process still serves and says so
    const down = await startBridge({
      name: 'healthz-down',
      db: 'postgresql://postgres@127.0.0.1:1/none',
      waitPg: false,
    });
    const h = await down.get('/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(JSON.parse(h.body), { status: 'ok', postgres: 'down', source: SOURCE });
    // auto decides once connected: until then it says so
    const undecided = await startBridge({
      name: 'healthz-auto',
      db: 'postgresql://postgres@127.0.0.1:1/none',
      waitPg: false,
      args: ['--source', 'auto'],
    });
    assert.deepEqual(await undecided.healthz(), { status: 'ok', postgres: 'down', source: 'undecided' });
    await undecided.stop();
    assert.equal((await down.metrics()).samples.laniakea_pg_up, 0);
    await down.stop();
  });

  test('metrics_are_prometheus_text_with_the_documented_names', async () => {
    const bridge = await startBridge({ name: 'metrics' });
    const key = uniqueKey('m');
    await sql('INSERT INTO counters (id) VALUES ($1)', [key]);
    const socket = await connect(bridge);
    const { channel } = await join(socket, `crdt:counters:${key}`, { node: 'm', caps: CAPS.full });
    await assert.rejects(join(socket, 'crdt:nosuch:1', { node: 'm', caps: CAPS.full }));
    await sql("UPDATE counters SET hits = increment(hits, 'sql', 1) WHERE id = $1", [key]);
    await waitFor(() => channel.events.length === 1, { what: 'a delta' });

    const r = await bridge.get('/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    const { families, samples } = await bridge.metrics();
    for (const [name, type] of Object.entries(METRICS)) {
      assert.ok(families[name], `${name} is exposed`);
      assert.equal(families[name].type, type, `${name} type`);
      assert.ok(families[name].help, `${name} has HELP`);
    }
    assert.equal(samples.laniakea_connections, 1);
    assert.equal(samples.laniakea_connections_total, 1);
    assert.equal(samples.laniakea_joins_total, 1);
    assert.equal(samples.laniakea_join_errors_total, 1);
    assert.equal(samples.laniakea_pg_up, 1);
    assert.equal(samples.laniakea_pg_reconnects_total, 0);
    assert.ok(samples.laniakea_notifications_total >= 1);
    assert.ok(samples.laniakea_frames_in_total >= 2);
    assert.ok(samples.laniakea_frames_out_total >= 3);
    // the lag histogram: cumulative buckets ending in +Inf = count
    const buckets = Object.entries(samples).filter(([k]) => k.startsWith('laniakea_notify_lag_seconds_bucket'));
    assert.ok(buckets.length >= 2);
    assert.equal(buckets.at(-1)[0], 'laniakea_notify_lag_seconds_bucket{le="+Inf"}');
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i][1] >= buckets[i - 1][1], 'cumulative');
    assert.equal(buckets.at(-1)[1], samples.laniakea_notify_lag_seconds_count);
    assert.ok(samples.laniakea_notify_lag_seconds_count >= 1);
    assert.ok(samples.laniakea_notify_lag_seconds_sum >= 0);
    await disconnect(socket);
    await waitFor(async () => (await bridge.metrics()).samples.laniakea_connections === 0, {
      what: 'the gauge to drop',
    });
    await bridge.stop();
  });

  test('unknown_paths_are_404_and_not_the_socket', async () => {
    const bridge = await startBridge({ name: 'http404' });
    assert.equal((await bridge.get('/nosuch')).status, 404);
    assert.equal((await bridge.get('/../etc/passwd')).status, 404);
    // a WebSocket upgrade anywhere but /socket/websocket is refused
    assert.equal((await tryWs(`ws://127.0.0.1:${bridge.port}/elsewhere`)).opened, false);
    await bridge.stop();
  });
});

describe('limits and lifecycle', () => {
  test('per_ip_connection_limit_refuses_the_fourth', async () => {
    const bridge = await startBridge({ name: 'perip', args: ['--max-per-ip', '3'] });
    const open = [];
    for (let i = 0; i < 3; i++) {
      const r = await tryWs(bridge.wsUrl);
      assert.equal(r.opened, true, `connection ${i + 1}`);
      open.push(r.ws);
    }
    assert.equal((await tryWs(bridge.wsUrl)).opened, false, 'the fourth is refused');
    // HTTP is not a WebSocket connection and is still served
    assert.equal((await bridge.get('/healthz')).status, 200);
    // closing one makes room again
    open[0].close();
    await waitFor(async () => (await bridge.metrics()).samples.laniakea_connections === 2, {
      what: 'the close to be seen',
    });
    const again = await tryWs(bridge.wsUrl);
    assert.equal(again.opened, true, 'a slot was freed');
    open[0] = again.ws;
    assert.equal((await tryWs(bridge.wsUrl)).opened, false);
    // nor can another subprotocol of the bridge get round the limit
    assert.equal((await tryWs(bridge.wsUrl, ['laniakea-pg'])).opened, false);
    for (const ws of open) ws.close();
    await bridge.stop();
  });

  test('client_that_never_answers_pings_is_dropped_after_idle_timeout', async () => {
    // --idle-timeout 5: pinged after 3 s of silence, dropped at 5 s without a pong
    const bridge = await startBridge({ name: 'idle', args: ['--idle-timeout', '5'] });
    const mute = await rawTcp(bridge); // answers nothing, not even pings
    const polite = await rawWs(bridge); // ws answers pings by itself
    const started = Date.now();
    await withTimeout(mute.ended, 9000, 'the silent client to be dropped');
    const after = (Date.now() - started) / 1000;
    assert.ok(after >= 4 && after < 9, `dropped after ${after} s`);
    assert.ok(
      mute.frames.some((f) => f.opcode === 9),
      'it was pinged first',
    );
    assert.equal(polite.readyState, polite.OPEN, 'a client that answers pings stays');
    polite.close();
    await bridge.stop();
  });

  test('channels_per_connection_are_capped_by_max_channels', async () => {
    const bridge = await startBridge({ name: 'maxchan', args: ['--max-channels', '3'] });
    const socket = await connect(bridge);
    const keys = Array.from({ length: 4 }, () => uniqueKey('mc'));
    const chans = [];
    for (const k of keys.slice(0, 3))
      chans.push((await join(socket, `crdt:counters:${k}`, { node: 'n', caps: CAPS.full })).channel);
    for (const topic of [`crdt:counters:${keys[3]}`, 'crdt:boards']) {
      await assert.rejects(
        join(socket, topic, { node: 'n', caps: CAPS.full }),
        (e) => assert.deepEqual(e.response, { reason: 'too many channels' }) ?? true,
        topic,
      );
    }
    // the channels at the cap still work, and leaving one makes room
    assert.equal((await push(chans[2], 'increment', { column: 'hits' })).status, 'ok');
    await new Promise((resolve) => chans[0].leave().receive('ok', resolve));
    const { channel } = await join(socket, `crdt:counters:${keys[3]}`, { node: 'n', caps: CAPS.full });
    assert.equal((await push(channel, 'increment', { column: 'hits' })).status, 'ok');
    assert.deepEqual((await rowState('counters', keys[3], ['hits'])).hits, { n: 1 });
    // joining a topic again replaces its channel, so it is allowed at the cap
    const ws = await rawWs(bridge);
    for (let i = 0; i < 3; i++)
      ws.send(
        JSON.stringify([String(i), String(i), `crdt:counters:${keys[i]}`, 'phx_join', { node: 'r', caps: CAPS.full }]),
      );
    ws.send(JSON.stringify(['9', '9', `crdt:counters:${keys[0]}`, 'phx_join', { node: 'r', caps: CAPS.full }]));
    const again = await rawFrame(ws, (m) => m[1] === '9');
    assert.equal(again[4].status, 'ok');
    assert.ok(
      ws.messages.some((m) => m[0] === '0' && m[3] === 'phx_close'),
      'the replaced channel was closed',
    );
    ws.close();
    assert.ok((await bridge.metrics()).samples.laniakea_join_errors_total >= 2);
    await disconnect(socket);
    await bridge.stop();
  });

  test('table_topic_over_max_table_rows_is_refused', async () => {
    const bridge = await startBridge({ name: 'maxrows', args: ['--max-table-rows', '1'] });
    await sql('INSERT INTO boards (id) VALUES ($1), ($2)', [uniqueKey('mr'), uniqueKey('mr')]);
    const socket = await connect(bridge);
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        join(socket, 'crdt:boards', { node: 'n', caps: CAPS.full }),
        (e) => assert.deepEqual(e.response, { reason: 'table has too many rows to join' }) ?? true,
      );
    }
    // the refusal leaves nothing behind: row topics of the table still work
    const key = uniqueKey('mr-row');
    const { channel } = await join(socket, `crdt:boards:${key}`, { node: 'n', caps: CAPS.full });
    await sql('INSERT INTO boards (id, likes) VALUES ($1, \'{"x":1}\')', [key]);
    await waitFor(() => channel.events.length === 1, { what: 'the row delta' });
    await disconnect(socket);
    await bridge.stop();
  });

  test('join_right_after_startup_is_never_answered_unmatched_topic', async () => {
    // connect before PostgreSQL is ready, and join until it works: until the
    // tracked tables are read the answer must be "database unavailable"
    const bridge = await startBridge({ name: 'startup', waitPg: false });
    const ws = await rawWs(bridge);
    const topic = `crdt:counters:${uniqueKey('startup')}`;
    let ref = 0;
    for (;;) {
      ws.send(JSON.stringify([String(++ref), String(ref), topic, 'phx_join', { node: 'n', caps: CAPS.full }]));
      const reply = await waitFor(() => ws.messages.find((m) => m[1] === String(ref)), { what: 'a join reply' });
      if (reply[4].status === 'ok') break;
      assert.deepEqual(reply[4].response, { reason: 'database unavailable' });
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal((await bridge.healthz()).postgres, 'up');
    ws.close();
    await bridge.stop();
  });

  test('sigterm_closes_clients_with_1001_and_exits_0', async () => {
    const bridge = await startBridge({ name: 'sigterm' });
    const key = uniqueKey('term');
    const a = await rawWs(bridge);
    a.send(JSON.stringify(['1', '1', `crdt:counters:${key}`, 'phx_join', { node: 'a', caps: CAPS.full }]));
    await waitFor(() => a.messages.length === 1, { what: 'the join reply' });
    const b = await rawWs(bridge);
    const socket = await connect(bridge);
    const started = Date.now();
    const status = await bridge.stop({ signal: 'SIGTERM' });
    const took = Date.now() - started;
    assert.deepEqual(status, { code: 0, signal: null });
    assert.ok(took < 3000, `exited in ${took} ms (within the documented two seconds)`);
    for (const ws of [a, b]) {
      const closed = await withTimeout(ws.closed, 1000, 'client close');
      assert.equal(closed.code, 1001);
    }
    await waitFor(() => socket.closes.length === 1, { what: 'the phoenix client to see the close' });
    assert.equal(socket.closes[0], 1001);
    assert.match(bridge.log(), /shutting down/);
    await disconnect(socket);
  });

  test('sigterm_with_no_clients_exits_promptly', async () => {
    const bridge = await startBridge({ name: 'sigterm-idle' });
    const started = Date.now();
    assert.deepEqual(await bridge.stop({ signal: 'SIGINT' }), { code: 0, signal: null });
    assert.ok(Date.now() - started < 1500);
  });
});
