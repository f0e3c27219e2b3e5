// Test harness for laniakea-bridge: bridge processes, the official phoenix
// client, raw WebSocket and TCP clients, SQL, and a small CRDT mirror for
// checking what clients end up with.
//
// run.sh sets the environment: DATABASE_URL (the test cluster's database),
// LK_BRIDGE_BIN (the binary under test), LK_LOG_DIR (one log file per bridge,
// plus the pids and extra clusters run.sh cleans up), LK_ASAN=1 under --asan,
// LK_SOURCE: the --source every bridge gets unless a test names one (run.sh
// runs the delivery tests under both: notify and wal).

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
// 'phoenix' resolves (package exports, import condition) to priv/static/phoenix.mjs
import { Socket } from 'phoenix';
import WebSocket from 'ws';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

export const REPO = path.resolve(here, '..', '..', '..');
export const DATABASE_URL = need('DATABASE_URL');
export const BRIDGE_BIN = need('LK_BRIDGE_BIN');
export const LOG_DIR = need('LK_LOG_DIR');
export const ASAN = process.env.LK_ASAN === '1';
export const SOURCE = process.env.LK_SOURCE || 'notify';
export const SCHEMA_SQL = path.join(here, '..', 'schema.sql');

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suite with bridge/test/run.sh`);
  return v;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Capabilities as the seed client's probe reports them, one set per profile.
export const CAPS = {
  full: {
    hasWorkers: true,
    hasSharedArrayBuffer: true,
    hasWebTransport: false,
    memoryMb: 8192,
    connectionType: 'wifi',
    effectiveType: '4g',
  },
  constrained: {
    hasWorkers: true,
    hasSharedArrayBuffer: false,
    memoryMb: 1024,
    connectionType: 'cellular',
    effectiveType: '3g',
  },
  minimal: {
    hasWorkers: false,
    hasSharedArrayBuffer: false,
    memoryMb: 256,
    connectionType: 'cellular',
    effectiveType: '2g',
  },
};

// A key no other test uses, so tests never see each other's rows.
let keySeq = 0;
export function uniqueKey(prefix) {
  return `${prefix}-${process.pid}-${++keySeq}-${crypto.randomBytes(3).toString('hex')}`;
}

export async function waitFor(pred, { timeout = 5000, interval = 20, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

export function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

// ---- ports ----

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

// A free port in [lo, hi], starting at a random place so that retries and
// concurrent runs spread out.
export async function freePort(lo, hi) {
  const n = hi - lo + 1;
  const start = crypto.randomInt(n);
  for (let i = 0; i < n; i++) {
    const p = lo + ((start + i) % n);
    if (await portFree(p)) return p;
  }
  throw new Error(`no free port in ${lo}-${hi}`);
}

// ---- bridge processes ----

let bridgeSeq = 0;
const liveBridges = new Set();
const openSockets = new Set();
const openRaw = new Set();

// Sanitizer reports in a bridge log (ASan, UBSan, LSan).
export function sanitizerReports(text) {
  return text
    .split('\n')
    .filter((l) =>
      /ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer/.test(
        l,
      ),
    );
}

class Bridge {
  constructor(proc, port, logPath) {
    this.proc = proc;
    this.pid = proc.pid;
    this.port = port;
    this.logPath = logPath;
    this.url = `http://127.0.0.1:${port}`;
    this.wsUrl = `ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0`;
    this.socketUrl = `ws://127.0.0.1:${port}/socket`;
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    this.exitStatus = null;
    this.exited.then((s) => {
      this.exitStatus = s;
      liveBridges.delete(this);
    });
  }

  log() {
    return fs.readFileSync(this.logPath, 'utf8');
  }

  // Resident set size in kB, from /proc.
  rssKb() {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return Number(m[1]);
  }

  // CPU time used so far (user + system), in seconds, from /proc.
  cpuSeconds() {
    const f = fs.readFileSync(`/proc/${this.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  }

  async get(pathname, headers = {}) {
    return httpGet(`${this.url}${pathname}`, headers);
  }

  async healthz() {
    const r = await this.get('/healthz');
    return JSON.parse(r.body);
  }

  async metrics() {
    return parseMetrics((await this.get('/metrics')).body);
  }

  // SIGTERM (or the signal given), wait for the exit, then check the log
  // for sanitizer reports.  Returns the exit status.
  async stop({ signal = 'SIGTERM', timeout = 10000 } = {}) {
    if (!this.exitStatus) {
      this.proc.kill(signal);
      const killer = setTimeout(() => this.proc.kill('SIGKILL'), timeout);
      await this.exited;
      clearTimeout(killer);
    }
    this.checkSanitizers();
    return this.exitStatus;
  }

  checkSanitizers() {
    const reports = sanitizerReports(this.log());
    assert.deepEqual(reports, [], `sanitizer report in ${this.logPath}`);
  }
}

// Start a bridge on a free port with DATABASE_URL (or db) and the given
// flags, and wait until it serves (and, unless waitPg is false, until it is
// connected to PostgreSQL and listening).
export async function startBridge({ args = [], env = {}, db = DATABASE_URL, waitPg = true, name = 'bridge' } = {}) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort(59000, 59999);
    const logPath = path.join(LOG_DIR, `${name}-${process.pid}-${++bridgeSeq}.log`);
    const out = fs.openSync(logPath, 'w');
    const source = args.some((a) => a.startsWith('--source')) || 'LANIAKEA_SOURCE' in env ? [] : ['--source', SOURCE];
    const proc = spawn(BRIDGE_BIN, ['--port', String(port), ...source, ...args], {
      env: { ...process.env, DATABASE_URL: db, ...env },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    fs.appendFileSync(path.join(LOG_DIR, 'bridge.pids'), `${proc.pid}\n`);
    const b = new Bridge(proc, port, logPath);
    liveBridges.add(b);
    try {
      await waitFor(
        async () => {
          if (b.exitStatus) throw new Error(`bridge exited (${JSON.stringify(b.exitStatus)}): ${b.log()}`);
          try {
            const h = await b.healthz();
            return !waitPg || h.postgres === 'up';
          } catch {
            return false;
          }
        },
        { timeout: 15000, what: 'the bridge to be ready' },
      );
      return b;
    } catch (e) {
      if (b.exitStatus && /cannot listen/.test(b.log())) continue; // lost a port race
      await b.stop({ signal: 'SIGKILL' }).catch(() => {});
      throw e;
    }
  }
  throw new Error('could not start a bridge');
}

// Stop every bridge still running (for after() hooks).
export async function stopAllBridges() {
  await Promise.all([...liveBridges].map((b) => b.stop()));
}

// Run the bridge binary to completion (for --help and flag errors).
export async function runBridge(args, env = {}) {
  try {
    const { stdout, stderr } = await execFileP(BRIDGE_BIN, args, {
      env: { ...process.env, ...env },
      timeout: 10000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    if (typeof e.code !== 'number') throw e;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// ---- HTTP ----

export function httpGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

// Prometheus text → { families: {name: {help, type}}, samples: {name{labels}: value} }
export function parseMetrics(text) {
  const families = {};
  const samples = {};
  for (const line of text.split('\n')) {
    if (!line) continue;
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (help) families[help[1]] = { ...families[help[1]], help: help[2] };
    else if (type) families[type[1]] = { ...families[type[1]], type: type[2] };
    else if (sample) samples[sample[1]] = Number(sample[2]);
    else throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
  }
  return { families, samples };
}

// ---- SQL ----

const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
pool.on('error', () => {});

export function sql(text, params = []) {
  return pool.query(text, params);
}

export async function pgClient(url = DATABASE_URL) {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  return c;
}

// Close everything a test file opened: phoenix sockets, raw clients,
// bridges (checking their logs for sanitizer reports) and the SQL pool.  For
// after() hooks, so that a failed test leaves nothing running.
export async function teardown() {
  for (const s of openSockets) s.disconnect();
  openSockets.clear();
  for (const c of openRaw) c.terminate ? c.terminate() : c.destroy();
  openRaw.clear();
  await stopAllBridges();
  await pool.end().catch(() => {});
}

// The row's CRDT columns as parsed canonical JSON ({} for a missing row).
export async function rowState(table, key, cols, query = sql) {
  const list = cols.map((c) => `${c}::text AS ${c}`).join(', ');
  const r = await query(`SELECT ${list} FROM ${table} WHERE id = $1`, [key]);
  const out = {};
  for (const c of cols) out[c] = r.rows.length && r.rows[0][c] !== null ? JSON.parse(r.rows[0][c]) : {};
  return out;
}

// Start a private cluster (scripts/cluster.sh) with the test schema, for tests
// that restart PostgreSQL.  run.sh stops it at exit if the test does not.
// settings: server settings (name=value) after the suite's (wal_level=logical).
export async function startCluster(name, { settings = [] } = {}) {
  const dir = fs.mkdtempSync(path.join(LOG_DIR, `${name}-`));
  fs.appendFileSync(path.join(LOG_DIR, 'clusters'), `${dir}\n`);
  const cluster = path.join(REPO, 'scripts', 'cluster.sh');
  let port;
  for (let attempt = 0; ; attempt++) {
    port = await freePort(58000, 58999);
    try {
      await execFileP(cluster, ['start', dir, String(port), ...clusterOpts(settings)], { timeout: 120000 });
      break;
    } catch (e) {
      if (attempt >= 3) throw e;
    }
  }
  const admin = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  const c = await pgClient(admin);
  await c.query('CREATE DATABASE lk');
  await c.end();
  const url = `postgresql://postgres@127.0.0.1:${port}/lk`;
  const s = await pgClient(url);
  await s.query(fs.readFileSync(SCHEMA_SQL, 'utf8'));
  await s.end();
  return {
    dir,
    port,
    url,
    stop: () => execFileP(cluster, ['stop', dir], { timeout: 120000 }),
    start: () => execFileP(cluster, ['start', dir, String(port), ...clusterOpts(settings)], { timeout: 120000 }),
  };
}

// The bridge suite's clusters can be read through logical decoding (--source wal).
function clusterOpts(settings) {
  return ['wal_level=logical', ...settings].flatMap((s) => ['-c', s]);
}

// ---- the official phoenix client ----

// A connected phoenix Socket.  Reconnection is slowed down so that a test
// notices an unexpected reconnect instead of having it hidden.
export async function connect(bridge, opts = {}) {
  const { params, ...rest } = opts;
  const socket = new Socket(bridge.socketUrl, {
    transport: WebSocket,
    params: params || {},
    reconnectAfterMs: () => 500,
    rejoinAfterMs: () => 500,
    ...rest,
  });
  openSockets.add(socket);
  socket.opens = 0;
  socket.closes = [];
  socket.onOpen(() => {
    socket.opens++;
  });
  socket.onClose((e) => {
    socket.closes.push(e.code);
  });
  await withTimeout(
    new Promise((resolve, reject) => {
      const ok = socket.onOpen(() => {
        socket.off([ok, bad]);
        resolve();
      });
      const bad = socket.onError((e) => {
        socket.off([ok, bad]);
        reject(new Error(`socket error: ${e?.message || e}`));
      });
      socket.connect();
    }),
    10000,
    'socket open',
  );
  return socket;
}

// Join a topic.  Resolves {channel, reply} on "ok", rejects with an Error
// whose .response is the error response.  Every event the channel gets is
// recorded in channel.events as {event, payload, at} before any handler runs.
export function join(socket, topic, params = {}) {
  const channel = socket.channel(topic, params);
  channel.events = [];
  const orig = channel.onMessage.bind(channel);
  channel.onMessage = (event, payload, ref) => {
    if (typeof event === 'string' && !event.startsWith('phx_') && !event.startsWith('chan_reply_')) {
      channel.events.push({ event, payload, at: performance.now() });
    }
    return orig(event, payload, ref);
  };
  return withTimeout(
    new Promise((resolve, reject) => {
      channel
        .join()
        .receive('ok', (reply) => resolve({ channel, reply }))
        .receive('error', (response) => {
          channel.leave();
          const e = new Error(`join ${topic} refused: ${JSON.stringify(response)}`);
          e.response = response;
          reject(e);
        })
        .receive('timeout', () => reject(new Error(`join ${topic} timed out`)));
    }),
    15000,
    `join ${topic}`,
  );
}

// Push and wait for the reply: {status: 'ok'|'error', response}.
export function push(channel, event, payload) {
  return withTimeout(
    new Promise((resolve, reject) => {
      channel
        .push(event, payload)
        .receive('ok', (response) => resolve({ status: 'ok', response }))
        .receive('error', (response) => resolve({ status: 'error', response }))
        .receive('timeout', () => reject(new Error(`push ${event} timed out`)));
    }),
    15000,
    `push ${event}`,
  );
}

export function disconnect(socket) {
  openSockets.delete(socket);
  return new Promise((resolve) => socket.disconnect(() => resolve()));
}

// ---- raw clients ----

// A raw ws client (no phoenix), for frames the official client never sends.
// Resolves once open; ws.messages collects parsed frames, ws.closed resolves
// {code, reason}.
export function rawWs(bridge, { query = '', protocols, ...opts } = {}) {
  const ws = new WebSocket(bridge.wsUrl + query, protocols, opts);
  openRaw.add(ws);
  ws.messages = [];
  ws.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('message', (data, _isBinary) => {
    const text = data.toString();
    let v;
    try {
      v = JSON.parse(text);
    } catch {
      v = text;
    }
    ws.messages.push(v);
  });
  ws.on('error', (e) => {
    ws.lastError = e;
  });
  return withTimeout(
    new Promise((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
    }),
    10000,
    'raw ws open',
  );
}

// Wait for a raw frame matching pred.
export function rawFrame(ws, pred, timeout = 5000) {
  return waitFor(() => ws.messages.find(pred), { timeout, what: 'a frame' });
}

// Does a connection attempt get refused?  Resolves with what happened.
export function tryWs(url, protocols) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols);
    openRaw.add(ws);
    const t = setTimeout(() => {
      ws.terminate();
      resolve({ opened: false, why: 'timeout' });
    }, 5000);
    ws.once('open', () => {
      clearTimeout(t);
      resolve({ opened: true, ws });
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(t);
      ws.terminate();
      resolve({ opened: false, why: `HTTP ${res.statusCode}` });
    });
    ws.once('error', (e) => {
      clearTimeout(t);
      resolve({ opened: false, why: e.message });
    });
  });
}

