// Service worker of the scanner pages (/checkin/): the page and its scripts come from the network
// when it answers within a moment, else from this cache, so a scanner reloads with the Wi-Fi down.
// The API is never cached: the page decides itself what to do without a server.
const CACHE = 'eventreg-checkin-v3';
const SHELL = [
  '/static/css/app.css',
  '/static/checkin/scanner.css',
  '/static/checkin/scanner.js',
  '/static/checkin/rules.js',
  '/static/camera/camera.js',
  '/static/vendor/jsqr/jsQR.js',
  '/static/checkin/icon-192.png',
];
const PATIENCE = 2500; // ms to wait for the network before answering from the cache

self.addEventListener('install', (event) => {
  self.skipWaiting();
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

// The page asks for itself to be kept: it was loaded before this worker controlled it.
self.addEventListener('message', (event) => {
  const url = event.data && event.data.keep;
  if (!url) return;
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.add(url))
      .then(() => event.source.postMessage({ kept: url })),
  );
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith('/checkin/') && !url.pathname.startsWith('/static/')) return;
  event.respondWith(networkFirst(event.request));
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  const network = fetch(request).then((response) => {
    // Only real pages: a redirect to the login page must not replace the cached scanner.
    if (response.ok && !response.redirected) cache.put(request, response.clone());
    return response;
  });
  const timeout = new Promise((resolve) => setTimeout(resolve, PATIENCE));
  try {
    const first = await Promise.race([network, timeout]);
    if (first) return first;
  } catch {
    /* no network: fall back to the cache */
  }
  const cached = await cache.match(request, { ignoreSearch: true });
  return cached || network;
}
