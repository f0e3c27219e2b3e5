// The WAL source (--source wal, bridge/src/wal.c): what only it does.  The
// delivery tests of the other files run under it too (run.sh).  Tables walt
// and walbulk are tracked without NOTIFY, so only the WAL tells a bridge of
// their changes.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import {
  CAPS,
  GC,
  connect,
  freePort,
  gcMerge,
  join,
  pgClient,
  rowState,
  rowView,
  runBridge,
  sleep,
  sql,
  startBridge,
  startCluster,
  teardown,
  uniqueKey,
  waitFor,
} from './lib/harness.mjs';

after(teardown);

const WAL = ['--source', 'wal'];

// The slot a bridge streams from now, as its log names it.
function slotOf(bridge) {
  const m = [...bridge.log().matchAll(/on temporary slot (\S+)/g)];
  assert.ok(m.length, `no slot in ${bridge.logPath}`);
  return m.at(-1)[1];
}

async function slotExists(name, query = sql) {
  return (
    (await query('SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1', [name])).rows[0].n === 1
  );
}

// A writer that increments one row until told to stop; resolves with the commits.
function writeLoop(statement, params, stop) {
  return (async () => {
    let n = 0;
    while (!stop.now) {
      await sql(statement, params);
      n++;
      await sleep(5);
    }
    return n;
  })();
}

