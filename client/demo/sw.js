// The demo's service worker: the app shell (page, laniakea.js and its modules,
// wasm, phoenix) comes from the network when it answers, so a new deployment is
// picked up at once, and from the cache when it does not (bridge or network
// down), so the page loads and works offline.  A network that does not answer
// within TIMEOUT_MS (a hung bridge accepts connections and says nothing) is
// not asked again for HUNG_MS: the rest of the shell comes from the cache at
// once, instead of one timeout per level of the module graph.  The WebSocket
// is not its business.
const CACHE = 'laniakea-shell-v1';
const SHELL = [
  '/',
  '/app.js',
  '/demo.css',
  '/icon.svg',
  '/manifest.webmanifest',
  '/laniakea.js',
  '/values.js',
  '/core.js',
  '/connection.js',
  '/storage.js',
  '/wire.js',
  '/laniakea.wasm',
  '/phoenix.mjs',
];
const NOT_SHELL = ['/socket', '/healthz', '/metrics'];
const TIMEOUT_MS = 2000;
const HUNG_MS = 30000;
let hungUntil = 0;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(SHELL.map((u) => new Request(u, { cache: 'no-cache' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request, { ignoreSearch: true });
  if (hit && Date.now() < hungUntil) return hit;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  try {
    const response = await fetch(request, { cache: 'no-cache', signal: abort.signal });
    if (response.ok) await cache.put(request, response.clone());
    hungUntil = 0;
    return response;
  } catch (e) {
    if (abort.signal.aborted) hungUntil = Date.now() + HUNG_MS;
    if (hit) return hit;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (NOT_SHELL.some((p) => url.pathname.startsWith(p))) return;
  event.respondWith(networkFirst(event.request));
});
