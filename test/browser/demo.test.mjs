// The demo page as people use it, in Chromium: two browsers (two profiles,
// two node ids) click while the bridge is killed and restarted and while
// PostgreSQL restarts, one reloads its page with the bridge down; two tabs of
// one profile click offline; two browsers add, edit, mark and delete todos
// with the bridge down.  At the end the pages and the database hold exactly
// the expected values: no click lost, none counted twice, the same todos.
// run.sh provides LK_TOP, LK_PGDIR, LK_PGPORT (a private cluster) and LK_OUT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import net from 'node:net';
import WebSocket from 'ws';
import { DB, freePort, launchChromium, sql, until } from './lib.mjs';

const { LK_TOP: top, LK_PGDIR: pgdir, LK_PGPORT: pgport, LK_OUT: out, LK_STATIC: demo } = process.env;
const run = promisify(execFile);
let browser;
let bridge;
let port;
let shot = 0;

async function startBridge() {
  bridge = spawn(`${top}/bridge/laniakea-bridge`, ['--port', String(port), '--static-dir', demo], {
    env: { ...process.env, DATABASE_URL: `host=${DB.host} port=${DB.port} user=postgres dbname=lk_browser` },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  bridge.stderr.on('data', () => {});
  await until(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 'the bridge');
}

function killBridge() {
  bridge.kill('SIGKILL');
  return new Promise((r) => bridge.once('exit', r));
}

const pgctl = (cmd) => run('bash', [`${top}/scripts/cluster.sh`, cmd, pgdir, ...(cmd === 'start' ? [pgport] : [])]);

const dbRow = async () =>
  (
    await sql(
      "SELECT visits::text, value(visits)::int AS v, value(score)::int AS s, elements(tags) AS tags FROM demo_pages WHERE page = 'home'",
    )
  )[0];

before(async () => {
  port = await freePort();
  await startBridge();
  browser = await launchChromium(['--disable-component-update', '--disable-sync']);
});

after(async () => {
  await browser?.close();
  if (bridge && bridge.exitCode === null && bridge.signalCode === null) await killBridge();
});

async function open(context, viewport) {
  const page = await context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.getElementById('profile').textContent !== '…', null, { timeout: 20000 });
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 20000 });
  return { page, errors };
}

const shown = (page) =>
  page.evaluate(() => ({
    visits: Number(document.getElementById('visits').textContent),
    score: Number(document.getElementById('score').textContent),
    tags: [...document.querySelectorAll('#tags li')].map((li) => li.firstChild.textContent),
    pending: window.laniakea.row.pending,
    node: window.laniakea.client.node,
    status: window.laniakea.client.status,
  }));

async function click(page, id, times = 1) {
  for (let i = 0; i < times; i++) await page.click(`#${id}`);
}

async function addTag(page, t) {
  await page.fill('#tag', t);
  await page.click('#add button');
}

async function screenshot(page, name) {
  await page.screenshot({ path: `${out}/${String(++shot).padStart(2, '0')}-${name}.png`, fullPage: true });
}

test('the_bridge_serves_the_package_with_its_types', async () => {
  for (const [path, type] of [
    ['/laniakea.js', /^text\/javascript/],
    ['/core.js', /^text\/javascript/],
    ['/laniakea.wasm', /^application\/wasm$/],
    ['/phoenix.mjs', /^text\/javascript/],
    ['/sw.js', /^text\/javascript/],
    ['/manifest.webmanifest', /^application\/manifest\+json$/],
  ]) {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get('content-type'), type, path);
  }
  const wasm = new Uint8Array(await (await fetch(`http://127.0.0.1:${port}/laniakea.wasm`)).arrayBuffer());
  assert.deepEqual([...wasm.slice(0, 4)], [0, 0x61, 0x73, 0x6d]);
});

