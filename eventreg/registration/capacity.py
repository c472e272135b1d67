"""Seats: how many are left, and the lock that makes selling them safe.

Every transaction that takes seats of an event (an order, a waiting-list offer) first bumps
`event.sale_lock` with an UPDATE. On PostgreSQL that row lock makes all sales of one event wait
for each other until commit, on every app server; on SQLite the UPDATE takes the database's write
lock, and it is the first write of the transaction, so no stale snapshot was read before it. Seats
are then counted *after* the lock, so two buyers can never both take the last seat.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from eventreg.events.models import Event
from eventreg.extensions import db
from eventreg.registration.models import (
    Attendee,
    AttendeeSession,
    Order,
    OrderStatus,
    WaitingListEntry,
    WaitlistStatus,
)


def lock_event_for_sale(event: Event) -> None:
    db.session.execute(sa.update(Event).where(Event.id == event.id).values(sale_lock=Event.sale_lock + 1))


def holds_seats(now: datetime):
    """Orders whose attendees occupy seats: paid ones, and pending ones whose hold has not run out.

    Checking the deadline here (not only the status) gives expired holds back at once, even
    before the periodic job has marked them expired."""
    return sa.or_(
        Order.status == OrderStatus.PAID,
        sa.and_(Order.status == OrderStatus.PENDING, Order.expires_at > now),
    )


@dataclass(frozen=True)
class Availability:
    ticket_types: dict[int, int | None]  # seats left per ticket type; None = no limit
    sessions: dict[int, int | None]  # seats left per workshop
    quotas: dict[int, int]
    event_left: int | None

    def ticket_type_left(self, ticket_type_id: int) -> int | None:
        return self.ticket_types.get(ticket_type_id)


def compute_availability(event: Event, *, now: datetime, exclude_entry_id: int | None = None) -> Availability:
    """Seats left for each ticket type, quota and workshop of `event` at `now`.

    Waiting-list offers hold their seats until they expire; `exclude_entry_id` leaves out the
    offer that is being turned into an order."""
    used_by_type: dict[int, int] = dict(
        db.session.execute(
            sa.select(Attendee.ticket_type_id, sa.func.count())
            .join(Order, Attendee.order_id == Order.id)
            .where(Attendee.event_id == event.id, holds_seats(now))
            .group_by(Attendee.ticket_type_id)
        ).all()
    )
    offers = (
        sa.select(WaitingListEntry.ticket_type_id, sa.func.sum(WaitingListEntry.seats))
        .where(
            WaitingListEntry.event_id == event.id,
            WaitingListEntry.status == WaitlistStatus.OFFERED,
            WaitingListEntry.offer_expires_at > now,
        )
        .group_by(WaitingListEntry.ticket_type_id)
    )
    if exclude_entry_id is not None:
        offers = offers.where(WaitingListEntry.id != exclude_entry_id)
    for type_id, seats in db.session.execute(offers).all():
        used_by_type[type_id] = used_by_type.get(type_id, 0) + int(seats)

    quotas = {q.id: q.size - sum(used_by_type.get(t.id, 0) for t in q.ticket_types) for q in event.quotas}
    event_left = None if event.total_capacity is None else event.total_capacity - sum(used_by_type.values())

    ticket_types: dict[int, int | None] = {}
    for tt in event.ticket_types:
        limits = [quotas[q.id] for q in tt.quotas]
        if event_left is not None:
            limits.append(event_left)
        ticket_types[tt.id] = max(0, min(limits)) if limits else None

    used_by_session = dict(
        db.session.execute(
            sa.select(AttendeeSession.session_id, sa.func.count())
            .join(Attendee, AttendeeSession.attendee_id == Attendee.id)
            .join(Order, Attendee.order_id == Order.id)
            .where(Attendee.event_id == event.id, holds_seats(now))
            .group_by(AttendeeSession.session_id)
        ).all()
    )
    sessions = {
        s.id: None if s.capacity is None else max(0, s.capacity - used_by_session.get(s.id, 0))
        for s in event.sessions
    }
    return Availability(
        ticket_types=ticket_types,
        sessions=sessions,
        quotas=quotas,
        event_left=event_left,
    )


def seats_fit(av: Availability, event: Event, wanted: dict[int, int]) -> bool:
    """Whether `wanted` ({ticket_type_id: seats}) fits every quota and the event total at once.

    Two ticket types sharing a quota must fit together, not only each on its own."""
    by_id = {tt.id: tt for tt in event.ticket_types}
    need_per_quota: dict[int, int] = {}
    for type_id, n in wanted.items():
        for q in by_id[type_id].quotas:
            need_per_quota[q.id] = need_per_quota.get(q.id, 0) + n
    if any(av.quotas[qid] < n for qid, n in need_per_quota.items()):
        return False
    return av.event_left is None or av.event_left >= sum(wanted.values())
