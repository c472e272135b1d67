"""The outbox: queue a message in the caller's transaction, deliver what is due later.

Queueing only inserts a row (cheap enough for the sale path). `deliver_due` is the worker: it
claims due messages, composes each one (compose.py) and hands it to the transport (transport.py);
a message is marked sent only after the server accepted it, and failures are retried with
back-off until MAX_ATTEMPTS. Delivery is at least once: each message keeps one Message-ID for
all its attempts, so a copy repeated after a crash at the wrong moment is recognisable.

Who may deliver a message: on PostgreSQL the worker holding its advisory lock, taken on a
connection of the worker's own that stays open while it delivers; the lock dies with that
connection, so the messages of a worker that was killed pass on at once, and a live worker keeps
its messages however long its SMTP server takes. On SQLite (one machine, the embedded default) the
claim deadline `claimed_until`: a worker that has not finished a message by then is presumed dead."""

import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from eventreg.accounts.models import User
from eventreg.core.errors import Conflict, NotFound
from eventreg.events.models import Event
from eventreg.extensions import db
from eventreg.mail.models import MessageStatus, OutboxMessage
from eventreg.registration.models import Attendee, Order, WaitingListEntry

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_SECONDS = 300  # SQLite: a worker that has not finished a message by then is presumed dead
BATCH = 50
# PostgreSQL: the first key of the advisory lock (CLAIM_LOCK, message id) a worker holds on each
# message it claimed ("mail" in ASCII).
CLAIM_LOCK = 0x6D61696C


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at 2 h: about 4 hours in all before giving up."""
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 7200))


# --- queueing -------------------------------------------------------------------------------


def _message_id(msg_uuid: str) -> str:
    domain = urlsplit(current_app.config["PUBLIC_URL"]).hostname or "eventreg.invalid"
    return f"<{msg_uuid}@{domain.encode('idna').decode()}>"


def queue_message(
    kind: str,
    *,
    to_email: str,
    to_name: str,
    language: str,
    now: datetime,
    event: Event | None = None,
    order: Order | None = None,
    attendee: Attendee | None = None,
    waitlist_entry: WaitingListEntry | None = None,
    context: dict | None = None,
) -> OutboxMessage:
    """Adds one message to the outbox in the current transaction: it is sent if and only if the
    transaction commits."""
    from eventreg.mail.compose import subject_for  # compose imports the documents; keep queueing light

    with force_locale(language):
        subject = subject_for(kind, event=event, order=order, context=context or {})
    message = OutboxMessage(
        message_id=_message_id(uuid.uuid4().hex),
        kind=kind,
        event_id=event.id if event else None,
        order_id=order.id if order else None,
        attendee_id=attendee.id if attendee else None,
        waitlist_entry_id=waitlist_entry.id if waitlist_entry else None,
        recipient_name=to_name,
        recipient_email=to_email,
        language=language,
        subject=subject[:300],
        context=context or {},
        next_attempt_at=now,
        created_at=now,
    )
    db.session.add(message)
    db.session.info["outbox_dirty"] = True  # wakes the worker after commit (see delivery.py)
    return message


def _same_person(a: str | None, b: str | None) -> bool:
    return bool(a and b and a.strip().lower() == b.strip().lower())


def queue_order_confirmation(order: Order, *, now: datetime) -> list[OutboxMessage]:
    """The buyer's confirmation (all tickets), and each attendee's own ticket when the attendee
    has an email address other than the buyer's."""
    db.session.flush()  # the order and attendees need their ids
    messages = []
    if order.buyer_email:
        messages.append(_queue_to_buyer("confirmation", order, now=now))
    for attendee in order.attendees:
        if attendee.email and not _same_person(attendee.email, order.buyer_email):
            messages.append(queue_ticket(attendee, now=now))
    return messages


def queue_ticket(attendee: Attendee, *, now: datetime) -> OutboxMessage:
    """One attendee's own ticket, with their private link (after a transfer, or on request)."""
    if not attendee.email:
        raise Conflict(_l("This attendee has no email address."), code="no_email")
    return queue_message(
        "ticket",
        to_email=attendee.email,
        to_name=attendee.name,
        language=attendee.language,
        now=now,
        event=attendee.order.event,
        order=attendee.order,
        attendee=attendee,
        context={"ticket_version": attendee.ticket_version},
    )


def queue_waitlist_offer(entry: WaitingListEntry, *, now: datetime) -> OutboxMessage:
    event = db.session.get(Event, entry.event_id)
    return queue_message(
        "waitlist_offer",
        to_email=entry.email,
        to_name=entry.name,
        language=entry.language,
        now=now,
        event=event,
        waitlist_entry=entry,
    )


def _queue_to_buyer(
    kind: str, order: Order, *, now: datetime, context: dict | None = None
) -> OutboxMessage | None:
    if not order.buyer_email:
        return None  # registered on someone's behalf without an address
    return queue_message(
        kind,
        to_email=order.buyer_email,
        to_name=order.buyer_name,
        language=order.buyer_language,
        now=now,
        event=order.event,
        order=order,
        context=context,
    )


