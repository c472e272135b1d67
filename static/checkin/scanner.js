// The scanner page: camera → QR text → the server's verdict, or, when the server does not answer
// within ONLINE_TIMEOUT, the same verdict judged here from the list's package (rules.js). Offline
// admissions wait in IndexedDB and are uploaded when the server answers again; each scan carries
// its own nonce, so an upload sent twice records nothing twice.
import { feedback, qrCamera } from '../camera/camera.js';
import { ed25519Supported, importKeys, judge, search } from './rules.js';

const root = document.getElementById('scanner');
const cfg = JSON.parse(root.dataset.config);
const $ = (id) => document.getElementById(id);

const ONLINE_TIMEOUT = 2000; // ms before a scan is judged offline
const PING_EVERY = 3000; // while offline: is the server back?
const REFRESH_EVERY = 30000; // while online: upload waiting scans, download the list again
const UPLOAD_BATCH = 500;

const state = {
  online: navigator.onLine,
  token: null,
  listId: null,
  pkg: null, // the list's package: keys, rules, attendees
  pkgTime: null,
  keys: new Map(),
  byId: new Map(),
  admissions: new Map(), // nonce → this scanner's admissions not yet in the package
  waiting: new Set(), // nonces of those not uploaded yet
  offlineCapable: false,
  busy: false,
  last: null, // {verdict, nonce}
  gate: () => '',
};

// -- IndexedDB: token and gate, the lists' packages, this scanner's admissions --------------------

const dbReady = new Promise((resolve, reject) => {
  const req = indexedDB.open('eventreg-checkin', 1);
  req.onupgradeneeded = () => {
    req.result.createObjectStore('meta');
    req.result.createObjectStore('packages');
    req.result.createObjectStore('admissions', { keyPath: 'nonce' });
  };
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

// Runs `op` in one transaction and resolves with the result of the request it returns (if any)
// once the transaction has committed.
async function idb(store, mode, op) {
  const db = await dbReady;
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const req = op(tx.objectStore(store));
    tx.oncomplete = () => resolve(req && req.result);
    tx.onerror = () => reject(tx.error);
  });
}
const getMeta = (key) => idb('meta', 'readonly', (s) => s.get(key));
const setMeta = (key, value) => idb('meta', 'readwrite', (s) => s.put(value, key));

// -- talking to the server ---------------------------------------------------------------------

class Offline extends Error {}

