// Workload and model for the multi-node tests.
//
// Clients (a few per node) run random operations on the rows of one
// scenario; each operation is recorded with its outcome.  The model computes,
// from the operations that committed, what every row must hold once the nodes
// have converged, and verify() compares each node against it.
//
// Counters are exact: a gcounter's entry for node n is the sum of the
// increments committed on n, and likewise for both halves of a pncounter, so
// the expected canonical text is known byte for byte.
//
// For the add-wins orset the model only makes claims that hold whatever the
// interleaving:
//  - own elements ("o.<node>.<client>.<k>"): only one client ever adds or
//    removes them, always on its own node, one operation at a time; a remove
//    therefore observes every earlier add of the element, and the element is
//    present at the end iff that client's last committed operation on it was
//    an add;
//  - shared elements ("s.<k>"): added concurrently by every client and never
//    removed, so present iff any add committed;
//  - contested elements (contest() below): "x" elements get a remove on one
//    node that is concurrent with an add on another (add wins: present), "y"
//    elements are added on one node and removed on another after the add was
//    seen there, with no other add (absent).
// lost = expected present but absent; unexpected = present but expected absent
// (or never added at all).

import assert from 'node:assert/strict';

const SQL = {
  inc: 'UPDATE items SET hits = increment(hits, $2::bigint) WHERE id = $1',
  pinc: 'UPDATE items SET stock = increment(stock, $2::bigint) WHERE id = $1',
  pdec: 'UPDATE items SET stock = decrement(stock, $2::bigint) WHERE id = $1',
  add: 'UPDATE items SET tags = add(tags, $2::text) WHERE id = $1',
  remove: 'UPDATE items SET tags = remove(tags, $2::text) WHERE id = $1',
};

// With an oplog, the operation's id is written in the same transaction to the
// node's local lk_oplog table, so an operation whose outcome the client never
// learned (the node was killed under it) can be looked up afterwards.
function statement(kind, oplog) {
  const base = SQL[kind === 'add_own' || kind === 'add_shared' ? 'add' : kind === 'rem_own' ? 'remove' : kind];
  return oplog ? `WITH o AS (INSERT INTO lk_oplog VALUES ($3)) ${base}` : base;
}

// Errors that mean "the server went away", not "the operation is wrong".
// (SQLSTATE classes 08 and 57P, or a socket error such as EPIPE.)
function isConnectionError(e) {
  return !e.code || /^(08|57P)/.test(e.code) || /^E[A-Z]+$/.test(e.code);
}

// mulberry32: a small seeded generator, so a run's choices can be replayed.
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (arr) => arr[next.int(arr.length)];
  return next;
}

