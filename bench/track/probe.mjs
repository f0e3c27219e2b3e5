// bench/track/probe.mjs — commit-to-client latency through a bridge, while pgbench runs.
//
//   node bench/track/probe.mjs BRIDGE_PORT DATABASE_URL TABLE PROBE_KEY SECONDS
//
// Joins crdt:TABLE (constrained profile: batched, as a dashboard would) so
// that the bridge holds and follows every row pgbench changes, and
// crdt:TABLE:PROBE_KEY (full profile); then, every 20 ms, increments the
// probe row and times from the UPDATE's commit returning to its delta
// arriving.  Prints one line per probe, `# t_ms update_ms latency_ms` (time
// since the first probe, the UPDATE's own duration, commit returned → delta),
// then one JSON line: {"n", "p50_ms", "p99_ms", "max_ms", "update_p99_ms",
// "update_max_ms"}.
// Uses the bridge suite's packages (bridge/test/node_modules).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const testDir = path.join(here, '..', '..', 'bridge', 'test');
const require = createRequire(path.join(testDir, 'package.json'));
const pg = require('pg');
const WebSocket = require('ws');
const { Socket } = await import(path.join(testDir, 'node_modules', 'phoenix', 'priv', 'static', 'phoenix.mjs'));

const [port, url, table, key, seconds] = process.argv.slice(2);
const CAPS = {
  full: { hasWorkers: true, hasSharedArrayBuffer: true, memoryMb: 8192, connectionType: 'wifi', effectiveType: '4g' },
  constrained: {
    hasWorkers: true,
    hasSharedArrayBuffer: false,
    memoryMb: 1024,
    connectionType: 'cellular',
    effectiveType: '3g',
  },
};

function joinTopic(socket, topic, caps) {
  return new Promise((resolve, reject) => {
    const ch = socket.channel(topic, { node: 'probe', caps });
    ch.join()
      .receive('ok', () => resolve(ch))
      .receive('error', (e) => reject(new Error(`${topic}: ${JSON.stringify(e)}`)))
      .receive('timeout', () => reject(new Error(`${topic}: join timed out`)));
  });
}

const socket = new Socket(`ws://127.0.0.1:${port}/socket`, { transport: WebSocket, timeout: 30000 });
await new Promise((resolve, reject) => {
  socket.onOpen(resolve);
  socket.onError(reject);
  socket.connect();
});
await joinTopic(socket, `crdt:${table}`, CAPS.constrained);
const row = await joinTopic(socket, `crdt:${table}:${key}`, CAPS.full);
let waiting = null;
row.on('delta', (p) => {
  if (waiting && p.deltas.c && p.deltas.c.probe >= waiting.count) {
    waiting.resolve(performance.now());
    waiting = null;
  }
});
const db = new pg.Client({ connectionString: url });
await db.connect();
// PROBE_SYNC_COMMIT=off: the probe commits as pgbench's writers do, so its change waits for the WAL writer's flush
if (process.env.PROBE_SYNC_COMMIT) {
  await db.query(`SELECT set_config('synchronous_commit', $1, false)`, [process.env.PROBE_SYNC_COMMIT]);
}
const start = (
  await db.query(`SELECT coalesce((c::jsonb->>'probe')::bigint, 0) AS n FROM ${table} WHERE id = $1`, [key])
).rows[0].n;
const lat = [];
const upd = [];
const t0 = performance.now();
console.log(`# first probe at ${new Date().toISOString()}: t_ms update_ms latency_ms`);
const end = t0 + Number(seconds) * 1000;
for (let count = Number(start) + 1; performance.now() < end; count++) {
  const arrived = new Promise((resolve) => {
    waiting = { count, resolve };
  });
  const sent = performance.now();
  await db.query(`UPDATE ${table} SET c = increment(c, 'probe', 1) WHERE id = $1`, [key]);
  const committed = performance.now();
  upd.push(committed - sent);
  const t = await Promise.race([arrived, new Promise((r) => setTimeout(() => r(null), 10000))]);
  if (t === null) throw new Error(`no delta for update ${count} within 10 s`);
  lat.push(Math.max(0, t - committed));
  console.log(`# ${(sent - t0).toFixed(1)} ${upd.at(-1).toFixed(2)} ${lat.at(-1).toFixed(2)}`);
  await new Promise((r) => setTimeout(r, 20));
}
lat.sort((a, b) => a - b);
upd.sort((a, b) => a - b);
const q = (p, xs = lat) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
console.log(
  JSON.stringify({
    n: lat.length,
    p50_ms: +q(0.5).toFixed(2),
    p99_ms: +q(0.99).toFixed(2),
    max_ms: +lat.at(-1).toFixed(2),
    update_p99_ms: +q(0.99, upd).toFixed(2),
    update_max_ms: +upd.at(-1).toFixed(2),
  }),
);
await db.end();
socket.disconnect();
process.exit(0);
