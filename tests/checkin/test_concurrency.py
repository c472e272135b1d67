"""Many gates scanning the same ticket at the same moment: exactly one admission."""

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from eventreg.checkin import services
from eventreg.checkin.models import Checkin, CheckinList
from eventreg.checkin.services import ListData, OfflineScan, Result, save_list
from eventreg.extensions import db
from eventreg.registration.models import Attendee
from eventreg.registration.services import create_order
from eventreg.tickets.services import ticket_qr
from tests.factories import NOW, make_event, make_user, order_data

GATES = 16


@pytest.fixture
def ticket(app):
    with app.app_context():
        event = make_event(prices=(0,))
        make_user("door@example.org", checkin_of=event)
        lst = save_list(event, ListData(name="Main entrance"))
        qr = ticket_qr(create_order(event, order_data(event), now=NOW).attendees[0], now=NOW)
        db.session.commit()
        yield lst.id, qr
        db.session.remove()


def widen_the_race(monkeypatch, *, guarded=True):
    """Every gate waits between "is this ticket inside?" and writing the admission, so without
    protection they all pass the check before any of them writes. `guarded=False` takes away both
    protections: the per-ticket lock and the unique entry number."""
    admissions, numbers = services.admissions, itertools.count(1)

    class Unguarded(services.Admissions):
        next_entry_no = property(lambda self: next(numbers))

    def slow(lst, attendee_id, nonce=None):
        state = admissions(lst, attendee_id, nonce)
        time.sleep(0.05)
        return state if guarded else Unguarded(state.rows, state.earlier)

    def unlocked(event_id, attendee_ids):
        return {a.id: a for a in db.session.scalars(sa.select(Attendee).where(Attendee.id.in_(attendee_ids)))}

    monkeypatch.setattr(services, "admissions", slow)
    if not guarded:
        monkeypatch.setattr(services, "locked_attendees", unlocked)


def gates_scan(app, list_id, scan):
    start = threading.Barrier(GATES)

    def gate(n):
        start.wait()  # before taking a connection: all gates are ready, none holds a lock yet
        with app.app_context():
            try:
                lst = db.session.get(CheckinList, list_id)
                answer = scan(lst, n)
                db.session.commit()
                return answer
            finally:
                db.session.remove()

    with ThreadPoolExecutor(GATES) as pool:
        return list(pool.map(gate, range(GATES)))


def online(qr):
    return lambda lst, n: services.redeem(lst, qr=qr, gate=f"Gate {n}", user=None, now=NOW).result


def test_gates_scanning_one_ticket_at_once_admit_it_once(app, ticket, monkeypatch):
    list_id, qr = ticket
    widen_the_race(monkeypatch)
    results = gates_scan(app, list_id, online(qr))
    assert sorted(results).count(Result.OK) == 1
    assert results.count(Result.ALREADY_REDEEMED) == GATES - 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Checkin.id))) == 1


def test_without_lock_and_entry_numbers_the_same_race_admits_twice(app, ticket, monkeypatch):
    """Shows that the race above is real: the lock and the unique entry number are what stop it."""
    list_id, qr = ticket
    widen_the_race(monkeypatch, guarded=False)
    assert gates_scan(app, list_id, online(qr)).count(Result.OK) > 1


def test_offline_uploads_and_online_gates_racing_keep_one_admission(app, ticket, monkeypatch):
    list_id, qr = ticket
    widen_the_race(monkeypatch)

    def scan(lst, n):
        if n % 2:
            return online(qr)(lst, n)
        (answer,) = services.upload_scans(
            lst,
            [OfflineScan(nonce=f"offline-{n:04}", scanned_at=NOW, qr=qr, gate=f"Gate {n}")],
            user=None,
            now=NOW,
        )
        return answer["outcome"]

    results = gates_scan(app, list_id, scan)
    assert results.count(Result.OK) + results.count("admitted") == 1
    with app.app_context():
        counting = db.session.scalars(sa.select(Checkin).where(Checkin.entry_no.is_not(None))).all()
        assert len(counting) == 1
