// The catalog of a running bridge follows laniakea.track, laniakea.untrack,
// DROP TABLE and ALTER TABLE of tracked tables (channel laniakea_catalog).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CAPS, connect, disconnect, join, push, sql, startBridge, teardown, waitFor } from './lib/harness.mjs';

// Subscribers of a table whose columns changed get phx_error, and the phoenix
// client rejoins with the new columns; those of a table no longer tracked (or
// renamed) get phx_close.
after(teardown);

describe('catalog changes', () => {
  let bridge;
  before(async () => {
    bridge = await startBridge({ name: 'catalog' });
  });

  // A phoenix channel that records every join reply (rejoins included) and its errors and closes.
  async function watched(socket, topic) {
    const { channel, reply } = await join(socket, topic, { node: 'w', caps: CAPS.full });
    channel.replies = [reply];
    channel.joinPush.receive('ok', (r) => {
      if (r !== reply) channel.replies.push(r);
    });
    channel.errors = [];
    channel.closes = [];
    channel.onError((p) => channel.errors.push(p));
    channel.onClose((p) => channel.closes.push(p));
    return channel;
  }

  test('column_renamed_and_retracked_gets_pushes_and_deltas_under_its_new_name', async () => {
    const name = `ren_${process.pid}`;
    await sql(`CREATE TABLE ${name} (id text PRIMARY KEY, a gcounter NOT NULL DEFAULT '{}')`);
    await sql(`SELECT laniakea.track('${name}')`);
    await sql(`INSERT INTO ${name} (id, a) VALUES ('k', '{"s":1}')`);
    const socket = await connect(bridge);
    const row = await watched(socket, `crdt:${name}:k`);
    const tab = await watched(socket, `crdt:${name}`);
    assert.deepEqual(row.replies[0].columns, { a: 'gcounter' });

    // renamed, not yet tracked again: the table is still tracked, but its
    // recorded column is gone, so it is not served until laniakea.track
    await sql(`ALTER TABLE ${name} RENAME COLUMN a TO b`);
    await waitFor(() => row.errors.length && tab.errors.length, { what: 'both channels to be told' });
    assert.deepEqual(row.errors, [{ reason: 'table changed' }]);
    assert.deepEqual(tab.errors, [{ reason: 'table changed' }]);
    assert.equal(row.closes.length, 0, 'not closed: the phoenix client rejoins');
    const other = await connect(bridge);
    await assert.rejects(
      join(other, `crdt:${name}:k`, { node: 'w', caps: CAPS.full }),
      (e) => assert.deepEqual(e.response, { reason: 'table changed since it was tracked' }) ?? true,
    );
    await disconnect(other);

    await sql(`SELECT laniakea.track('${name}')`);
    await waitFor(() => row.replies.length === 2 && tab.replies.length === 2, { what: 'both channels to rejoin' });
    assert.deepEqual(row.replies[1].columns, { b: 'gcounter' });
    assert.deepEqual(row.replies[1].state, { b: { s: 1 } });
    assert.deepEqual(tab.replies[1].rows, [{ key: 'k', state: { b: { s: 1 } } }]);

    // a push to the new name, and its delta to both topics
    assert.deepEqual(await push(row, 'increment', { column: 'b', by: 2 }), { status: 'ok', response: {} });
    assert.deepEqual(await push(row, 'increment', { column: 'a' }), {
      status: 'error',
      response: { reason: 'unknown column' },
    });
    await waitFor(
      () =>
        row.events.some((e) => e.event === 'delta' && e.payload.deltas.b && e.payload.deltas.b.w === 2) &&
        tab.events.some((e) => e.event === 'delta' && e.payload.deltas.b && e.payload.deltas.b.w === 2),
      { what: 'the delta of b' },
    );
    // and a write from SQL
    await sql(`UPDATE ${name} SET b = increment(b, 'sql', 5) WHERE id = 'k'`);
    await waitFor(
      () => row.events.some((e) => e.event === 'delta' && e.payload.deltas.b && e.payload.deltas.b.sql === 5),
      { what: 'the SQL delta of b' },
    );
    assert.equal(socket.opens, 1, 'the socket stayed up');
    await disconnect(socket);
    await sql(`DROP TABLE ${name}`);
  });

  test('column_added_and_retracked_rejoins_with_it', async () => {
    const name = `add_${process.pid}`;
    await sql(`CREATE TABLE ${name} (id text PRIMARY KEY, a gcounter NOT NULL DEFAULT '{}')`);
    await sql(`SELECT laniakea.track('${name}')`);
    const socket = await connect(bridge);
    const row = await watched(socket, `crdt:${name}:k`);
    await sql(`ALTER TABLE ${name} ADD COLUMN tags orset NOT NULL DEFAULT '{}'`);
    // adding a column alone changes nothing the bridge serves
    await sql(`SELECT laniakea.track('${name}')`);
    await waitFor(() => row.replies.length === 2, { what: 'the rejoin' });
    assert.deepEqual(row.replies[1].columns, { a: 'gcounter', tags: 'orset' });
    assert.deepEqual(await push(row, 'add', { column: 'tags', element: 'x' }), { status: 'ok', response: {} });
    assert.deepEqual((await sql(`SELECT elements(tags) AS e FROM ${name} WHERE id = 'k'`)).rows[0].e, ['x']);
    await disconnect(socket);
    await sql(`DROP TABLE ${name}`);
  });

  test('untracked_or_dropped_table_closes_its_subscribers', async () => {
    const socket = await connect(bridge);
    for (const [what, change] of [
      ['untrack', (n) => `SELECT laniakea.untrack('${n}')`],
      ['drop', (n) => `DROP TABLE ${n}`],
      ['rename', (n) => `ALTER TABLE ${n} RENAME TO ${n}_renamed`],
    ]) {
      const name = `gone_${what}_${process.pid}`;
      await sql(`CREATE TABLE ${name} (id text PRIMARY KEY, a gcounter NOT NULL DEFAULT '{}')`);
      await sql(`SELECT laniakea.track('${name}')`);
      const row = await watched(socket, `crdt:${name}:k`);
      const tab = await watched(socket, `crdt:${name}`);
      await sql(change(name));
      await waitFor(() => row.state === 'closed' && tab.state === 'closed', {
        what: `both channels to close (${what})`,
      });
      assert.deepEqual(row.errors, [], what);
      assert.deepEqual(row.replies.length, 1, what);
      await assert.rejects(
        join(socket, `crdt:${name}:k`, { node: 'w', caps: CAPS.full }),
        (e) => assert.deepEqual(e.response, { reason: 'unmatched topic' }) ?? true,
        what,
      );
      if (what === 'rename') {
        const { reply } = await join(socket, `crdt:${name}_renamed:k`, { node: 'w', caps: CAPS.full });
        assert.deepEqual(reply.columns, { a: 'gcounter' });
        await sql(`DROP TABLE ${name}_renamed`);
      } else if (what === 'untrack') await sql(`DROP TABLE ${name}`);
    }
    assert.equal(socket.opens, 1);
    await disconnect(socket);
  });
});
