"""A Celery worker, started as README.md's Production section says, is killed (SIGKILL, its pool
children too) in the middle of delivering a batch of confirmations; a new worker delivers the rest.
Every message arrives, and none twice except what the README admits: a message the killed worker
had handed to the SMTP server but not yet recorded as sent, repeated under the same Message-ID."""

import email
import re
from collections import Counter

import pytest
import sqlalchemy as sa
from celery import Celery

from eventreg.core.clock import now
from eventreg.extensions import db
from eventreg.mail.models import MessageStatus, OutboxMessage
from eventreg.registration.services import AttendeeData, OrderData, create_order, mark_paid
from eventreg.tickets.services import signing_key
from tests.factories import make_event
from tests.production.stack import (
    REDIS_URL,
    only_on_postgres,
    run_migrations,
    start_celery_worker,
    wait_for,
)

pytestmark = [only_on_postgres, pytest.mark.slow]

MESSAGES = 80  # more than one batch (BATCH = 50) per pool child would take; PDFs make them slow
KILL_AFTER = 10  # messages received before the kill: clearly some, clearly not all
# The README's worker line runs Celery's default prefork pool: one child per core. Each child
# delivers one message at a time, so at most this many were between the server's 250 and the
# commit that records it when the worker died.
POOL_CHILDREN = 2
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


def queue_confirmations(n: int) -> list[str]:
    """`n` paid orders, one attendee each with the buyer's address: one confirmation each (with its
    ticket PDF) in the outbox, queued by mark_paid as a payment would. Returns their Message-IDs."""
    event = make_event("mail-2027", seats=n, prices=(2950_00,))
    ticket_type = event.ticket_types[0]
    for i in range(n):
        address = f"buyer{i}@example.org"
        data = OrderData(
            buyer_name=f"Buyer {i}",
            buyer_email=address,
            buyer_language="nb" if i % 2 else "en",
            payment_method="card",
            attendees=[AttendeeData(name=f"Buyer {i}", email=address, ticket_type_id=ticket_type.id)],
        )
        order = create_order(event, data, now=now())
        mark_paid(order, now=now())
        db.session.commit()
    signing_key(event, now=now())  # made by the first ticket otherwise, under the event's lock
    db.session.commit()
    ids = list(db.session.scalars(sa.select(OutboxMessage.message_id)))
    db.session.remove()
    assert len(ids) == n
    return ids


def outbox_statuses(app) -> Counter:
    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
        ).all()
        db.session.remove()
    return Counter(dict(rows))


def wake_workers(queue: str, times: int) -> None:
    """What a commit that queued mail does in production (mail/delivery.py), `times` times: one
    `eventreg.deliver_mail` task each, on the production Redis and queue."""
    client = Celery("wake", broker=REDIS_URL, set_as_current=False)
    try:
        for _ in range(times):
            client.send_task("eventreg.deliver_mail", queue=queue, ignore_result=True)
    finally:
        client.close()


def message_id_of(raw: bytes) -> str | None:
    header_end = raw.find(b"\r\n\r\n")
    match = MESSAGE_ID.search(raw, 0, header_end if header_end >= 0 else len(raw))
    return match.group(1).decode() if match else None


def received_ids(smtp) -> Counter:
    """Message-ID → copies the SMTP server accepted."""
    return Counter(message_id_of(raw) for _, _, raw in list(smtp.received))


def test_a_killed_worker_loses_no_mail_and_doubles_none_but_its_last(
    production_env, local_app, processes, queue, smtp, tmp_path
):
    env = production_env
    run_migrations(env, tmp_path)
    with local_app.app_context():
        message_ids = queue_confirmations(MESSAGES)

    first = start_celery_worker(env, tmp_path, "worker-1")
    processes.append(first)
    wake_workers(queue, POOL_CHILDREN)  # both pool children deliver, each its own claimed batch
    wait_for(
        lambda: len(smtp.received) >= KILL_AFTER,
        timeout=90,
        what=f"{KILL_AFTER} messages from the first worker",
        processes=[first],
        step=0.01,
    )
    first.kill()
    at_kill = received_ids(smtp)
    assert sum(at_kill.values()) < MESSAGES, "the first worker delivered everything before the kill"
    assert outbox_statuses(local_app)[MessageStatus.QUEUED] > 0

    second = start_celery_worker(env, tmp_path, "worker-2")
    processes.append(second)
    wake_workers(queue, POOL_CHILDREN)
    wait_for(
        lambda: outbox_statuses(local_app)[MessageStatus.SENT] == MESSAGES,
        timeout=90,
        what=lambda: f"all {MESSAGES} messages sent (outbox now: {dict(outbox_statuses(local_app))})",
        processes=[second],
        step=0.2,
    )

    received = received_ids(smtp)
    assert set(received) == set(message_ids), "a message was lost or one came that was never queued"
    doubled = {mid: n for mid, n in received.items() if n > 1}
    # A repeat is a message the killed worker had in flight: it had reached the server before the
    # kill, and it came again under its Message-ID, with the same content.
    assert all(n == 2 for n in doubled.values()), doubled
    assert len(doubled) <= POOL_CHILDREN, doubled
    order = [message_id_of(raw) for _, _, raw in smtp.received]
    # The killed worker's last messages may reach the server's handler just after the snapshot
    # at the kill, but before anything of the new worker, which takes seconds to start.
    in_flight = sum(at_kill.values()) + POOL_CHILDREN
    for mid in doubled:
        assert order.index(mid) < in_flight, f"{mid} was not in flight at the kill"
        copies = [email.message_from_bytes(raw) for _, _, raw in smtp.received if message_id_of(raw) == mid]
        assert len({c["Subject"] for c in copies}) == 1 and len({c["To"] for c in copies}) == 1
    print(f"received at the kill: {sum(at_kill.values())}, repeated: {len(doubled)}")
