// The check-in rules, offline: the same order and the same answers as eventreg/checkin/services.py,
// judged from the list's package (downloaded while online) and this scanner's own admissions.
//
// Ticket format (eventreg/tickets/signing.py): "ER1." + base64url of 76 bytes: format version (1),
// event id (4, big-endian), attendee id (4), ticket version (2), key id (1), then the Ed25519
// signature (64) of the first 12 bytes.

const PREFIX = 'ER1.';
const BODY = 12;
const SIGNATURE = 64;

export function parseTicket(text) {
  if (typeof text !== 'string' || !text.startsWith(PREFIX) || text.length > 200) return null;
  const b64 = text.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(b64)) return null;
  let raw;
  try {
    raw = Uint8Array.from(atob(b64.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
  if (raw.length !== BODY + SIGNATURE || toBase64Url(raw) !== b64 || raw[0] !== 1) return null;
  const view = new DataView(raw.buffer);
  return {
    eventId: view.getUint32(1),
    attendeeId: view.getUint32(5),
    version: view.getUint16(9),
    keyId: raw[11],
    body: raw.slice(0, BODY),
    signature: raw.slice(BODY),
  };
}

function toBase64Url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// The event's public keys as CryptoKeys; null where this browser has no Ed25519 (the scanner
// then works online only, and says so).
export async function importKeys(keys) {
  const out = new Map();
  for (const [id, b64] of Object.entries(keys)) {
    const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    out.set(Number(id), await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']));
  }
  return out;
}

export async function ed25519Supported() {
  try {
    await crypto.subtle.importKey('raw', new Uint8Array(32).fill(1), { name: 'Ed25519' }, false, ['verify']);
    return true;
  } catch {
    return false;
  }
}

// Judges a scan without the server. `find` looks an attendee up in the package;
// `localInside(attendeeId)` is this scanner's own admission not yet in the package, if any.
// Returns {result, reason, attendee, inside}.
export async function judge({ text, attendeeId, pkg, keys, find, localInside, now = new Date() }) {
  let attendee;
  let version = null;
  if (text !== undefined) {
    const ticket = parseTicket(text);
    if (!ticket) return { result: 'invalid', reason: 'malformed' };
    const foreign = ticket.eventId !== pkg.event.id;
    const key = keys.get(ticket.keyId);
    if (!key) return { result: 'invalid', reason: foreign ? 'other_event' : 'unknown_key' };
    const genuine = await crypto.subtle.verify('Ed25519', key, ticket.signature, ticket.body);
    if (!genuine) return { result: 'invalid', reason: foreign ? 'other_event' : 'bad_signature' };
    if (foreign) return { result: 'invalid', reason: 'other_event' };
    attendee = find(ticket.attendeeId);
    // Genuine, but issued after the list was downloaded: only a list that admits everybody
    // can let them in; the server checks again when the scan is uploaded.
    if (!attendee) {
      const open = pkg.list.ticket_types.length === 0 && !pkg.list.workshop;
      return open
        ? { result: 'ok', reason: 'not_in_list', attendee: { id: ticket.attendeeId, name: '', ticket_type: '', workshops: [] } }
        : { result: 'invalid', reason: 'not_in_list' };
    }
    version = ticket.version;
  } else {
    attendee = find(attendeeId);
    if (!attendee) return { result: 'invalid', reason: 'unknown' };
  }
  const [refused, refusedReason] = attendee.refused || [null, ''];
  if (refused === 'cancelled') return { result: 'cancelled', reason: '', attendee };
  if (version !== null && version !== attendee.version) return { result: 'invalid', reason: 'revoked', attendee };
  if (refused) return { result: refused, reason: refusedReason, attendee };
  const window = outsideWindow(pkg.list, now);
  if (window) return { result: 'not_admitted', reason: window, attendee };
  const inside = localInside(attendee.id) || attendee.inside;
  if (inside && !pkg.list.allow_reentry) return { result: 'already_redeemed', reason: '', attendee, inside };
  return { result: 'ok', reason: '', attendee };
}

export function outsideWindow(list, at) {
  if (list.opens_at && at < new Date(list.opens_at)) return 'not_open';
  if (list.closes_at && at >= new Date(list.closes_at)) return 'closed';
  return null;
}

// Search by name or order code, forgiving about case and accents ("ase" finds "Åse").
export function fold(text) {
  return (text || '').normalize('NFKD').replace(/\p{M}/gu, '').toLocaleLowerCase();
}

export function search(attendees, query, limit = 8) {
  const q = fold(query).trim();
  if (q.length < 2) return [];
  const hits = [];
  for (const a of attendees) {
    if (fold(a.name).includes(q) || a.order.toLowerCase() === q) hits.push(a);
    if (hits.length >= limit) break;
  }
  return hits;
}
