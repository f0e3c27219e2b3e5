// Load generator for bench/bridge/run.sh: N WebSocket subscribers spread over W worker
// processes (ws package, raw Phoenix Channels V2 frames), all joined to one row topic.
// Each worker counts frames of event "delta" and the commit->receive latency, read from
// the `"n1":<unix µs>` the NOTIFY carries (the driver writes the commit timestamp there;
// the Laniakea bridge forwards the delta, the Node peer forwards the whole payload — the
// same number is in both frames, found the same way, without a full JSON parse).
//
// Orchestrator protocol (line-based on stdin/stdout, driven by run.sh):
//   stdin  "connect"  -> stdout "connected <n> <failed>"
//          "reset"    -> "reset"
//          "report"   -> "report <frames> <p50_ms> <p95_ms> <p99_ms> <first_ms> <last_ms> <lat_samples>"
//          "close"    -> "closed", exits
import { fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const BUCKET_US = 100,
  NBUCKETS = 200000; // 0.1 ms buckets up to 20 s
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

if (process.argv[2] === 'worker') {
  const [, , , url, topic, countS] = process.argv;
  const count = Number(countS);
  const socks = [];
  let frames = 0,
    first = 0,
    last = 0,
    samples = 0;
  let hist = new Uint32Array(NBUCKETS);
  const joinPayload = JSON.stringify({
    node: 'b',
    caps: { hasWorkers: true, hasSharedArrayBuffer: true, memoryMb: 4096, connectionType: 'ethernet' },
  });
  const onMessage = (data) => {
    const s = data.toString();
    if (s.indexOf('"delta"') < 0) return;
    const t = nowUs();
    frames++;
    if (!first) first = t;
    last = t;
    const i = s.lastIndexOf('"n1":');
    if (i >= 0) {
      const v = parseInt(s.slice(i + 5, i + 30), 10);
      if (v > 1e15) {
        let b = Math.floor((t - v) / BUCKET_US);
        if (b < 0) b = 0;
        if (b >= NBUCKETS) b = NBUCKETS - 1;
        hist[b]++;
        samples++;
      }
    }
  };
  function open(_i) {
    return new Promise((resolve) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      let done = false;
      const fin = (ok) => {
        if (!done) {
          done = true;
          resolve(ok);
        }
      };
      ws.on('open', () => ws.send(JSON.stringify(['1', '1', topic, 'phx_join', JSON.parse(joinPayload)])));
      ws.on('message', (data) => {
        if (!done) {
          const s = data.toString();
          if (s.includes('"phx_reply"')) {
            fin(s.includes('"status":"ok"'));
            if (!s.includes('"status":"ok"')) {
              process.stderr.write(`join refused: ${s.slice(0, 200)}\n`);
            }
          }
          return;
        }
        onMessage(data);
      });
      ws.on('error', () => fin(false));
      ws.on('close', () => fin(false));
      socks.push(ws);
    });
  }
  let hbRef = 100;
  const heartbeat = () => {
    for (const ws of socks) if (ws.readyState === 1) ws.send(`[null,"${hbRef++}","phoenix","heartbeat",{}]`);
  };
  process.on('message', async (m) => {
    if (m === 'connect') {
      let ok = 0,
        bad = 0,
        next = 0;
      const inflight = 64;
      await Promise.all(
        Array.from({ length: inflight }, async () => {
          while (next < count) {
            const i = next++;
            (await open(i)) ? ok++ : bad++;
          }
        }),
      );
      setInterval(heartbeat, 30000);
      process.send({ connected: ok, failed: bad });
    } else if (m === 'reset') {
      frames = 0;
      first = 0;
      last = 0;
      samples = 0;
      hist = new Uint32Array(NBUCKETS);
      process.send({ reset: true });
    } else if (m === 'report') {
      process.send({
        frames,
        first,
        last,
        samples,
        hist: Array.from(hist.entries())
          .filter(([, c]) => c)
          .map(([b, c]) => [b, c]),
      });
    } else if (m === 'close') {
      for (const ws of socks) ws.terminate();
      setTimeout(() => process.exit(0), 200);
    }
  });
} else {
  const [, , url, topic, nS, wS] = process.argv;
  const n = Number(nS),
    w = Number(wS);
  const workers = [];
  for (let i = 0; i < w; i++) {
    const c = Math.floor(n / w) + (i < n % w ? 1 : 0);
    workers.push(
      fork(new URL(import.meta.url).pathname, ['worker', url, topic, String(c)], {
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      }),
    );
  }
  const all = (cmd) =>
    Promise.all(
      workers.map(
        (wk) =>
          new Promise((res) => {
            wk.once('message', res);
            wk.send(cmd);
          }),
      ),
    );
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const cmd = line.trim();
    if (cmd === 'connect') {
      const r = await all('connect');
      console.log(`connected ${r.reduce((a, x) => a + x.connected, 0)} ${r.reduce((a, x) => a + x.failed, 0)}`);
    } else if (cmd === 'reset') {
      await all('reset');
      console.log('reset');
    } else if (cmd === 'report') {
      const r = await all('report');
      const hist = new Map();
      let frames = 0,
        samples = 0,
        first = Infinity,
        last = 0;
      for (const x of r) {
        frames += x.frames;
        samples += x.samples;
        if (x.first) first = Math.min(first, x.first);
        last = Math.max(last, x.last);
        for (const [b, c] of x.hist) hist.set(b, (hist.get(b) || 0) + c);
      }
      const keys = [...hist.keys()].sort((a, b) => a - b);
      const q = (p) => {
        let acc = 0;
        const want = p * samples;
        for (const k of keys) {
          acc += hist.get(k);
          if (acc >= want) return (((k + 0.5) * BUCKET_US) / 1000).toFixed(2);
        }
        return 'nan';
      };
      console.log(
        `report ${frames} ${q(0.5)} ${q(0.95)} ${q(0.99)} ${first === Infinity ? 0 : (first / 1000).toFixed(3)} ${(last / 1000).toFixed(3)} ${samples}`,
      );
    } else if (cmd === 'close') {
      for (const wk of workers) wk.kill('SIGKILL');
      console.log('closed');
      setTimeout(() => process.exit(0), 200);
    }
  }
}
