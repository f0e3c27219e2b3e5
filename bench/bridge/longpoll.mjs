// LongPoll beside WebSocket, one run, one bridge binary: delivery latency
// (commit → received at the client) and the bridge's CPU per message
// delivered, N subscribers of one row per transport at the same rate; then
// the bridge's memory per idle subscriber (RSS growth / M) for each; then
// LongPoll sessions abandoned after their join (no poll ever comes) while the
// row keeps changing: the bridge's memory per abandoned session, and whether
// every one is closed once --longpoll-expiry has passed.
// Started by longpoll.sh, which provides the cluster and the arguments.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../bridge/test/package.json', import.meta.url));
const pg = require('pg');
const WebSocket = require('ws');

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const BIN = args.bin;
const DB = args.db;
const N = Number(args.n ?? 200);
const RATE = Number(args.rate ?? 20);
const DUR = Number(args.dur ?? 10);
const IDLE = Number(args.idle ?? 1000);
const ABANDON = Number(args.abandon ?? 1000);
const EXPIRY_MS = Number(args.expiry ?? 5000);
const BASE_PORT = Number(args.port ?? 61900);
const TOPIC = 'crdt:bench:1';
const CAPS = {
  hasWorkers: true,
  hasSharedArrayBuffer: true,
  hasWebTransport: false,
  memoryMb: 8192,
  connectionType: 'wifi',
  effectiveType: '4g',
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;
const ticks = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const pct = (v, p) => v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))];

let portSeq = 0;
async function startBridge(extra = []) {
  const port = BASE_PORT + portSeq++;
  const proc = spawn(BIN, ['--port', String(port), '--max-per-ip', '100000', '--log-level', 'warn', ...extra], {
    env: { ...process.env, DATABASE_URL: DB },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).postgres === 'up') break;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  return { proc, port, url: `http://127.0.0.1:${port}` };
}

async function stopBridge(b) {
  b.proc.kill('SIGTERM');
  await new Promise((r) => b.proc.once('exit', r));
}

const joinFrame = JSON.stringify(['1', '1', TOPIC, 'phx_join', { node: 'bench', caps: CAPS }]);

