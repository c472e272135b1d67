"""Tickets: the event's signing keys, each attendee's QR text, and checking a scanned QR.

The payload format lives in signing.py; this module keeps the keys (private keys encrypted with a
key derived from SECRET_KEY) and knows which version of each ticket is the current one."""

import base64
import hashlib
import time
from datetime import datetime

import sqlalchemy as sa
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app
from flask_babel import lazy_gettext as _l

from eventreg.core.errors import Conflict
from eventreg.events.models import Event
from eventreg.extensions import db
from eventreg.registration.capacity import lock_event_for_sale
from eventreg.registration.models import Attendee
from eventreg.tickets.models import TicketKey
from eventreg.tickets.signing import InvalidTicket, TicketClaim, check_version, read_ticket, sign_ticket

MAX_KEY_ID = 255  # one byte in the payload


def _fernet() -> Fernet:
    secret = current_app.config["SECRET_KEY"].encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"eventreg ticket keys\0" + secret).digest()))


def _active_keys(event: Event) -> list[TicketKey]:
    return list(
        db.session.scalars(
            sa.select(TicketKey)
            .where(TicketKey.event_id == event.id, TicketKey.retired_at.is_(None))
            .order_by(TicketKey.key_id)
        )
    )


def _new_key(event: Event, *, now: datetime) -> TicketKey:
    """Must run under the event's lock, so two requests never both create key n."""
    last = (
        db.session.scalar(sa.select(sa.func.max(TicketKey.key_id)).where(TicketKey.event_id == event.id)) or 0
    )
    if last >= MAX_KEY_ID:
        raise Conflict(_l("This event has used all its ticket keys."), code="keys_exhausted")
    private = Ed25519PrivateKey.generate()
    key = TicketKey(
        event_id=event.id,
        key_id=last + 1,
        private_key=_fernet().encrypt(private.private_bytes_raw()),
        public_key=private.public_key().public_bytes_raw(),
        created_at=now,
    )
    db.session.add(key)
    db.session.flush()
    return key


def signing_key(event: Event, *, now: datetime) -> TicketKey:
    """The key that signs the event's new tickets: the newest active one, created on first use."""
    keys = _active_keys(event)
    if keys:
        return keys[-1]
    lock_event_for_sale(event)
    keys = _active_keys(event)  # another request may have made it while we waited for the lock
    return keys[-1] if keys else _new_key(event, now=now)


def rotate_key(event: Event, *, now: datetime) -> TicketKey:
    """Starts signing new tickets with a fresh key; tickets signed before stay valid."""
    lock_event_for_sale(event)
    _key_cache.pop(event.id, None)
    return _new_key(event, now=now)


_KEY_CACHE_SECONDS = 5.0
_key_cache: dict[int, tuple[float, dict[int, Ed25519PublicKey]]] = {}


def public_keys(event: Event, *, cached: bool = False) -> dict[int, Ed25519PublicKey]:
    """What a scanner needs to check the event's tickets offline. `cached`: this process may
    answer from what it read up to 5 s ago (a gate scans hundreds of tickets a minute); a key
    retired meanwhile is then still accepted for those seconds, a new key is looked up at once
    by the caller that finds it missing."""
    if cached:
        hit = _key_cache.get(event.id)
        if hit and time.monotonic() - hit[0] < _KEY_CACHE_SECONDS:
            return hit[1]
    keys = {k.key_id: Ed25519PublicKey.from_public_bytes(k.public_key) for k in _active_keys(event)}
    _key_cache[event.id] = (time.monotonic(), keys)
    return keys


def ticket_qr(attendee: Attendee, *, now: datetime) -> str:
    """The QR text of the attendee's current ticket."""
    key = signing_key(attendee.order.event, now=now)
    private = Ed25519PrivateKey.from_private_bytes(_fernet().decrypt(key.private_key))
    claim = TicketClaim(attendee.event_id, attendee.id, attendee.ticket_version, key.key_id)
    return sign_ticket(claim, private)


def check_ticket(event: Event, qr: str) -> Attendee:
    """The attendee whose current ticket `qr` is. Raises InvalidTicket (malformed, unknown_key,
    bad_signature, other_event, revoked) for anything else."""
    claim = read_ticket(qr, public_keys(event), event_id=event.id)
    attendee = db.session.get(Attendee, claim.attendee_id)
    if attendee is None or attendee.event_id != event.id:
        raise InvalidTicket("revoked")  # signed by us, but the attendee is gone
    check_version(claim, attendee.ticket_version)
    if attendee.cancelled_at is not None:
        raise InvalidTicket("revoked")  # refunded on its own; its order stands
    return attendee
