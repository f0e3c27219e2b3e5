// Delivery profiles: which profile a join's caps get, and the frame rates each
// profile is held to under a burst of updates.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CAPS,
  connect,
  gcMerge,
  gcValue,
  join,
  pgClient,
  rowState,
  sleep,
  sql,
  startBridge,
  teardown,
  uniqueKey,
  waitFor,
} from './lib/harness.mjs';

after(teardown);

// The most frames received in any window of `ms` (arrival times in ms).
function maxInWindow(times, ms) {
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

const gaps = (times) => times.slice(1).map((t, i) => t - times[i]);

describe('profile assignment', () => {
  let bridge;
  before(async () => {
    bridge = await startBridge({ name: 'profiles' });
  });

  test('profile_follows_the_join_caps', async () => {
    const socket = await connect(bridge);
    const cases = [
      [CAPS.full, 'full'],
      [{ ...CAPS.full, connectionType: 'ethernet' }, 'full'],
      [CAPS.constrained, 'constrained'],
      [{ ...CAPS.full, connectionType: 'cellular' }, 'constrained'],
      [{ ...CAPS.full, hasSharedArrayBuffer: false }, 'constrained'],
      [{ ...CAPS.full, memoryMb: 2048 }, 'constrained'],
      [CAPS.minimal, 'minimal'],
      [{ hasWorkers: true, memoryMb: 512 }, 'minimal'],
      [{ ...CAPS.full, hasWorkers: false }, 'minimal'],
      [{ ...CAPS.full, hasWorkers: 'yes' }, 'minimal'],
      [{ ...CAPS.full, memoryMb: '8192' }, 'minimal'],
      [{}, 'minimal'],
      ['fast', 'minimal'],
      [null, 'minimal'],
      [undefined, 'minimal'],
    ];
    for (const [caps, profile] of cases) {
      const params = caps === undefined ? { node: 'p' } : { node: 'p', caps };
      const { channel, reply } = await join(socket, `crdt:counters:${uniqueKey('prof')}`, params);
      assert.equal(reply.profile, profile, JSON.stringify(caps));
      channel.leave();
    }
  });
});

describe('profile rates under a burst', () => {
  test('full_gets_every_delta_constrained_at_most_10_frames_per_second_minimal_state_at_most_1_per_second', async (t) => {
    const bridge = await startBridge({ name: 'rates' });
    const key = uniqueKey('burst');
    await sql('INSERT INTO feed (id) VALUES ($1)', [key]);
    const topic = `crdt:feed:${key}`;
    const sub = {};
    for (const [name, t, caps] of [
      ['full', topic, CAPS.full],
      ['constrained', topic, CAPS.constrained],
      ['minimal', topic, CAPS.minimal],
      ['tableConstrained', 'crdt:feed', CAPS.constrained],
      ['tableMinimal', 'crdt:feed', CAPS.minimal],
    ]) {
      const socket = await connect(bridge);
      sub[name] = await join(socket, t, { node: `c-${name}`, caps });
      assert.equal(
        sub[name].reply.profile,
        caps === CAPS.full ? 'full' : caps === CAPS.constrained ? 'constrained' : 'minimal',
      );
    }

    // 200 updates a second for 3 seconds, one transaction each, paced
    const writer = await pgClient();
    const rate = 200;
    const seconds = 3;
    const start = performance.now();
    let n = 0;
    while (n < rate * seconds) {
      const due = start + (n * 1000) / rate;
      const now = performance.now();
      if (due > now) await sleep(due - now);
      await writer.query("UPDATE feed SET likes = increment(likes, 'burst', 1) WHERE id = $1", [key]);
      n++;
    }
    const burstEnd = performance.now();
    const tookS = (burstEnd - start) / 1000;
    await writer.end();
    assert.ok(tookS < seconds * 1.5, `the burst ran at ${Math.round(n / tookS)}/s, too slow to test the profiles`);
    // the trailing frames of the throttled profiles
    await sleep(1300);

    const want = (await rowState('feed', key, ['likes'])).likes;
    assert.deepEqual(want, { burst: n });
    const events = (name, ev) => sub[name].channel.events.filter((e) => e.event === ev && e.at >= start - 50);
    t.diagnostic(
      `${n} updates in ${tookS.toFixed(2)} s; frames: ` +
        Object.entries(sub)
          .map(([name, s]) => `${name} ${s.channel.events.length}`)
          .join(', '),
    );

    // full: every delta, one frame each, in commit order
    const full = sub.full.channel.events;
    assert.equal(full.length, n, 'one delta per update');
    full.forEach((e, i) => {
      assert.equal(e.event, 'delta');
      assert.deepEqual(e.payload, { key, deltas: { likes: { burst: i + 1 } } });
    });

    // constrained: merged deltas, at most one frame per 100 ms
    const con = events('constrained', 'delta');
    const conTimes = con.map((e) => e.at);
    assert.equal(sub.constrained.channel.events.length, con.length, 'only delta events');
    assert.ok(maxInWindow(conTimes, 1000) <= 11, `constrained: ${maxInWindow(conTimes, 1000)} frames in one second`);
    assert.ok(con.length <= Math.ceil((burstEnd - start) / 100) + 2, `constrained: ${con.length} frames in ${tookS} s`);
    assert.ok(con.length >= (tookS * 10) / 2, `constrained kept up: ${con.length} frames`);
    let view = sub.constrained.reply.state.likes;
    for (const e of con) view = gcMerge(view, e.payload.deltas.likes);
    assert.deepEqual(view, want, 'constrained converges');

    // minimal: full state and HTML, at most one frame per second
    const min = events('minimal', 'state');
    assert.equal(sub.minimal.channel.events.length, min.length, 'only state events');
    const minGaps = gaps(min.map((e) => e.at));
    assert.ok(min.length >= 2 && min.length <= Math.ceil(tookS) + 2, `minimal: ${min.length} frames in ${tookS} s`);
    assert.ok(
      minGaps.every((g) => g >= 800),
      `minimal gaps ${minGaps.map(Math.round)} ms`,
    );
    const last = min.at(-1).payload;
    assert.deepEqual(last.state, { likes: want });
    assert.equal(last.html, `<span class="lk-likes">${gcValue(want)}</span>`);

    // table topics: throttled profiles get "batch" frames of rows
    for (const [name, ev, period] of [
      ['tableConstrained', 'deltas', 100],
      ['tableMinimal', 'state', 1000],
    ]) {
      const batches = events(name, 'batch');
      assert.equal(sub[name].channel.events.length, batches.length, `${name}: only batch events`);
      const times = batches.map((e) => e.at);
      assert.ok(batches.length >= 2, `${name}: ${batches.length} batches`);
      assert.ok(
        maxInWindow(times, 1000) <= 1000 / period + 1,
        `${name}: ${maxInWindow(times, 1000)} batches in one second`,
      );
      let v = (sub[name].reply.rows.find((r) => r.key === key) || { state: { likes: {} } }).state.likes;
      for (const b of batches) {
        for (const row of b.payload.rows) if (row.key === key) v = gcMerge(v, row[ev].likes);
      }
      assert.deepEqual(v, want, `${name} converges`);
    }
    const tm = events('tableMinimal', 'batch')
      .at(-1)
      .payload.rows.find((r) => r.key === key);
    assert.equal(tm.html, `<span class="lk-likes">${gcValue(want)}</span>`);
    await bridge.stop();
  });

  test('throttled_subscribers_of_a_row_share_one_encoding_per_flush', async () => {
    const bridge = await startBridge({ name: 'shared' });
    const key = uniqueKey('share');
    await sql('INSERT INTO feed (id) VALUES ($1)', [key]);
    const topic = `crdt:feed:${key}`;
    const constrained = [];
    const minimal = [];
    for (let i = 0; i < 12; i++) {
      const socket = await connect(bridge);
      (i < 8 ? constrained : minimal).push(
        await join(socket, topic, { node: `s${i}`, caps: i < 8 ? CAPS.constrained : CAPS.minimal }),
      );
    }
    const before = (await bridge.metrics()).samples;
    const updates = 4;
    for (let u = 0; u < updates; u++) {
      await sql("UPDATE feed SET likes = increment(likes, 'share', 1) WHERE id = $1", [key]);
      await sleep(1100); // longer than the minimal period: each update is a flush of its own
    }
    const want = { share: updates };
    const seen = (s) =>
      s.channel.events.reduce(
        (v, e) => gcMerge(v, e.event === 'delta' ? e.payload.deltas.likes : e.payload.state.likes),
        {},
      );
    await waitFor(() => [...constrained, ...minimal].every((s) => gcValue(seen(s)) === updates), {
      what: 'every subscriber to converge',
    });
    for (const s of [...constrained, ...minimal]) assert.deepEqual(seen(s), want);
    const after = (await bridge.metrics()).samples;
    const encoded = after.laniakea_fragments_encoded_total - before.laniakea_fragments_encoded_total;
    const shared = after.laniakea_fragments_shared_total - before.laniakea_fragments_shared_total;
    // per update: one delta encoding for the 8 constrained, one state+HTML for the 4 minimal
    assert.ok(encoded >= 2 && encoded <= 2 * updates + 2, `${encoded} encodings for ${updates} updates`);
    assert.ok(shared >= (7 + 3) * updates - 6, `${shared} shared encodings`);
    await bridge.stop();
  });

  test('minimal_html_is_escaped', async () => {
    const bridge = await startBridge({ name: 'html' });
    const key = uniqueKey('html');
    await sql('INSERT INTO counters (id) VALUES ($1)', [key]);
    const socket = await connect(bridge);
    const { channel } = await join(socket, `crdt:counters:${key}`, { node: 'h', caps: CAPS.minimal });
    await sql(
      "UPDATE counters SET tags = add(add(tags, '<b>&\"x''</b>', 'n'), 'plain', 'n'), hits = increment(hits, 'n', 3) WHERE id = $1",
      [key],
    );
    const ev = await waitFor(() => channel.events.find((e) => e.event === 'state'), {
      timeout: 3000,
      what: 'a state event',
    });
    assert.equal(
      ev.payload.html,
      '<span class="lk-hits">3</span><span class="lk-stock">0</span>' +
        '<ul class="lk-tags"><li>&lt;b&gt;&amp;&quot;x&#39;&lt;/b&gt;</li><li>plain</li></ul>',
    );
    await bridge.stop();
  });
});