// A WebSocket subscriber; onDelta(µs at commit) per delta received.
function wsClient(b, onDelta) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${b.port}/socket/websocket?vsn=2.0.0`);
    ws.on('error', reject);
    ws.on('open', () => ws.send(joinFrame));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m[3] === 'phx_reply' && m[1] === '1') resolve({ close: () => ws.terminate() });
      else if (m[3] === 'delta') onDelta(m[4].deltas.c.n1);
    });
  });
}

// A LongPoll subscriber, as phoenix's LongPoll does it: GET, GET, … and a POST to join.
async function lpClient(b, onDelta) {
  const base = `${b.url}/socket/longpoll?vsn=2.0.0`;
  const token = (await (await fetch(base)).json()).token;
  let stopped = false;
  let joined;
  const isJoined = new Promise((r) => {
    joined = r;
  });
  await fetch(`${base}&token=${token}`, {
    method: 'POST',
    body: joinFrame,
    headers: { 'content-type': 'application/x-ndjson' },
  });
  (async () => {
    while (!stopped) {
      let j;
      try {
        j = await (await fetch(`${base}&token=${token}`)).json();
      } catch {
        if (!stopped) await sleep(100);
        continue;
      }
      for (const text of j.messages || []) {
        const m = JSON.parse(text);
        if (m[3] === 'phx_reply' && m[1] === '1') joined();
        else if (m[3] === 'delta') onDelta(m[4].deltas.c.n1);
      }
    }
  })();
  await isJoined;
  return {
    close: () => {
      stopped = true;
    },
  };
}

const pool = new pg.Pool({ connectionString: DB, max: 2 });
const UPDATE =
  "UPDATE bench SET c = c || ('{\"n1\":' || (extract(epoch FROM clock_timestamp()) * 1000000)::bigint || '}')::gcounter WHERE id = 1";

async function deliveryPhase(kind) {
  const b = await startBridge();
  const lat = [];
  const onDelta = (us) => lat.push((nowUs() - us) / 1000);
  const make = kind === 'websocket' ? wsClient : lpClient;
  const clients = [];
  for (let i = 0; i < N; i += 50)
    clients.push(...(await Promise.all(Array.from({ length: Math.min(50, N - i) }, () => make(b, onDelta)))));
  await sleep(1000);
  lat.length = 0;
  const t0 = ticks(b.proc.pid);
  const start = Date.now();
  let sent = 0;
  while (Date.now() - start < DUR * 1000) {
    await pool.query(UPDATE);
    sent++;
    const next = start + (sent * 1000) / RATE;
    if (next > Date.now()) await sleep(next - Date.now());
  }
  await sleep(1500);
  const cpuMs = (ticks(b.proc.pid) - t0) * 10;
  for (const c of clients) c.close();
  await stopBridge(b);
  lat.sort((x, y) => x - y);
  return {
    kind,
    clients: N,
    updates: sent,
    delivered: lat.length,
    p50: pct(lat, 50),
    p95: pct(lat, 95),
    p99: pct(lat, 99),
    cpuUsPerMsg: (cpuMs * 1000) / lat.length,
  };
}

async function idlePhase(kind) {
  const b = await startBridge();
  const make = kind === 'websocket' ? wsClient : lpClient;
  await sleep(500);
  const rss0 = rssKb(b.proc.pid);
  const clients = [];
  for (let i = 0; i < IDLE; i += 100)
    clients.push(...(await Promise.all(Array.from({ length: Math.min(100, IDLE - i) }, () => make(b, () => {})))));
  await sleep(2000);
  const rss1 = rssKb(b.proc.pid);
  for (const c of clients) c.close();
  await stopBridge(b);
  return { kind, idle: IDLE, bytesPerClient: ((rss1 - rss0) * 1024) / IDLE };
}

const metric = async (b, name) =>
  Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(`${b.url}/metrics`)).text())?.[1]);

// Sessions that join and never poll again, as a tab closed mid-session leaves
// them, while the row changes at RATE: held until --longpoll-expiry, then
// closed.  Two rounds on one bridge: the second's growth tells memory that
// comes back for reuse from memory that leaks.
async function abandonRound(b) {
  const base = `${b.url}/socket/longpoll?vsn=2.0.0`;
  const t0 = Date.now();
  const rss0 = rssKb(b.proc.pid);
  const expired0 = await metric(b, 'laniakea_longpoll_expired_total');
  for (let i = 0; i < ABANDON; i += 100)
    await Promise.all(
      Array.from({ length: Math.min(100, ABANDON - i) }, async () => {
        const token = (await (await fetch(base)).json()).token;
        await fetch(`${base}&token=${token}`, {
          method: 'POST',
          body: joinFrame,
          headers: { 'content-type': 'application/x-ndjson' },
        });
      }),
    );
  const opened = Date.now() - t0;
  // updates while the sessions are held: each queues deltas for every session
  const held = Math.max(1000, EXPIRY_MS - opened - 1000);
  for (let k = 0, start = Date.now(); Date.now() - start < held; k++) {
    await pool.query(UPDATE);
    const next = start + ((k + 1) * 1000) / RATE;
    if (next > Date.now()) await sleep(next - Date.now());
  }
  const rss1 = rssKb(b.proc.pid);
  const heldOpen = await metric(b, 'laniakea_longpoll_sessions');
  // past the expiry of the last one opened, and one sweep more
  await sleep(Math.max(0, t0 + opened + EXPIRY_MS + 2000 - Date.now()));
  return {
    heldOpen,
    bytesPerSession: ((rss1 - rss0) * 1024) / ABANDON,
    openAfter: await metric(b, 'laniakea_longpoll_sessions'),
    expired: (await metric(b, 'laniakea_longpoll_expired_total')) - expired0,
    rssAfterKb: rssKb(b.proc.pid),
  };
}

async function abandonPhase() {
  const b = await startBridge(['--longpoll-expiry', String(EXPIRY_MS)]);
  await sleep(500);
  const rss0 = rssKb(b.proc.pid);
  const rounds = [await abandonRound(b), await abandonRound(b)];
  await stopBridge(b);
  for (const r of rounds) r.rssAfterKb -= rss0;
  return rounds;
}

const results = [];
for (const kind of ['websocket', 'longpoll']) results.push(await deliveryPhase(kind));
const idle = [];
for (const kind of ['websocket', 'longpoll']) idle.push(await idlePhase(kind));
const abandoned = await abandonPhase();
await pool.end();

const f = (x) => x.toFixed(2);
console.log(`\nDelivery: ${N} subscribers of one row, ${RATE} updates/s for ${DUR} s (real trigger path)\n`);
console.log('| transport | delivered | p50 ms | p95 ms | p99 ms | bridge CPU µs / message |');
console.log('|---|---|---|---|---|---|');
for (const r of results)
  console.log(
    `| ${r.kind} | ${r.delivered} / ${r.updates * r.clients} | ${f(r.p50)} | ${f(r.p95)} | ${f(r.p99)} | ${f(r.cpuUsPerMsg)} |`,
  );
console.log(`\nIdle: ${IDLE} subscribers joined to one row (a LongPoll one holds a poll open)\n`);
console.log('| transport | bridge RSS per idle subscriber |');
console.log('|---|---|');
for (const r of idle) console.log(`| ${r.kind} | ${Math.round(r.bytesPerClient)} bytes |`);
console.log(
  `\nAbandoned: ${ABANDON} LongPoll sessions that joined and never polled, ${RATE} updates/s while held, --longpoll-expiry ${EXPIRY_MS} ms; two rounds on one bridge\n`,
);
console.log(
  "| held open | bridge RSS per abandoned session | open after expiry | expired | RSS above the bridge's start after expiry |",
);
console.log('|---|---|---|---|---|');
for (const r of abandoned)
  console.log(
    `| ${r.heldOpen} | ${Math.round(r.bytesPerSession)} bytes | ${r.openAfter} | ${r.expired} | ${r.rssAfterKb} kB |`,
  );
fs.writeFileSync(args.out, JSON.stringify({ results, idle, abandoned }, null, 2));
process.exit(0);
