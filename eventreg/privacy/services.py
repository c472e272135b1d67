"""Personal data of attendees and buyers: all we hold about a person (`personal_data`,
`order_data`), erasing it when they ask (`erase_attendee`, `erase_buyer`), and erasing it for
every attendee of an event once the event's retention period has run out (`purge_due`).

The rule for erasing on request: erasing never cancels anything by itself. While a ticket is
still valid for an event that has not ended, the organiser needs the holder's name to let them
in, so erasure is refused (Conflict, 409); it is possible once the event is over, or at once
when the ticket is cancelled or refunded (or the order expired). A paid ticket is not thrown away
by a click meant for privacy, and nobody has to decide about a refund as a side effect.

What erasure removes: names (replaced by `ERASED`), email addresses, the answers to the
questions, sponsor consent (withdrawn, with a ConsentRecord), the sponsors' leads of the person
(with their notes), the private links (a new random token: the old link stops working), and in
the outbox the recipients' names and addresses of the messages about them; messages not yet
sent are never sent. What it keeps, without personal data: the ticket type, price and VAT, the
order's code, totals and payments, workshop seats and check-ins (counts for the organiser's
statistics), consent history (who withdrew when, now about nobody) and the sales documents
(invoices, receipts, credit notes), which keep the buyer's name and organisation as issued: the
Bookkeeping Act (bokføringsloven § 13) requires them for five years, and a document never
changes after it was issued.

Services only flush, except `purge_due`, the job, which commits once per event. Each erasure
first takes the event's sale lock (registration/capacity.py) and reads the rows again under it,
so an erasure never interleaves with a change, a transfer, a cancellation or another erasure of
the same person, and two purge jobs running at once erase everybody exactly once.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from eventreg.audit.models import AuditEntry
from eventreg.checkin.models import Checkin, CheckinList
from eventreg.core.errors import Conflict, NotFound
from eventreg.core.templating import when
from eventreg.events.models import Event, Lead, Sponsor
from eventreg.extensions import db
from eventreg.mail.models import MessageStatus, OutboxMessage
from eventreg.payments.models import Payment, Refund, SalesDocument
from eventreg.registration.capacity import lock_event_for_sale
from eventreg.registration.models import (
    Answer,
    Attendee,
    ConsentRecord,
    Order,
    OrderStatus,
    WaitingListEntry,
    new_token,
)

log = logging.getLogger(__name__)

# Stored in place of a name. Not translated: it is data (badges, lists and exports show it as is
# in every language), and a dash reads as "nobody" without claiming a name.
ERASED = "—"
FORMAT = "eventreg-personal-data/1"  # the download's "format" key; bump it when keys change
VIAS = ("attendee", "buyer", "staff", "retention")
# Keys of OutboxMessage.context that hold personal data (the new holder's name after a transfer).
PERSONAL_CONTEXT_KEYS = ("new_name",)
ERASED_REASON = "personal data erased"  # OutboxMessage.last_error of messages never to be sent


@dataclass
class Erasure:
    """What one erasure (or one purge) did. `message_ids` are the Message-IDs whose copies in the
    outbox folder `forget_mail_copies` deletes after the commit."""

    attendees: int = 0
    buyers: int = 0
    message_ids: list[str] = field(default_factory=list)

    def __iadd__(self, other: "Erasure") -> "Erasure":
        self.attendees += other.attendees
        self.buyers += other.buyers
        self.message_ids += other.message_ids
        return self


@dataclass(frozen=True)
class Retention:
    """When the personal data of an event's attendees is erased, for the pages."""

    days: int
    erase_on: datetime
    passed: bool


# --- retention ------------------------------------------------------------------------------


def purge_date(event: Event) -> datetime:
    """When the daily job erases the personal data of the event's attendees and buyers: the
    event's end plus its retention period (`Event.retention_days`, 365 unless set otherwise)."""
    return event.ends_at + timedelta(days=event.retention_days)


