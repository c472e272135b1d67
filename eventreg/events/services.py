"""Reading events as attendees see them."""

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from eventreg.accounts.models import EventRoleKind, User
from eventreg.accounts.services import has_event_role
from eventreg.core.errors import NotFound
from eventreg.events.models import (
    Event,
    EventSession,
    EventStatus,
    Question,
    QuestionScope,
    TicketType,
    Visibility,
)
from eventreg.extensions import db

# What registering reads: one query per collection instead of one per row.
_DETAILS = (
    selectinload(Event.ticket_types),
    selectinload(Event.sessions),
    selectinload(Event.questions).selectinload(Question.ticket_types),
)


def list_published_events() -> list[Event]:
    return list(
        db.session.scalars(
            sa.select(Event)
            .where(Event.status != EventStatus.DRAFT)
            .order_by(Event.starts_at)
            .options(*_DETAILS)
        )
    )


def get_event(slug: str, *, actor: User | None = None, details: bool = True) -> Event:
    """The event with this slug, with its ticket types, workshops and questions unless `details`
    is False. Raises NotFound for unknown slugs, and for drafts unless the actor organises it."""
    query = sa.select(Event).where(Event.slug == slug)
    event = db.session.scalar(query.options(*_DETAILS) if details else query)
    check_visible(event, actor)
    return event


def check_visible(event: Event | None, actor: User | None) -> None:
    """Raises NotFound for no event, and for a draft unless the actor organises it."""
    if event is None or (
        event.status == EventStatus.DRAFT and not has_event_role(actor, event.id, EventRoleKind.ORGANISER)
    ):
        raise NotFound(_l("No such event."))


def slots_of(event: Event) -> list[tuple[str, list[EventSession]]]:
    """Workshops grouped by time slot, in the event's order (one may be chosen per slot)."""
    slots: dict[str, list[EventSession]] = {}
    for s in event.sessions:
        slots.setdefault(s.slot, []).append(s)
    return list(slots.items())


def sales_state(ticket_type: TicketType, now) -> str:
    """ "not_started", "open" or "ended": where `now` falls in the ticket type's sales window."""
    if ticket_type.sales_start and now < ticket_type.sales_start:
        return "not_started"
    if ticket_type.sales_end and now >= ticket_type.sales_end:
        return "ended"
    return "open"


def ticket_type_allowed(
    ticket_type: TicketType, *, actor: User | None, on_behalf: bool, voucher=None
) -> bool:
    """Whether this buyer may choose the ticket type at all (capacity and sales window aside)."""
    match ticket_type.visibility:
        case Visibility.PUBLIC:
            return True
        case Visibility.MEMBERS:
            return on_behalf or bool(actor is not None and getattr(actor, "is_member", False))
        case Visibility.VOUCHER:
            return on_behalf or (voucher is not None and voucher.ticket_type_id == ticket_type.id)
        case Visibility.HIDDEN:
            return on_behalf
    return False


def listed_ticket_types(event: Event, *, actor: User | None) -> list[TicketType]:
    """Ticket types shown on the public event page (voucher-only types appear once unlocked)."""
    return [
        tt
        for tt in event.ticket_types
        if tt.visibility == Visibility.PUBLIC
        or (tt.visibility == Visibility.MEMBERS and getattr(actor, "is_member", False))
    ]


def list_events_by_ids(ids: list[int] | None) -> list[Event]:
    """Events (drafts included) with these ids, soonest first; None means every event."""
    q = sa.select(Event).order_by(Event.starts_at)
    if ids is not None:
        q = q.where(Event.id.in_(ids))
    return list(db.session.scalars(q))


def attendee_questions(event: Event, ticket_type: TicketType) -> list[Question]:
    """The attendee-scope questions asked of someone with `ticket_type` (no ticket types set:
    asked of everyone)."""
    return [
        q
        for q in event.questions
        if q.scope == QuestionScope.ATTENDEE and (not q.ticket_types or ticket_type in q.ticket_types)
    ]


def order_questions(event: Event) -> list[Question]:
    """The questions asked once per order."""
    return [q for q in event.questions if q.scope == QuestionScope.ORDER]
