"""A registration with everything a person leaves behind: answers, a workshop, sponsor consent,
a check-in, an invoice, emails and a waiting-list entry; names in four scripts."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from eventreg.checkin.services import ListData, redeem, save_list
from eventreg.events.models import Event, QuestionKind, QuestionScope, Sponsor
from eventreg.extensions import db
from eventreg.registration.models import Order, WaitingListEntry, WaitlistStatus
from eventreg.registration.self_service import set_sponsor_consent
from eventreg.registration.services import AttendeeData, OrderData, create_order
from tests.factories import add_question, add_session, invoice_details, make_event
from tests.web.conftest import english, login  # noqa: F401 (fixtures)

NAMES = ["Åse Ødegård", "محمد يونس", "Ольга Петрова", "王小明"]
EMAILS = ["ase@example.org", "mohammed@example.org", "olga@example.org", "wang@example.org"]


@dataclass
class Registration:
    event_id: int
    order_id: int
    attendee_ids: list[int]
    order_link: str
    ticket_links: list[str]


def register(slug: str, *, now: datetime, names=NAMES, emails=EMAILS) -> Registration:
    """One invoice order for `names`: the first attendee is the buyer (same email). Everyone
    answers a free-text question that repeats their name, the order answers an order question,
    the second attendee gives sponsor consent and is checked in, and the buyer came from the
    waiting list. Flushes."""
    event = make_event(slug, seats=50)
    event.sponsors = [Sponsor(name="Nordic Impact Fund")]
    diet = add_question(event, QuestionKind.TEXT, label="Anything we should know?")
    org = add_question(event, QuestionKind.ORGANISATION, label="Organisation", scope=QuestionScope.ORDER)
    workshop = add_session(event, "Impact measurement")
    tt = event.ticket_types[0]
    data = OrderData(
        buyer_name=names[0],
        buyer_email=emails[0],
        attendees=[
            AttendeeData(
                name=name,
                email=email,
                ticket_type_id=tt.id,
                answers={str(diet.id): f"Nut allergy ({name})"},
                session_ids=[workshop.id],
            )
            for name, email in zip(names, emails, strict=True)
        ],
        answers={str(org.id): "Ødegård Consulting"},
        payment_method="invoice",
        invoice=invoice_details(reference=names[0]),
    )
    order = create_order(event, data, now=now)
    attendees = order.attendees
    if len(attendees) > 1:
        set_sponsor_consent(attendees[1], True, now=now, via="attendee")
        door = save_list(event, ListData(name="Main entrance"))
        redeem(door, attendee_id=attendees[1].id, gate="Door A", user=None, now=now)
    db.session.add(
        WaitingListEntry(
            event_id=event.id,
            ticket_type_id=tt.id,
            seats=len(names),
            name=names[0],
            email=emails[0],
            status=WaitlistStatus.ACCEPTED,
            order_id=order.id,
            created_at=now - timedelta(days=1),
        )
    )
    db.session.flush()
    return Registration(
        event_id=event.id,
        order_id=order.id,
        attendee_ids=[a.id for a in attendees],
        order_link=f"/orders/{order.code}/{order.manage_token}",
        ticket_links=[f"/tickets/{a.manage_token}" for a in attendees],
    )


def move_event(event_id: int, *, ends_at: datetime) -> Event:
    """Moves the event so that it ends at `ends_at` (it started a day earlier)."""
    event = db.session.get(Event, event_id)
    event.starts_at, event.ends_at = ends_at - timedelta(days=1), ends_at
    event.self_service_until = None
    db.session.flush()
    return event


def tables_mentioning(text: str) -> set[str]:
    """The tables in which any column of any row contains `text` (case-insensitive)."""
    db.session.flush()
    needle = text.casefold()
    found = set()
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)):
            if any(needle in str(value).casefold() for value in row):
                found.add(table.name)
                break
    return found


@pytest.fixture
def order_of():
    def get(reg: Registration) -> Order:
        return db.session.get(Order, reg.order_id)

    return get
