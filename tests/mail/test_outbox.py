"""The outbox: mail is queued with the change that causes it and delivered exactly once, through
outages, retries, permanent refusals and several workers at once (a real SMTP server)."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eventreg.extensions import db
from eventreg.mail.models import MessageStatus, OutboxMessage
from eventreg.mail.services import (
    MAX_ATTEMPTS,
    deliver_all_due,
    deliver_due,
    queue_order_cancelled,
    resend_message,
    retry_delay,
)
from eventreg.registration.services import cancel_order, create_order
from tests.factories import NOW, make_event, order_data


def pending_order(event, n=1, *, email="buyer@example.org", **kw):
    data = order_data(event, n=n, payment_method="card", **kw)
    data.buyer_email = email
    return create_order(event, data, now=NOW)


def queue_many(app, count, *, seats=None):
    """`count` cancelled-order notices (a kind without attachments), committed."""
    with app.app_context():
        event = make_event(seats=seats or count)
        for i in range(count):
            order = pending_order(event, email=f"buyer{i}@example.org")
            cancel_order(order, now=NOW)
        db.session.commit()
        ids = list(db.session.scalars(sa.select(OutboxMessage.message_id)))
        db.session.remove()
    return ids


def statuses(app):
    with app.app_context():
        result = Counter(db.session.scalars(sa.select(OutboxMessage.status)))
        db.session.remove()
    return result


def received_ids(smtp):
    return Counter(m["Message-ID"] for m in smtp.messages())


def test_a_message_is_queued_with_its_cause_and_sent_once(ctx, smtp):
    event = make_event()
    order = pending_order(event)
    cancel_order(order, now=NOW)
    db.session.commit()
    [message] = db.session.scalars(sa.select(OutboxMessage))
    assert (message.kind, message.recipient_email, message.status) == (
        "order_cancelled",
        "buyer@example.org",
        MessageStatus.QUEUED,
    )

    assert deliver_due(now=NOW).sent == 1
    assert deliver_due(now=NOW + timedelta(hours=1)).sent == 0  # nothing twice
    [mail] = smtp.messages()
    assert mail["Message-ID"] == message.message_id
    assert order.code in mail["Subject"]
    assert message.status == MessageStatus.SENT and message.sent_at == NOW


def test_no_mail_for_a_change_that_was_rolled_back(ctx, smtp):
    event = make_event()
    order = pending_order(event)
    db.session.commit()
    cancel_order(order, now=NOW)
    db.session.rollback()
    assert deliver_due(now=NOW).sent == 0
    assert smtp.received == []
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0


def test_a_server_outage_in_the_middle_of_200_messages_loses_and_doubles_nothing(app, smtp):
    ids = queue_many(app, 200)
    smtp.die_after = 70  # the 71st message is answered "421 shutting down", then the port closes

    with app.app_context():
        first = deliver_all_due(now_fn=lambda: NOW)
        db.session.remove()
    assert not smtp.running
    assert first.sent == 70 and first.retrying == 130
    assert statuses(app) == {MessageStatus.SENT: 70, MessageStatus.QUEUED: 130}

    smtp.start()
    with app.app_context():
        assert deliver_all_due(now_fn=lambda: NOW).sent == 0  # retries wait for their back-off
        later = deliver_all_due(now_fn=lambda: NOW + retry_delay(1))
        db.session.remove()
    assert later.sent == 130
    assert received_ids(smtp) == Counter({mid: 1 for mid in ids})  # every one, exactly once
    assert statuses(app) == {MessageStatus.SENT: 200}


def test_a_failed_attempt_is_retried_with_back_off_and_then_given_up(ctx, smtp):
    order = pending_order(make_event())
    message = queue_order_cancelled(order, now=NOW)
    db.session.commit()
    smtp.stop()

    at = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = deliver_due(now=at)
        assert (report.retrying, report.failed) == ((1, 0) if attempt < MAX_ATTEMPTS else (0, 1))
        assert message.attempts == attempt
        assert "ConnectionRefused" in message.last_error
        if attempt < MAX_ATTEMPTS:
            assert message.next_attempt_at == at + retry_delay(attempt)
            assert deliver_due(now=message.next_attempt_at - timedelta(seconds=1)).retrying == 0
            at = message.next_attempt_at
    assert message.status == MessageStatus.FAILED

    smtp.start()
    resend_message(message, now=at)
    db.session.commit()
    assert deliver_due(now=at).sent == 1
    assert [m["Message-ID"] for m in smtp.messages()] == [message.message_id]


def test_a_refused_address_fails_at_once_and_other_mail_still_goes(ctx, smtp):
    event = make_event()
    bad = queue_order_cancelled(pending_order(event, email="nobody@example.org"), now=NOW)
    good = queue_order_cancelled(pending_order(event, email="someone@example.org"), now=NOW)
    db.session.commit()
    smtp.refuse.add("nobody@example.org")

    report = deliver_due(now=NOW)
    assert (report.sent, report.failed) == (1, 1)
    assert bad.status == MessageStatus.FAILED and "550" in bad.last_error and bad.attempts == 1
    assert good.status == MessageStatus.SENT
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages()] == ["someone@example.org"]


@pytest.mark.parametrize("workers", [4])
def test_workers_running_at_once_never_send_a_message_twice(app, smtp, workers):
    ids = queue_many(app, 120)
    barrier = threading.Barrier(workers)
    errors = []

    def work():
        try:
            with app.app_context():
                barrier.wait()
                deliver_all_due(now_fn=lambda: NOW, limit=10)
                db.session.remove()
        except Exception as error:  # noqa: BLE001 — reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert received_ids(smtp) == Counter({mid: 1 for mid in ids})
    assert statuses(app) == {MessageStatus.SENT: 120}


def test_a_worker_that_died_holding_messages_loses_them_to_the_next_one(app, smtp):
    from eventreg.mail.services import CLAIM_SECONDS, ClaimLocks, _claim_due

    ids = queue_many(app, 3)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            locks = ClaimLocks()
            assert len(_claim_due(now=NOW, limit=10, locks=locks)) == 3
            assert deliver_due(now=NOW).sent == 0  # another worker leaves them alone meanwhile
            # The worker dies: PostgreSQL drops its connection and the locks with it. The next
            # worker takes the messages over at once, long before their claim deadline.
            locks.connection.invalidate()
            deadline = time.monotonic() + 10
            sent = 0
            while sent < 3 and time.monotonic() < deadline:
                sent += deliver_due(now=NOW).sent
                time.sleep(0.05)
            assert sent == 3
        else:  # SQLite: one machine; a worker presumed dead once its claim deadline has passed
            assert len(_claim_due(now=NOW, limit=10)) == 3  # claimed, then the worker "dies"
            assert deliver_due(now=NOW).sent == 0  # another worker leaves them alone meanwhile
            assert deliver_due(now=NOW + timedelta(seconds=CLAIM_SECONDS + 1)).sent == 3
        db.session.remove()
    assert received_ids(smtp) == Counter({mid: 1 for mid in ids})


def test_on_postgres_a_slow_worker_keeps_its_messages_past_the_claim_deadline(app, smtp):
    """A batch whose SMTP server is slow may outlast CLAIM_SECONDS: while its worker lives, no
    other worker sends those messages too."""
    from eventreg.mail.services import CLAIM_SECONDS, _claim_due, claim_locks

    ids = queue_many(app, 3)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            db.session.remove()
            pytest.skip("SQLite has no connection-bound claims: its deadline is the claim")
        later = NOW + timedelta(seconds=CLAIM_SECONDS + 1)
        with claim_locks() as locks:
            assert len(_claim_due(now=NOW, limit=10, locks=locks)) == 3
            assert deliver_due(now=later).sent == 0
        assert deliver_due(now=later).sent == 3  # released when its round ended
        db.session.remove()
    assert received_ids(smtp) == Counter({mid: 1 for mid in ids})