describe('the WAL source', () => {
  test('changes_of_a_table_tracked_without_notify_reach_row_and_table_subscribers', async () => {
    const b = await startBridge({ name: 'wal-basic', args: WAL });
    assert.equal((await b.healthz()).source, 'wal');
    const key = uniqueKey('basic');
    await sql('INSERT INTO walbulk (id, likes) VALUES ($1, \'{"a":1}\')', [key]);
    const s = await connect(b);
    const { channel: row, reply } = await join(s, `crdt:walbulk:${key}`, { node: 'n', caps: CAPS.full });
    const { channel: table } = await join(s, 'crdt:walbulk', { node: 'n', caps: CAPS.full });
    await sql("UPDATE walbulk SET likes = increment(likes, 'sql', 2) WHERE id = $1", [key]);
    const ev = await waitFor(() => row.events.find((e) => e.event === 'delta'), { what: 'the delta' });
    // what the bridge lacked, computed against what it holds: the sql node's count only
    assert.deepEqual(ev.payload, { key, deltas: { likes: { sql: 2 } } });
    await waitFor(() => table.events.some((e) => e.payload.key === key && e.event === 'delta'), {
      what: 'the table delta',
    });
    assert.deepEqual(rowView(reply, row, { likes: gcMerge }), await rowState('walbulk', key, ['likes']));
    const m = (await b.metrics()).samples;
    assert.equal(m.laniakea_wal_source, 1);
    assert.equal(m.laniakea_wal_up, 1);
    assert.ok(m.laniakea_wal_changes_total >= 1);
    assert.equal(m.laniakea_wal_errors_total, 0);
    await b.stop();
  });

  test('changes_of_one_row_in_one_transaction_reach_subscribers_as_one_coalesced_delta', async () => {
    const b = await startBridge({ name: 'wal-coalesce', args: WAL });
    const key = uniqueKey('co');
    await sql('INSERT INTO walt (id) VALUES ($1)', [key]);
    const s = await connect(b);
    const { channel } = await join(s, `crdt:walt:${key}`, { node: 'n', caps: CAPS.full });
    const c = await pgClient();
    await c.query('BEGIN');
    for (const n of ['x', 'y', 'z'])
      await c.query('UPDATE walt SET hits = increment(hits, $2, 1) WHERE id = $1', [key, n]);
    await c.query("UPDATE walt SET tags = add(tags, 'e', 'db') WHERE id = $1", [key]);
    await c.query('COMMIT');
    await c.end();
    await waitFor(() => channel.events.length >= 1, { what: 'the delta' });
    // a later write, seen after the transaction's: nothing more of it can come
    const mark = uniqueKey('mark');
    const { channel: markRow } = await join(s, `crdt:walt:${mark}`, { node: 'n', caps: CAPS.full });
    await sql('INSERT INTO walt (id, hits) VALUES ($1, \'{"m":1}\')', [mark]);
    await waitFor(() => markRow.events.length >= 1, { what: 'the later write' });
    assert.equal(channel.events.length, 1);
    assert.deepEqual(channel.events[0].payload.deltas.hits, { x: 1, y: 1, z: 1 });
    assert.deepEqual(Object.keys(channel.events[0].payload.deltas).sort(), ['hits', 'tags']);
    await b.stop();
  });

  test('a_delta_over_1_mb_reaches_a_subscriber_whole_without_a_reference', async () => {
    // the client side takes it: ws's maxPayload is 100 MiB unless set lower, and phoenix sets none
    const b = await startBridge({ name: 'wal-big', args: WAL });
    const key = uniqueKey('big');
    await sql('INSERT INTO walt (id) VALUES ($1)', [key]);
    const s = await connect(b);
    const { channel } = await join(s, `crdt:walt:${key}`, { node: 'n', caps: CAPS.full });
    // 400 elements of 3 kB each, different enough not to compress away: 1.2 MB of delta
    await sql(`DO $$ DECLARE s orset := '{}'; BEGIN
			FOR i IN 1..400 LOOP
				s := add(s, i || '-' || (SELECT string_agg(md5(i::text || j::text), '') FROM generate_series(1, 94) j), 'db');
			END LOOP;
			UPDATE walt SET tags = s WHERE id = '${key}'; END $$`);
    const ev = await waitFor(() => channel.events.find((e) => e.event === 'delta'), {
      timeout: 20000,
      what: 'the big delta',
    });
    const text = JSON.stringify(ev.payload.deltas.tags);
    assert.ok(text.length > 1024 * 1024, `delta of ${text.length} bytes`);
    const elements = (await sql('SELECT unnest(elements(tags)) AS e FROM walt WHERE id = $1', [key])).rows.map(
      (r) => r.e,
    );
    assert.equal(elements.length, 400);
    for (const e of elements) assert.ok(text.includes(JSON.stringify(e)), 'every element is in the delta');
    await b.stop();
  });

  test('an_update_that_leaves_a_toasted_column_unchanged_keeps_what_the_bridge_holds', async () => {
    const b = await startBridge({ name: 'wal-toast', args: WAL });
    const key = uniqueKey('toast');
    // a set stored out of line (TOAST): an update of another column does not send it
    await sql(`DO $$ DECLARE s orset := '{}'; BEGIN
			FOR i IN 1..300 LOOP s := add(s, md5(i::text) || md5((i * 7)::text), 'db'); END LOOP;
			INSERT INTO walt (id, tags) VALUES ('${key}', s); END $$`);
    // past the 2 kB a row keeps inline, even compressed
    assert.ok((await sql('SELECT pg_column_size(tags) AS n FROM walt WHERE id = $1', [key])).rows[0].n > 2100);
    const s = await connect(b);
    const { channel } = await join(s, `crdt:walt:${key}`, { node: 'n', caps: CAPS.full });
    await sql("UPDATE walt SET hits = increment(hits, 'sql', 1) WHERE id = $1", [key]);
    const ev = await waitFor(() => channel.events.find((e) => e.event === 'delta'), { what: 'the delta' });
    assert.deepEqual(ev.payload.deltas, { hits: { sql: 1 } });
    // a second join is answered from what the bridge holds: the set is still whole
    const { reply: r2 } = await join(await connect(b), `crdt:walt:${key}`, { node: 'n2', caps: CAPS.full });
    assert.deepEqual(r2.state, await rowState('walt', key, ['hits', 'tags']));
    assert.equal((await b.metrics()).samples.laniakea_cell_errors_total, 0);
    await b.stop();
  });

  test('a_bulk_change_with_deletes_and_a_new_incarnation_in_one_transaction_reaches_a_table_subscriber', async () => {
    const b = await startBridge({ name: 'wal-bulk', args: WAL });
    const prefix = uniqueKey('bulk');
    const key = (i) => `${prefix}-${String(i).padStart(4, '0')}`;
    await sql(
      `INSERT INTO walbulk (id, likes) SELECT $1 || '-' || lpad(i::text, 4, '0'), '{"a":1}' FROM generate_series(1, 500) i`,
      [prefix],
    );
    const s = await connect(b);
    const { channel: table } = await join(s, 'crdt:walbulk', { node: 'n', caps: CAPS.full });
    const { channel: gone } = await join(s, `crdt:walbulk:${key(2)}`, { node: 'n', caps: CAPS.full });
    const c = await pgClient();
    await c.query('BEGIN');
    await c.query(`UPDATE walbulk SET likes = increment(likes, 'b', 1) WHERE id LIKE $1 || '%'`, [prefix]);
    await c.query('DELETE FROM walbulk WHERE id IN ($1, $2)', [key(2), key(3)]);
    await c.query(`INSERT INTO walbulk (id, likes) VALUES ($1, '{"c":1}')`, [key(3)]);
    await c.query('COMMIT');
    await c.end();
    const of = (k) => table.events.filter((e) => e.payload.key === k);
    await waitFor(() => of(key(500)).length >= 1 && of(key(3)).length >= 1 && gone.events.length >= 1, {
      what: 'the changes',
    });
    assert.deepEqual(
      of(key(500)).map((e) => [e.event, e.payload]),
      [['delta', { key: key(500), deltas: { likes: { b: 1 } } }]],
    );
    assert.deepEqual(
      of(key(2)).map((e) => [e.event, e.payload]),
      [['delete', { key: key(2), cl: 2 }]],
    );
    assert.deepEqual(
      gone.events.map((e) => [e.event, e.payload]),
      [['delete', { key: key(2), cl: 2 }]],
    );
    // deleted and inserted again in one transaction: the new incarnation, whole
    assert.deepEqual(
      of(key(3)).map((e) => [e.event, e.payload]),
      [['delta', { key: key(3), cl: 3, deltas: { likes: { c: 1 } } }]],
    );
    await b.stop();
  });

  test('a_lost_replication_connection_is_made_again_on_a_new_slot_and_subscribers_converge', async () => {
    const b = await startBridge({ name: 'wal-lost', args: WAL });
    const key = uniqueKey('lost');
    await sql('INSERT INTO walt (id) VALUES ($1)', [key]);
    const s = await connect(b);
    const { channel, reply } = await join(s, `crdt:walt:${key}`, { node: 'n', caps: CAPS.full });
    const first = slotOf(b);
    const stop = { now: false };
    const writer = writeLoop("UPDATE walt SET hits = increment(hits, 'w', 1) WHERE id = $1", [key], stop);
    await sleep(100);
    await sql('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1', [first]);
    await waitFor(async () => (await b.metrics()).samples.laniakea_wal_slots_total === 2, { what: 'a new slot' });
    await sleep(100);
    stop.now = true;
    const n = await writer;
    const want = await rowState('walt', key, ['hits']);
    assert.equal(want.hits.w, n);
    await waitFor(() => rowView(reply, channel, GC).hits.w === n, { what: 'the client to converge' });
    assert.notEqual(slotOf(b), first);
    assert.ok((await b.metrics()).samples.laniakea_wal_errors_total >= 1);
    await waitFor(async () => !(await slotExists(first)), { what: 'the first slot to go' });
    await b.stop();
  });

  test('a_bridge_killed_and_restarted_during_writes_loses_no_update_its_clients_end_up_seeing', async () => {
    const key = uniqueKey('kill');
    await sql('INSERT INTO walt (id) VALUES ($1)', [key]);
    const a = await startBridge({ name: 'wal-kill-a', args: WAL });
    const sa = await connect(a);
    const { channel: ca, reply: ra } = await join(sa, `crdt:walt:${key}`, { node: 'n', caps: CAPS.full });
    const stop = { now: false };
    const writer = writeLoop("UPDATE walt SET hits = increment(hits, 'w', 1) WHERE id = $1", [key], stop);
    await waitFor(() => (rowView(ra, ca, GC).hits.w ?? 0) >= 5, { what: 'some deltas' });
    const slotA = slotOf(a);
    await a.stop({ signal: 'SIGKILL' });
    // what the client held when its bridge died; it joins the next bridge with it
    const have = rowView(ra, ca, GC);
    const b = await startBridge({ name: 'wal-kill-b', args: WAL });
    const sb = await connect(b);
    const { channel: cb, reply: rb } = await join(sb, `crdt:walt:${key}`, { node: 'n', caps: CAPS.full, have });
    await sleep(300);
    stop.now = true;
    const n = await writer;
    assert.equal((await rowState('walt', key, ['hits'])).hits.w, n);
    const view = () => gcMerge(have.hits, rowView(rb, cb, GC).hits);
    await waitFor(() => view().w === n, { what: 'the client to see every update' });
    // the killed bridge's temporary slot went with its connection
    await waitFor(async () => !(await slotExists(slotA)), { what: "the killed bridge's slot to go" });
    const slotB = slotOf(b);
    await b.stop();
    await waitFor(async () => !(await slotExists(slotB)), { what: 'the slot of the bridge that exited to go' });
  });

  test('two_bridges_stream_from_slots_of_their_own_and_a_clean_exit_drops_its_slot', async () => {
    const a = await startBridge({ name: 'wal-two-a', args: WAL });
    const b = await startBridge({ name: 'wal-two-b', args: WAL });
    assert.notEqual(slotOf(a), slotOf(b));
    assert.ok(await slotExists(slotOf(a)));
    assert.ok(await slotExists(slotOf(b)));
    const key = uniqueKey('two');
    await sql('INSERT INTO walt (id) VALUES ($1)', [key]);
    const ja = await join(await connect(a), `crdt:walt:${key}`, { node: 'n', caps: CAPS.full });
    const jb = await join(await connect(b), `crdt:walt:${key}`, { node: 'n', caps: CAPS.full });
    await sql("UPDATE walt SET hits = increment(hits, 'sql', 1) WHERE id = $1", [key]);
    await waitFor(() => ja.channel.events.length >= 1 && jb.channel.events.length >= 1, { what: 'both bridges' });
    const slot = slotOf(a);
    assert.equal((await a.stop()).code, 0);
    await waitFor(async () => !(await slotExists(slot)), { what: 'the slot to go' });
    assert.ok(await slotExists(slotOf(b)));
    await b.stop();
  });
});

