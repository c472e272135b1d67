"""Signed ticket payloads: what a QR code carries, and how a scanner that holds only the event's
public keys tells a genuine ticket from a forged or altered one, without a network.

Format "ER1." + base64url (no padding) of 76 bytes:

    byte  0       format version, 1
    bytes 1-4     event id        (unsigned, big-endian)
    bytes 5-8     attendee id     (unsigned, big-endian)
    bytes 9-10    ticket version  (unsigned, big-endian); bumped by a transfer or cancellation,
                  so a scanner that knows the current version refuses the old QR
    byte  11      key id: which of the event's keys signed it, so keys can be rotated
    bytes 12-75   Ed25519 signature of bytes 0-11

The private keys never leave the server; the check-in page gets the public keys.
"""

import base64
import binascii
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "ER1."
_CLAIM = struct.Struct(">BIIHB")  # version, event, attendee, ticket version, key id: 12 bytes
_FORMAT_VERSION = 1
_SIGNATURE_BYTES = 64


class InvalidTicket(Exception):
    """A QR that is not a genuine, current ticket of this event; `reason` says why, for machines:
    malformed, unknown_key, bad_signature, other_event, revoked."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class TicketClaim:
    event_id: int
    attendee_id: int
    version: int
    key_id: int


def sign_ticket(claim: TicketClaim, key: Ed25519PrivateKey) -> str:
    """The QR text for `claim`, signed with the event's key number `claim.key_id`."""
    body = _CLAIM.pack(_FORMAT_VERSION, claim.event_id, claim.attendee_id, claim.version, claim.key_id)
    return PREFIX + base64.urlsafe_b64encode(body + key.sign(body)).rstrip(b"=").decode()


def read_ticket(qr: str, public_keys: dict[int, Ed25519PublicKey], *, event_id: int) -> TicketClaim:
    """The claim of a genuine ticket of `event_id`. Raises InvalidTicket otherwise; whether the
    version is still the current one is for the caller to ask (see `check_version`)."""
    if not isinstance(qr, str) or not qr.startswith(PREFIX) or len(qr) > 200:
        raise InvalidTicket("malformed")
    text = qr[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidTicket("malformed") from None
    if (
        len(raw) != _CLAIM.size + _SIGNATURE_BYTES
        or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text
    ):
        raise InvalidTicket("malformed")  # also refuses other spellings of the same bytes
    body, signature = raw[: _CLAIM.size], raw[_CLAIM.size :]
    fmt, event, attendee, version, key_id = _CLAIM.unpack(body)
    if fmt != _FORMAT_VERSION:
        raise InvalidTicket("malformed")
    key = public_keys.get(key_id)
    if key is None:
        raise InvalidTicket("unknown_key")
    try:
        key.verify(signature, body)
    except InvalidSignature:
        raise InvalidTicket("bad_signature") from None
    if event != event_id:  # checked after the signature: a forged ticket is "forged", not "elsewhere"
        raise InvalidTicket("other_event")
    return TicketClaim(event_id=event, attendee_id=attendee, version=version, key_id=key_id)


def claimed_event(qr: str) -> int | None:
    """The event id a QR claims, without checking anything: only to tell staff that a ticket
    they cannot verify is probably one for another event (each event has its own keys)."""
    try:
        raw = base64.urlsafe_b64decode(qr[len(PREFIX) :] + "==")
        return _CLAIM.unpack(raw[: _CLAIM.size])[1] if qr.startswith(PREFIX) else None
    except (binascii.Error, ValueError, struct.error):
        return None


def check_version(claim: TicketClaim, current_version: int) -> None:
    """Raises InvalidTicket("revoked") for a QR of an earlier version of the ticket."""
    if claim.version != current_version:
        raise InvalidTicket("revoked")


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of the public key, as the browser imports them."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes_raw()
