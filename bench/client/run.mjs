// The client benchmark: bundle sizes, and the two workloads of workloads.mjs
// in Node and in Chromium, laniakea-client beside Yjs and Automerge, in one
// run.  Run by run.sh (make bench-client); prints a table and writes
// out/results.json.
import { build } from 'esbuild';
import { createServer } from 'node:http';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import * as Y from 'yjs';
import * as Automerge from '@automerge/automerge';
import * as laniakea from '../../client/lib/laniakea.js';
import { runAll, N } from './workloads.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const lib = join(here, '../../client/lib');
const out = join(here, 'out');
mkdirSync(out, { recursive: true });

// ---- sizes: minified ES module bundles (esbuild), plus each wasm ----
async function bundle(name, contents, external = [], platform = 'browser') {
  const r = await build({
    stdin: { contents, resolveDir: here, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform,
    external: ['node:*', ...external],
    write: false,
  });
  const code = r.outputFiles[0].contents;
  writeFileSync(join(out, `${name}.min.js`), code);
  return code;
}

const sizeOf = (bytes) => ({ raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length });
const add = (a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip });

const ours = await bundle('laniakea', `export * from ${JSON.stringify(join(lib, 'laniakea.js'))};`, ['./phoenix.mjs']);
const oursValues = await bundle('laniakea-values', `export * from ${JSON.stringify(join(lib, 'values.js'))};`);
const wasm = readFileSync(join(lib, 'laniakea.wasm'));
const yjs = await bundle('yjs', `export * from "yjs";`);
const am = await bundle('automerge-slim', `export * from "@automerge/automerge/slim";`);
const amWasm = readFileSync(join(here, 'node_modules/@automerge/automerge/dist/automerge.wasm'));
const sizes = {
  'laniakea-client (all, without phoenix)': { js: sizeOf(ours), wasm: sizeOf(wasm) },
  'laniakea-client (values only)': { js: sizeOf(oursValues), wasm: sizeOf(wasm) },
  yjs: { js: sizeOf(yjs), wasm: { raw: 0, gzip: 0 } },
  '@automerge/automerge (slim)': { js: sizeOf(am), wasm: sizeOf(amWasm) },
};

// ---- Node ----
// BENCH_LIBS=laniakea,yjs leaves Automerge out (its apply takes minutes); BENCH_REPS
const only = (process.env.BENCH_LIBS ?? 'laniakea,yjs,automerge').split(',');
const opts = { warm: 2, reps: Number(process.env.BENCH_REPS ?? 7) };
const node = runAll({ laniakea, Y, Automerge }, opts, only);

// ---- Chromium: the same module, the libraries bundled for the page ----
await bundle('yjs-page', `export * from "yjs";`);
// the package's default entry, with its wasm inlined (base64): loads in a page as it is
await bundle('automerge-page', `export * from "@automerge/automerge";`, [], 'neutral');
const files = {
  '/workloads.mjs': join(here, 'workloads.mjs'),
  '/yjs.js': join(out, 'yjs-page.min.js'),
  '/automerge.js': join(out, 'automerge-page.min.js'),
  '/index.html': null,
};
const TYPES = {
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.html': 'text/html',
};
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  let file = files[path];
  if (path === '/index.html')
    return res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>bench</title>');
  if (!file && path.startsWith('/lib/')) file = join(lib, path.slice(5));
  try {
    statSync(file);
  } catch {
    return res.writeHead(404).end();
  }
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
const page = await browser.newPage();
await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
const chromiumResults = await page.evaluate(
  async ([o, libs]) => {
    const [{ runAll: run }, laniakea, Y, Automerge] = await Promise.all([
      import('/workloads.mjs'),
      import('/lib/laniakea.js'),
      import('/yjs.js'),
      import('/automerge.js'),
    ]);
    return run({ laniakea, Y, Automerge }, o, libs);
  },
  [opts, only],
);
const version = browser.version();
await browser.close();
server.close();

// ---- report ----
const kb = (n) => (n / 1024).toFixed(1);
console.log(`\nBundle sizes (esbuild --minify; gzip -9), KiB`);
console.log(
  `${''.padEnd(42)} ${'JS raw'.padStart(8)} ${'JS gz'.padStart(7)} ${'wasm raw'.padStart(9)} ${'wasm gz'.padStart(8)} ${'total raw'.padStart(10)} ${'total gz'.padStart(9)}`,
);
for (const [name, s] of Object.entries(sizes)) {
  const t = add(s.js, s.wasm);
  console.log(
    `${name.padEnd(42)} ${kb(s.js.raw).padStart(8)} ${kb(s.js.gzip).padStart(7)} ${kb(s.wasm.raw).padStart(9)} ${kb(s.wasm.gzip).padStart(8)} ${kb(t.raw).padStart(10)} ${kb(t.gzip).padStart(9)}`,
  );
}
console.log(
  `\nTimes, median / fastest of ${opts.reps} after ${opts.warm} warm-up runs, the libraries interleaved round by round (Automerge's apply: one run), ms (Node ${process.versions.node}, Chromium ${version})`,
);
console.log(`${'workload'.padEnd(52)} ${'laniakea'.padStart(13)} ${'yjs'.padStart(13)} ${'automerge'.padStart(17)}`);
const workloads = { merge: `merge two ${N}-element sets`, apply: `apply ${N} remote single-element deltas` };
for (const [host, r] of [
  ['node', node],
  ['chromium', chromiumResults],
])
  for (const [w, label] of Object.entries(workloads))
    console.log(
      `${`${host}: ${label}`.padEnd(52)} ${['laniakea', 'yjs', 'automerge']
        .map((l, i) =>
          (r[l] ? `${r[l][w].median.toFixed(1)} / ${r[l][w].min.toFixed(1)}` : '–').padStart(i === 2 ? 17 : 13),
        )
        .join(' ')}`,
    );
const results = {
  sizes,
  node,
  chromium: chromiumResults,
  versions: { node: process.versions.node, chromium: version },
};
writeFileSync(join(out, 'results.json'), JSON.stringify(results, null, 2));
