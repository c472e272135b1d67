"""Buyers racing for the last seats, in threads or in separate processes (importable by `spawn`)."""

import time

from eventreg import create_app
from eventreg.core.errors import SoldOut
from eventreg.events.models import Event
from eventreg.extensions import db
from eventreg.registration import services
from eventreg.registration.services import AttendeeData, OrderData, create_order
from tests.factories import NOW


def buy_one(app, event_id: int, ticket_type_id: int, who: str) -> str:
    """One attempt in its own app context (own session and connection): "sold" or "sold_out"."""
    with app.app_context():
        try:
            event = db.session.get(Event, event_id)
            data = OrderData(
                buyer_name=who,
                buyer_email=f"{who}@example.org",
                attendees=[AttendeeData(name=who, email=f"{who}@example.org", ticket_type_id=ticket_type_id)],
            )
            create_order(event, data, now=NOW)
            db.session.commit()
            return "sold"
        except SoldOut:
            db.session.rollback()
            return "sold_out"
        finally:
            db.session.remove()


def widen_the_race(monkeypatch, *, delay=0.03, lock=True):
    """Slow down the step between counting seats and writing the order, so that a missing lock
    would show as an oversell every time; with `lock=False` the lock is taken away."""
    monkeypatch.setattr(services, "compute_availability", _slowed(services.compute_availability, delay))
    if not lock:
        monkeypatch.setattr(services, "lock_event_for_sale", lambda event: None)


def _slowed(count, delay):
    def slow_count(*args, **kwargs):
        result = count(*args, **kwargs)
        time.sleep(delay)
        return result

    return slow_count


def process_buyer(database_url: str, event_id: int, type_ids: list[int], attempts: int, start, name: str):
    """A separate process with its own app and connection pool, as another app server would be."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    services.compute_availability = _slowed(services.compute_availability, 0.03)  # this process only
    start.wait()
    results = [buy_one(app, event_id, type_ids[i % len(type_ids)], f"{name}-{i}") for i in range(attempts)]
    with app.app_context():
        db.engine.dispose()
    return results
