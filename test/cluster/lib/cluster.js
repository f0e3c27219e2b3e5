// Cluster lifecycle for the multi-node tests: start N private PostgreSQL 15
// clusters (scripts/cluster.sh), give each a database with laniakea and the
// same tracked tables, join them in a full mesh of logical replication, wait
// for quiescence, make faults (partition, kill -9), and tear everything down.
//
// Every cluster lives under LK_CLUSTER_ROOT (run.sh makes one and removes it
// at exit, stopping whatever is left) or a fresh directory under /tmp.

import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const DIRNAME = path.dirname(fileURLToPath(import.meta.url));

const execFileP = promisify(execFile);

const REPO = path.resolve(DIRNAME, '..', '..', '..');
const CLUSTER_SH = path.join(REPO, 'scripts', 'cluster.sh');
const DB = 'lk';
const PUBLICATION = 'lk_pub';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The tracked tables every node gets.  items carries one column of each CRDT
// type; the tests give every scenario its own keys in it.
const SCHEMA = `
CREATE TABLE items (
	id text PRIMARY KEY,
	hits gcounter NOT NULL DEFAULT '{}',
	stock pncounter NOT NULL DEFAULT '{}',
	tags orset NOT NULL DEFAULT '{}',
	title lwwreg
);
SELECT laniakea.track('items');
-- local only, never published: which operations committed (see workload.js)
CREATE TABLE lk_oplog (id text PRIMARY KEY);
`;
const TABLES = ['items'];
// What every node publishes: the tracked tables and the tombstones of their
// deleted rows, inserts and updates only (docs/replication.md: deletes travel
// as tombstones).
const PUBLISHED = [...TABLES, 'laniakea.tombstones'];

