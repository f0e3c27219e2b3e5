// /view/<table>/<key>: server-rendered rows for browsers without JavaScript.
// The page (values, escaping, refresh), its forms (POST, 303, the database
// changed as a push would change it), the CSRF defence, auth as for
// sockets, and every bad request answered with its status and a message.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import jwt from 'jsonwebtoken';
import { pgClient, rowState, sql, startBridge, teardown, uniqueKey } from './lib/harness.mjs';

const SECRET = 'view-secret';
const token = (claims = {}) =>
  jwt.sign(
    { node: 'view-node', read: ['crdt:*'], write: ['crdt:*'], exp: Math.floor(Date.now() / 1000) + 3600, ...claims },
    SECRET,
    { algorithm: 'HS256' },
  );

const viewPath = (table, key) => `/view/${encodeURIComponent(table)}/${encodeURIComponent(key)}`;

// A browser's cookie jar for one bridge, enough for lk_node and lk_token.
class Browser {
  constructor(bridge) {
    this.bridge = bridge;
    this.cookies = new Map();
  }

  async request(path, { method = 'GET', form, headers = {}, body } = {}) {
    const h = { ...headers };
    if (this.cookies.size) h.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) {
      h['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const r = await fetch(`${this.bridge.url}${path}`, { method, headers: h, body, redirect: 'manual' });
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return { status: r.status, headers: r.headers, text: await r.text() };
  }

  get(path, opts) {
    return this.request(path, opts);
  }

  post(path, form, opts = {}) {
    return this.request(path, { method: 'POST', form, ...opts });
  }
}

// One request written as given on its own connection; the response as text, once the bridge has sent it.
function rawHttp(bridge, request) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(bridge.port, '127.0.0.1', () => sock.write(request));
    let got = '';
    sock.setEncoding('latin1');
    sock.on('data', (d) => {
      got += d;
      const head = got.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(got);
      if (head >= 0 && length && got.length >= head + 4 + Number(length[1])) sock.end();
    });
    sock.on('close', () => resolve(got));
    sock.on('error', reject);
  });
}

const csrfOf = (html) => /name="csrf" value="([0-9a-f]{64})"/.exec(html)[1];
const outputOf = (html, col) => new RegExp(`<output class="lk-${col}">([^<]*)</output>`).exec(html)?.[1];

after(teardown);

