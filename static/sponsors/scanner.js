// The booth scanner: camera (or a handheld scanner typing into the code field) → QR text → the
// server, which records the lead for the member's company and answers with what the attendee's
// consent allows. Online only: a lead is worth nothing until the server has it.
import { feedback, qrCamera } from '../camera/camera.js';

const root = document.getElementById('booth-scanner');
const cfg = JSON.parse(root.dataset.config);
const $ = (id) => document.getElementById(id);
const TIMEOUT = 10000; // ms before a scan counts as lost

let busy = false;

async function handle(text) {
  if (busy) return;
  busy = true;
  warn('');
  try {
    show(await send(text));
  } finally {
    busy = false;
  }
}

// The server's answer as {result: new | again | refused, lead?, message?}.
async function send(text) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT);
  let response;
  try {
    response = await fetch(cfg.scanUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': cfg.csrf },
      body: JSON.stringify({ qr: text }),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: ctrl.signal,
    });
  } catch {
    return { result: 'refused', message: cfg.texts.network };
  } finally {
    clearTimeout(timer);
  }
  if (response.redirected) return { result: 'refused', message: cfg.texts.login_again }; // to the login page
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    /* an HTML error page: an expired form token, or the server failed */
  }
  if (response.ok && answer && answer.lead) return { result: answer.created ? 'new' : 'again', lead: answer.lead };
  const message = (answer && answer.message) || cfg.texts.error.replace('{status}', response.status);
  return { result: 'refused', message, reason: answer && answer.reason };
}

function show({ result, lead, message, reason }) {
  const box = $('verdict');
  box.dataset.result = result;
  box.dataset.reason = reason || '';
  $('verdict-headline').textContent = cfg.texts[result];
  $('verdict-name').textContent = lead ? lead.name : '';
  $('verdict-organisation').textContent = lead ? lead.organisation : '';
  const contact = $('verdict-contact');
  contact.replaceChildren();
  for (const key of ['email', 'phone', 'country', 'sector']) {
    const value = lead && lead.contact && lead.contact[key];
    if (!value) continue;
    const row = document.createElement('div');
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = cfg.texts[key];
    dd.textContent = value;
    dd.dataset.field = key;
    row.append(dt, dd);
    contact.append(row);
  }
  contact.hidden = !contact.childElementCount;
  let detail = message || '';
  if (lead && !lead.contact) detail = cfg.texts.no_contact;
  $('verdict-reason').textContent = detail;
  const link = $('verdict-link');
  link.hidden = !lead;
  if (lead) link.href = lead.url;
  feedback(result !== 'refused');
}

function warn(text) {
  const box = $('status-warning');
  box.textContent = text;
  box.hidden = !text;
}

const camera = qrCamera({
  video: $('video'),
  canvas: $('frame'),
  onCode: handle,
  paused: () => busy,
  onError: (error) => warn(cfg.texts.camera_error.replace('{error}', error)),
});

$('camera-restart').addEventListener('click', camera.start);
$('code-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('code').value.trim();
  $('code').value = '';
  if (text) handle(text);
});
root.scan = handle; // for tests: as if the camera had seen `text`
camera.start();
