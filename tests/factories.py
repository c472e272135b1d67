"""Builders for what tests need; each returns flushed rows with sensible defaults."""

from datetime import UTC, datetime

import sqlalchemy as sa

from eventreg.accounts.models import EventRoleKind
from eventreg.accounts.services import create_user, grant_event_role
from eventreg.events.models import (
    Event,
    EventSession,
    EventStatus,
    Organiser,
    Question,
    QuestionKind,
    Quota,
    TicketType,
)
from eventreg.extensions import db
from eventreg.payments.invoices import InvoiceDetails
from eventreg.registration.services import AttendeeData, OrderData

NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


def make_organiser(name="Mikrofinans Norge", **kw) -> Organiser:
    kw.setdefault("org_number", "997654323")
    kw.setdefault("bank_account", "15031234562")
    kw.setdefault("address", "Storgata 10\n0155 Oslo")
    organiser = Organiser(name=name, **kw)
    db.session.add(organiser)
    db.session.flush()
    return organiser


def make_event(slug="forum", *, seats=10, prices=(100_00,), vat=25, **kw) -> Event:
    """An event whose ticket types (one per price) share one quota of `seats`; its organiser is
    the first one in the database (made when there is none)."""
    kw.setdefault("status", EventStatus.PUBLISHED)
    if "organiser" not in kw:
        kw["organiser"] = db.session.scalar(sa.select(Organiser).order_by(Organiser.id)) or make_organiser()
    event = Event(
        slug=slug,
        title={"nb": f"Forum {slug}", "en": f"Forum {slug}"},
        starts_at=datetime(2027, 5, 27, 7, 0, tzinfo=UTC),
        ends_at=datetime(2027, 5, 28, 15, 0, tzinfo=UTC),
        **kw,
    )
    quota = Quota(name="Seats", size=seats) if seats is not None else None
    event.quotas = [quota] if quota else []
    event.ticket_types = [
        TicketType(
            name={"nb": f"Billett {i}", "en": f"Ticket {i}"},
            price_ore=price,
            vat_rate=vat if price else 0,
            position=i,
            quotas=[quota] if quota else [],
        )
        for i, price in enumerate(prices)
    ]
    db.session.add(event)
    db.session.flush()
    return event


def add_session(event, name="Workshop", *, slot="day1", capacity=None) -> EventSession:
    s = EventSession(event=event, name={"nb": name, "en": name}, slot=slot, capacity=capacity)
    db.session.add(s)
    db.session.flush()
    return s


def add_question(event, kind=QuestionKind.TEXT, *, label="Question", **kw) -> Question:
    q = Question(event=event, kind=kind, label={"nb": label, "en": label}, **kw)
    db.session.add(q)
    db.session.flush()
    return q


def make_user(email="user@example.org", *, member=False, admin=False, organiser_of=None, checkin_of=None):
    user = create_user(email, email.split("@")[0], "secret-pw-kaffe", is_admin=admin, is_member=member)
    if organiser_of is not None:
        grant_event_role(user, organiser_of.id, EventRoleKind.ORGANISER)
    if checkin_of is not None:
        grant_event_role(user, checkin_of.id, EventRoleKind.CHECKIN)
    return user


def order_data(event, n=1, *, ticket_type=None, names=None, **kw) -> OrderData:
    """A valid order of `n` attendees of one ticket type (the event's first by default)."""
    tt = ticket_type or event.ticket_types[0]
    names = names or [f"Attendee {i}" for i in range(n)]
    attendees = [
        AttendeeData(name=name, email=f"a{i}@example.org", ticket_type_id=tt.id)
        for i, name in enumerate(names)
    ]
    kw.setdefault("buyer_name", "Buyer")
    kw.setdefault("buyer_email", "buyer@example.org")
    if kw.get("payment_method") == "invoice":
        kw.setdefault("invoice", invoice_details())
    return OrderData(attendees=attendees, **kw)


def invoice_details(**kw) -> InvoiceDetails:
    """A valid organisation (the organisation number's check digit is right)."""
    kw.setdefault("org_number", "923609016")
    kw.setdefault("org_name", "Kommune-Kari AS")
    kw.setdefault("address", "Postboks 1\n0101 Oslo")
    return InvoiceDetails(**kw)