describe('views', () => {
  let bridge;
  before(async () => {
    bridge = await startBridge({ name: 'views', args: ['--max-body', '2048'] });
  });
  after(() => bridge.stop());

  test('page_renders_counters_sets_and_registers_as_escaped_html_with_refresh', async () => {
    const key = uniqueKey('v');
    await sql(
      `INSERT INTO counters (id, hits, stock, tags) VALUES ($1, '{"a":2,"b":3}',
      '{"n":{"a":1},"p":{"a":5}}', add(add('{}'::orset, '<script>alert(1)</script>', 'a'), 'x"y&z', 'a'))`,
      [key],
    );
    const r = await new Browser(bridge).get(viewPath('counters', key));
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html; charset=utf-8/);
    assert.match(r.text, /^<!doctype html>/);
    assert.match(r.text, /<\/html>\n$/);
    assert.match(r.text, /<meta http-equiv="refresh" content="1">/);
    assert.equal(outputOf(r.text, 'hits'), '5');
    assert.equal(outputOf(r.text, 'stock'), '4');
    assert.ok(!r.text.includes('<script>'), 'no markup from the data');
    assert.ok(r.text.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.ok(r.text.includes('x&quot;y&amp;z'));
    assert.match(r.text, /<button name="op" value="increment">/);
    assert.match(r.text, /<button name="op" value="decrement">/);
    assert.match(r.text, /<button name="op" value="add">/);
    assert.match(r.text, /<button name="op" value="remove">/);

    const note = uniqueKey('n');
    await sql("INSERT INTO notes (id, title) VALUES ($1, set('{}', '<b>bold</b>', 'a'))", [note]);
    const n = await new Browser(bridge).get(viewPath('notes', note));
    assert.equal(n.status, 200);
    assert.equal(outputOf(n.text, 'title'), '&lt;b&gt;bold&lt;/b&gt;');
  });

  test('page_of_a_row_not_written_yet_shows_empty_values', async () => {
    const r = await new Browser(bridge).get(viewPath('counters', uniqueKey('none')));
    assert.equal(r.status, 200);
    assert.equal(outputOf(r.text, 'hits'), '0');
    assert.match(r.text, /does not exist yet/);
  });

  test('forms_write_as_the_browsers_node_and_redirect_303_back_to_the_page', async () => {
    const key = uniqueKey('vf');
    const b = new Browser(bridge);
    const path = viewPath('counters', key);
    const page = await b.get(path);
    const node = b.cookies.get('lk_node');
    assert.match(node, /^view-[0-9a-f]{24}$/);
    assert.match(page.headers.get('set-cookie'), /HttpOnly; SameSite=Strict/);
    const csrf = csrfOf(page.text);
    for (const form of [
      { column: 'hits', op: 'increment', by: '3' },
      { column: 'stock', op: 'increment', by: '5' },
      { column: 'stock', op: 'decrement' },
      { column: 'tags', op: 'add', element: 'milk & "honey"' },
      { column: 'tags', op: 'add', element: 'bread' },
      { column: 'tags', op: 'remove', element: 'bread' },
    ]) {
      const r = await b.post(path, { csrf, ...form });
      assert.equal(r.status, 303, JSON.stringify(form) + r.text);
      assert.equal(r.headers.get('location'), path);
    }
    const state = await rowState('counters', key, ['hits', 'stock']);
    assert.deepEqual(state, { hits: { [node]: 3 }, stock: { n: { [node]: 1 }, p: { [node]: 5 } } });
    assert.deepEqual((await sql('SELECT elements(tags) AS e FROM counters WHERE id = $1', [key])).rows[0].e, [
      'milk & "honey"',
    ]);
    const again = await b.get(path);
    assert.equal(outputOf(again.text, 'hits'), '3');
    assert.equal(outputOf(again.text, 'stock'), '4');
    assert.ok(again.text.includes('milk &amp; &quot;honey&quot;'));
  });

  test('keys_with_spaces_and_reserved_characters_round_trip', async () => {
    const key = `a b/c&d?${uniqueKey('k')}`;
    const b = new Browser(bridge);
    const path = viewPath('counters', key);
    const page = await b.get(path);
    assert.equal(page.status, 200);
    const r = await b.post(path, { csrf: csrfOf(page.text), column: 'hits', op: 'increment' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), path);
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { [b.cookies.get('lk_node')]: 1 });
  });

  test('form_without_a_valid_csrf_token_or_from_another_origin_is_403_and_writes_nothing', async () => {
    const key = uniqueKey('vc');
    const b = new Browser(bridge);
    const path = viewPath('counters', key);
    const csrf = csrfOf((await b.get(path)).text);
    // another row's token, another browser's token, none, garbage
    const other = new Browser(bridge);
    const otherCsrf = csrfOf((await other.get(path)).text);
    const elsewhere = csrfOf((await b.get(viewPath('counters', uniqueKey('vc2')))).text);
    for (const bad of [otherCsrf, elsewhere, '', 'x'.repeat(64)]) {
      const r = await b.post(path, { csrf: bad, column: 'hits', op: 'increment' });
      assert.equal(r.status, 403, bad);
      assert.match(r.text, /invalid form token/);
    }
    const cross = await b.post(
      path,
      { csrf, column: 'hits', op: 'increment' },
      { headers: { origin: 'http://evil.example' } },
    );
    assert.equal(cross.status, 403);
    assert.match(cross.text, /another origin/);
    // a cross-site form carries no SameSite=Strict cookie: no identity at all
    const noCookie = await new Browser(bridge).post(path, { csrf, column: 'hits', op: 'increment' });
    assert.equal(noCookie.status, 403);
    assert.equal((await sql('SELECT count(*)::int AS n FROM counters WHERE id = $1', [key])).rows[0].n, 0);
    // the right token still works
    assert.equal(
      (await b.post(path, { csrf, column: 'hits', op: 'increment' }, { headers: { origin: bridge.url } })).status,
      303,
    );
  });

  test('form_for_an_unknown_or_non_crdt_column_or_a_wrong_operation_is_400_with_a_message', async () => {
    const key = uniqueKey('vb');
    const b = new Browser(bridge);
    const path = viewPath('counters', key);
    const csrf = csrfOf((await b.get(path)).text);
    for (const [form, message] of [
      [{ column: 'nope', op: 'increment' }, /column &quot;nope&quot; is not a CRDT column of table counters/],
      [{ column: 'id', op: 'increment' }, /column &quot;id&quot; is not a CRDT column of table counters/],
      [{ op: 'increment' }, /is not a CRDT column/],
      [{ column: 'hits', op: 'decrement' }, /decrement needs a pncounter column/],
      [{ column: 'tags', op: 'increment' }, /increment needs a counter column/],
      [{ column: 'hits', op: 'add', element: 'x' }, /add and remove need an orset column/],
      [{ column: 'hits', op: 'increment', by: '-2' }, /by must be a positive integer/],
      [{ column: 'hits', op: 'increment', by: 'ten' }, /by must be a positive integer/],
      [{ column: 'tags', op: 'add' }, /element must be a string/],
      [{ column: 'hits', op: 'merge' }, /op must be increment, decrement, add or remove/],
    ]) {
      const r = await b.post(path, { csrf, ...form });
      assert.equal(r.status, 400, JSON.stringify(form));
      assert.match(r.text, message, JSON.stringify(form));
    }
    const bad = await b.request(path, {
      method: 'POST',
      body: 'csrf=%zz&column=hits',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /malformed form encoding/);
    assert.equal((await sql('SELECT count(*)::int AS n FROM counters WHERE id = $1', [key])).rows[0].n, 0);
  });

  test('untracked_table_unknown_table_malformed_path_or_unparsable_key_is_404', async () => {
    const b = new Browser(bridge);
    for (const path of [
      '/view/plain/x',
      '/view/nosuch/x',
      '/view/counters',
      '/view/counters/',
      '/view/',
      '/view//x',
      '/view/app.items/abc',
    ]) {
      const r = await b.get(path);
      assert.equal(r.status, 404, path);
      assert.match(r.headers.get('content-type'), /text\/html/);
    }
    assert.equal((await b.get('/view/app.items/7')).status, 200);
    // lws ends a path at a raw ; or &: the key would be cut short and another row served
    for (const path of ['/view/counters/a;b', '/view/counters/a&b']) {
      const r = await b.get(path);
      assert.equal(r.status, 404, path);
      assert.match(r.text, /must be escaped/, path);
    }
    const escaped = await b.get('/view/counters/a%3Bb%26c');
    assert.equal(escaped.status, 200);
    assert.match(escaped.text, /class="lk-key">a;b&amp;c</);
  });

  test('oversized_form_is_413', async () => {
    const key = uniqueKey('vo');
    const b = new Browser(bridge);
    const path = viewPath('counters', key);
    const csrf = csrfOf((await b.get(path)).text);
    const r = await b.post(path, { csrf, column: 'tags', op: 'add', element: 'x'.repeat(3000) });
    assert.equal(r.status, 413);
    assert.equal((await sql('SELECT count(*)::int AS n FROM counters WHERE id = $1', [key])).rows[0].n, 0);
  });

  test('key_longer_than_a_tracked_key_may_be_is_404', async () => {
    // no such row can exist: the client's error, not the bridge's (it was a 500)
    const page = await new Browser(bridge).get(viewPath('counters', 'k'.repeat(2100)));
    assert.equal(page.status, 404);
    assert.match(page.text, /key of tracked table &quot;counters&quot; is too long/);
  });

  test('form_with_a_field_given_twice_is_400_and_writes_nothing', async () => {
    const key = uniqueKey('vd');
    const b = new Browser(bridge);
    const path = viewPath('counters', key);
    const csrf = csrfOf((await b.get(path)).text);
    for (const pairs of [
      [
        ['csrf', csrf],
        ['column', 'hits'],
        ['op', 'increment'],
        ['by', '1'],
        ['by', '1000'],
      ],
      [
        ['csrf', csrf],
        ['column', 'tags'],
        ['column', 'hits'],
        ['op', 'increment'],
      ],
      [
        ['csrf', csrf],
        ['column', 'tags'],
        ['op', 'add'],
        ['element', 'a'],
        ['element', 'b'],
      ],
      // a field's name is form-encoded too: c%6Flumn is column
      [
        ['csrf', csrf],
        ['column', 'hits'],
        ['op', 'increment'],
        ['c%6Flumn', 'stock'],
      ],
    ]) {
      const body = pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
      const r = await b.request(path, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(r.status, 400, body);
      assert.match(r.text, /field (by|column|element) given more than once/, body);
    }
    assert.equal((await sql('SELECT count(*)::int AS n FROM counters WHERE id = $1', [key])).rows[0].n, 0);
  });

  test('origin_too_long_to_compare_is_refused_not_taken_for_none', async () => {
    const key = uniqueKey('vo');
    const b = new Browser(bridge);
    const path = viewPath('counters', key);
    const csrf = csrfOf((await b.get(path)).text);
    for (const origin of [`http://${'a'.repeat(600)}.example`, 'null']) {
      const r = await b.post(path, { csrf, column: 'hits', op: 'increment' }, { headers: { origin } });
      assert.equal(r.status, 403, origin.slice(0, 20));
      assert.match(r.text, /another origin/);
    }
    assert.equal((await sql('SELECT count(*)::int AS n FROM counters WHERE id = $1', [key])).rows[0].n, 0);
  });

  test('chunked_form_is_411_and_writes_nothing', async () => {
    // lws frames request bodies by Content-Length only: a chunked form was read as empty
    const key = uniqueKey('vch');
    const b = new Browser(bridge);
    const path = viewPath('counters', key);
    const csrf = csrfOf((await b.get(path)).text);
    const form = new URLSearchParams({ csrf, column: 'hits', op: 'increment' }).toString();
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(form));
        c.close();
      },
    });
    const r = await fetch(`${bridge.url}${path}`, {
      method: 'POST',
      body,
      duplex: 'half',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `lk_node=${b.cookies.get('lk_node')}` },
    });
    assert.equal(r.status, 411);
    assert.match(await r.text(), /needs a Content-Length/);
    assert.equal((await sql('SELECT count(*)::int AS n FROM counters WHERE id = $1', [key])).rows[0].n, 0);
    assert.equal((await b.post(path, { csrf, column: 'hits', op: 'increment' })).status, 303);
  });

  test('views_abandoned_while_their_query_waits_leave_the_bridge_serving', async () => {
    // a form's write blocked on a row lock holds the bridge's one PostgreSQL
    // connection: the page reads queued behind it are dropped when their clients go
    const key = uniqueKey('va');
    await sql('INSERT INTO counters (id) VALUES ($1)', [key]);
    const b = new Browser(bridge);
    const path = viewPath('counters', key);
    const csrf = csrfOf((await b.get(path)).text);
    const locker = await pgClient();
    await locker.query('BEGIN');
    await locker.query('SELECT 1 FROM counters WHERE id = $1 FOR UPDATE', [key]);
    const blocked = b.post(path, { csrf, column: 'hits', op: 'increment' });
    await new Promise((r) => setTimeout(r, 200));
    const aborted = Array.from({ length: 20 }, () => {
      const ac = new AbortController();
      const r = fetch(`${bridge.url}${path}`, { signal: ac.signal }).catch(() => 'aborted');
      setTimeout(() => ac.abort(), 100);
      return r;
    });
    assert.ok((await Promise.all(aborted)).every((r) => r === 'aborted'));
    await locker.query('COMMIT');
    await locker.end();
    assert.equal((await blocked).status, 303);
    const after = await b.get(path);
    assert.equal(after.status, 200);
    assert.equal(outputOf(after.text, 'hits'), '1');
  });

  test('views_are_counted_in_metrics', async () => {
    const before = (await bridge.metrics()).samples;
    await new Browser(bridge).get(viewPath('counters', uniqueKey('vm')));
    await new Browser(bridge).get('/view/plain/x');
    const now = (await bridge.metrics()).samples;
    assert.equal(now.laniakea_views_total, before.laniakea_views_total + 1);
    assert.equal(now.laniakea_view_errors_total, before.laniakea_view_errors_total + 1);
  });
});