describe('without wal_level=logical', () => {
  let cluster;
  after(async () => {
    if (cluster) await cluster.stop();
  });

  test('auto_picks_notify_and_says_why_and_wal_exits_1_at_startup_naming_the_setting', async () => {
    cluster = await startCluster('nowal', { settings: ['wal_level=replica'] });
    const b = await startBridge({ name: 'nowal-auto', db: cluster.url, args: ['--source', 'auto'] });
    assert.equal((await b.healthz()).source, 'notify');
    assert.match(b.log(), /source: NOTIFY \(wal_level is replica, not logical\)/);
    // walt sends no NOTIFY: the bridge says what that means
    assert.match(b.log(), /tracked table\(s\) send no NOTIFY/);
    const key = uniqueKey('auto');
    const c = new pg.Client({ connectionString: cluster.url });
    await c.connect();
    await c.query('INSERT INTO counters (id) VALUES ($1)', [key]);
    const { channel } = await join(await connect(b), `crdt:counters:${key}`, { node: 'n', caps: CAPS.full });
    await c.query("UPDATE counters SET hits = increment(hits, 'sql', 1) WHERE id = $1", [key]);
    await waitFor(() => channel.events.length >= 1, { what: 'the NOTIFY delta' });
    await c.end();
    await b.stop();

    const port = await freePort(59000, 59999);
    const w = await runBridge(['--port', String(port), ...WAL], { DATABASE_URL: cluster.url });
    assert.equal(w.code, 1);
    assert.match(w.stderr, /--source wal cannot read the WAL here: wal_level is replica, not logical/);
  });
});

