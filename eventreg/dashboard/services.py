"""The organiser's dashboard: registrations, money, registrations per day, capacity, waiting list
and check-ins of one event, in a fixed number of queries whatever the number of attendees."""

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from eventreg.checkin.services import progress
from eventreg.events.models import Event
from eventreg.extensions import db
from eventreg.payments.services import money_summary
from eventreg.registration.capacity import compute_availability
from eventreg.registration.models import Attendee, Order, OrderStatus, WaitingListEntry, WaitlistStatus

MAX_DAYS = 120  # the chart shows at most the last 120 days with registrations


def dashboard(event: Event, *, now: datetime) -> dict:
    """Everything the dashboard shows, JSON-ready (money in øre, days in the event's timezone)."""
    tz = ZoneInfo(event.timezone)
    # Each attendee's state decided by the database, and counted there per ticket type and order
    # time: one row per order rather than per attendee, and no times read for those not counted.
    state = sa.case(
        (
            sa.or_(
                Attendee.cancelled_at.is_not(None),
                Order.status.in_([OrderStatus.CANCELLED, OrderStatus.REFUNDED]),
            ),
            "cancelled",
        ),
        (Order.status == OrderStatus.PAID, "paid"),
        (sa.and_(Order.status == OrderStatus.PENDING, Order.expires_at > now), "pending"),
        else_="lapsed",  # a hold that ran out
    )
    facts = (
        sa.select(
            state.label("state"),
            Attendee.ticket_type_id.label("type_id"),
            sa.case((state.in_(["paid", "pending"]), Order.created_at)).label("created_at"),
        )
        .join(Order, Attendee.order_id == Order.id)
        .where(Attendee.event_id == event.id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(facts.c.state, facts.c.type_id, facts.c.created_at, sa.func.count()).group_by(*facts.c)
    ).all()
    counts = Counter()
    sold = Counter()
    per_day: dict[date, Counter] = {}
    for state_, ticket_type_id, created_at, n in rows:
        counts[state_] += n
        if state_ in ("paid", "pending"):
            sold[ticket_type_id] += n
            per_day.setdefault(created_at.astimezone(tz).date(), Counter())[ticket_type_id] += n
    paid, pending, cancelled = counts["paid"], counts["pending"], counts["cancelled"]

    av = compute_availability(event, now=now)
    money = money_summary(event, now=now)
    waiting = dict(
        db.session.execute(
            sa.select(WaitingListEntry.status, sa.func.sum(WaitingListEntry.seats))
            .where(WaitingListEntry.event_id == event.id)
            .group_by(WaitingListEntry.status)
        ).all()
    )
    orders = db.session.scalar(sa.select(sa.func.count(Order.id)).where(Order.event_id == event.id))
    days = _days(sorted(per_day))
    return {
        "generated_at": now.isoformat(),
        "registrations": {"paid": paid, "pending": pending, "cancelled": cancelled, "orders": orders},
        "money": {
            "paid_ore": money.paid_ore,
            "pending_ore": money.pending_ore,
            "invoiced_unpaid_ore": money.invoiced_unpaid_ore,
            "refunded_ore": money.refunded_ore,
        },
        "per_day": {
            "days": [d.isoformat() for d in days],
            "series": [
                {"name": t.label, "counts": [per_day.get(d, Counter())[t.id] for d in days]}
                for t in event.ticket_types
            ],
        },
        "ticket_types": [
            {"name": t.label, "sold": sold[t.id], "left": av.ticket_type_left(t.id)}
            for t in event.ticket_types
        ],
        "quotas": [
            {"name": q.name, "size": q.size, "left": av.quotas.get(q.id, q.size)} for q in event.quotas
        ],
        "workshops": [
            {"name": s.label, "capacity": s.capacity, "left": av.sessions.get(s.id)} for s in event.sessions
        ],
        "waitlist": {
            "waiting": waiting.get(WaitlistStatus.WAITING, 0) or 0,
            "offered": waiting.get(WaitlistStatus.OFFERED, 0) or 0,
        },
        "checkins": [
            {"name": p.checkin_list.name, "inside": p.inside, "expected": p.expected} for p in progress(event)
        ],
    }


def _days(with_registrations: list[date]) -> list[date]:
    """Every day from the first registration to the last (days without any show as 0), at most
    the last MAX_DAYS."""
    if not with_registrations:
        return []
    first, last = with_registrations[0], with_registrations[-1]
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
