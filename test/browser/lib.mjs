// What the browser suite's files share: the private cluster run.sh started,
// waiting, ports, SQL, and Chromium as this machine runs it.
import net from 'node:net';
import pg from 'pg';
import { chromium } from 'playwright-core';

const { LK_PGDIR: pgdir, LK_PGPORT: pgport } = process.env;
export const DB = { host: `${pgdir}/sock`, port: Number(pgport), user: 'postgres', database: 'lk_browser' };

export async function freePort() {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.on('listening', r));
  const p = srv.address().port;
  await new Promise((r) => srv.close(r));
  return p;
}

/** Polls fn every 100 ms until it returns something truthy (a throw counts as false). */
export async function until(fn, what, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => false);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function sql(text, params = []) {
  const c = new pg.Client(DB);
  await c.connect();
  try {
    return (await c.query(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** Debian's chromium, headless; extra flags from a test that needs them. */
export function launchChromium(extra = []) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
      ...extra,
    ],
  });
}
