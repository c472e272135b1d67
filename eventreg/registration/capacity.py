"""Seats: how many are left, and the lock that makes selling them safe.

Every transaction that takes seats of an event (an order, a waiting-list offer) first bumps
`event.sale_lock` with an UPDATE. On PostgreSQL that row lock makes all sales of one event wait
for each other until commit, on every app server; on SQLite the UPDATE takes the database's write
lock, and it is the first write of the transaction, so no stale snapshot was read before it. Seats
are then counted *after* the lock, so two buyers can never both take the last seat.

Counting is plain SQL (two or three queries, no ORM collections), because it runs on every
attempt of a registration rush: once unlocked, to refuse a sold-out order cheaply, and once under
the lock.
"""

import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from eventreg.events.models import Event, EventSession, Quota, TicketType, ticket_type_quota
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
    """Attendees (joined with their orders) who occupy seats: those of paid orders, and of pending
    ones whose hold has not run out, except single tickets refunded out of an order.

    Checking the deadline here (not only the status) gives expired holds back at once, even
    before the periodic job has marked them expired."""
    return sa.and_(
        Attendee.cancelled_at.is_(None),
        sa.or_(
            Order.status == OrderStatus.PAID,
            sa.and_(Order.status == OrderStatus.PENDING, Order.expires_at > now),
        ),
    )


@dataclass(frozen=True)
class Availability:
    ticket_types: dict[int, int | None]  # seats left per ticket type; None = no limit
    quotas: dict[int, int]  # seats left per quota (negative if an organiser shrank it)
    quotas_of: dict[int, tuple[int, ...]]  # ticket type id → the quotas it draws on
    event_left: int | None
    sessions: dict[int, int | None]  # seats left per workshop (empty unless asked for)

    def ticket_type_left(self, ticket_type_id: int) -> int | None:
        return self.ticket_types.get(ticket_type_id)

    def fits(self, wanted: dict[int, int]) -> bool:
        """Whether `wanted` ({ticket_type_id: seats}) fits every quota and the event total at
        once: two ticket types sharing a quota must fit together, not only each on its own.
        Ticket types of other events are ignored here (validation reports them)."""
        need: dict[int, int] = {}
        for type_id, n in wanted.items():
            for quota_id in self.quotas_of.get(type_id, ()):
                need[quota_id] = need.get(quota_id, 0) + n
        if any(self.quotas[q] < n for q, n in need.items()):
            return False
        counted = sum(n for type_id, n in wanted.items() if type_id in self.quotas_of)
        return self.event_left is None or self.event_left >= counted


def _seats_query():
    """One statement for all seat counts of an event: each ticket type with its quotas (and their
    sizes) and the seats it uses (sold or held, plus live waiting-list offers). Built once: it
    runs on every attempt of a rush, and only its parameters change."""
    now, event_id, exclude = sa.bindparam("now"), sa.bindparam("event_id"), sa.bindparam("exclude_entry")
    sold = (
        sa.select(Attendee.ticket_type_id.label("type_id"), sa.func.count().label("n"))
        .join(Order, Attendee.order_id == Order.id)
        .where(Attendee.event_id == event_id, holds_seats(now))
        .group_by(Attendee.ticket_type_id)
    )
    offered = (
        sa.select(WaitingListEntry.ticket_type_id, sa.func.sum(WaitingListEntry.seats))
        .where(
            WaitingListEntry.event_id == event_id,
            WaitingListEntry.status == WaitlistStatus.OFFERED,
            WaitingListEntry.offer_expires_at > now,
            WaitingListEntry.id != exclude,
        )
        .group_by(WaitingListEntry.ticket_type_id)
    )
    both = sa.union_all(sold, offered).subquery()
    used = sa.select(both.c.type_id, sa.func.sum(both.c.n).label("n")).group_by(both.c.type_id).subquery()
    return (
        sa.select(TicketType.id, Quota.id, Quota.size, used.c.n)
        .select_from(TicketType)
        .outerjoin(ticket_type_quota, ticket_type_quota.c.ticket_type_id == TicketType.id)
        .outerjoin(Quota, Quota.id == ticket_type_quota.c.quota_id)
        .outerjoin(used, used.c.type_id == TicketType.id)
        .where(TicketType.event_id == event_id)
    )