test('two_browsers_keep_every_click_through_bridge_and_postgresql_restarts_and_an_offline_reload', async () => {
  const ctxA = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  const ctxB = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const a = await open(ctxA);
  const b = await open(ctxB);
  const start = await dbRow();
  const nodeA = (await shown(a.page)).node;
  const nodeB = (await shown(b.page)).node;
  assert.notEqual(nodeA, nodeB, 'two profiles, two nodes');

  // online
  await click(a.page, 'inc', 3);
  await click(b.page, 'inc10');
  await click(b.page, 'score-inc');
  await addTag(a.page, 'a-online');
  await until(
    async () => (await shown(a.page)).visits === start.v + 13 && (await shown(b.page)).visits === start.v + 13,
    'both at +13',
  );
  await screenshot(a.page, 'phone-online');
  await screenshot(b.page, 'desktop-online');

  // the bridge dies: both go on clicking
  await killBridge();
  await until(
    async () => (await shown(a.page)).status === 'offline' && (await shown(b.page)).status === 'offline',
    'offline',
  );
  await click(a.page, 'inc', 5);
  await addTag(a.page, 'a-offline');
  await click(b.page, 'inc', 2);
  await click(b.page, 'score-dec', 2);
  await b.page.click("#tags li:has-text('crdt') button");
  const beforeReload = await shown(a.page);
  assert.equal(beforeReload.visits, start.v + 18, "A's clicks count at once, offline");
  assert.equal(beforeReload.pending, 6);
  await screenshot(a.page, 'phone-bridge-down');

  // A reloads with the bridge down: the service worker serves the page, IndexedDB its edits
  await a.page.reload();
  await a.page.waitForFunction(() => window.laniakea?.client.node, null, { timeout: 20000 });
  await until(async () => (await shown(a.page)).visits === beforeReload.visits, "A's edits after the reload");
  const afterReload = await shown(a.page);
  assert.equal(afterReload.pending, 6, 'still waiting to be sent, not lost');
  assert.ok(afterReload.tags.includes('a-offline'));
  assert.equal(afterReload.node, nodeA, 'the same node after a reload');
  await click(a.page, 'inc', 2);
  await screenshot(a.page, 'phone-reloaded-offline');

  // longer than the phoenix client's 10 s push timeout: the page before this library
  // lost every click of such an outage (its pushes timed out while the bridge was away)
  await new Promise((r) => setTimeout(r, 11000));
  // the bridge comes back: everything converges
  await startBridge();
  await until(async () => {
    const [x, y] = [await shown(a.page), await shown(b.page)];
    return x.pending === 0 && y.pending === 0 && x.visits === start.v + 22 && y.visits === start.v + 22;
  }, 'convergence after the bridge restart');

  // PostgreSQL restarts under both; clicks while it is down
  await pgctl('stop');
  await click(a.page, 'inc');
  await click(b.page, 'inc');
  await addTag(b.page, 'b-pg-down');
  await new Promise((r) => setTimeout(r, 500));
  await pgctl('start');
  await until(
    async () => {
      const [x, y] = [await shown(a.page), await shown(b.page)];
      return (
        x.pending === 0 &&
        y.pending === 0 &&
        x.visits === start.v + 24 &&
        y.visits === start.v + 24 &&
        x.tags.includes('b-pg-down')
      );
    },
    'convergence after the PostgreSQL restart',
    60000,
  );

  const expectTags = ['a-offline', 'a-online', 'b-pg-down', 'postgres'];
  const final = await dbRow();
  assert.equal(final.v, start.v + 24, 'the database: no click lost, none doubled');
  const counts = JSON.parse(final.visits);
  assert.equal(counts[nodeA], 11, 'A clicked 3 + 5 + 2 + 1');
  assert.equal(counts[nodeB], 13, 'B clicked 10 + 2 + 1');
  assert.equal(final.s, start.s + 1 - 2);
  assert.deepEqual(final.tags, expectTags);
  for (const w of [a, b]) {
    const s = await shown(w.page);
    assert.equal(s.visits, final.v);
    assert.equal(s.score, final.s);
    assert.deepEqual(s.tags, expectTags);
    assert.deepEqual(w.errors, []);
  }
  await screenshot(a.page, 'phone-final');
  await screenshot(b.page, 'desktop-final');
  await ctxA.close();
  await ctxB.close();
});

test('the_installed_app_picks_up_a_new_version_when_one_is_deployed', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx);
  const html = readFileSync(`${demo}/index.html`, 'utf8');
  try {
    // deploy: the page's subtitle changes on the server
    writeFileSync(
      `${demo}/index.html`,
      html.replace('a full peer in your browser', 'a full peer in your browser (v2)'),
    );
    await page.reload();
    await page.waitForFunction(() => document.querySelector('.brand p').textContent.endsWith('(v2)'), null, {
      timeout: 10000,
    });
    // and the cached shell is the new one: it is what loads with the bridge down
    await killBridge();
    await page.reload();
    await page.waitForFunction(() => document.querySelector('.brand p').textContent.endsWith('(v2)'), null, {
      timeout: 10000,
    });
    assert.deepEqual(errors, []);
  } finally {
    writeFileSync(`${demo}/index.html`, html);
    if (bridge.exitCode !== null || bridge.signalCode !== null) await startBridge();
    await ctx.close();
  }
});

