"""The daily job that erases the personal data of events past their retention period."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eventreg.extensions import db
from eventreg.mail.models import OutboxMessage
from eventreg.privacy import services
from eventreg.privacy.services import ERASED
from eventreg.registration.models import Attendee, ConsentRecord, Order, WaitingListEntry
from eventreg.registration.self_service import transfer_ticket
from eventreg.tasks import PURGE_EVERY, purge_personal_data
from tests.factories import NOW
from tests.privacy.conftest import EMAILS, NAMES, move_event, register, tables_mentioning


def three_events() -> dict:
    """`due`: ended two years ago; `recent`: ended a month ago (within its 365 days); `coming`."""
    regs = {slug: register(slug, now=NOW) for slug in ("due", "recent", "coming")}
    # Before the event: the fourth ticket was passed on; the earlier holder got a notice.
    due_attendee = db.session.get(Attendee, regs["due"].attendee_ids[3])
    transfer_ticket(due_attendee, name="Kari Nordmann", email="kari@example.org", language="nb", now=NOW)
    move_event(regs["due"].event_id, ends_at=NOW - timedelta(days=730))
    move_event(regs["recent"].event_id, ends_at=NOW - timedelta(days=30))
    return regs


def people(reg) -> list[tuple[str, str | None]]:
    rows = db.session.execute(
        sa.select(Attendee.name, Attendee.email)
        .where(Attendee.order_id == reg.order_id)
        .order_by(Attendee.id)
    )
    return [tuple(r) for r in rows]


def test_the_purge_erases_exactly_the_events_past_their_retention(ctx):
    regs = three_events()
    db.session.commit()
    due = db.session.get(Order, regs["due"].order_id).event
    assert services.purge_date(due) == due.ends_at + timedelta(days=365)

    assert services.purge_due(now=NOW) == 4 + 1  # four attendees and the buyer

    assert people(regs["due"]) == [(ERASED, None)] * 4
    assert db.session.get(Order, regs["due"].order_id).buyer_name == ERASED
    assert people(regs["recent"]) == list(zip(NAMES, EMAILS, strict=True))
    assert people(regs["coming"]) == list(zip(NAMES, EMAILS, strict=True))
    # Every message about the due event, also the notice to the ticket's earlier holder.
    due_messages = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.event_id == regs["due"].event_id)
    ).all()
    assert {m.kind for m in due_messages} >= {"ticket_transferred", "ticket", "confirmation", "invoice"}
    assert {(m.recipient_name, m.recipient_email) for m in due_messages} == {(ERASED, "")}
    assert all("new_name" not in m.context for m in due_messages)
    entries = db.session.scalars(sa.select(WaitingListEntry).order_by(WaitingListEntry.event_id)).all()
    assert [e.email for e in entries] == ["", EMAILS[0], EMAILS[0]]
    # The new holder and the earlier one are gone; the other events still hold their copies.
    assert tables_mentioning("kari@example.org") == set()
    assert tables_mentioning("Kari Nordmann") == set()
    assert "attendee" in tables_mentioning(NAMES[2])

    # Idempotent: nothing left to do, also on the next days.
    assert services.purge_due(now=NOW) == 0
    assert services.purge_due(now=NOW + timedelta(days=1)) == 0


def test_the_recent_event_goes_when_its_retention_runs_out(ctx):
    regs = three_events()
    recent = db.session.get(Order, regs["recent"].order_id).event
    recent.retention_days = 30
    db.session.commit()
    assert services.purge_due(now=NOW - timedelta(seconds=1)) == 5  # only "due"
    assert services.purge_due(now=NOW) == 5  # "recent" ended exactly 30 days ago
    assert people(regs["recent"]) == [(ERASED, None)] * 4
    assert people(regs["coming"])[0] == (NAMES[0], EMAILS[0])


def test_the_cli_and_the_celery_task_run_the_purge(app, ctx):
    three_events()
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge-personal-data"])
    assert result.exit_code == 0 and "5 attendees and buyers erased" in result.output
    assert purge_personal_data() == 0  # the task body, as a worker runs it
    schedule = app.extensions["celery"].conf.beat_schedule["purge-personal-data"]
    assert schedule == {"task": "eventreg.purge_personal_data", "schedule": PURGE_EVERY}
    assert PURGE_EVERY == 86400


def _race(app, monkeypatch, *, lock: bool) -> list:
    """Two purges that start together and reach the first event's lock at the same moment."""
    with app.app_context():
        for i in range(3):
            reg = register(f"past-{i}", now=NOW)
            move_event(reg.event_id, ends_at=NOW - timedelta(days=400))
        db.session.commit()
        db.session.remove()

    real_lock = services.lock_event_for_sale
    at_lock = threading.Barrier(2, timeout=30)
    first = threading.local()

    def racing_lock(event):
        if not getattr(first, "done", False):
            first.done = True
            at_lock.wait()
        if lock:
            real_lock(event)

    monkeypatch.setattr(services, "lock_event_for_sale", racing_lock)
    results, errors = [], []

    def purge():
        try:
            with app.app_context():
                results.append(services.purge_due(now=NOW))
                db.session.remove()
        except Exception as error:  # noqa: BLE001 — the test reports it
            errors.append(error)

    threads = [threading.Thread(target=purge) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_two_purges_racing_erase_everybody_exactly_once(app, monkeypatch):
    results = _race(app, monkeypatch, lock=True)
    assert sum(results) == 3 * 5
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Attendee.erased_at.is_(None))) == 0
        # One withdrawal per consent given: nobody was erased twice.
        withdrawn = db.session.scalar(
            sa.select(sa.func.count()).select_from(ConsentRecord).where(ConsentRecord.via == "erasure")
        )
        assert withdrawn == 3
        db.session.remove()


@pytest.mark.slow
def test_control_without_the_lock_both_purges_erase_the_same_people(app, monkeypatch):
    """Keeps the race above honest: without the lock the two jobs erase the same rows twice."""
    results = _race(app, monkeypatch, lock=False)
    assert sum(results) > 3 * 5
