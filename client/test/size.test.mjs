// The size targets of the library (issue 10): the whole of lib/ without
// phoenix, which an application of the bridge loads anyway, minified as
// bench/client/run.mjs bundles it, plus its wasm, at most 60,000 bytes and
// 25,000 gzipped.  bench/client reports the figures beside Yjs and Automerge;
// this test keeps a change from passing them unnoticed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const lib = fileURLToPath(new URL('../lib/', import.meta.url));

async function bundled(entry, external) {
  const r = await build({
    stdin: { contents: `export * from ${JSON.stringify(lib + entry)};`, resolveDir: lib, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    external: ['node:*', ...external],
    write: false,
  });
  return r.outputFiles[0].contents;
}

const gzipped = (bytes) => gzipSync(bytes, { level: 9 }).length;

test('the_library_without_phoenix_is_at_most_60000_bytes_and_25000_gzipped', async () => {
  const js = await bundled('laniakea.js', ['./phoenix.mjs']);
  const wasm = readFileSync(`${lib}laniakea.wasm`);
  assert.ok(!new TextDecoder().decode(js).includes('phx_leave'), 'phoenix is left out of the bundle');
  const raw = js.length + wasm.length;
  const gzip = gzipped(js) + gzipped(wasm);
  assert.ok(raw <= 60000, `${raw} bytes (JS ${js.length}, wasm ${wasm.length}) is past 60,000`);
  assert.ok(gzip <= 25000, `${gzip} bytes gzipped (JS ${gzipped(js)}, wasm ${gzipped(wasm)}) is past 25,000`);
});