// RFC 6455 framing for the raw TCP client.
export function wsFrame(payload, { opcode = 1, mask = true, fin = true } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = data.length;
  let head;
  if (len < 126) {
    head = Buffer.alloc(2);
    head[1] = len;
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (!mask) return Buffer.concat([head, data]);
  head[1] |= 0x80;
  const key = crypto.randomBytes(4);
  const body = Buffer.from(data);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, key, body]);
}

// A TCP socket that has done the WebSocket handshake by hand.  Frames from
// the server are parsed into sock.frames ({opcode, text}); sock.closed
// resolves when the TCP connection ends.  `before`: a plain HTTP request sent
// first on the same connection; its response is read (by Content-Length)
// before the upgrade request goes out.
export function rawTcp(bridge, { query = '', before = null } = {}) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const sock = net.connect(bridge.port, '127.0.0.1');
      openRaw.add(sock);
      const key = crypto.randomBytes(16).toString('base64');
      let buf = Buffer.alloc(0);
      let upgraded = false;
      let pending = before;
      sock.frames = [];
      sock.bytesIn = 0;
      sock.ended = new Promise((r) => sock.once('close', r));
      sock.on('error', () => {});
      const upgrade = () =>
        sock.write(
          `GET /socket/websocket?vsn=2.0.0${query} HTTP/1.1\r\nHost: 127.0.0.1:${bridge.port}\r\n` +
            `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
            'Sec-WebSocket-Version: 13\r\n\r\n',
        );
      sock.on('connect', () => (pending ? sock.write(pending) : upgrade()));
      sock.on('data', (chunk) => {
        sock.bytesIn += chunk.length;
        buf = Buffer.concat([buf, chunk]);
        if (pending) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString();
          const length = Number((/\r\ncontent-length:\s*(\d+)/i.exec(head) || [0, 0])[1]);
          if (buf.length < end + 4 + length) return;
          if (!/^HTTP\/1\.1 200/.test(head)) return reject(new Error(`the request before the upgrade failed: ${head}`));
          buf = buf.subarray(end + 4 + length);
          pending = null;
          upgrade();
          return;
        }
        if (!upgraded) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString();
          if (!/^HTTP\/1\.1 101/.test(head)) return reject(new Error(`handshake refused: ${head}`));
          upgraded = true;
          buf = buf.subarray(end + 4);
          resolve(sock);
        }
        for (;;) {
          if (buf.length < 2) break;
          let len = buf[1] & 0x7f;
          let off = 2;
          if (len === 126) {
            if (buf.length < 4) break;
            len = buf.readUInt16BE(2);
            off = 4;
          } else if (len === 127) {
            if (buf.length < 10) break;
            len = Number(buf.readBigUInt64BE(2));
            off = 10;
          }
          if (buf.length < off + len) break;
          const frame = { opcode: buf[0] & 0x0f, data: buf.subarray(off, off + len) };
          sock.frames.push(frame);
          buf = buf.subarray(off + len);
          // answer a close as a well-behaved client does, so the server can hang up
          if (frame.opcode === 8 && !sock.closeSent) {
            sock.closeSent = true;
            sock.write(wsFrame(frame.data.subarray(0, 2), { opcode: 8 }));
          }
        }
      });
      sock.once('error', reject);
    }),
    10000,
    'raw TCP handshake',
  );
}

// ---- a CRDT mirror for counters ----

export function gcMerge(a = {}, b = {}) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) if (!(k in out) || out[k] < v) out[k] = v;
  return out;
}

export function pnMerge(a = {}, b = {}) {
  const out = {};
  const p = gcMerge(a.p, b.p);
  const n = gcMerge(a.n, b.n);
  if (Object.keys(n).length) out.n = n;
  if (Object.keys(p).length) out.p = p;
  return out;
}

export const gcValue = (s) => Object.values(s).reduce((a, b) => a + b, 0);

// A client's view of a row topic: the join state merged with every delta and
// state event since.  cols maps column → merge function.
export function rowView(reply, channel, cols) {
  const view = {};
  for (const [c, merge] of Object.entries(cols)) view[c] = merge({}, reply.state ? reply.state[c] : reply.delta[c]);
  for (const { event, payload } of channel.events) {
    const part = event === 'delta' ? payload.deltas : event === 'state' ? payload.state : null;
    if (!part) continue;
    for (const [c, merge] of Object.entries(cols)) if (part[c]) view[c] = merge(view[c], part[c]);
  }
  return view;
}

export const GC = { hits: gcMerge };