// A commit is in the WAL, and so decoded and sent to the bridge, before it is
// visible to other sessions' snapshots: the commit record is flushed, then
// the committing backend leaves the proc array.  Waiting for a synchronous
// standby that never comes holds a commit in between for as long as a test
// needs: the bridge receives the change while every read misses it.
describe('a commit decoded before it is visible', () => {
  let cluster;
  let admin;
  after(async () => {
    if (admin) await admin.end().catch(() => {});
    if (cluster) await cluster.stop();
  });

  const q = (text, params) => admin.query(text, params);

  // Commits from now on wait for a standby named nobody.  The checkpointer
  // applies the setting a moment after the reload: until a probe's commit
  // waits, it is not in force.
  async function holdCommits() {
    await q('CREATE TABLE IF NOT EXISTS sync_probe (n int)');
    await q("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
    await q('SELECT pg_reload_conf()');
    const probe = await pgClient(cluster.url);
    const pid = (await probe.query('SELECT pg_backend_pid() AS p')).rows[0].p;
    await waitFor(
      async () => {
        // a commit waits only for what wrote WAL; the table is not published
        const done = probe.query('INSERT INTO sync_probe VALUES (1)').then(() => true);
        const waited = await Promise.race([done, sleep(300).then(() => false)]);
        if (waited) return false;
        const ev = (await q('SELECT wait_event FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0]?.wait_event;
        await q('SELECT pg_cancel_backend($1)', [pid]);
        await done.catch(() => {});
        return ev === 'SyncRep';
      },
      { timeout: 20000, what: 'commits to wait for the standby' },
    );
    await probe.end();
  }

  async function releaseCommits() {
    await q('ALTER SYSTEM RESET synchronous_standby_names');
    await q('SELECT pg_reload_conf()');
  }

  // Run statements in a transaction whose commit is decoded by bridge b but
  // invisible until release(); resolves once b has received it.
  async function invisibleCommit(b, statements) {
    await holdCommits();
    const w = await pgClient(cluster.url);
    const pid = (await w.query('SELECT pg_backend_pid() AS p')).rows[0].p;
    const before = (await b.metrics()).samples.laniakea_wal_transactions_total;
    await w.query('BEGIN');
    for (const [text, params] of statements) await w.query(text, params);
    const commit = w.query('COMMIT');
    await waitFor(
      async () =>
        (await q('SELECT wait_event FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0]?.wait_event === 'SyncRep',
      { what: 'the commit to wait' },
    );
    await waitFor(async () => (await b.metrics()).samples.laniakea_wal_transactions_total > before, {
      what: 'the bridge to receive the commit',
    });
    return {
      release: async () => {
        await releaseCommits();
        await commit;
        await w.end();
      },
    };
  }

  test('a_join_whose_read_misses_a_change_the_bridge_skipped_still_gets_it', async () => {
    cluster = await startCluster('invisible');
    admin = await pgClient(cluster.url);
    // the test's own writes never wait for the standby
    await q('SET synchronous_commit = local');
    const b = await startBridge({ name: 'wal-invisible', db: cluster.url, args: WAL });
    const key = uniqueKey('inv');
    await q('INSERT INTO walt (id, hits) VALUES ($1, \'{"a":1}\')', [key]);
    // nothing holds the row: the bridge skips the change
    const tx = await invisibleCommit(b, [["UPDATE walt SET hits = increment(hits, 'late', 1) WHERE id = $1", [key]]]);
    assert.deepEqual(await rowState('walt', key, ['hits'], q), { hits: { a: 1 } }, 'the commit is not visible yet');
    const first = await join(await connect(b), `crdt:walt:${key}`, { node: 'n1', caps: CAPS.full });
    await tx.release();
    const want = await rowState('walt', key, ['hits'], q);
    assert.deepEqual(want, { hits: { a: 1, late: 1 } });
    await waitFor(() => JSON.stringify(rowView(first.reply, first.channel, GC)) === JSON.stringify(want), {
      what: 'the first joiner to get the update',
    });
    const second = await join(await connect(b), `crdt:walt:${key}`, { node: 'n2', caps: CAPS.full });
    assert.deepEqual(rowView(second.reply, second.channel, GC), want, 'a later join is answered with the update');
    await b.stop();
  });

  test('past_the_window_cap_a_join_whose_read_misses_a_change_is_read_again_once_it_is_visible', async () => {
    cluster ??= await startCluster('invisible');
    admin ??= await pgClient(cluster.url);
    await q('SET synchronous_commit = local');
    // a window of no bytes keeps no change: the fallback has to do it all
    const b = await startBridge({
      name: 'wal-invisible-cap',
      db: cluster.url,
      args: [...WAL, '--wal-window-bytes', '0'],
    });
    const key = uniqueKey('cap');
    await q('INSERT INTO walt (id, hits) VALUES ($1, \'{"a":1}\')', [key]);
    const tx = await invisibleCommit(b, [["UPDATE walt SET hits = increment(hits, 'late', 1) WHERE id = $1", [key]]]);
    const first = await join(await connect(b), `crdt:walt:${key}`, { node: 'n1', caps: CAPS.full });
    await tx.release();
    const want = await rowState('walt', key, ['hits'], q);
    assert.deepEqual(want, { hits: { a: 1, late: 1 } });
    await waitFor(() => JSON.stringify(rowView(first.reply, first.channel, GC)) === JSON.stringify(want), {
      what: 'the joiner to get the update',
    });
    const m = (await b.metrics()).samples;
    assert.ok(m.laniakea_wal_window_overflows_total > 0, 'the change did not fit the window');
    await b.stop();
  });

  test('a_deletion_decoded_before_it_is_visible_reaches_a_join_that_read_the_row', async () => {
    const b = await startBridge({ name: 'wal-invisible-del', args: WAL, db: cluster.url });
    const key = uniqueKey('invdel');
    await q('INSERT INTO walt (id, hits) VALUES ($1, \'{"a":1}\')', [key]);
    const tx = await invisibleCommit(b, [['DELETE FROM walt WHERE id = $1', [key]]]);
    const first = await join(await connect(b), `crdt:walt:${key}`, { node: 'n1', caps: CAPS.full });
    await tx.release();
    assert.equal((await q('SELECT count(*)::int AS n FROM walt WHERE id = $1', [key])).rows[0].n, 0);
    const deleted = (j) =>
      (j.reply.deleted && j.reply.cl === 2 && !j.channel.events.length) ||
      (j.channel.events.at(-1)?.event === 'delete' && j.channel.events.at(-1).payload.cl === 2);
    await waitFor(() => deleted(first), { what: 'the first joiner to learn of the deletion' });
    const second = await join(await connect(b), `crdt:walt:${key}`, { node: 'n2', caps: CAPS.full });
    assert.deepEqual({ deleted: second.reply.deleted, cl: second.reply.cl }, { deleted: true, cl: 2 });
    await b.stop();
  });

  test('a_table_join_whose_read_misses_an_insert_the_bridge_skipped_still_gets_it', async () => {
    const b = await startBridge({ name: 'wal-invisible-tab', args: WAL, db: cluster.url });
    const key = uniqueKey('invtab');
    const tx = await invisibleCommit(b, [['INSERT INTO walbulk (id, likes) VALUES ($1, \'{"x":3}\')', [key]]]);
    const first = await join(await connect(b), 'crdt:walbulk', { node: 'n1', caps: CAPS.full });
    await tx.release();
    const viewOf = (j) => {
      let v = j.reply.rows.find((r) => r.key === key)?.state.likes;
      for (const e of j.channel.events) {
        if (e.payload.key === key)
          v = gcMerge(v, e.event === 'delta' ? e.payload.deltas.likes : e.payload.state?.likes);
      }
      return v;
    };
    await waitFor(() => JSON.stringify(viewOf(first)) === JSON.stringify({ x: 3 }), {
      what: 'the table joiner to get the insert',
    });
    const second = await join(await connect(b), 'crdt:walbulk', { node: 'n2', caps: CAPS.full });
    assert.deepEqual(second.reply.rows.find((r) => r.key === key)?.state, { likes: { x: 3 } });
    await b.stop();
  });
});