def retention(event: Event, *, now: datetime) -> Retention:
    erase_on = purge_date(event)
    return Retention(days=event.retention_days, erase_on=erase_on, passed=erase_on <= now)


# --- who may be erased ----------------------------------------------------------------------


def _ticket_stands(attendee: Attendee, order: Order, *, now: datetime) -> bool:
    if attendee.cancelled_at is not None:
        return False
    if order.status == OrderStatus.PAID:
        return True
    return order.status == OrderStatus.PENDING and (order.expires_at is None or order.expires_at > now)


def erasure_refusal(attendee: Attendee, *, now: datetime) -> Conflict | None:
    """Why the attendee's data cannot be erased now (Conflict `ticket_valid`), or None: their
    ticket is still valid and the event has not ended."""
    order = attendee.order
    event = order.event
    if attendee.erased_at is None and event.ends_at > now and _ticket_stands(attendee, order, now=now):
        return Conflict(
            _l(
                "Your ticket is still valid, and the organiser needs your name to let you in. You can "
                "erase your data when the event is over (from %(when)s), or at once when the ticket "
                "has been cancelled.",
                when=when(event.ends_at),
            ),
            code="ticket_valid",
        )
    return None


def order_erasure_refusal(order: Order, *, now: datetime) -> Conflict | None:
    """Why the buyer's data cannot be erased now (Conflict `registration_valid`), or None: a
    ticket of the order is still valid and the event has not ended."""
    event = order.event
    if (
        order.erased_at is None
        and event.ends_at > now
        and any(_ticket_stands(a, order, now=now) for a in order.attendees)
    ):
        return Conflict(
            _l(
                "This registration is still valid, and the organiser needs your details for it. You "
                "can erase your data when the event is over (from %(when)s), or at once after "
                "cancelling the registration.",
                when=when(event.ends_at),
            ),
            code="registration_valid",
        )
    return None


def same_person(order: Order, attendee: Attendee) -> bool:
    """Whether the attendee is the buyer: both have the same email address."""
    a, b = (attendee.email or "").strip().casefold(), (order.buyer_email or "").strip().casefold()
    return bool(a) and a == b


def erases_buyer_too(attendee: Attendee, *, now: datetime) -> bool:
    """Whether erasing the attendee erases the buyer's data as well: they are the buyer, and the
    order may be erased (`order_erasure_refusal`)."""
    order = attendee.order
    return (
        order.erased_at is None
        and same_person(order, attendee)
        and order_erasure_refusal(order, now=now) is None
    )


def buyer_attendees(order: Order) -> list[Attendee]:
    """The order's attendees who are the buyer themselves (same email), not yet erased."""
    return [a for a in order.attendees if a.erased_at is None and same_person(order, a)]


# --- what we hold ---------------------------------------------------------------------------


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _same_address(message: OutboxMessage, email: str | None) -> bool:
    return bool(email) and message.recipient_email.strip().casefold() == email.strip().casefold()


def _event_section(event: Event) -> dict:
    return {
        "slug": event.slug,
        "title": dict(event.title),
        "starts_at": _iso(event.starts_at),
        "ends_at": _iso(event.ends_at),
        "venue": event.venue,
    }


def _header(event: Event, *, now: datetime) -> dict:
    return {
        "format": FORMAT,
        "generated_at": _iso(now),
        "event": _event_section(event),
        "retention": {"days": event.retention_days, "erase_on": _iso(purge_date(event))},
    }


def _emails(messages: list[OutboxMessage]) -> list[dict]:
    return [
        {
            "kind": m.kind,
            "subject": m.subject,
            "to": m.recipient_email,
            "status": m.status.value,
            "created_at": _iso(m.created_at),
            "sent_at": _iso(m.sent_at),
        }
        for m in sorted(messages, key=lambda m: (m.created_at, m.id))
    ]