def queue_hold_expired(order: Order, *, now: datetime) -> OutboxMessage | None:
    """Tells the buyer that an unpaid order lapsed and its seats were given back."""
    return _queue_to_buyer("hold_expired", order, now=now)


def queue_order_cancelled(order: Order, *, now: datetime) -> OutboxMessage | None:
    return _queue_to_buyer("order_cancelled", order, now=now)


def queue_ticket_transferred(
    attendee: Attendee, *, old_name: str, old_email: str | None, old_language: str, now: datetime
) -> list[OutboxMessage]:
    """After a transfer: the previous holder learns their ticket is no longer valid, and the
    new holder gets the new ticket."""
    messages = []
    if old_email:
        messages.append(
            queue_message(
                "ticket_transferred",
                to_email=old_email,
                to_name=old_name,
                language=old_language,
                now=now,
                event=attendee.order.event,
                order=attendee.order,
                attendee=attendee,
                context={"new_name": attendee.name},
            )
        )
    if attendee.email:
        messages.append(queue_ticket(attendee, now=now))
    return messages


def queue_document(doc, kind: str, *, now: datetime) -> OutboxMessage | None:
    """An invoice (`invoice`) or its reminder (`invoice_reminder`) with the PDF, to the buyer."""
    order = doc.order
    email = doc.buyer.get("email") or order.buyer_email
    if not email:
        return None  # registered on someone's behalf: the organiser hands the invoice over
    return queue_message(
        kind,
        to_email=email,
        to_name=order.buyer_name,
        language=doc.language,
        now=now,
        event=order.event,
        order=order,
        context={"document_id": doc.id, "number": doc.number},
    )


def queue_refund_notice(refund, *, now: datetime) -> OutboxMessage | None:
    """Tells the buyer what was refunded and which tickets stopped working."""
    db.session.flush()
    return _queue_to_buyer("refund", refund.order, now=now, context={"refund_id": refund.id})


# --- the organiser's view -------------------------------------------------------------------


def list_messages(
    event: Event, *, status: MessageStatus | None = None, limit: int = 200
) -> list[OutboxMessage]:
    q = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.event_id == event.id)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    )
    if status:
        q = q.where(OutboxMessage.status == status)
    return list(db.session.scalars(q))


def count_messages(event: Event) -> dict[MessageStatus, int]:
    rows = db.session.execute(
        sa.select(OutboxMessage.status, sa.func.count(OutboxMessage.id))
        .where(OutboxMessage.event_id == event.id)
        .group_by(OutboxMessage.status)
    )
    return {status: 0 for status in MessageStatus} | {status: n for status, n in rows}


def get_message(event: Event, message_id: int) -> OutboxMessage:
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.event_id != event.id:
        raise NotFound(_l("No such message."))
    return message


def resend_message(message: OutboxMessage, *, now: datetime, actor: User | None = None) -> None:
    """Puts a failed message back in the queue for a fresh round of attempts (same Message-ID:
    it was never accepted, so nobody has a copy)."""
    if message.status != MessageStatus.FAILED:
        raise Conflict(_l("Only messages that failed can be sent again."), code="not_failed")
    message.status = MessageStatus.QUEUED
    message.attempts = 0
    message.next_attempt_at = now
    message.claimed_until = None
    db.session.info["outbox_dirty"] = True
    log.info("message %s queued again by %s", message.message_id, actor.email if actor else "system")


# --- delivery -------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def __add__(self, other: "DeliveryReport") -> "DeliveryReport":
        return DeliveryReport(
            self.sent + other.sent, self.retrying + other.retrying, self.failed + other.failed
        )


class ClaimLocks:
    """PostgreSQL: the advisory locks by which a worker holds the messages it claimed, on a
    connection of their own that the worker keeps open until it has recorded them all (the
    session's connection commits after every message, which would release any row lock). If the
    worker dies, PostgreSQL drops the connection and with it the locks; TCP keepalives make that
    happen within about a minute also when the worker's machine vanishes."""

    def __init__(self):
        self.connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.connection.execute(
            sa.text(
                "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3"
            )
        )

    def take(self, ids: list[int]) -> list[int]:
        """Locks those of `ids` that no other worker holds; returns them."""
        if not ids:
            return []
        taken = self.connection.execute(
            sa.text(
                "SELECT id FROM unnest(CAST(:ids AS integer[])) AS id WHERE pg_try_advisory_lock(:lock, id)"
            ),
            {"ids": ids, "lock": CLAIM_LOCK},
        )
        return sorted(taken.scalars())

    def release(self) -> None:
        try:
            self.connection.execute(sa.select(sa.func.pg_advisory_unlock_all()))
        except Exception:  # noqa: BLE001 — a broken connection is thrown away, and its locks with it
            self.connection.invalidate()
        finally:
            self.connection.close()


@contextlib.contextmanager
def claim_locks() -> Iterator[ClaimLocks | None]:
    """The locks a delivery round holds its messages by (None on SQLite: the deadline does it)."""
    if db.engine.dialect.name != "postgresql":
        yield None
        return
    locks = ClaimLocks()
    try:
        yield locks
    finally:
        locks.release()


