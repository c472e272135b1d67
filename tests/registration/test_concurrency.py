"""No oversell: many buyers race for the last seats of a shared quota, in threads and in
processes, on whichever database the suite runs on (SQLite and PostgreSQL in CI)."""

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from eventreg.extensions import db
from eventreg.registration.models import Attendee
from eventreg.registration.services import create_order
from tests.factories import NOW, make_event, order_data
from tests.registration.racers import buy_one, process_buyer, widen_the_race

SEATS_LEFT = 5


@pytest.fixture
def nearly_full(app):
    """A quota of 12 shared by two ticket types, 7 already sold: 5 seats left."""
    with app.app_context():
        event = make_event(seats=12, prices=(1950_00, 450_00))
        create_order(event, order_data(event, 7), now=NOW)
        db.session.commit()
        ids = event.id, [tt.id for tt in event.ticket_types]
        db.session.remove()
    return ids


def sold_seats(app, event_id):
    with app.app_context():
        n = db.session.scalar(sa.select(sa.func.count(Attendee.id)).where(Attendee.event_id == event_id))
        db.session.remove()
    return n


def race_in_threads(app, event_id, type_ids, buyers=30):
    barrier = threading.Barrier(buyers)

    def attempt(i):
        barrier.wait()
        return buy_one(app, event_id, type_ids[i % 2], f"buyer{i}")

    with ThreadPoolExecutor(buyers) as pool:
        return list(pool.map(attempt, range(buyers)))


def test_threads_racing_for_the_last_seats_never_oversell(app, nearly_full, monkeypatch):
    event_id, type_ids = nearly_full
    widen_the_race(monkeypatch)
    results = race_in_threads(app, event_id, type_ids)
    assert results.count("sold") == SEATS_LEFT
    assert results.count("sold_out") == 30 - SEATS_LEFT  # every loser got a clean "sold out"
    assert sold_seats(app, event_id) == 12


def test_without_the_lock_the_same_race_oversells(app, nearly_full, monkeypatch):
    """The control experiment: it shows the race above is real, so its pass means something."""
    event_id, type_ids = nearly_full
    widen_the_race(monkeypatch, lock=False)
    results = race_in_threads(app, event_id, type_ids)
    assert results.count("sold") > SEATS_LEFT
    assert sold_seats(app, event_id) > 12


def test_processes_racing_like_separate_app_servers_never_oversell(app, nearly_full, database_url):
    event_id, type_ids = nearly_full
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no connection shared by fork
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(4) as pool:
            pending = [
                pool.apply_async(process_buyer, (database_url, event_id, type_ids, 6, start, f"p{i}"))
                for i in range(4)
            ]
            start.set()
            results = [r for p in pending for r in p.get(timeout=120)]
    assert results.count("sold") == SEATS_LEFT
    assert results.count("sold_out") == 24 - SEATS_LEFT
    assert sold_seats(app, event_id) == 12