def _answers(answers: list[Answer]) -> list[dict]:
    return [
        {"question": dict(a.question_label), "answer": dict(a.display)}
        for a in sorted(answers, key=lambda a: a.id)
    ]


def _attendee_sections(attendee: Attendee) -> dict:
    order = attendee.order
    consents = db.session.scalars(
        sa.select(ConsentRecord)
        .where(ConsentRecord.attendee_id == attendee.id)
        .order_by(ConsentRecord.at, ConsentRecord.id)
    )
    checkins = db.session.execute(
        sa.select(Checkin, CheckinList.name)
        .join(CheckinList, Checkin.list_id == CheckinList.id)
        .where(Checkin.attendee_id == attendee.id)
        .order_by(Checkin.scanned_at, Checkin.id)
    )
    # A transfer keeps the attendee row: messages to earlier holders (their tickets, the notice
    # that the ticket was passed on) are theirs, not this person's.
    messages = db.session.scalars(
        sa.select(OutboxMessage).where(
            OutboxMessage.attendee_id == attendee.id, OutboxMessage.kind != "ticket_transferred"
        )
    )
    scans = db.session.execute(
        sa.select(Sponsor.name, Lead.scanned_at)
        .join(Sponsor, Lead.sponsor_id == Sponsor.id)
        .where(Lead.attendee_id == attendee.id)
        .order_by(Lead.scanned_at, Lead.id)
    )
    return {
        "attendee": {
            "name": attendee.name,
            "email": attendee.email,
            "language": attendee.language,
            "order_code": order.code,
            "ticket_type": dict(attendee.ticket_type.name),
            "price_ore": attendee.price_ore,
            "vat_rate": attendee.vat_rate,
            "currency": order.event.currency,
            "sponsor_consent": attendee.sponsor_consent,
            "cancelled_at": _iso(attendee.cancelled_at),
            "erased_at": _iso(attendee.erased_at),
        },
        "answers": _answers(attendee.answers),
        "workshops": [
            {"name": dict(s.name), "slot": s.slot, "starts_at": _iso(s.starts_at), "room": s.room}
            for s in attendee.sessions
        ],
        "consent_history": [{"given": c.given, "at": _iso(c.at), "via": c.via} for c in consents],
        "sponsor_scans": [{"sponsor": name, "scanned_at": _iso(at)} for name, at in scans],
        "checkins": [
            {
                "list": list_name,
                "scanned_at": _iso(c.scanned_at),
                "gate": c.gate,
                "offline": c.offline,
                "counted": c.counts,
                "undone_at": _iso(c.undone_at),
                "conflict": c.conflict,
            }
            for c, list_name in checkins
        ],
        "emails": _emails([m for m in messages if _same_address(m, attendee.email)]),
    }


def _waitlist_entries(order: Order) -> list[WaitingListEntry]:
    return list(
        db.session.scalars(
            sa.select(WaitingListEntry)
            .where(WaitingListEntry.order_id == order.id)
            .order_by(WaitingListEntry.id)
        )
    )


def _buyer_messages(order: Order, entries: list[WaitingListEntry]) -> list[OutboxMessage]:
    """Messages to the buyer: about the order as a whole, and the waiting-list offers that led to it."""
    about_order = sa.and_(OutboxMessage.order_id == order.id, OutboxMessage.attendee_id.is_(None))
    offers = OutboxMessage.waitlist_entry_id.in_([e.id for e in entries])
    return list(db.session.scalars(sa.select(OutboxMessage).where(sa.or_(about_order, offers))))