def _held_by_workers():
    """Ids of the messages whose advisory lock some worker holds (in this database)."""
    pg_locks = sa.table(
        "pg_locks",
        sa.column("locktype"),
        sa.column("database"),
        sa.column("classid"),
        sa.column("objid"),
        sa.column("objsubid"),
    )
    pg_database = sa.table("pg_database", sa.column("oid"), sa.column("datname"))
    return sa.select(sa.cast(pg_locks.c.objid, sa.BigInteger)).where(
        pg_locks.c.locktype == "advisory",
        pg_locks.c.classid == CLAIM_LOCK,
        pg_locks.c.objsubid == 2,  # the two-key form of the lock functions
        pg_locks.c.database
        == sa.select(pg_database.c.oid)
        .where(pg_database.c.datname == sa.func.current_database())
        .scalar_subquery(),
    )


def _claim_due(*, now: datetime, limit: int, locks: ClaimLocks | None = None) -> list[int]:
    """Takes up to `limit` due messages for this worker and commits, so other workers skip them.
    On PostgreSQL `locks` holds them (see ClaimLocks); without, they are claimed by the deadline
    alone."""
    due = (
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.status == MessageStatus.QUEUED, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if locks is not None:
        # Whoever holds a message's lock works on it; a deadline left by a dead worker is no claim.
        # The row locks keep claimers that run at once on different messages; the advisory lock,
        # taken before this transaction commits, is what keeps the message afterwards.
        due = due.where(OutboxMessage.id.not_in(_held_by_workers())).with_for_update(skip_locked=True)
        ids = locks.take(list(db.session.scalars(due)))
        if ids:
            db.session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            )
        db.session.commit()
        return ids
    due = due.where(sa.or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
    if db.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(due))
    if ids:
        # The WHERE repeats the test: on SQLite two workers may have read the same ids.
        claimed = db.session.execute(
            sa.update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(ids),
                OutboxMessage.status == MessageStatus.QUEUED,
                sa.or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            )
            .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            .returning(OutboxMessage.id)
        )
        ids = sorted(claimed.scalars())
    db.session.commit()
    return ids


def _record_failure(message: OutboxMessage, error: Exception, *, now: datetime) -> MessageStatus:
    from eventreg.mail.transport import is_permanent

    message.attempts += 1
    message.last_error = f"{type(error).__name__}: {error}"[:2000]
    message.claimed_until = None
    if message.attempts >= MAX_ATTEMPTS or is_permanent(error):
        message.status = MessageStatus.FAILED
        log.error("message %s failed for good: %s", message.message_id, message.last_error)
    else:
        message.next_attempt_at = now + retry_delay(message.attempts)
        log.warning("message %s attempt %d failed: %s", message.message_id, message.attempts, error)
    return message.status


def deliver_due(*, now: datetime, limit: int = BATCH) -> DeliveryReport:
    """Delivers up to `limit` due messages over one connection. Commits after every message, so
    an accepted message is recorded at once and a crash can repeat at most the one in flight."""
    with claim_locks() as locks:
        return _deliver_claimed(_claim_due(now=now, limit=limit, locks=locks), now=now)


def _deliver_claimed(ids: list[int], *, now: datetime) -> DeliveryReport:
    from eventreg.mail.compose import Superseded, compose
    from eventreg.mail.transport import open_transport

    report = DeliveryReport()
    if not ids:
        return report
    try:
        transport = open_transport()
    except OSError as error:  # server down: every claimed message waits for its next attempt
        for message_id in ids:
            status = _record_failure(db.session.get(OutboxMessage, message_id), error, now=now)
            report.failed += status == MessageStatus.FAILED
            report.retrying += status == MessageStatus.QUEUED
        db.session.commit()
        return report
    with transport:
        for message_id in ids:
            message = db.session.get(OutboxMessage, message_id)
            try:
                sender, raw = compose(message)
                transport.send(message.message_id, sender, message.recipient_email, raw)
            except Superseded as reason:
                message.status = MessageStatus.SUPERSEDED
                message.last_error = str(reason)
                message.claimed_until = None
            except Exception as error:  # noqa: BLE001 — any failure is recorded and retried
                db.session.rollback()
                message = db.session.get(OutboxMessage, message_id)
                status = _record_failure(message, error, now=now)
                report.failed += status == MessageStatus.FAILED
                report.retrying += status == MessageStatus.QUEUED
                if isinstance(error, OSError) and status == MessageStatus.QUEUED:
                    transport.reset()  # the connection may be dead; the next message reconnects
            else:
                message.status = MessageStatus.SENT
                message.sent_at = now
                message.attempts += 1
                message.claimed_until = None
                report.sent += 1
            db.session.commit()
    return report


def deliver_all_due(*, now_fn, limit: int = BATCH) -> DeliveryReport:
    """Delivers batches until nothing is due (the worker's job)."""
    total = DeliveryReport()
    while True:
        report = deliver_due(now=now_fn(), limit=limit)
        total += report
        if report.sent + report.retrying + report.failed < limit:
            return total
