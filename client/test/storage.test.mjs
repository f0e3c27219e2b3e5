// The storage contract (docs/client.md, "Storage") on MemoryStorage, which the
// connection tests also use as "one browser profile".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage } from '../lib/laniakea.js';

test('update_is_read_modify_write_and_undefined_keeps_the_record', async () => {
  const s = new MemoryStorage();
  assert.equal(await s.get('k'), undefined);
  assert.deepEqual(await s.update('k', (old) => ({ n: (old?.n ?? 0) + 1 })), { n: 1 });
  await Promise.all(Array.from({ length: 50 }, () => s.update('k', (old) => ({ n: old.n + 1 }))));
  assert.deepEqual(await s.get('k'), { n: 51 }, 'no update lost between read and write');
  assert.deepEqual(await s.update('k', () => undefined), { n: 51 });
});

test('records_are_copies_not_shared_objects', async () => {
  const s = new MemoryStorage();
  const rec = { list: [1] };
  await s.update('k', () => rec);
  rec.list.push(2);
  const got = await s.get('k');
  got.list.push(3);
  assert.deepEqual(await s.get('k'), { list: [1] });
});

test('list_returns_the_keys_under_a_prefix', async () => {
  const s = new MemoryStorage();
  for (const k of ['crdt:t:a', 'crdt:t:b', 'crdt:t', 'crdt:tt:x', 'node']) await s.update(k, () => ({ k }));
  assert.deepEqual((await s.list('crdt:t:')).map(([k]) => k).sort(), ['crdt:t:a', 'crdt:t:b']);
});

test('watchers_hear_of_writes_once_they_are_readable', async () => {
  const s = new MemoryStorage();
  const heard = [];
  const stop = s.watch((k) => heard.push(s.get(k)));
  await s.update('a', () => ({ v: 1 }));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(heard.length, 1);
  assert.deepEqual(await heard[0], { v: 1 }, 'the watcher reads the new record');
  stop();
  await s.update('b', () => ({}));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(heard.length, 1, 'a stopped watcher hears nothing');
});

test('a_throwing_update_changes_nothing', async () => {
  const s = new MemoryStorage();
  await s.update('k', () => ({ v: 1 }));
  await assert.rejects(
    s.update('k', () => {
      throw new RangeError('no');
    }),
    RangeError,
  );
  assert.deepEqual(await s.get('k'), { v: 1 });
});

test('update_of_several_keys_replaces_them_in_one_step', async () => {
  const s = new MemoryStorage();
  await s.update('a', () => ({ n: 0 }));
  const heard = [];
  s.watch((k) => heard.push(k));
  await Promise.all(
    Array.from({ length: 20 }, () => s.update(['a', 'b'], ([a, b]) => [{ n: a.n + 1 }, { n: (b?.n ?? 0) + 1 }])),
  );
  assert.deepEqual([await s.get('a'), await s.get('b')], [{ n: 20 }, { n: 20 }]);
  assert.deepEqual(
    await s.update(['a', 'b'], ([a]) => [undefined, { n: a.n * 2 }]),
    [{ n: 20 }, { n: 40 }],
    'undefined keeps a record',
  );
  assert.deepEqual(await s.update(['a', 'c'], () => undefined), [{ n: 20 }, undefined]);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(heard.filter((k) => k === 'a').length, 20, 'a watcher hears of each record written');
  assert.equal(heard.filter((k) => k === 'b').length, 21);
  await assert.rejects(
    s.update(['a', 'b'], () => {
      throw new TypeError('no');
    }),
    TypeError,
  );
  assert.deepEqual(await s.get('b'), { n: 40 }, 'a throwing update changes nothing');
});
