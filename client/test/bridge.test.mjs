// The client in Node.js (the ws package) against the real bridge and
// PostgreSQL: registers set here and in SQL, and deletes end to end (a delete
// from the client online and offline, one in SQL reaching row.deleted and
// "delete" events, re-creation at the next causal length, a rejoin that learns
// of a deletion, a merge of a stale incarnation discarded, the rows of a
// table going, and the server's row adopted after collect_tombstones).
// run.sh bridge provides LK_PGHOST, LK_PGPORT (a private cluster with
// test/bridge.sql) and LK_BRIDGE (the binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import pg from 'pg';
import WebSocket from 'ws';
import { connect, MemoryStorage } from '../lib/laniakea.js';

const { LK_PGHOST: pghost, LK_PGPORT: pgport, LK_BRIDGE: bin } = process.env;
const DB = { host: pghost, port: Number(pgport), user: 'postgres', database: 'lk_client' };
// a server peer's real capabilities: the full profile (each delta as it comes)
const FULL = { hasWorkers: true, hasSharedArrayBuffer: true, memoryMb: 8192, connectionType: 'ethernet' };
const FAST = { reconnectAfterMs: () => 50, rejoinAfterMs: () => 50, timeout: 5000 };
let bridge;
let url;
let db;
const clients = [];
let keys = 0;

async function freePort() {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.on('listening', r));
  const p = srv.address().port;
  await new Promise((r) => srv.close(r));
  return p;
}