describe('views with jwt', () => {
  let bridge;
  before(async () => {
    bridge = await startBridge({ name: 'views-jwt', args: ['--jwt-secret', SECRET] });
  });
  after(() => bridge.stop());

  test('view_without_a_valid_token_is_401_and_one_the_token_does_not_allow_is_403', async () => {
    const path = viewPath('counters', uniqueKey('vj'));
    const b = new Browser(bridge);
    assert.equal((await b.get(path)).status, 401);
    assert.equal((await b.get(`${path}?token=not.a.jwt`)).status, 401);
    assert.equal((await b.get(`${path}?token=${token({ exp: Math.floor(Date.now() / 1000) - 5 })}`)).status, 401);
    assert.equal((await b.get(`${path}?token=${token({ read: ['crdt:boards:*'] })}`)).status, 403);
  });

  test('token_in_the_query_writes_as_its_node_and_links_carry_it', async () => {
    const key = uniqueKey('vq');
    const t = token({ node: 'q-node' });
    const b = new Browser(bridge);
    const path = `${viewPath('counters', key)}?token=${t}`;
    const page = await b.get(path);
    assert.equal(page.status, 200);
    assert.ok(!b.cookies.has('lk_node'), 'no node cookie: the token names the node');
    assert.ok(page.text.includes(`action="${path}"`));
    const r = await b.post(path, { csrf: csrfOf(page.text), column: 'hits', op: 'increment' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), path);
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { 'q-node': 1 });
  });

  test('redirect_of_a_long_key_with_a_long_token_carries_the_whole_location', async () => {
    // a 2048-byte key of '(' and a token filling the rest of lws's 4096 bytes
    // of request header: %-escaped in the Location they outgrew the 8 kB the
    // response headers had, and the connection was dropped after the write
    const suffix = uniqueKey('vL');
    const key = `${'('.repeat(2048 - suffix.length)}${suffix}`;
    let t;
    let path;
    for (let pad = 1000; !path || path.length < 4010; pad += 4) {
      t = token({ node: 'long-node', pad: 'p'.repeat(pad) });
      path = `/view/counters/${key}?token=${t}`;
    }
    // no other request headers: fetch's own would not leave room for this URI
    const page = await rawHttp(bridge, `GET ${path} HTTP/1.1\r\n\r\n`);
    assert.match(page, /^HTTP\/1.1 200/);
    const form = `csrf=${csrfOf(page)}&column=hits&op=increment`;
    const r = await rawHttp(bridge, `POST ${path} HTTP/1.1\r\ncontent-length: ${form.length}\r\n\r\n${form}`);
    assert.match(r, /^HTTP\/1.1 303/);
    const location = /\r\nlocation: ([^\r]*)\r\n/i.exec(r)?.[1];
    assert.equal(location, `/view/counters/${key.replaceAll('(', '%28')}?token=${t}`);
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { 'long-node': 1 });
  });

  test('token_cookie_works_and_write_needs_the_write_claim', async () => {
    const key = uniqueKey('vk');
    const b = new Browser(bridge);
    b.cookies.set('lk_token', token({ node: 'c-node', write: [] }));
    const path = viewPath('counters', key);
    const page = await b.get(path);
    assert.equal(page.status, 200);
    const r = await b.post(path, { csrf: csrfOf(page.text), column: 'hits', op: 'increment' });
    assert.equal(r.status, 403);
    b.cookies.set('lk_token', token({ node: 'c-node' }));
    // the form token is bound to the token it was made for
    assert.equal((await b.post(path, { csrf: csrfOf(page.text), column: 'hits', op: 'increment' })).status, 403);
    const fresh = await b.get(path);
    assert.equal((await b.post(path, { csrf: csrfOf(fresh.text), column: 'hits', op: 'increment' })).status, 303);
    assert.deepEqual((await rowState('counters', key, ['hits'])).hits, { 'c-node': 1 });
  });
});