test('two_tabs_of_one_profile_offline_lose_no_click', async () => {
  const ctx = await browser.newContext();
  const t1 = await open(ctx);
  const t2 = await open(ctx);
  const node = (await shown(t1.page)).node;
  assert.equal((await shown(t2.page)).node, node, 'one profile, one node');
  const before = JSON.parse((await dbRow()).visits)[node] ?? 0;
  await t1.page.click('#toggle');
  await t2.page.click('#toggle');
  for (let i = 0; i < 6; i++) {
    await t1.page.click('#inc');
    await t2.page.click('#inc');
  }
  await t2.page.click('#inc10');
  // each tab sees the other's clicks at once, while both are offline
  const base = (await dbRow()).v;
  await until(
    async () => (await shown(t1.page)).visits === base + 22 && (await shown(t2.page)).visits === base + 22,
    'both tabs at +22',
  );
  assert.equal((await shown(t1.page)).status, 'offline');
  await screenshot(t1.page, 'tab-offline');
  await t1.page.click('#toggle');
  await t2.page.click('#toggle');
  await until(async () => (await shown(t1.page)).pending === 0 && (await shown(t2.page)).pending === 0, 'both flushed');
  await until(async () => JSON.parse((await dbRow()).visits)[node] === before + 22, 'the database has all 22');
  assert.equal((await dbRow()).v, base + 22);
  assert.deepEqual(t1.errors, []);
  assert.deepEqual(t2.errors, []);
  await ctx.close();
});

test('a_click_followed_at_once_by_a_reload_is_kept', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx);
  const node = (await shown(page)).node;
  const before = JSON.parse((await dbRow()).visits)[node] ?? 0;
  const clicks = 10;
  for (let i = 0; i < clicks; i++) {
    // the reload starts in the task of the click: nothing of the page runs after it
    await page.evaluate(() => {
      window.laniakea.row.increment('visits');
      location.reload();
    });
    await page.waitForLoadState('load');
    await page.waitForFunction(() => window.laniakea?.row.get('visits') !== undefined, null, { timeout: 20000 });
  }
  await page.evaluate(() => window.laniakea.row.flushed());
  await until(
    async () => JSON.parse((await dbRow()).visits)[node] === before + clicks,
    `the database has all ${clicks} clicks`,
  );
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'the journal is empty once everything is stored');
  assert.deepEqual(errors, []);
  await ctx.close();
});

// pgrep exits with 1 when no process matches
const rendererPids = async () =>
  (await run('pgrep', ['-f', '--', '--type=renderer']).catch((e) => (e.code === 1 ? e : Promise.reject(e)))).stdout
    .split('\n')
    .filter(Boolean)
    .map(Number);

// The renderer process whose main thread spins: of `candidates` (the
// renderers that appeared while the page opened, so not those of other
// contexts, which earlier tests may leave busy, nor of pages opened later),
// the one whose main thread (the task whose id is the process's) used most
// of a CPU over a quarter second.  The main thread, not the whole process: a
// renderer busy on its other threads (a service worker, the compiler, the
// collector) once outran the page's and was killed instead.  (Page.crash of
// the DevTools protocol runs on the main thread, and waits for it.)
async function spinningRenderer(candidates) {
  const cpu = async () => {
    const ticks = new Map();
    for (const pid of candidates) {
      try {
        const f = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        ticks.set(pid, Number(f[11]) + Number(f[12]));
      } catch {
        // gone meanwhile
      }
    }
    return ticks;
  };
  const a = await cpu();
  await new Promise((r) => setTimeout(r, 250));
  const b = await cpu();
  const used = [...b].map(([p, t]) => [p, t - (a.get(p) ?? t)]).sort((x, y) => y[1] - x[1]);
  assert.ok(used[0]?.[1] >= 15, `a renderer of this page spins (ticks of 25 used: ${JSON.stringify(used)})`);
  return used[0][0];
}