function seedFromEnv() {
  const s = process.env.LK_SEED ? Number(process.env.LK_SEED) : Math.floor(Math.random() * 2 ** 31);
  return s;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function keysFor(prefix, n) {
  return Array.from({ length: n }, (_, i) => `${prefix}-k${String(i).padStart(2, '0')}`);
}

async function insertRows(node, keys) {
  await node.query('INSERT INTO items (id) SELECT unnest($1::text[])', [keys]);
}

class Model {
  constructor(keys) {
    this.keys = keys;
    this.logs = []; // one array of operations per client, in client order
    this.claims = []; // { key, element, present, why } from contest()
  }

  newClient() {
    const log = [];
    this.logs.push(log);
    return log;
  }

  claim(key, element, present, why) {
    this.claims.push({ key, element, present, why });
  }

  ops() {
    return this.logs.flat();
  }

  static committed(op) {
    return op.status === 'ok' || (op.status === 'uncertain' && op.committed === true);
  }

  // Expected state of every row, from the committed operations.
  expected() {
    const rows = new Map();
    for (const k of this.keys) rows.set(k, { hits: {}, p: {}, n: {}, elements: new Map() });
    const bump = (obj, node, by) => {
      obj[node] = (obj[node] || 0) + by;
    };
    for (const log of this.logs) {
      for (const op of log) {
        if (!Model.committed(op)) continue;
        const r = rows.get(op.key);
        switch (op.kind) {
          case 'inc':
            bump(r.hits, op.node, op.by);
            break;
          case 'pinc':
            bump(r.p, op.node, op.by);
            break;
          case 'pdec':
            bump(r.n, op.node, op.by);
            break;
          case 'add_own':
          case 'add_shared':
            r.elements.set(op.element, { present: true, why: op.kind });
            break;
          case 'rem_own':
            r.elements.set(op.element, { present: false, why: 'removed by its only writer' });
            break;
          default:
            throw new Error(`unknown op ${op.kind}`);
        }
      }
    }
    for (const c of this.claims) rows.get(c.key).elements.set(c.element, { present: c.present, why: c.why });
    return rows;
  }

  summary() {
    const s = { ok: 0, uncertain: 0, uncertainCommitted: 0 };
    for (const op of this.ops()) {
      if (op.status === 'ok') s.ok++;
      else if (op.status === 'uncertain') {
        s.uncertain++;
        if (op.committed) s.uncertainCommitted++;
      }
      s[op.kind] = (s[op.kind] || 0) + (Model.committed(op) ? 1 : 0);
    }
    s.claims = this.claims.length;
    return s;
  }
}

// Canonical text of a gcounter / pncounter (docs/formats.md): keys in byte
// order, zero entries and empty halves omitted.
function gcounterText(obj) {
  const ks = Object.keys(obj)
    .filter((k) => obj[k] !== 0)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${ks.map((k) => `${JSON.stringify(k)}:${obj[k]}`).join(',')}}`;
}

function pncounterText(p, n) {
  const parts = [];
  if (Object.values(n).some((v) => v)) parts.push(`"n":${gcounterText(n)}`);
  if (Object.values(p).some((v) => v)) parts.push(`"p":${gcounterText(p)}`);
  return `{${parts.join(',')}}`;
}

// One client: a connection to one node and a sequence of random operations.
async function client(ctx) {
  const { node, cid, model, keys, r, oplog, tolerant, control, opsLimit, thinkMs, stats } = ctx;
  const log = model.newClient();
  const own = Array.from({ length: 4 }, (_, k) => `o.${node.name}.${cid}.${k}`);
  const mine = new Set(); // "key\0element" this client believes present
  let conn = null;
  let i = 0;
  try {
    while (i < opsLimit && !control.stopped) {
      if (!conn) {
        try {
          conn = await node.connect();
        } catch (e) {
          if (!(tolerant(node) && isConnectionError(e))) throw e;
          stats.connectFailures++;
          await sleep(50);
          continue;
        }
      }
      const key = r.pick(keys);
      const roll = r();
      const op = { id: `${node.name}.${cid}.${i}`, node: node.name, key };
      if (roll < 0.25) Object.assign(op, { kind: 'inc', by: 1 + r.int(5) });
      else if (roll < 0.4) Object.assign(op, { kind: 'pinc', by: 1 + r.int(5) });
      else if (roll < 0.55) Object.assign(op, { kind: 'pdec', by: 1 + r.int(5) });
      else if (roll < 0.75) Object.assign(op, { kind: 'add_own', element: r.pick(own) });
      else if (roll < 0.9) {
        // prefer removing something this client added, so removes matter
        const held = own.filter((e) => mine.has(`${key}\0${e}`));
        Object.assign(op, { kind: 'rem_own', element: held.length ? r.pick(held) : r.pick(own) });
      } else Object.assign(op, { kind: 'add_shared', element: `s.${r.int(8)}` });
      const arg = op.by !== undefined ? String(op.by) : op.element;
      const params = oplog ? [key, arg, op.id] : [key, arg];
      log.push(op);
      i++;
      try {
        const res = await conn.query(statement(op.kind, oplog), params);
        // every row exists; only removing an absent element changes nothing
        if (res.rowCount !== 1 && !(op.kind === 'rem_own' && res.rowCount === 0)) {
          throw new Error(`${op.kind} on ${node.name} key ${key} updated ${res.rowCount} rows`);
        }
        op.status = 'ok';
        if (op.kind === 'add_own') mine.add(`${key}\0${op.element}`);
        if (op.kind === 'rem_own') mine.delete(`${key}\0${op.element}`);
      } catch (e) {
        if (!(tolerant(node) && isConnectionError(e))) {
          op.status = 'error';
          e.message = `${node.name} client ${cid}: ${op.kind} ${key} ${arg}: ${e.message}`;
          throw e;
        }
        op.status = 'uncertain';
        stats.lostConnections++;
        await conn.end().catch(() => {});
        conn = null;
      }
      if (thinkMs) await sleep(thinkMs);
    }
  } finally {
    if (conn) await conn.end().catch(() => {});
  }
}

// Run clientsPerNode clients on each of nodes until each has made opsLimit
// operations or control.stopped is set.  Errors on a node for which
// tolerant(node) is true are connection losses to be resolved later; any
// other error fails the run (and stops the other clients).
async function runWorkload(model, opts) {
  const {
    nodes,
    clientsPerNode = 3,
    opsLimit = Infinity,
    seed,
    oplog = false,
    tolerant = () => false,
    control = { stopped: false },
    thinkMs = 0,
  } = opts;
  const stats = { connectFailures: 0, lostConnections: 0, ms: 0 };
  const t0 = Date.now();
  const runs = [];
  let cidx = 0;
  for (const node of nodes) {
    for (let c = 0; c < clientsPerNode; c++) {
      const r = rng(seed * 7919 + cidx++);
      runs.push(
        client({ node, cid: `c${c}`, model, keys: model.keys, r, oplog, tolerant, control, opsLimit, thinkMs, stats }),
      );
    }
  }
  const results = await Promise.allSettled(
    runs.map((p) =>
      p.catch((e) => {
        control.stopped = true;
        throw e;
      }),
    ),
  );
  stats.ms = Date.now() - t0;
  const failed = results.find((x) => x.status === 'rejected');
  if (failed) throw failed.reason;
  return stats;
}

async function waitContains(node, key, element, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await node.one('SELECT contains(tags, $2) AS c FROM items WHERE id = $1', [key, element]);
    if (r?.c) return;
    if (Date.now() > deadline) throw new Error(`${element} never appeared in ${key} on ${node.name}`);
    await sleep(20);
  }
}

// Concurrent add and remove of one element on two nodes (add must win), and a
// remove on another node after the add was seen there (must stay removed).
async function contest(model, { nodes, seed, rounds, prefix, control = { stopped: false } }) {
  const r = rng(seed * 31 + 7);
  for (let i = 0; i < rounds && !control.stopped; i++) {
    const a = r.pick(nodes);
    const b = r.pick(nodes.filter((n) => n !== a));
    const key = r.pick(model.keys);

    const x = `${prefix}.x${i}`;
    await a.query(SQL.add, [key, x]);
    const c = await a.connect();
    try {
      // the remove on a sees the add it made, then stays uncommitted while
      // b adds again: neither saw the other's operation
      await c.query('BEGIN');
      const rm = await c.query(SQL.remove, [key, x]);
      if (rm.rowCount !== 1) throw new Error(`remove of ${x} on ${a.name} found nothing to remove`);
      await b.query(SQL.add, [key, x]);
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
    model.claim(key, x, true, `remove on ${a.name} concurrent with add on ${b.name}: add wins`);

    const y = `${prefix}.y${i}`;
    await a.query(SQL.add, [key, y]);
    await waitContains(b, key, y);
    const rm = await b.query(SQL.remove, [key, y]);
    if (rm.rowCount !== 1) throw new Error(`remove of ${y} on ${b.name} found nothing to remove`);
    model.claim(key, y, false, `added on ${a.name}, seen and removed on ${b.name}`);
  }
}

// Look up, on each node, which operations with an unknown outcome committed.
async function resolveUncertain(mesh, model) {
  let n = 0;
  for (const node of mesh.nodes) {
    const ops = model.ops().filter((op) => op.status === 'uncertain' && op.node === node.name);
    if (!ops.length) continue;
    const r = await node.query('SELECT id FROM lk_oplog WHERE id = ANY($1)', [ops.map((op) => op.id)]);
    const found = new Set(r.rows.map((x) => x.id));
    for (const op of ops) {
      op.committed = found.has(op.id);
      n++;
    }
  }
  return n;
}

// Compare every node's rows with the model.
async function verify(mesh, model) {
  const expected = model.expected();
  const report = { lost: 0, unexpected: 0, counterMismatches: 0, details: [] };
  for (const node of mesh.nodes) {
    const res = await node.query(
      'SELECT id, hits::text AS hits, stock::text AS stock, elements(tags) AS elements FROM items WHERE id = ANY($1) ORDER BY id',
      [model.keys],
    );
    const got = new Map(res.rows.map((row) => [row.id, row]));
    for (const [key, want] of expected) {
      const row = got.get(key);
      if (!row) {
        report.counterMismatches++;
        report.details.push(`${node.name} ${key}: row missing`);
        continue;
      }
      const hits = gcounterText(want.hits);
      const stock = pncounterText(want.p, want.n);
      if (row.hits !== hits) {
        report.counterMismatches++;
        report.details.push(`${node.name} ${key}: hits ${row.hits}, expected ${hits}`);
      }
      if (row.stock !== stock) {
        report.counterMismatches++;
        report.details.push(`${node.name} ${key}: stock ${row.stock}, expected ${stock}`);
      }
      const present = new Set(row.elements);
      for (const [el, w] of want.elements) {
        if (w.present && !present.has(el)) {
          report.lost++;
          report.details.push(`${node.name} ${key}: lost ${el} (${w.why})`);
        } else if (!w.present && present.has(el)) {
          report.unexpected++;
          report.details.push(`${node.name} ${key}: unexpected ${el} (${w.why})`);
        }
      }
      for (const el of present) {
        if (!want.elements.has(el)) {
          report.unexpected++;
          report.details.push(`${node.name} ${key}: unexpected ${el} (never added)`);
        }
      }
    }
  }
  return report;
}

// Run promise in the background of a scenario: its failure stops the other
// clients at once (control.stopped) and is thrown where the scenario awaits it.
function background(promise, control) {
  const p = promise.catch((e) => {
    control.stopped = true;
    throw e;
  });
  p.catch(() => {}); // awaited later: not an unhandled rejection meanwhile
  return p;
}

// Await every background promise, then throw the first failure.
async function join(...promises) {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => r.value);
}

// Sleep ms, or less if the scenario has already failed.
async function pause(ms, control) {
  const end = Date.now() + ms;
  while (!control.stopped && Date.now() < end) await sleep(Math.min(50, end - Date.now()));
}

// Wait for quiescence, settle the operations whose outcome the clients never
// learned, compare every node with the model and assert lost = unexpected =
// counter mismatches = 0.
async function settleAndCheck(t, mesh, model, label, stats) {
  const q = await mesh.waitQuiescent();
  const resolved = await resolveUncertain(mesh, model);
  const report = await verify(mesh, model);
  const s = model.summary();
  t.diagnostic(
    `${label}: ${stats ? `workload ${stats.ms} ms, ` : ''}quiescent ${q.ms} ms after; ${s.ok} acknowledged operations ` +
      `(inc ${s.inc || 0}, pncounter +${s.pinc || 0}/-${s.pdec || 0}, add ${(s.add_own || 0) + (s.add_shared || 0)}, ` +
      `remove ${s.rem_own || 0}), ${s.claims} contested-element claims, ` +
      `${resolved} with unknown outcome of which ${s.uncertainCommitted} committed; ` +
      `lost ${report.lost}, unexpected ${report.unexpected}, counter mismatches ${report.counterMismatches}`,
  );
  assert.equal(report.lost, 0, formatReport(report));
  assert.equal(report.unexpected, 0, formatReport(report));
  assert.equal(report.counterMismatches, 0, formatReport(report));
  return { q, report };
}

// Sizes, from the environment so soak.sh can scale the same tests up.
function params() {
  const num = (name, dflt) => (process.env[name] ? Number(process.env[name]) : dflt);
  return {
    nodes: num('LK_NODES', 3),
    clients: num('LK_CLIENTS', 3),
    ops: num('LK_OPS', 250),
    keys: num('LK_KEYS', 20),
    rounds: num('LK_ROUNDS', 8),
    faultMs: num('LK_FAULT_MS', 2500),
    thinkMs: num('LK_THINK_MS', 2),
  };
}

function formatReport(report, max = 30) {
  const head = `lost ${report.lost}, unexpected ${report.unexpected}, counter mismatches ${report.counterMismatches}`;
  const more = report.details.length > max ? `\n  … ${report.details.length - max} more` : '';
  return [head, ...report.details.slice(0, max).map((d) => `  ${d}`)].join('\n') + more;
}

export {
  Model,
  background,
  join,
  pause,
  params,
  settleAndCheck,
  SQL,
  rng,
  seedFromEnv,
  keysFor,
  insertRows,
  runWorkload,
  contest,
  waitContains,
  resolveUncertain,
  verify,
  formatReport,
  gcounterText,
  pncounterText,
  isConnectionError,
};