before(async () => {
  db = new pg.Client(DB);
  await db.connect();
  const port = await freePort();
  url = `ws://127.0.0.1:${port}/socket`;
  bridge = spawn(bin, ['--port', String(port)], {
    env: { ...process.env, DATABASE_URL: `host=${DB.host} port=${DB.port} user=postgres dbname=lk_client` },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await until(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 'the bridge');
});

after(async () => {
  for (const c of clients) c.disconnect();
  bridge?.kill('SIGTERM');
  await db?.end();
});

async function until(pred, what, ms = 15000) {
  const end = performance.now() + ms;
  for (;;) {
    const v = await Promise.resolve()
      .then(pred)
      .catch(() => false);
    if (v) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const key = (what) => `${what}-${process.pid}-${++keys}`;

function client(opts = {}) {
  const c = connect({ url, WebSocket, storage: new MemoryStorage(), caps: FULL, socket: FAST, ...opts });
  clients.push(c);
  return c;
}

const sql = async (text, params) => (await db.query(text, params)).rows;

/** The row in the database ({cl, title, likes, tags}) or null, and the key's greatest tombstone. */
async function dbRow(k) {
  const [r] = await sql(
    'SELECT laniakea_cl::int AS cl, title::text, likes::text, elements(tags) AS tags FROM notes WHERE id = $1',
    [k],
  );
  return r ? { ...r, likes: JSON.parse(r.likes), title: JSON.parse(r.title) } : null;
}

async function tombstone(k) {
  return (await sql("SELECT max(cl)::int AS cl FROM laniakea.tombstones WHERE rel = 'notes' AND key = $1", [k]))[0].cl;
}

/** A row joined and its column types known. */
async function joinedRow(c, k) {
  const row = c.row('notes', k);
  await until(() => row.get('likes') !== undefined && c.status === 'online', `the join of ${k}`);
  return row;
}

/**
 * A WebSocket class whose incoming frames can be held back (those `hold`
 * accepts) and let through later: a delay on the network, made to order.
 */
function gatedWebSocket() {
  const gate = { hold: () => false, held: [] };
  gate.release = () => {
    gate.hold = () => false;
    for (const deliver of gate.held.splice(0)) deliver();
  };
  gate.WebSocket = class extends WebSocket {
    set onmessage(fn) {
      super.onmessage = (ev) => {
        if (gate.hold(JSON.parse(ev.data))) gate.held.push(() => fn(ev));
        else fn(ev);
      };
    }

    get onmessage() {
      return super.onmessage;
    }
  };
  return gate;
}

// ---- registers ----

test('a_register_set_here_is_this_nodes_write_in_the_database_and_one_set_in_sql_comes_back', async () => {
  const k = key('title');
  const c = client({ node: 'peer-title' });
  const row = await joinedRow(c, k);
  row.set('title', 'Buy milk');
  assert.equal(row.get('title').get(), 'Buy milk');
  await row.flushed();
  const stored = await dbRow(k);
  assert.equal(stored.title.v, 'Buy milk');
  assert.equal(stored.title.n, 'peer-title');
  assert.equal(BigInt(stored.title.c), row.get('title').clock, 'the clock the client chose');
  await sql("UPDATE notes SET title = set(title, 'Buy oat milk', 'db') WHERE id = $1", [k]);
  await until(() => row.get('title').get() === 'Buy oat milk', 'the set made in SQL');
  row.set('title', 'Buy both');
  await row.flushed();
  assert.equal(
    (await dbRow(k)).title.v,
    'Buy both',
    "a set beats the register it was made on, the server's clock included",
  );
});

test('a_register_set_offline_reaches_the_database_once_the_client_reconnects', async () => {
  const k = key('offline-title');
  const c = client({ node: 'peer-offline' });
  const row = await joinedRow(c, k);
  c.disconnect();
  row.set('title', 'first');
  row.set('title', 'second');
  assert.equal(row.pending, 2);
  c.connect();
  await row.flushed();
  assert.equal((await dbRow(k)).title.v, 'second');
});

// ---- deletes ----

test('row_delete_online_deletes_the_database_row_at_its_incarnation', async () => {
  const k = key('del-online');
  await sql(`INSERT INTO notes (id, likes) VALUES ($1, '{"db":2}')`, [k]);
  const c = client({ node: 'peer-del' });
  const row = await joinedRow(c, k);
  await until(() => row.get('likes').value() === 2, 'the row from the database');
  let told = 0;
  row.on('delete', () => told++);
  row.delete();
  assert.equal(row.deleted, true);
  assert.equal(told, 1);
  await row.flushed();
  assert.equal(await dbRow(k), null, 'the row is gone from the database');
  assert.equal(await tombstone(k), 2);
  assert.equal(row.cl, 2);
  assert.equal(told, 1, "told once: the bridge's delete event of it changes nothing");
});

test('row_delete_offline_is_kept_and_sent_on_reconnect', async () => {
  const k = key('del-offline');
  await sql(`INSERT INTO notes (id, likes) VALUES ($1, '{"db":2}')`, [k]);
  const storage = new MemoryStorage();
  const c = client({ node: 'peer-del-off', storage });
  const row = await joinedRow(c, k);
  await until(() => row.get('likes').value() === 2, 'the row');
  c.disconnect();
  row.delete();
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(await dbRow(k), 'nothing sent while offline');
  // a reload before reconnecting: the delete is in storage
  c.connect();
  const again = client({ node: 'peer-del-off', storage }).row('notes', k);
  await until(() => again.deleted, 'the stored delete after the reload');
  await again.flushed();
  await until(async () => (await dbRow(k)) === null, 'the row deleted in the database');
  assert.equal(await tombstone(k), 2);
});

test('a_delete_in_sql_reaches_row_deleted_and_delete_events_in_every_profile', async () => {
  const k = key('del-sql');
  await sql(`INSERT INTO notes (id, likes, tags) VALUES ($1, '{"db":3}', add('{}'::orset, 'x', 'db'))`, [k]);
  const profiles = {
    full: FULL,
    constrained: { hasWorkers: true, memoryMb: 1024, connectionType: 'cellular' },
    minimal: { hasWorkers: false, memoryMb: 256 },
  };
  const watched = [];
  for (const [name, caps] of Object.entries(profiles)) {
    const c = client({ node: `peer-${name}`, caps });
    const row = await joinedRow(c, k);
    const table = c.table('notes');
    const t = { name, c, row, table, rowTold: 0, tableTold: [] };
    row.on('delete', () => t.rowTold++);
    table.on('delete', (r) => t.tableTold.push(r.key));
    await until(() => row.get('likes').value() === 3 && table.rows().some((r) => r.key === k), `${name}: the row`);
    assert.equal(c.profile, name);
    watched.push(t);
  }
  await sql('DELETE FROM notes WHERE id = $1', [k]);
  for (const t of watched) {
    await until(() => t.row.deleted && t.rowTold === 1, `${t.name}: row.deleted and its "delete" event`);
    await until(() => t.tableTold.includes(k), `${t.name}: the table's "delete" event`);
    assert.equal(t.row.cl, 2, t.name);
    assert.equal(t.row.get('likes').toString(), '{}', `${t.name}: the old state went with the row`);
    assert.ok(!t.table.rows().some((r) => r.key === k), `${t.name}: the table no longer lists it`);
  }
});

test('a_write_after_a_delete_recreates_the_row_at_the_next_cl_with_only_the_new_state', async () => {
  const k = key('recreate');
  await sql(`INSERT INTO notes (id, likes, tags) VALUES ($1, '{"db":5}', add('{}'::orset, 'old', 'db'))`, [k]);
  const c = client({ node: 'peer-re' });
  const row = await joinedRow(c, k);
  await until(() => row.get('likes').value() === 5, 'the row');
  row.delete();
  row.increment('likes', 1).add('tags', 'new');
  assert.equal(row.cl, 3);
  assert.equal(row.deleted, false);
  await row.flushed();
  const stored = await dbRow(k);
  assert.equal(stored.cl, 3);
  assert.deepEqual(stored.likes, { 'peer-re': 1 }, 'nothing of the deleted incarnation');
  assert.deepEqual(stored.tags, ['new']);
  // and a later SQL delete and insert reaches it as cl 5
  await sql('DELETE FROM notes WHERE id = $1', [k]);
  await sql(`INSERT INTO notes (id, likes) VALUES ($1, '{"db":9}')`, [k]);
  await until(() => row.cl === 5 && row.get('likes').value() === 9, 'the incarnation made in SQL');
  assert.equal(row.get('tags').size, 0);
});

test('a_client_that_was_away_learns_of_a_deletion_when_it_rejoins', async () => {
  const k = key('away');
  await sql(`INSERT INTO notes (id, likes) VALUES ($1, '{"db":1}')`, [k]);
  const c = client({ node: 'peer-away' });
  const row = await joinedRow(c, k);
  const t = client({ node: 'peer-away-t' });
  const table = t.table('notes');
  await until(
    () => row.get('likes').value() === 1 && table.rows().some((r) => r.key === k),
    'the row, by row and by table',
  );
  const tableTold = [];
  table.on('delete', (r) => tableTold.push(r.key));
  let rowTold = 0;
  row.on('delete', () => rowTold++);
  c.disconnect();
  t.disconnect();
  await sql('DELETE FROM notes WHERE id = $1', [k]);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(row.deleted, false, 'nothing known while away');
  c.connect();
  t.connect();
  await until(() => row.deleted && rowTold === 1, "the row's deletion, from the join reply");
  await until(() => tableTold.includes(k), "the table's deletion, from its join reply (have named the key)");
  assert.ok(!table.rows().some((r) => r.key === k));
  assert.equal(table.row(k).cl, 2);
});

test('changes_made_offline_to_a_row_deleted_meanwhile_do_not_bring_it_back', async () => {
  const k = key('offline-vs-delete');
  await sql(`INSERT INTO notes (id, likes) VALUES ($1, '{"db":1}')`, [k]);
  const c = client({ node: 'peer-stale' });
  const row = await joinedRow(c, k);
  await until(() => row.get('likes').value() === 1, 'the row');
  c.disconnect();
  row.increment('likes', 4).set('title', 'edited offline');
  await sql('DELETE FROM notes WHERE id = $1', [k]);
  c.connect();
  await until(() => row.deleted, 'the deletion, which wins over what it did not see');
  await row.flushed();
  assert.equal(row.pending, 0);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await dbRow(k), null, 'not resurrected');
});

test('a_merge_of_a_stale_incarnation_is_discarded_by_the_database', async () => {
  const k = key('stale-merge');
  await sql(`INSERT INTO notes (id, likes) VALUES ($1, '{"db":1}')`, [k]);
  const gate = gatedWebSocket();
  const c = client({ node: 'peer-gate', WebSocket: gate.WebSocket });
  const row = await joinedRow(c, k);
  await until(() => row.get('likes').value() === 1, 'the row');
  // the deletion's event is late: the client pushes into the incarnation it knows
  gate.hold = (m) => m[2] === `crdt:notes:${k}` && m[3] !== 'phx_reply';
  await sql('DELETE FROM notes WHERE id = $1', [k]);
  row.increment('likes', 6);
  await row.flushed();
  assert.equal(row.deleted, false, 'not known yet');
  assert.equal(await dbRow(k), null, 'the database discarded the merge of cl 1: the tombstone of cl 2 outranks it');
  gate.release();
  await until(() => row.deleted, 'the late deletion');
  assert.equal(row.get('likes').value(), 0);
  assert.equal(await dbRow(k), null);
});

test('a_tables_rows_come_and_go_from_sql_and_from_the_client', async () => {
  const c = client({ node: 'peer-table' });
  const table = c.table('notes');
  const k1 = key('tbl');
  const k2 = key('tbl');
  const seen = [];
  const gone = [];
  table.on('row', (r) => seen.push(r.key));
  table.on('delete', (r) => gone.push(r.key));
  await until(() => c.status === 'online' && table.row(k1).get('likes'), 'the table joined');
  await sql(`INSERT INTO notes (id, likes) VALUES ($1, '{"db":1}')`, [k1]);
  await until(() => seen.includes(k1) && table.rows().some((r) => r.key === k1), 'a row inserted in SQL');
  table.row(k2).set('title', 'made here');
  await until(() => seen.includes(k2), 'a row made here');
  await table.row(k2).flushed();
  assert.equal((await dbRow(k2)).title.v, 'made here');
  table.row(k2).delete();
  assert.ok(gone.includes(k2), 'told at once');
  await table.row(k2).flushed();
  assert.equal(await dbRow(k2), null);
  await sql('DELETE FROM notes WHERE id = $1', [k1]);
  await until(() => gone.includes(k1), 'a row deleted in SQL');
  assert.ok(!table.rows().some((r) => r.key === k1 || r.key === k2));
});

// ---- the server's row is authoritative ----

test('after_collect_tombstones_the_servers_row_replaces_a_deleted_one_on_rejoin', async () => {
  // table revived, which no other client holds: the bridge reads the key afresh
  // on the rejoin (a bridge that holds the row at cl 2 answers from memory)
  const k = key('collected');
  const likes = async () =>
    (await sql('SELECT likes::text, laniakea_cl::int AS cl FROM revived WHERE id = $1', [k]))[0];
  await sql(`INSERT INTO revived (id, likes) VALUES ($1, '{"db":1}')`, [k]);
  const c = client({ node: 'peer-col' });
  const row = c.row('revived', k);
  const t = client({ node: 'peer-col-t' });
  const table = t.table('revived');
  await until(() => row.get('likes')?.value() === 1 && table.rows().some((r) => r.key === k), 'the row');
  row.delete();
  await row.flushed();
  await until(() => table.row(k).deleted, 'the deletion, by table');
  c.disconnect();
  t.disconnect();
  // the tombstone is collected and the key starts again at cl 1
  await sql("SELECT laniakea.collect_tombstones('0')");
  await sql(`INSERT INTO revived (id, likes) VALUES ($1, '{"db2":4}')`, [k]);
  assert.equal((await likes()).cl, 1);
  const back = [];
  table.on('row', (r) => back.push(r.key));
  c.connect();
  t.connect();
  await until(() => !row.deleted && row.get('likes').value() === 4, "the server's row, adopted by the row topic");
  assert.equal(row.cl, 1);
  assert.deepEqual(row.get('likes').toJSON(), { db2: 4 });
  await until(() => table.rows().some((r) => r.key === k) && back.includes(k), 'and by the table topic');
  assert.equal(table.row(k).cl, 1);
  // and it goes on from there
  row.increment('likes', 2);
  await row.flushed();
  assert.deepEqual(JSON.parse((await likes()).likes), { db2: 4, 'peer-col': 2 });
});

// The insert's notification (cl 1) is below the deleted row the bridge holds
// (cl 2): the bridge reads the key again and sends the row it finds.
test('a_client_online_while_a_collected_key_is_inserted_again_sees_the_new_row', async () => {
  const k = key('collected-online');
  await sql(`INSERT INTO revived (id, likes) VALUES ($1, '{"db":1}')`, [k]);
  const c = client({ node: 'peer-col-on' });
  const row = c.row('revived', k);
  await until(() => row.get('likes')?.value() === 1, 'the row');
  row.delete();
  await row.flushed();
  await sql("SELECT laniakea.collect_tombstones('0')");
  await sql(`INSERT INTO revived (id, likes) VALUES ($1, '{"db2":4}')`, [k]);
  await until(() => !row.deleted && row.get('likes').value() === 4, 'the new row, while online', 3000);
});

test('a_row_created_and_deleted_offline_stays_deleted_and_a_later_incarnation_reaches_everyone', async () => {
  const k = key('ghost');
  const a = client({ node: 'peer-ghost-a' });
  const ra = await joinedRow(a, k);
  a.disconnect();
  ra.increment('likes'); // a draft made offline...
  ra.delete(); // ...and thrown away before it was ever sent
  a.connect();
  await ra.flushed();
  assert.equal(await dbRow(k), null);
  assert.equal(await tombstone(k), 2, 'the deletion of incarnation 1 is recorded though the row never existed there');
  // another client learns the key is deleted, and writing re-creates it at cl 3
  const b = client({ node: 'peer-ghost-b' });
  const rb = await joinedRow(b, k);
  await until(() => rb.cl === 2, 'b told of the deletion');
  rb.increment('likes', 5);
  await rb.flushed();
  assert.deepEqual({ cl: (await dbRow(k)).cl, likes: (await dbRow(k)).likes }, { cl: 3, likes: { 'peer-ghost-b': 5 } });
  await until(() => !ra.deleted && ra.get('likes').value() === 5, 'the client that deleted sees the new incarnation');
});

test('a_table_whose_name_has_dots_colons_and_percents_syncs_both_ways', async () => {
  const k = key('odd');
  const c = client({ node: 'peer-odd' });
  const row = c.row('odd.name:x%y', k);
  assert.equal(row.topic, `crdt:odd%2Ename%3Ax%25y:${k}`);
  await until(() => row.get('likes') !== undefined && c.status === 'online', 'the join');
  row.increment('likes', 2);
  await row.flushed();
  assert.deepEqual((await sql(`SELECT likes::text FROM "odd.name:x%y" WHERE id = $1`, [k]))[0], {
    likes: '{"peer-odd":2}',
  });
  await sql(`UPDATE "odd.name:x%y" SET likes = '{"db":7}' WHERE id = $1`, [k]);
  await until(() => row.get('likes').value() === 9, 'the change made in SQL');
  const t = c.table('odd.name:x%y');
  await until(() => t.rows().some((r) => r.key === k), "the row in the table's view");
});

// ---- a network that refuses WebSockets ----

test('behind_a_bridge_that_refuses_websockets_the_client_falls_back_to_longpoll_and_keeps_offline_edits', async () => {
  const port = await freePort();
  const start = () => {
    const p = spawn(bin, ['--port', String(port), '--websocket', '0'], {
      env: { ...process.env, DATABASE_URL: `host=${DB.host} port=${DB.port} user=postgres dbname=lk_client` },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return until(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 'the bridge').then(() => p);
  };
  let lp = await start();
  try {
    const k = key('longpoll');
    // the default options: the fallback is on without asking
    const c = connect({
      url: `ws://127.0.0.1:${port}/socket`,
      WebSocket,
      storage: new MemoryStorage(),
      caps: FULL,
      node: 'peer-lp',
    });
    clients.push(c);
    const row = await joinedRow(c, k);
    assert.equal(c.socket.transportName(c.socket.transport), 'LongPoll');
    row.increment('likes', 3);
    await row.flushed();
    assert.deepEqual((await dbRow(k)).likes, { 'peer-lp': 3 });
    await sql("UPDATE notes SET likes = increment(likes, 'db', 4) WHERE id = $1", [k]);
    await until(() => row.get('likes').value() === 7, 'the SQL change over LongPoll');

    // an outage: the bridge goes away, clicks go on, and nothing is lost when it is back
    lp.kill('SIGKILL');
    await new Promise((r) => lp.on('exit', r));
    await until(() => c.status === 'offline', 'the client to see the outage');
    row.increment('likes', 1);
    row.increment('likes', 1);
    assert.equal(row.get('likes').value(), 9, 'edits apply at once while offline');
    lp = await start();
    await until(() => c.status === 'online', 'the reconnection', 30000);
    await row.flushed();
    assert.deepEqual((await dbRow(k)).likes, { 'peer-lp': 5, db: 4 });
  } finally {
    lp.kill('SIGTERM');
  }
});

test('after_an_outage_a_client_whose_websocket_worked_comes_back_on_a_websocket_not_longpoll', async () => {
  const port = await freePort();
  const start = async () => {
    const p = spawn(bin, ['--port', String(port)], {
      env: { ...process.env, DATABASE_URL: `host=${DB.host} port=${DB.port} user=postgres dbname=lk_client` },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await until(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 'the bridge');
    return p;
  };
  let b = await start();
  try {
    const c = client({ url: `ws://127.0.0.1:${port}/socket` });
    const k = key('ws-back');
    const row = await joinedRow(c, k);
    assert.equal(c.socket.transportName(c.socket.transport), 'WebSocket');
    b.kill('SIGKILL');
    await new Promise((r) => b.on('exit', r));
    // long enough for phoenix to have fallen back to LongPoll, which fails too
    await until(
      () => c.socket.transportName(c.socket.transport) === 'LongPoll' || c.status === 'offline',
      'the outage',
    );
    await new Promise((r) => setTimeout(r, 3000));
    row.increment('likes', 2);
    b = await start();
    await until(() => c.status === 'online', 'the reconnection', 30000);
    await row.flushed();
    assert.equal(c.socket.transportName(c.socket.transport), 'WebSocket');
    assert.deepEqual((await dbRow(k)).likes[c.node], 2);
  } finally {
    b.kill('SIGTERM');
  }
});