// Server options of every node.  autovacuum is off because the echo test
// compares WAL positions over seconds and autovacuum writes WAL on its own
// schedule; the two intervals only make reconnects and feedback faster.
function serverOptions(nnodes) {
  const slots = Math.max(10, nnodes + 2);
  const opts = {
    wal_level: 'logical',
    max_replication_slots: slots,
    max_wal_senders: slots,
    max_logical_replication_workers: Math.max(4, nnodes + 2),
    max_worker_processes: Math.max(8, nnodes + 10),
    wal_retrieve_retry_interval: '500ms',
    wal_receiver_status_interval: 1,
    autovacuum: 'off',
  };
  return Object.entries(opts).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

// Ports in 57000-57999 (this harness's range), scanning from LK_CLUSTER_PORT.
// Ports in 57000-57999, from LK_CLUSTER_PORT or a start that differs per
// process, so that two runs on one machine seldom reach for the same port
// between checking it and binding it.
async function freePorts(n) {
  const ports = [];
  const start = Number(process.env.LK_CLUSTER_PORT || 57000 + (process.pid % 900));
  for (let i = 0; ports.length < n; i++) {
    if (i >= 1000) throw new Error('no free port in 57000-57999');
    const p = 57000 + ((start - 57000 + i) % 1000);
    if (await portFree(p)) ports.push(p);
  }
  return ports;
}

// Every started cluster, so an abrupt exit still stops them.
const started = new Set();
process.on('exit', () => {
  for (const dir of started) spawnSync('bash', [CLUSTER_SH, 'stop', dir], { stdio: 'ignore' });
});

function quoteLiteral(s) {
  return `'${String(s).replace(/'/g, "''")}'`;
}

class Node {
  constructor(name, dir, port, options) {
    this.name = name;
    this.dir = dir;
    this.port = port;
    this.options = options;
    this.pool = null;
  }

  config(database = DB) {
    return { host: path.join(this.dir, 'sock'), port: this.port, user: 'postgres', database };
  }

  // libpq conninfo a peer's subscription uses to reach this node
  get conninfo() {
    return `host=127.0.0.1 port=${this.port} dbname=${DB} user=postgres`;
  }

  get log() {
    return path.join(this.dir, 'postgres.log');
  }

  async start() {
    if (!fs.existsSync(path.join(this.dir, 'data', 'PG_VERSION'))) await this.initdb();
    const { stdout } = await execFileP('bash', [CLUSTER_SH, 'start', this.dir, String(this.port), ...this.options]);
    started.add(this.dir);
    if (Number(stdout.trim()) !== this.port)
      throw new Error(`${this.name}: started on port ${stdout.trim()}, not ${this.port}`);
    this.openPool();
  }

  // cluster.sh would run this initdb itself, with the same arguments but
  // without --no-sync: syncing a fresh data directory costs seconds on a busy
  // disk and buys nothing for a throwaway cluster.  cluster.sh skips initdb
  // when the directory is initialized.
  async initdb() {
    const bindir =
      process.env.PGBIN ||
      (
        await execFileP('pg_config', ['--bindir']).catch(() => ({ stdout: '/usr/lib/postgresql/15/bin' }))
      ).stdout.trim();
    fs.mkdirSync(this.dir, { recursive: true });
    const args = [
      path.join(bindir, 'initdb'),
      '-D',
      path.join(this.dir, 'data'),
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ];
    if (process.getuid() === 0) {
      await execFileP('chown', ['-R', 'postgres:', this.dir]);
      for (let p = this.dir; p !== '/'; p = path.dirname(p)) fs.chmodSync(p, fs.statSync(p).mode | 0o001);
      await execFileP('runuser', ['-u', 'postgres', '--', ...args]);
    } else {
      await execFileP(args[0], args.slice(1));
    }
  }

  openPool() {
    this.pool = new pg.Pool({ ...this.config(), max: 4 });
    // an idle client of a killed node errors; the pool drops it
    this.pool.on('error', () => {});
  }

  async closePool() {
    const p = this.pool;
    this.pool = null;
    if (p) await p.end().catch(() => {});
  }

  async stop() {
    await this.closePool();
    await execFileP('bash', [CLUSTER_SH, 'stop', this.dir]).catch(() => {});
    started.delete(this.dir);
  }

  query(text, params) {
    return this.pool.query(text, params);
  }

  async one(text, params) {
    return (await this.query(text, params)).rows[0];
  }

  // A dedicated connection (the caller ends it); errors after a kill are
  // reported on queries, never as an unhandled 'error' event.
  async connect(database = DB) {
    const c = new pg.Client(this.config(database));
    c.on('error', () => {});
    await c.connect();
    return c;
  }

  postmasterPid() {
    const f = path.join(this.dir, 'data', 'postmaster.pid');
    return Number(fs.readFileSync(f, 'utf8').split('\n')[0]);
  }

  // kill -9 of the postmaster and all its children, as a crash would.
  async kill9() {
    const pid = this.postmasterPid();
    const victims = [pid, ...childrenOf(pid)];
    for (const p of victims) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    const deadline = Date.now() + 30000;
    while (victims.some(alive)) {
      if (Date.now() > deadline) throw new Error(`${this.name}: processes ${victims.filter(alive)} survive SIGKILL`);
      await sleep(50);
    }
    await this.closePool();
  }

  // Restart after kill9: same directory, port and options.  Backends that
  // outlived their postmaster hold its lock file and shared memory until they
  // notice and exit, so a start right after the kill is retried for a while.
  async restart({ timeoutMs = 20000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.start();
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await sleep(250);
      }
    }
  }
}

function childrenOf(ppid) {
  const kids = [];
  for (const ent of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${ent}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so split after ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) kids.push(Number(ent));
    } catch {
      /* exited meanwhile */
    }
  }
  return kids;
}

function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function subName(subscriber, publisher) {
  return `lk_sub_${subscriber.name}_from_${publisher.name}`;
}

class Mesh {
  constructor(nodes, root) {
    this.nodes = nodes;
    this.root = root;
    this.binary = false;
  }