_SEATS = _seats_query()


def compute_availability(
    event: Event, *, now: datetime, exclude_entry_id: int | None = None, sessions: bool = True
) -> Availability:
    """Seats left for each ticket type, quota and (with `sessions`) workshop of `event` at `now`.

    Waiting-list offers hold their seats until they expire; `exclude_entry_id` leaves out the
    offer that is being turned into an order."""
    params = {"event_id": event.id, "now": now, "exclude_entry": exclude_entry_id or 0}
    rows = db.session.execute(_SEATS, params)
    quotas_of: dict[int, tuple[int, ...]] = {}
    sizes: dict[int, int] = {}
    used_by_type: dict[int, int] = {}
    for type_id, quota_id, size, used in rows:
        quotas_of.setdefault(type_id, ())
        used_by_type[type_id] = int(used or 0)
        if quota_id is not None:
            quotas_of[type_id] += (quota_id,)
            sizes[quota_id] = size

    quotas = {
        q: size - sum(used_by_type[t] for t, its in quotas_of.items() if q in its)
        for q, size in sizes.items()
    }
    event_left = None if event.total_capacity is None else event.total_capacity - sum(used_by_type.values())
    ticket_types: dict[int, int | None] = {}
    for type_id, its_quotas in quotas_of.items():
        limits = [quotas[q] for q in its_quotas]
        if event_left is not None:
            limits.append(event_left)
        ticket_types[type_id] = max(0, min(limits)) if limits else None

    return Availability(
        ticket_types=ticket_types,
        quotas=quotas,
        quotas_of=quotas_of,
        event_left=event_left,
        sessions=_sessions_left(event, now) if sessions else {},
    )


def _sessions_left(event: Event, now: datetime) -> dict[int, int | None]:
    taken = (
        sa.select(AttendeeSession.session_id, sa.func.count().label("n"))
        .join(Attendee, AttendeeSession.attendee_id == Attendee.id)
        .join(Order, Attendee.order_id == Order.id)
        .where(Attendee.event_id == event.id, holds_seats(now))
        .group_by(AttendeeSession.session_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(EventSession.id, EventSession.capacity, taken.c.n)
        .outerjoin(taken, taken.c.session_id == EventSession.id)
        .where(EventSession.event_id == event.id)
    )
    return {sid: None if cap is None else max(0, cap - (n or 0)) for sid, cap, n in rows}


# A moment's memory of the last count per event, so that the thousands of attempts that follow a
# sell-out are refused without asking the database each time. Only refusals rest on it, never a
# sale: a refusal on a count up to a second old is the answer the buyer would have had a second
# earlier. Seats this process frees (cancellation, expiry, refund) clear the memory at once.
MEMORY_SECONDS = 1.0
_last_count: dict[int, tuple[datetime, float, Availability]] = {}


def remember_count(event: Event, now: datetime, av: Availability) -> None:
    _last_count[event.id] = (now, time.monotonic(), av)


def recent_count(event: Event, now: datetime) -> Availability | None:
    """The last count of the event if it is less than MEMORY_SECONDS old, by the clock the caller
    passes (tests move it) and by this process's own."""
    seen = _last_count.get(event.id)
    if seen is None:
        return None
    counted_at, counted_mono, av = seen
    fresh = 0 <= (now - counted_at).total_seconds() < MEMORY_SECONDS
    return av if fresh and time.monotonic() - counted_mono < MEMORY_SECONDS else None


def forget_count(event_id: int) -> None:
    _last_count.pop(event_id, None)