// The other half of the journal's window: the click reached IndexedDB, and
// the page dies before its journal in localStorage is cleared.  The tab that
// finds the dead page's journal must not make the click again.
test('a_page_that_dies_after_storing_a_click_but_before_clearing_its_journal_counts_it_once', async () => {
  const others = new Set(await rendererPids());
  const ctx = await browser.newContext();
  const first = await open(ctx);
  const mine = (await rendererPids()).filter((pid) => !others.has(pid));
  const node = (await shown(first.page)).node;
  await first.page.evaluate(() => window.laniakea.row.flushed());
  const before = JSON.parse((await dbRow()).visits)[node] ?? 0;
  // The journal's next write after the click is the one that clears it, and
  // it comes only once IndexedDB has the click: there the page stops for
  // good (its main thread spins), and the test crashes its renderer.
  const dying = first.page.waitForEvent('console', (m) => m.text() === 'journal write after the click: dying');
  await first.page.evaluate(() => {
    window.laniakea.row.increment('visits');
    for (const name of ['setItem', 'removeItem']) {
      const write = Storage.prototype[name];
      Storage.prototype[name] = function (key, ...rest) {
        if (key.includes(' journal ')) {
          console.log('journal write after the click: dying');
          for (;;);
        }
        return write.call(this, key, ...rest);
      };
    }
  });
  await dying;
  const journals = await ctx.newPage();
  await journals.goto(`http://127.0.0.1:${port}/laniakea.js`);
  const stale = await journals.evaluate(() => Object.keys(localStorage).filter((k) => k.includes(' journal ')));
  assert.equal(stale.length, 1, 'the dead page left its journal in localStorage');
  const crashed = first.page.waitForEvent('crash', { timeout: 10000 });
  const victim = await spinningRenderer(mine);
  process.kill(victim, 'SIGKILL');
  await crashed.catch((e) => {
    throw new Error(`killed renderer ${victim} of ${JSON.stringify(mine)}, and the page did not crash: ${e.message}`);
  });
  await first.page.close().catch(() => {});

  const second = await open(ctx);
  await until(
    async () =>
      (await journals.evaluate(() => Object.keys(localStorage).filter((k) => k.includes(' journal ')))).length === 0,
    "the dead page's journal replayed and cleared",
  );
  await second.page.evaluate(() => window.laniakea.row.flushed());
  await until(async () => JSON.parse((await dbRow()).visits)[node] >= before + 1, 'the database has the click');
  // anything replayed twice would have been pushed by now, with the rest
  await second.page.evaluate(() => window.laniakea.row.flushed());
  assert.equal(JSON.parse((await dbRow()).visits)[node], before + 1, 'the click counted once');
  assert.equal((await shown(second.page)).pending, 0);
  assert.deepEqual(second.errors, []);
  await ctx.close();
});

test('the_installed_app_loads_from_its_cache_asking_a_hung_bridge_once', async () => {
  const ctx = await browser.newContext();
  const { page, errors } = await open(ctx);
  await killBridge();
  // a server that accepts connections and never answers, as a bridge stopped by SIGSTOP
  const asked = [];
  const sockets = new Set();
  const hung = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => asked.push(...[...String(d).matchAll(/^GET (\S+)/gm)].map((m) => m[1])));
    s.on('error', () => {});
  });
  await new Promise((r) => hung.listen(port, '127.0.0.1', r));
  try {
    await page.reload({ timeout: 60000 });
    await page.waitForFunction(() => window.laniakea?.row.get('visits') !== undefined, null, { timeout: 60000 });
    const shell = asked.filter((u) => !u.startsWith('/socket'));
    assert.ok(shell.length <= 1, `the shell came from the cache after the first unanswered request: asked ${shell}`);
    assert.deepEqual(errors, []);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => hung.close(r));
    await startBridge();
    await ctx.close();
  }
});

test('a_node_server_peer_with_ws_writes_through_the_real_bridge', async () => {
  const { connect, MemoryStorage } = await import(`${top}/client/lib/laniakea.js`);
  const client = connect({
    url: `ws://127.0.0.1:${port}/socket`,
    WebSocket,
    node: 'node-peer',
    storage: new MemoryStorage(),
  });
  try {
    const row = client.row('demo_pages', 'home');
    await until(async () => row.get('visits') !== undefined, 'the join');
    const before = JSON.parse((await dbRow()).visits)['node-peer'] ?? 0;
    row.increment('visits', 3).add('tags', 'from-node');
    await row.flushed();
    const after = await dbRow();
    assert.equal(JSON.parse(after.visits)['node-peer'], before + 3);
    assert.ok(after.tags.includes('from-node'));
    assert.equal(client.status, 'online');
    assert.match(client.profile, /^(full|constrained|minimal)$/);
  } finally {
    client.disconnect();
  }
});

// ---- the todo list ----

const todosShown = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('#todos li')].map((li) => ({
      key: li.dataset.key,
      title: li.querySelector('input.title').value,
      done: li.querySelector('input[type=checkbox]').checked,
    })),
  );

const dbTodos = async () =>
  await sql("SELECT id AS key, get(title) AS title, get(done) = 'true' AS done FROM demo_todos ORDER BY id");

const waiting = (page) => page.evaluate(() => Number(document.getElementById('pending').textContent));

async function addTodo(page, title) {
  await page.fill('#todo-new', title);
  await page.click('#todo-add button');
  const item = await until(
    async () => (await todosShown(page)).find((t) => t.title === title),
    `the new todo ${title}`,
  );
  return item.key;
}

