// One client floods pushes; another, in a process of its own, pushes every
// 20 ms meanwhile.  Prints one JSON line: the other client's reply latency for
// the pushes it sent while the flood lasted, what the flooder got back, and,
// for a second flooder that disconnects 200 ms into its flood, how many of its
// pushes still ran after it was gone.
//
//   node fairness.mjs <ws url> <database url> <pushes per flood>
// (run by fairness.sh, from a directory whose node_modules has ws and pg)
import { fork } from 'node:child_process';
import pg from 'pg';
import WebSocket from 'ws';

const [url, dbUrl, floodArg, role] = process.argv.slice(2);
const FLOOD = Number(floodArg);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A raw Phoenix V2 client: replies resolve by ref.
async function client(node, key) {
  const ws = new WebSocket(url);
  const waiting = new Map();
  ws.on('message', (data) => {
    const [, ref, , event, payload] = JSON.parse(data.toString());
    if (event !== 'phx_reply' || !waiting.has(ref)) return;
    const w = waiting.get(ref);
    waiting.delete(ref);
    w(payload.status);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let seq = 0;
  const topic = `crdt:flood:${key}`;
  const send = (event, payload) => {
    const ref = String(++seq);
    const p = new Promise((resolve) => waiting.set(ref, resolve));
    ws.send(JSON.stringify(['1', ref, topic, event, payload]));
    return p;
  };
  if ((await send('phx_join', { node, caps: {} })) !== 'ok') throw new Error(`join ${topic} refused`);
  return { ws, send };
}

// the other client: pushes until told to stop, then reports its latencies
if (role === 'other') {
  const other = await client('other', `o-${process.pid}-${Date.now()}`);
  let running = true;
  process.on('message', () => {
    running = false;
  });
  process.send('ready');
  const lat = []; // [sent at (ms since the epoch), latency ms]
  while (running) {
    const s = performance.now();
    await other.send('increment', { column: 'hits' });
    lat.push([performance.timeOrigin + s, performance.now() - s]);
    await sleep(20);
  }
  process.send(lat);
  other.ws.close();
  process.exit(0);
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] : null;
};

const db = new pg.Client({ connectionString: dbUrl });
await db.connect();
const count = async (key) => {
  const r = await db.query('SELECT hits::text AS h FROM flood WHERE id = $1', [key]);
  return r.rows.length ? Object.values(JSON.parse(r.rows[0].h)).reduce((a, b) => a + b, 0) : 0;
};

// phase 1: a flood that reads its replies, and the other client's latency meanwhile
const tag = `${process.pid}-${Date.now()}`;
const child = fork(new URL(import.meta.url).pathname, [url, dbUrl, floodArg, 'other']);
const fromChild = () => new Promise((resolve) => child.once('message', resolve));
await fromChild();
const flooder = await client('flooder', `f-${tag}`);
const t0 = performance.now();
const replies = [];
for (let i = 0; i < FLOOD; i++) replies.push(flooder.send('increment', { column: 'hits' }));
const statuses = await Promise.all(replies);
const floodMs = performance.now() - t0;
const floodEnd = performance.timeOrigin + performance.now();
const reported = fromChild();
child.send('stop');
// the pushes it sent while the flood lasted
const lat = (await reported).filter(([at]) => at < floodEnd).map(([, ms]) => ms);

// phase 2: a flooder gone 200 ms into its flood
const quitter = await client('quitter', `q-${tag}`);
for (let i = 0; i < FLOOD; i++) quitter.send('increment', { column: 'hits' });
await sleep(200);
quitter.ws.terminate();
const atQuit = await count(`q-${tag}`);
let last = -1;
let now = atQuit;
const q0 = performance.now();
while (now !== last) {
  last = now;
  await sleep(500);
  now = await count(`q-${tag}`);
}
const drainMs = performance.now() - q0 - 500;

console.log(
  JSON.stringify({
    flood: FLOOD,
    flood_ms: Math.round(floodMs),
    flood_ok: statuses.filter((s) => s === 'ok').length,
    flood_refused: statuses.filter((s) => s !== 'ok').length,
    other_pushes: lat.length,
    other_p50_ms: pct(lat, 50) && +pct(lat, 50).toFixed(2),
    other_p99_ms: pct(lat, 99) && +pct(lat, 99).toFixed(2),
    other_max_ms: lat.length ? +Math.max(...lat).toFixed(2) : null,
    quit_ran_before: atQuit,
    quit_ran_after: now - atQuit,
    quit_after_ms: Math.max(0, Math.round(drainMs)),
  }),
);
flooder.ws.close();
await db.end();