  node(name) {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  peers(node) {
    return this.nodes.filter((n) => n !== node);
  }

  // Subscriptions each node has: to every other node.
  async subscribe({ binary = false } = {}) {
    this.binary = binary;
    // One at a time: creating a slot waits for the publisher's running
    // transactions, and a concurrent CREATE SUBSCRIPTION is one of those.
    for (const sub of this.nodes) {
      for (const pub of this.peers(sub)) {
        await sub.query(
          `CREATE SUBSCRIPTION ${subName(sub, pub)} CONNECTION ${quoteLiteral(pub.conninfo)} ` +
            `PUBLICATION ${PUBLICATION} WITH (copy_data = false, binary = ${binary})`,
        );
      }
    }
    await this.waitConnected();
  }

  async unsubscribe() {
    for (const sub of this.nodes) {
      for (const pub of this.peers(sub)) await sub.query(`DROP SUBSCRIPTION ${subName(sub, pub)}`);
    }
  }

  // Every walsender a node should have (one per peer subscribed to it) is streaming.
  async waitConnected({ timeoutMs = 60000, expect } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let ok = true;
      for (const n of this.nodes) {
        const want = expect ? expect(n) : this.nodes.length - 1;
        const r = await n.one(
          "SELECT count(*)::int AS c FROM pg_stat_replication WHERE application_name LIKE 'lk\\_sub\\_%' AND state = 'streaming'",
        );
        if (r.c !== want) ok = false;
      }
      if (ok) return;
      if (Date.now() > deadline) throw new Error('replication connections did not come up');
      await sleep(100);
    }
  }

  // A node's subscriptions, and its peers' subscriptions to it, off or on.
  async setPartitioned(victim, off) {
    const verb = off ? 'DISABLE' : 'ENABLE';
    for (const pub of this.peers(victim)) await victim.query(`ALTER SUBSCRIPTION ${subName(victim, pub)} ${verb}`);
    for (const sub of this.peers(victim)) await sub.query(`ALTER SUBSCRIPTION ${subName(sub, victim)} ${verb}`);
    const n = this.nodes.length;
    await this.waitConnected({ expect: (x) => (!off ? n - 1 : x === victim ? 0 : n - 2) });
  }

  // Contents of the tracked tables and the tombstones: a digest that is
  // equal iff the rows are byte-equal.
  async signature(node) {
    const parts = [];
    for (const t of PUBLISHED) {
      const order = t === 'laniakea.tombstones' ? 'nsp, rel, key, cl' : 'id';
      const r = await node.one(
        `SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY ${order}), '')) AS md5 FROM ${t} t`,
      );
      parts.push(`${t}:${r.n}:${r.md5}`);
    }
    return parts.join(' ');
  }

  // Quiescence: every change written anywhere has been applied everywhere
  // (each walsender's reported position has passed the WAL end taken before),
  // all nodes hold byte-equal tables, twice in a row, and every slot has
  // confirmed it flushed up to there.
  async waitQuiescent({ timeoutMs = 90000 } = {}) {
    const t0 = Date.now();
    const deadline = t0 + timeoutMs;
    let last = null;
    let sigs = [];
    for (;;) {
      const targets = await Promise.all(this.nodes.map((n) => n.one('SELECT pg_current_wal_lsn() AS lsn')));
      await this.waitApplied(
        targets.map((t) => t.lsn),
        deadline,
        'replay_lsn',
      );
      sigs = await Promise.all(this.nodes.map((n) => this.signature(n)));
      const equal = sigs.every((s) => s === sigs[0]);
      if (equal && last === sigs[0]) {
        await this.waitApplied(
          targets.map((t) => t.lsn),
          deadline,
          'slot',
        );
        return { ms: Date.now() - t0, signature: sigs[0] };
      }
      last = equal ? sigs[0] : null;
      if (Date.now() > deadline) {
        throw new Error(
          `no quiescence after ${timeoutMs} ms:\n${this.nodes.map((n, i) => `  ${n.name}: ${sigs[i]}`).join('\n')}`,
        );
      }
      await sleep(equal ? 50 : 200);
    }
  }