async function editTodo(page, key, title) {
  await page.fill(`#todos li[data-key="${key}"] input.title`, title);
  await page.press(`#todos li[data-key="${key}"] input.title`, 'Enter');
}

const todo = (page, key, what) => page.click(`#todos li[data-key="${key}"] ${what}`);

test('two_browsers_add_edit_mark_and_delete_todos_with_the_bridge_down_and_end_with_the_databases_rows', async () => {
  const ctxA = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  const ctxB = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const a = await open(ctxA);
  const b = await open(ctxB);
  await until(
    async () => (await todosShown(a.page)).length === (await dbTodos()).length,
    "A shows the database's todos",
  );
  const welcome = '0-welcome';
  assert.ok(
    (await todosShown(b.page)).some((t) => t.key === welcome),
    "the demo's own todos",
  );

  // online: each adds one, and sees the other's
  const milk = await addTodo(a.page, 'milk');
  const bread = await addTodo(b.page, 'bread');
  await until(
    async () =>
      (await todosShown(a.page)).some((t) => t.key === bread) && (await todosShown(b.page)).some((t) => t.key === milk),
    "each sees the other's todo",
  );
  await screenshot(a.page, 'phone-todos-online');

  // the bridge dies: both go on
  await killBridge();
  await until(
    async () => (await shown(a.page)).status === 'offline' && (await shown(b.page)).status === 'offline',
    'offline',
  );
  await editTodo(a.page, milk, 'oat milk');
  const eggs = await addTodo(a.page, 'eggs');
  await todo(a.page, welcome, 'button.del'); // deleted here while B marks it done: the delete wins
  await todo(b.page, welcome, 'input[type=checkbox]');
  await todo(b.page, bread, 'input[type=checkbox]');
  await new Promise((r) => setTimeout(r, 20));
  await editTodo(b.page, milk, 'whole milk'); // later than A's edit: it wins
  const jam = await addTodo(b.page, 'jam');
  await todo(b.page, jam, 'button.del'); // made and deleted offline: never in the database
  assert.ok(!(await todosShown(a.page)).some((t) => t.key === welcome), 'a delete shows at once, offline');
  assert.ok(!(await todosShown(b.page)).some((t) => t.key === jam));
  await screenshot(b.page, 'desktop-todos-bridge-down');

  // A reloads with the bridge down: the offline delete and edits survive it
  const pendingA = await waiting(a.page);
  assert.ok(pendingA >= 4, `A has its changes waiting (${pendingA})`);
  await a.page.reload();
  await a.page.waitForFunction(() => window.laniakea?.client.node, null, { timeout: 20000 });
  await until(async () => (await todosShown(a.page)).some((t) => t.key === eggs), "A's todos after the reload");
  const reloaded = await todosShown(a.page);
  assert.ok(!reloaded.some((t) => t.key === welcome), 'the offline delete survived the reload');
  assert.equal(reloaded.find((t) => t.key === milk).title, 'oat milk');
  await until(async () => (await waiting(a.page)) === pendingA, 'still waiting to be sent, not lost');
  await screenshot(a.page, 'phone-todos-reloaded-offline');

  await startBridge();
  const expected = async () => {
    const db = await dbTodos();
    const [x, y] = [await todosShown(a.page), await todosShown(b.page)];
    return (
      (await waiting(a.page)) === 0 &&
      (await waiting(b.page)) === 0 &&
      JSON.stringify(x) === JSON.stringify(db) &&
      JSON.stringify(y) === JSON.stringify(db) &&
      db
    );
  };
  const db = await until(expected, "both pages showing exactly the database's todos", 60000);
  const byKey = Object.fromEntries(db.map((t) => [t.key, t]));
  assert.equal(byKey[welcome], undefined, 'deleted, though B marked it done meanwhile');
  assert.equal(byKey[jam], undefined);
  assert.deepEqual(byKey[milk], { key: milk, title: 'whole milk', done: false }, 'the later of two offline edits');
  assert.deepEqual(byKey[bread], { key: bread, title: 'bread', done: true });
  assert.deepEqual(byKey[eggs], { key: eggs, title: 'eggs', done: false });
  const [row] = await sql(`SELECT node(title) AS node, laniakea_cl::int AS cl FROM demo_todos WHERE id = '${milk}'`);
  assert.equal(row.node, (await shown(b.page)).node);
  assert.equal(row.cl, 1);
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
  await screenshot(a.page, 'phone-todos-final');
  await screenshot(b.page, 'desktop-todos-final');
  await ctxA.close();
  await ctxB.close();
});
