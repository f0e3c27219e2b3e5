// What the bridge does with the notifications it gets: deltas it cannot
// read are counted and the row read again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CAPS, connect, join, sql, startBridge, teardown, uniqueKey, waitFor } from './lib/harness.mjs';

// A notification as the extension's trigger sends them, made by hand.
const notify = (rows) => sql('SELECT pg_notify($1, $2)', ['laniakea', JSON.stringify({ ts: 1, rows })]);

// Change a row of quiet without the bridge being told (its notify trigger off meanwhile).
async function quietly(text, params) {
	await sql('ALTER TABLE quiet DISABLE TRIGGER laniakea_notify');
	try {
		await sql(text, params);
	} finally {
		await sql('ALTER TABLE quiet ENABLE ALWAYS TRIGGER laniakea_notify');
	}
}

describe('notifications', () => {
	let bridge;
	before(async () => { bridge = await startBridge({ name: 'notify' }); });
	after(teardown);

	test('a_notified_delta_that_does_not_parse_is_counted_logged_once_and_the_row_read_again', async () => {
		const key = uniqueKey('bad');
		await sql(`INSERT INTO quiet (id, hits) VALUES ($1, '{"a":1}')`, [key]);
		const s = await connect(bridge);
		const { channel, reply } = await join(s, `crdt:quiet:${key}`, { node: 'n', caps: CAPS.full });
		assert.deepEqual(reply.state.hits, { a: 1 });
		const before = (await bridge.metrics()).samples.laniakea_cell_errors_total;
		await quietly(`UPDATE quiet SET hits = hits || '{"b":2}' WHERE id = $1`, [key]);

		// one column's delta does not parse, the other's does: that one is delivered
		await notify([{ table: 'quiet', key, deltas: { hits: { a: 'x' }, stock: { p: { q: 4 } } } }]);
		await waitFor(() => channel.events.some((e) => e.event === 'delta' && e.payload.deltas.stock), { what: 'the good delta' });
		const delta = channel.events.find((e) => e.event === 'delta' && e.payload.deltas.stock);
		assert.deepEqual(delta.payload.deltas, { stock: { p: { q: 4 } } });
		// the row is read again: the client gets what the database has, nothing emptied
		const state = await waitFor(() => channel.events.find((e) => e.event === 'state'), { what: 'the re-read row' });
		assert.deepEqual(state.payload.state.hits, { a: 1, b: 2 });
		assert.equal((await bridge.metrics()).samples.laniakea_cell_errors_total, before + 1);

		// a second one is counted, not logged again
		await notify([{ table: 'quiet', key, deltas: { hits: 'not a gcounter' } }]);
		await waitFor(async () => (await bridge.metrics()).samples.laniakea_cell_errors_total === before + 2,
			{ what: 'the second error counted' });
		assert.equal(bridge.log().match(/cannot parse a notified delta of column hits of quiet/g).length, 1);
		const { reply: again } = await join(await connect(bridge), `crdt:quiet:${key}`, { node: 'n2', caps: CAPS.full });
		assert.deepEqual(again.state, { hits: { a: 1, b: 2 }, stock: { p: { q: 4 } } });
	});
});