  async waitApplied(lsns, deadline, how) {
    const n = this.nodes.length;
    for (;;) {
      let ok = true;
      for (let i = 0; i < n; i++) {
        const q =
          how === 'slot'
            ? `SELECT count(*)::int AS c FROM pg_replication_slots
            WHERE slot_name LIKE 'lk\\_sub\\_%' AND active AND confirmed_flush_lsn >= $1::pg_lsn`
            : `SELECT count(*)::int AS c FROM pg_stat_replication
            WHERE application_name LIKE 'lk\\_sub\\_%' AND state = 'streaming' AND replay_lsn >= $1::pg_lsn`;
        const r = await this.nodes[i].one(q, [lsns[i]]);
        if (r.c !== n - 1) ok = false;
      }
      if (ok) return;
      if (Date.now() > deadline) {
        const detail = [];
        for (const node of this.nodes) {
          const r = await node.query(
            `SELECT s.slot_name, s.active, s.confirmed_flush_lsn, r.state, r.replay_lsn, pg_current_wal_lsn() AS wal
            FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid`,
          );
          detail.push(`  ${node.name}: ${JSON.stringify(r.rows)}`);
        }
        throw new Error(`replication did not catch up (${how}):\n${detail.join('\n')}`);
      }
      await sleep(50);
    }
  }

  // No echo and no storm: once quiescent, no node changes a row version (of
  // the published tables) or writes WAL other than the background records of
  // an idle server, for 5 s.  Returns what moved (empty when still).  The last
  // republished copies may still be travelling when it starts: each merges to
  // nothing where it lands (a row lock, no new version) and goes no further.
  async movedAfterQuiescence(t) {
    const probe = async (conn) => {
      const versions = PUBLISHED.map(
        (tbl) =>
          `(SELECT md5(coalesce(string_agg(ctid::text || ':' || xmin::text, ',' ORDER BY ctid), '')) FROM ${tbl})`,
      );
      const r = await conn.query(`SELECT pg_current_wal_lsn()::text AS lsn, ARRAY[${versions.join(', ')}] AS rows`);
      return r.rows[0];
    };
    const conns = await Promise.all(this.nodes.map((n) => n.connect()));
    const moved = [];
    try {
      await sleep(1500);
      const start = await Promise.all(conns.map(probe));
      await sleep(5000);
      const end = await Promise.all(conns.map(probe));
      for (let i = 0; i < conns.length; i++) {
        const name = this.nodes[i].name;
        t.diagnostic(`${name}: WAL ${start[i].lsn} → ${end[i].lsn}`);
        PUBLISHED.forEach((tbl, k) => {
          if (end[i].rows[k] !== start[i].rows[k]) moved.push(`${name}: rows of ${tbl} changed`);
        });
        if (end[i].lsn === start[i].lsn) continue;
        const recs = await conns[i].query(
          `SELECT resource_manager, record_type, count(*)::int AS n
            FROM pg_get_wal_records_info($1::pg_lsn, pg_current_wal_flush_lsn()) GROUP BY 1, 2 ORDER BY 1, 2`,
          [start[i].lsn],
        );
        const kinds = recs.rows.map((r) => `${r.resource_manager}/${r.record_type}×${r.n}`);
        t.diagnostic(`${name}: WAL written while idle: ${kinds.join(', ')}`);
        // the background writer's running-transactions snapshot and checkpoints
        for (const r of recs.rows)
          if (!['Standby', 'XLOG'].includes(r.resource_manager))
            moved.push(`${name}: ${r.resource_manager}/${r.record_type}×${r.n}`);
      }
    } finally {
      await Promise.all(conns.map((c) => c.end()));
    }
    return moved;
  }