async function api(path, { method = 'GET', body, timeout = ONLINE_TIMEOUT, listId = state.listId } = {}) {
  if (!state.token) throw new Offline('no token');
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeout);
  let response;
  try {
    response = await fetch(`${cfg.apiBase}/${listId}${path}`, {
      method,
      headers: { Authorization: `Bearer ${state.token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctrl.signal,
      cache: 'no-store',
    });
  } catch (err) {
    throw new Offline(err.message); // no network, or no answer in time
  } finally {
    clearTimeout(timer);
  }
  if (response.status >= 500) throw new Offline(`server ${response.status}`);
  if (response.status === 401) {
    state.token = null;
    await setMeta('device', null);
    await getToken();
    throw new Offline('token');
  }
  return response;
}

async function getToken() {
  const saved = await getMeta('device');
  if (saved && saved.slug === cfg.slug && new Date(saved.expires_at) > new Date()) {
    state.token = saved.token;
    return;
  }
  let r;
  try {
    r = await fetch(cfg.deviceUrl, {
      method: 'POST',
      headers: { 'X-CSRFToken': cfg.csrf, 'Content-Type': 'application/json' },
      body: JSON.stringify({ gate: state.gate() }),
      credentials: 'same-origin',
    });
  } catch {
    return; // no network: try again when the server answers
  }
  if (!r.ok || r.redirected) {
    warn(cfg.texts.login_again); // the session ended (a redirect to the login page) or was refused
    return;
  }
  const device = await r.json();
  state.token = device.token;
  await setMeta('device', { ...device, slug: cfg.slug });
}

function setOnline(online) {
  if (state.online === online) return;
  state.online = online;
  renderStatus();
  if (online) syncNow();
}

async function ping() {
  if (state.online) return;
  try {
    if (!state.token) await getToken();
    await api('', { timeout: ONLINE_TIMEOUT });
    setOnline(true);
  } catch {
    /* still offline */
  }
}

// Uploads waiting admissions, then downloads the list again. One tab at a time (the uploads are
// idempotent anyway).
async function syncNow() {
  const run = async () => {
    try {
      await upload();
      await refresh();
    } catch (err) {
      if (err instanceof Offline) setOnline(false);
      else throw err;
    }
  };
  if (navigator.locks) await navigator.locks.request('eventreg-checkin-sync', run);
  else await run();
}

async function upload() {
  const waiting = [...state.waiting].map((nonce) => state.admissions.get(nonce));
  const byList = Map.groupBy ? Map.groupBy(waiting, (a) => a.list) : groupBy(waiting);
  for (const [listId, scans] of byList) {
    for (let i = 0; i < scans.length; i += UPLOAD_BATCH) {
      const batch = scans.slice(i, i + UPLOAD_BATCH);
      const body = {
        scans: batch.map((a) => ({
          nonce: a.nonce,
          scanned_at: a.scanned_at,
          gate: a.gate,
          ...(a.qr ? { qr: a.qr } : { attendee_id: a.attendee_id }),
        })),
      };
      const r = await api('/scans', { method: 'POST', body, timeout: 15000, listId });
      if (!r.ok) throw new Error(`upload refused: ${r.status}`);
      const { results } = await r.json();
      const outcome = new Map(results.map((x) => [x.nonce, x]));
      const uploadedAt = new Date().toISOString();
      for (const a of batch) {
        Object.assign(a, { uploaded: true, uploaded_at: uploadedAt, outcome: outcome.get(a.nonce) });
        state.waiting.delete(a.nonce);
      }
      await idb('admissions', 'readwrite', (s) => batch.forEach((a) => s.put(a)));
      renderStatus();
    }
  }
}

function groupBy(items) {
  const out = new Map();
  for (const a of items) out.set(a.list, [...(out.get(a.list) || []), a]);
  return out;
}

async function refresh() {
  if (!state.listId) return;
  const started = new Date().toISOString();
  const r = await api('/package', { timeout: 15000 });
  if (!r.ok) throw new Error(`package refused: ${r.status}`);
  const pkg = await r.json();
  await idb('packages', 'readwrite', (s) => s.put(pkg, state.listId));
  await usePackage(pkg);
  // Admissions uploaded before this download are in the package now.
  const known = [...state.admissions.values()].filter(
    (a) => a.uploaded && a.list === state.listId && a.uploaded_at < started,
  );
  known.forEach(forget);
  await idb('admissions', 'readwrite', (s) => known.forEach((a) => s.delete(a.nonce)));
  renderStatus();
}

async function usePackage(pkg) {
  state.pkg = pkg;
  state.pkgTime = new Date(pkg.generated_at);
  state.byId = new Map(pkg.attendees.map((a) => [a.id, a]));
  state.keys = state.offlineCapable ? await importKeys(pkg.keys) : new Map();
}

// -- judging a scan ----------------------------------------------------------------------------

function newNonce() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

// This scanner's admissions, by nonce and by list and attendee.
const ticketKey = (listId, attendeeId) => `${listId}:${attendeeId}`;
const byTicket = new Map();

function keep(admission) {
  state.admissions.set(admission.nonce, admission);
  if (!admission.uploaded) state.waiting.add(admission.nonce);
  byTicket.set(ticketKey(admission.list, admission.attendee_id), admission);
}

function forget(admission) {
  state.admissions.delete(admission.nonce);
  state.waiting.delete(admission.nonce);
  const key = ticketKey(admission.list, admission.attendee_id);
  if (byTicket.get(key) === admission) byTicket.delete(key);
}

function localInside(attendeeId) {
  const a = byTicket.get(ticketKey(state.listId, attendeeId));
  return a ? { at: a.scanned_at, gate: a.gate, by: cfg.user } : null;
}

async function handle(input) {
  if (state.busy) return;
  if (!state.gate()) {
    warn(cfg.texts.choose_gate);
    $('gate').focus();
    return;
  }
  state.busy = true;
  const started = performance.now();
  const nonce = newNonce();
  const scannedAt = new Date();
  try {
    let verdict = null;
    if (state.online && state.token) {
      try {
        const body = { gate: state.gate(), nonce, ...(input.text !== undefined ? { qr: input.text } : { attendee_id: input.attendeeId }) };
        const r = await api('/redeem', { method: 'POST', body });
        const answer = await r.json();
        if (!r.ok) {
          show({ result: 'invalid', reason: '', message: answer.message }, { started });
          return;
        }
        verdict = { ...answer, online: true };
      } catch (err) {
        if (!(err instanceof Offline)) throw err;
        setOnline(false);
      }
    }
    if (!verdict) verdict = await judgeHere(input);
    if (verdict.result === 'ok') await remember(verdict, input, nonce, scannedAt);
    state.last = { verdict, nonce };
    show(verdict, { started });
  } catch (err) {
    show({ result: 'invalid', reason: '', message: cfg.texts.error.replace('{error}', err.message) }, { started });
  } finally {
    state.busy = false;
  }
}

async function judgeHere(input) {
  if (!state.pkg) return { result: 'invalid', reason: '', message: cfg.texts.no_list };
  if (!state.offlineCapable && input.text !== undefined) return { result: 'invalid', reason: '', message: cfg.texts.no_ed25519 };
  const v = await judge({
    text: input.text,
    attendeeId: input.attendeeId,
    pkg: state.pkg,
    keys: state.keys,
    find: (id) => state.byId.get(id),
    localInside,
  });
  return { ...v, online: false };
}

// Every admission this scanner made is kept until the list it downloads knows it: offline ones
// to upload, online ones so that a scanner that goes offline right after still knows them.
async function remember(verdict, input, nonce, scannedAt) {
  const admission = {
    nonce,
    list: state.listId,
    attendee_id: verdict.attendee ? verdict.attendee.id : null,
    qr: input.text,
    scanned_at: scannedAt.toISOString(),
    gate: state.gate(),
    uploaded: Boolean(verdict.online),
    uploaded_at: verdict.online ? scannedAt.toISOString() : null,
  };
  if (input.text === undefined) admission.attendee_id = input.attendeeId;
  keep(admission);
  await idb('admissions', 'readwrite', (s) => s.put(admission));
  renderStatus();
}

async function undo() {
  const last = state.last;
  if (!last || last.verdict.result !== 'ok') return;
  const admission = state.admissions.get(last.nonce);
  if (last.verdict.online) {
    try {
      const id = last.verdict.attendee.checkin.id;
      const r = await api(`/checkins/${id}/undo`, { method: 'POST' });
      if (!r.ok) throw new Error((await r.json()).message);
    } catch (err) {
      warn(err instanceof Offline ? cfg.texts.undo_offline : err.message);
      return;
    }
  } else if (!admission || admission.uploaded) {
    warn(cfg.texts.undo_offline);
    return;
  }
  if (admission) {
    forget(admission);
    await idb('admissions', 'readwrite', (s) => s.delete(last.nonce));
  }
  const row = state.byId.get(last.verdict.attendee.id);
  if (row) row.inside = null;
  state.last = null;
  $('undo').hidden = true;
  $('verdict-headline').textContent = cfg.texts.undone;
  $('verdict').dataset.result = 'undone';
  renderStatus();
}

// -- showing it --------------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(document.documentElement.lang === 'nb' ? 'nb-NO' : 'en-GB', {
  timeZone: cfg.timezone,
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const fmt = (iso) => timeFormat.format(new Date(iso));

function show(verdict, { started }) {
  const box = $('verdict');
  const a = verdict.attendee;
  box.dataset.result = verdict.result;
  box.dataset.reason = verdict.reason || '';
  box.dataset.mode = verdict.online ? 'online' : 'offline';
  $('verdict-headline').textContent = cfg.results[verdict.result] || verdict.result;
  $('verdict-name').textContent = a ? a.name : '';
  const details = a ? [a.ticket_type, ...(a.workshops || [])].filter(Boolean).join(' · ') : '';
  $('verdict-detail').textContent = details;
  const inside = verdict.result === 'already_redeemed' ? verdict.inside || (a && a.checkin) : null;
  const lines = [];
  if (inside) {
    const template = inside.by ? cfg.texts.inside : cfg.texts.inside_here;
    lines.push(template.replace('{time}', fmt(inside.at)).replace('{gate}', inside.gate || '–').replace('{by}', inside.by));
  }
  if (verdict.message) lines.push(verdict.message);
  else if (verdict.reason && cfg.reasons[verdict.reason]) lines.push(cfg.reasons[verdict.reason]);
  if (!verdict.online && verdict.result !== 'invalid') lines.push(cfg.texts.checked_offline);
  $('verdict-reason').textContent = lines.join('\n');
  $('undo').hidden = verdict.result !== 'ok';
  box.dataset.ms = (performance.now() - started).toFixed(2); // read by the benchmark
  feedback(verdict.result === 'ok');
}

function renderStatus() {
  const pill = $('status-online');
  pill.textContent = state.online ? cfg.texts.online : cfg.texts.offline;
  pill.className = `pill ${state.online ? 'pill-online' : 'pill-offline'}`;
  root.dataset.online = state.online;
  $('status-refreshed').textContent = state.pkgTime
    ? cfg.texts.refreshed.replace('{time}', fmt(state.pkgTime))
    : cfg.texts.no_list;
  const waiting = state.waiting.size;
  $('status-pending').textContent = waiting ? cfg.texts.pending_some.replace('{n}', waiting) : cfg.texts.pending_none;
  root.dataset.pending = waiting;
}

function warn(text) {
  const box = $('status-warning');
  box.textContent = text;
  box.hidden = !text;
}

// -- camera ------------------------------------------------------------------------------------

const camera = qrCamera({
  video: $('video'),
  canvas: $('frame'),
  onCode: (text) => handle({ text }),
  paused: () => state.busy,
  onError: (error) => warn(cfg.texts.camera_error.replace('{error}', error)),
});
const startCamera = camera.start;

// -- start -------------------------------------------------------------------------------------

async function chooseList(listId) {
  state.listId = listId;
  await setMeta('list', listId);
  const saved = await idb('packages', 'readonly', (s) => s.get(listId));
  state.pkg = null;
  state.pkgTime = null;
  if (saved) await usePackage(saved);
  renderStatus();
  if (state.online) syncNow();
}

async function start() {
  state.offlineCapable = await ed25519Supported();
  if (!state.offlineCapable) warn(cfg.texts.no_ed25519);
  const gate = $('gate');
  gate.value = (await getMeta('gate')) || '';
  gate.addEventListener('change', () => setMeta('gate', gate.value.trim()));
  gate.addEventListener('input', () => gate.value.trim() && warn(''));
  state.gate = () => gate.value.trim();
  (await idb('admissions', 'readonly', (s) => s.getAll())).forEach(keep);

  const select = $('list');
  const wanted = Number(new URLSearchParams(location.search).get('list')) || (await getMeta('list'));
  if (cfg.lists.some((l) => l.id === wanted)) select.value = String(wanted);
  select.addEventListener('change', () => chooseList(Number(select.value)));

  if (state.online) await getToken();
  if (cfg.lists.length) await chooseList(Number(select.value));
  renderStatus();

  $('camera-restart').addEventListener('click', startCamera);
  $('undo').addEventListener('click', undo);
  $('code-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('code').value.trim();
    $('code').value = '';
    if (text) handle({ text });
  });
  $('search-form').addEventListener('submit', (e) => e.preventDefault());
  $('search').addEventListener('input', renderSearch);
  window.addEventListener('offline', () => setOnline(false));
  window.addEventListener('online', () => ping());
  setInterval(ping, PING_EVERY);
  setInterval(() => state.online && syncNow(), REFRESH_EVERY);
  startCamera();
  await installOffline();
}

// The service worker keeps this page and its scripts, so that it reloads without a network.
async function installOffline() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (event) => {
    if (event.data && event.data.kept === location.href) root.dataset.offlineReady = 'true';
  });
  await navigator.serviceWorker.register('/checkin/sw.js', { scope: '/checkin/' });
  const registration = await navigator.serviceWorker.ready;
  registration.active.postMessage({ keep: location.href });
}

function renderSearch() {
  const list = $('search-results');
  list.replaceChildren();
  if (!state.pkg) return;
  const query = $('search').value;
  const hits = search(state.pkg.attendees, query);
  if (!hits.length && query.trim().length >= 2) {
    const li = document.createElement('li');
    li.textContent = cfg.texts.no_hits;
    list.append(li);
  }
  for (const a of hits) {
    const li = document.createElement('li');
    const text = document.createElement('span');
    text.textContent = `${a.name} · ${a.ticket_type} · ${a.order}`;
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'btn';
    button.textContent = cfg.texts.check_in;
    button.addEventListener('click', () => handle({ attendeeId: a.id }));
    li.append(text, button);
    list.append(li);
  }
}

// For the benchmark and tests: judge a scan as if the camera had seen it; resolves when shown.
root.scan = (text) => handle({ text });

start();
