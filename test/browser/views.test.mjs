// /view/<table>/<key> in Chromium with JavaScript disabled: the page is a
// plain HTML form, a click on a button changes the database (POST, 303, GET),
// and a change made in SQL shows when the page refreshes itself.
// run.sh provides LK_TOP, LK_PGDIR, LK_PGPORT (a private cluster) and LK_OUT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { DB, freePort, launchChromium, sql, until } from './lib.mjs';

const { LK_TOP: top, LK_OUT: out } = process.env;
let browser;
let bridge;
let port;

before(async () => {
  port = await freePort();
  bridge = spawn(`${top}/bridge/laniakea-bridge`, ['--port', String(port)], {
    env: { ...process.env, DATABASE_URL: `host=${DB.host} port=${DB.port} user=postgres dbname=lk_browser` },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  bridge.stderr.on('data', () => {});
  await until(
    async () => (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).postgres === 'up',
    'the bridge',
  );
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (bridge && bridge.exitCode === null) {
    bridge.kill('SIGTERM');
    await new Promise((r) => bridge.once('exit', r));
  }
});

test('form_buttons_change_the_database_and_sql_changes_show_on_refresh_with_javascript_disabled', async () => {
  const key = `noscript-${crypto.randomBytes(4).toString('hex')}`;
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const url = `http://127.0.0.1:${port}/view/demo_pages/${key}`;
  const row = async () =>
    (
      await sql(
        'SELECT value(visits)::int AS v, value(score)::int AS s, elements(tags) AS tags FROM demo_pages WHERE page = $1',
        [key],
      )
    )[0];
  const section = (col) => page.locator('section', { has: page.locator('h2', { hasText: new RegExp(`^${col} `) }) });
  // a click submits its form: wait for the POST's answer and the page it redirects to
  const submit = async (button) => {
    const [resp] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), button.click()]);
    assert.equal(resp.status(), 303);
    await page.waitForLoadState('load');
  };

  const first = await page.goto(url);
  assert.equal(first.status(), 200);
  assert.equal(await page.locator('script').count(), 0, 'the page needs no script');
  assert.equal(await page.locator('output.lk-visits').textContent(), '0');

  await submit(section('visits').locator('button[value="increment"]'));
  await until(async () => (await row())?.v === 1, "the click's increment in the database");

  await section('score').locator('input[name="by"]').fill('4');
  await submit(section('score').locator('button[value="increment"]'));
  await submit(section('score').locator('button[value="decrement"]'));
  await until(async () => (await row())?.s === 3, 'the score in the database');

  await section('tags').locator('input[name="element"]').fill('no <script> needed');
  await submit(section('tags').locator('button[value="add"]'));
  await until(async () => (await row())?.tags.includes('no <script> needed'), 'the tag in the database');
  await page.screenshot({ path: `${out}/views-1-after-clicks.png`, fullPage: true });
  await submit(section('tags').locator('li', { hasText: 'no <script> needed' }).locator('button[value="remove"]'));
  await until(async () => (await row())?.tags.length === 0, 'the tag removed in the database');
  assert.equal(await page.locator('output.lk-visits').textContent(), '1');

  // a change made in SQL shows without anyone touching the page: it refreshes itself
  await sql("UPDATE demo_pages SET visits = increment(visits, 'sql', 41) WHERE page = $1", [key]);
  await until(
    async () => (await page.locator('output.lk-visits').textContent()) === '42',
    'the SQL change on the page',
  );
  await page.screenshot({ path: `${out}/views-2-after-sql.png`, fullPage: true });
  await context.close();
});