  // A schema `name` on node `on` holding foreign tables of `peer`'s items and
  // tombstones (postgres_fdw), for laniakea.reconcile.
  async importPeer(on, peer, name) {
    await on.query('CREATE EXTENSION IF NOT EXISTS postgres_fdw');
    await on.query(
      `CREATE SERVER ${name} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port ${quoteLiteral(String(peer.port))}, dbname ${quoteLiteral(DB)})`,
    );
    await on.query(`CREATE USER MAPPING FOR postgres SERVER ${name} OPTIONS (user 'postgres')`);
    await on.query(`CREATE SCHEMA ${name}`);
    await on.query(`IMPORT FOREIGN SCHEMA public LIMIT TO (items) FROM SERVER ${name} INTO ${name}`);
    await on.query(`IMPORT FOREIGN SCHEMA laniakea LIMIT TO (tombstones) FROM SERVER ${name} INTO ${name}`);
  }

  // Sum over nodes of pg_stat_subscription_stats.apply_error_count.
  async applyErrors() {
    const out = {};
    for (const n of this.nodes) {
      const r = await n.one(
        "SELECT coalesce(sum(apply_error_count), 0)::int AS c FROM pg_stat_subscription_stats WHERE subname LIKE 'lk\\_sub\\_%'",
      );
      out[n.name] = r.c;
    }
    return out;
  }

  // The end of every node's server log, for failure messages.
  logTails(lines = 15) {
    return this.nodes
      .map((n) => {
        let text = '';
        try {
          text = fs.readFileSync(n.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n    ');
        } catch {
          text = '(no log)';
        }
        return `  ${n.name} log:\n    ${text}`;
      })
      .join('\n');
  }

  async destroy({ keep = process.env.LK_KEEP === '1' } = {}) {
    // one at a time: stopped together, each shutdown waits on walsenders
    // whose subscribers are going away too, which takes seconds
    for (const n of this.nodes) await n.stop();
    if (!keep) fs.rmSync(this.root, { recursive: true, force: true });
  }
}

// Start nnodes clusters, create database lk with laniakea, the tables, one
// publication each and a full mesh of subscriptions.
async function startMesh({ nnodes = 3, name = 'mesh', binary = false } = {}) {
  const base = process.env.LK_CLUSTER_ROOT || os.tmpdir();
  const root = fs.mkdtempSync(path.join(base, `${name}-`));
  const ports = await freePorts(nnodes);
  const opts = serverOptions(nnodes);
  const nodes = ports.map((port, i) => new Node(`n${i + 1}`, path.join(root, `n${i + 1}`), port, opts));
  const mesh = new Mesh(nodes, root);
  try {
    // initdb is CPU-bound: two at a time is as fast as it gets on 2 cores
    for (let i = 0; i < nodes.length; i += 2) await Promise.all(nodes.slice(i, i + 2).map((n) => n.start()));
    for (const n of nodes) {
      const admin = await n.connect('postgres');
      try {
        await admin.query(`CREATE DATABASE ${DB}`);
        await admin.query(`ALTER DATABASE ${DB} SET laniakea.node_id = ${quoteLiteral(n.name)}`);
      } finally {
        await admin.end();
      }
      await n.query('CREATE EXTENSION laniakea');
      await n.query('CREATE EXTENSION pg_walinspect');
      await n.query(SCHEMA);
      await n.query(
        `CREATE PUBLICATION ${PUBLICATION} FOR TABLE ${PUBLISHED.join(', ')} WITH (publish = 'insert, update')`,
      );
      const id = await n.one('SHOW laniakea.node_id');
      if (id['laniakea.node_id'] !== n.name) throw new Error(`${n.name}: node_id is ${id['laniakea.node_id']}`);
    }
    await mesh.subscribe({ binary });
  } catch (e) {
    e.message += `\n${mesh.logTails()}`;
    await mesh.destroy().catch(() => {});
    throw e;
  }
  return mesh;
}

// The mesh of a test file: started before its tests (every node's initdb and
// start take a while), handed over with set, destroyed after them.
function meshPerFile(opts, set) {
  let mesh;
  before(
    async () => {
      mesh = await startMesh(opts);
      set(mesh);
    },
    { timeout: 300000 },
  );
  after(async () => {
    if (mesh) await mesh.destroy();
  });
}

export { startMesh, meshPerFile, Mesh, Node, sleep, subName, DB, PUBLICATION, TABLES, PUBLISHED, quoteLiteral };