def _buyer_sections(order: Order) -> dict:
    currency = order.event.currency
    entries = _waitlist_entries(order)
    payments = db.session.scalars(sa.select(Payment).where(Payment.order_id == order.id).order_by(Payment.id))
    documents = db.session.scalars(
        sa.select(SalesDocument).where(SalesDocument.order_id == order.id).order_by(SalesDocument.number)
    )
    refunds = db.session.scalars(sa.select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
    return {
        "buyer": {"name": order.buyer_name, "email": order.buyer_email, "language": order.buyer_language},
        "order": {
            "code": order.code,
            "status": order.status.value,
            "payment_method": order.payment_method.value,
            "total_ore": order.total_ore,
            "vat_ore": order.vat_ore,
            "currency": currency,
            "created_at": _iso(order.created_at),
            "paid_at": _iso(order.paid_at),
            "closed_at": _iso(order.closed_at),
            "erased_at": _iso(order.erased_at),
        },
        "order_answers": _answers(order.answers),
        # The tickets bought, without the holders' names: those are the holders' own data.
        "tickets": [
            {
                "ticket_type": dict(a.ticket_type.name),
                "price_ore": a.price_ore,
                "vat_rate": a.vat_rate,
                "cancelled_at": _iso(a.cancelled_at),
            }
            for a in order.attendees
        ],
        "payments": [
            {
                "attempt": p.attempt,
                "amount_ore": p.amount_ore,
                "status": p.status.value,
                "created_at": _iso(p.created_at),
                "paid_at": _iso(p.paid_at),
            }
            for p in payments
        ],
        "sales_documents": [
            {
                "kind": d.kind.value,
                "number": d.number,
                "issued_at": _iso(d.issued_at),
                "total_ore": d.total_ore,
                "status": d.status.value,
                "due_at": _iso(d.due_at),
                "paid_at": _iso(d.paid_at),
                "buyer": dict(d.buyer),
            }
            for d in documents
        ],
        "refunds": [
            {
                "amount_ore": r.amount_ore,
                "status": r.status.value,
                "created_at": _iso(r.created_at),
                "done_at": _iso(r.done_at),
            }
            for r in refunds
        ],
        "waiting_list": [
            {
                "name": e.name,
                "email": e.email,
                "seats": e.seats,
                "status": e.status.value,
                "created_at": _iso(e.created_at),
            }
            for e in entries
        ],
        "emails": _emails(_buyer_messages(order, entries)),
    }


def personal_data(attendee: Attendee, *, now: datetime) -> dict:
    """Everything held about the attendee, for them to download (JSON-serialisable; times in
    ISO 8601 with their UTC offset; amounts in øre with `currency`). Keys, always present:

    - `format` ("eventreg-personal-data/1"), `generated_at`, `event` {slug, title {nb, en},
      starts_at, ends_at, venue}, `retention` {days, erase_on}
    - `attendee` {name, email, language, order_code, ticket_type {nb, en}, price_ore, vat_rate,
      currency, sponsor_consent, cancelled_at, erased_at}
    - `answers` [{question {nb, en}, answer {nb, en}}] as the attendee saw them
    - `workshops` [{name, slot, starts_at, room}]
    - `consent_history` [{given, at, via}] every change of sponsor consent
    - `sponsor_scans` [{sponsor, scanned_at}] the sponsors who scanned the attendee's badge
    - `checkins` [{list, scanned_at, gate, offline, counted, undone_at, conflict}]
    - `emails` [{kind, subject, to, status, created_at, sent_at}] sent (or to be sent) to them
    - `order` {code, status, created_at}
    - `as_buyer`: None, or when the attendee is the buyer (same email) the sections of
      `order_data` from `buyer` to `emails`.

    Nothing about the order's other attendees; not the private link itself."""
    order = attendee.order
    return {
        **_header(order.event, now=now),
        **_attendee_sections(attendee),
        "order": {"code": order.code, "status": order.status.value, "created_at": _iso(order.created_at)},
        "as_buyer": _buyer_sections(order) if same_person(order, attendee) else None,
    }


def order_data(order: Order, *, now: datetime) -> dict:
    """Everything held about the buyer of `order`, for them to download. Keys, always present:

    - `format`, `generated_at`, `event`, `retention` as in `personal_data`
    - `buyer` {name, email, language}
    - `order` {code, status, payment_method, total_ore, vat_ore, currency, created_at, paid_at,
      closed_at, erased_at}
    - `order_answers` [{question, answer}]: the questions asked once per order
    - `tickets` [{ticket_type, price_ore, vat_rate, cancelled_at}]: without the holders' names
    - `payments` [{attempt, amount_ore, status, created_at, paid_at}] (card payments)
    - `sales_documents` [{kind, number, issued_at, total_ore, status, due_at, paid_at, buyer}]
    - `refunds` [{amount_ore, status, created_at, done_at}]
    - `waiting_list` [{name, email, seats, status, created_at}]: the entry the order came from
    - `emails` [{kind, subject, to, status, created_at, sent_at}] sent to the buyer
    - `as_attendee` [the attendee sections of `personal_data`, `attendee` to `emails`] for the
      attendees who are the buyer themselves (same email)."""
    return {
        **_header(order.event, now=now),
        **_buyer_sections(order),
        "as_attendee": [_attendee_sections(a) for a in order.attendees if same_person(order, a)],
    }


# --- erasing --------------------------------------------------------------------------------


def _scrub_messages(where) -> list[str]:
    """Removes the recipients' names and addresses (and personal facts) from the outbox messages
    matching `where`; those still waiting (or failed, which could be sent again) are never sent.
    Returns their Message-IDs."""
    messages = db.session.scalars(
        sa.select(OutboxMessage).where(where, OutboxMessage.recipient_email != "")
    ).all()
    for m in messages:
        if m.status in (MessageStatus.QUEUED, MessageStatus.FAILED):
            m.status = MessageStatus.SUPERSEDED
            m.claimed_until = None
            m.last_error = ERASED_REASON
        elif m.status == MessageStatus.SENT:
            m.last_error = None  # an earlier attempt's error may quote the address
        m.recipient_name = ERASED
        m.recipient_email = ""
        if any(k in m.context for k in PERSONAL_CONTEXT_KEYS):
            m.context = {k: v for k, v in m.context.items() if k not in PERSONAL_CONTEXT_KEYS}
    return [m.message_id for m in messages]


def _erase_attendee_row(attendee: Attendee, *, now: datetime, messages: bool = True) -> Erasure:
    if attendee.sponsor_consent:
        attendee.sponsor_consent = False
        db.session.add(ConsentRecord(attendee_id=attendee.id, given=False, at=now, via="erasure"))
    attendee.name = ERASED
    attendee.email = None
    # In SQL, not through the collection: it may have been loaded before the lock.
    db.session.execute(sa.delete(Answer).where(Answer.attendee_id == attendee.id))
    db.session.expire(attendee, ["answers"])
    # A sponsor's lead (with its note) is about the person; it goes with them.
    db.session.execute(sa.delete(Lead).where(Lead.attendee_id == attendee.id))
    attendee.manage_token = new_token()  # nobody knows it: the old link stops working
    attendee.ticket_version += 1  # and so does the QR code
    attendee.erased_at = now
    # The audit log keeps that organisers changed the attendee, not what they changed it from or to.
    db.session.execute(
        sa.update(AuditEntry)
        .where(AuditEntry.object_type == "attendee", AuditEntry.object_id == attendee.id)
        .values(before=None, after=None)
    )
    ids = _scrub_messages(OutboxMessage.attendee_id == attendee.id) if messages else []
    return Erasure(attendees=1, message_ids=ids)


def _erase_buyer_row(order: Order, *, now: datetime, messages: bool = True) -> Erasure:
    entries = _waitlist_entries(order)
    ids = []
    if messages:
        about_order = sa.and_(OutboxMessage.order_id == order.id, OutboxMessage.attendee_id.is_(None))
        offers = OutboxMessage.waitlist_entry_id.in_([e.id for e in entries])
        ids = _scrub_messages(sa.or_(about_order, offers))
    for entry in entries:
        _erase_waitlist_entry(entry)
    db.session.execute(sa.delete(Answer).where(Answer.order_id == order.id, Answer.attendee_id.is_(None)))
    order.buyer_name = ERASED
    order.buyer_email = None
    order.manage_token = new_token()
    order.erased_at = now
    db.session.expire(order, ["answers"])
    return Erasure(buyers=1, message_ids=ids)


def _erase_waitlist_entry(entry: WaitingListEntry) -> None:
    entry.name = ERASED
    entry.email = ""
    entry.offer_token = None  # the offer link stops working


def _check_via(via: str) -> None:
    if via not in VIAS:
        raise ValueError(f"unknown erasure channel {via!r}")


def erase_attendee(attendee: Attendee, *, now: datetime, via: str) -> Erasure:
    """Anonymises the attendee (see the module's docstring for what goes and what stays). When
    the attendee is also the buyer (same email) and the order may be erased too, the buyer's
    data goes with it. Erasing twice changes nothing the second time.

    Allowed once the event has ended, or when the ticket is no longer valid (cancelled or
    refunded, the order expired); `via` says who asked ("attendee", "buyer", "staff",
    "retention"). Raises Conflict (`ticket_valid`, 409) otherwise, NotFound when the attendee's
    link was replaced meanwhile (a transfer or an erasure won the race), ValueError for an
    unknown `via`. The caller commits, then calls `forget_mail_copies`."""
    _check_via(via)
    if (refusal := erasure_refusal(attendee, now=now)) is not None:
        raise refusal
    token = attendee.manage_token
    lock_event_for_sale(attendee.order.event)
    db.session.refresh(attendee)
    db.session.refresh(attendee.order)
    if attendee.erased_at is not None:
        return Erasure()
    if attendee.manage_token != token:
        raise NotFound(_l("No such ticket. The link may be old: a transferred ticket gets a new link."))
    if (refusal := erasure_refusal(attendee, now=now)) is not None:
        raise refusal
    order = attendee.order
    also_buyer = erases_buyer_too(attendee, now=now)  # before the email address goes
    result = _erase_attendee_row(attendee, now=now)
    if also_buyer:
        result += _erase_buyer_row(order, now=now)
    db.session.flush()
    log.info("personal data of attendee %s erased (via %s)", attendee.id, via)
    return result


def erase_buyer(order: Order, *, now: datetime, via: str) -> Erasure:
    """Anonymises the buyer of `order`: their name and email, the answers given once per order,
    the waiting-list entry the order came from and the messages to them; the order's private
    link stops working. The attendees who are the buyer themselves (same email) are erased
    too; other attendees keep their data and their own links. Erasing twice changes nothing
    the second time.

    Allowed once the event has ended, or when no ticket of the order is valid any more.
    Raises Conflict (`registration_valid`, 409) otherwise, NotFound when the order's link was
    replaced meanwhile, ValueError for an unknown `via`. The caller commits, then calls
    `forget_mail_copies`."""
    _check_via(via)
    if (refusal := order_erasure_refusal(order, now=now)) is not None:
        raise refusal
    token = order.manage_token
    lock_event_for_sale(order.event)
    db.session.refresh(order)
    if order.erased_at is not None:
        return Erasure()
    if order.manage_token != token:
        raise NotFound(_l("No such order."))
    attendees = db.session.scalars(
        sa.select(Attendee)
        .where(Attendee.order_id == order.id)
        .order_by(Attendee.position)
        .execution_options(populate_existing=True)
    ).all()
    if (refusal := order_erasure_refusal(order, now=now)) is not None:
        raise refusal
    same = [a for a in attendees if a.erased_at is None and same_person(order, a)]
    result = _erase_buyer_row(order, now=now)
    for attendee in same:
        result += _erase_attendee_row(attendee, now=now)
    db.session.flush()
    log.info("personal data of the buyer of order %s erased (via %s)", order.id, via)
    return result


def forget_mail_copies(message_ids: list[str]) -> int:
    """Deletes the copies of these messages that the embedded default wrote to the outbox folder
    (no MAIL_SERVER: one .eml file per message, with the whole body). Call it after the commit.
    Returns how many files it deleted."""
    folder = Path(current_app.config["OUTBOX_DIR"])
    deleted = 0
    for message_id in message_ids:
        # The file name as mail/transport.py's FolderTransport makes it (a test keeps them equal).
        name = re.sub(r"[^A-Za-z0-9._@-]", "_", message_id.strip("<>"))
        path = folder / f"{name}.eml"
        if path.exists():
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


# --- the daily job --------------------------------------------------------------------------


def _holds_personal_data():
    """SQL: the event still has something personal in it."""
    return sa.or_(
        sa.exists().where(Attendee.event_id == Event.id, Attendee.erased_at.is_(None)),
        sa.exists().where(Order.event_id == Event.id, Order.erased_at.is_(None)),
        sa.exists().where(WaitingListEntry.event_id == Event.id, WaitingListEntry.email != ""),
        sa.exists().where(OutboxMessage.event_id == Event.id, OutboxMessage.recipient_email != ""),
    )


def purge_event(event: Event, *, now: datetime) -> Erasure:
    """Erases every attendee and buyer of `event` not yet erased, the names and addresses on its
    waiting list, and those of every message about the event (also those to earlier holders of
    transferred tickets). Takes the event's lock and reads everything under it, so a second
    purge of the same event that waited for the lock finds nothing left. Only flushes."""
    lock_event_for_sale(event)
    fresh = {"populate_existing": True}
    result = Erasure()
    attendees = db.session.scalars(
        sa.select(Attendee)
        .where(Attendee.event_id == event.id, Attendee.erased_at.is_(None))
        .order_by(Attendee.id)
        .execution_options(**fresh)
    ).all()
    for attendee in attendees:
        result += _erase_attendee_row(attendee, now=now, messages=False)
    orders = db.session.scalars(
        sa.select(Order)
        .where(Order.event_id == event.id, Order.erased_at.is_(None))
        .order_by(Order.id)
        .execution_options(**fresh)
    ).all()
    for order in orders:
        result += _erase_buyer_row(order, now=now, messages=False)
    entries = db.session.scalars(
        sa.select(WaitingListEntry)
        .where(WaitingListEntry.event_id == event.id, WaitingListEntry.email != "")
        .execution_options(**fresh)
    ).all()
    for entry in entries:
        _erase_waitlist_entry(entry)
    result.message_ids += _scrub_messages(OutboxMessage.event_id == event.id)
    db.session.flush()
    return result


def purge_due(*, now: datetime) -> int:
    """The daily job: erases the personal data of every event whose retention period has run
    out (`purge_date` has passed), one locked transaction per event. Idempotent, and safe to run
    twice at the same time (two schedulers): each event is purged under its lock, and what is
    erased already is left alone. Commits, and deletes the outbox folder's copies after each
    commit. Returns how many attendees and buyers it erased."""
    candidates = db.session.scalars(
        sa.select(Event).where(Event.ends_at <= now, _holds_personal_data()).order_by(Event.id)
    ).all()
    due = [event.id for event in candidates if purge_date(event) <= now]
    db.session.commit()  # end the read: on SQLite each event's lock must be its transaction's first write
    erased = 0
    for event_id in due:
        event = db.session.get(Event, event_id)
        result = purge_event(event, now=now)
        db.session.commit()
        forget_mail_copies(result.message_ids)
        erased += result.attendees + result.buyers
        if result.attendees or result.buyers or result.message_ids:
            log.info(
                "retention: event %s purged (%d attendees, %d buyers, %d messages)",
                event_id,
                result.attendees,
                result.buyers,
                len(result.message_ids),
            )
    return erased
