"""A sponsored event with the questions the summary breaks down by, and a builder that registers
people with chosen answers, workshops, consent and payment state."""

from dataclasses import dataclass, field

import pytest

from eventreg.accounts.models import EventRoleKind
from eventreg.accounts.services import grant_event_role
from eventreg.events.models import Event, QuestionKind, Sponsor
from eventreg.extensions import db
from eventreg.registration.models import Attendee
from eventreg.registration.self_service import set_sponsor_consent
from eventreg.registration.services import AttendeeData, OrderData, create_order
from tests.factories import NOW, add_question, add_session, make_event, make_user
from tests.web.conftest import english, login  # noqa: F401 (fixtures)

# Ticket types of the forum: two free ones (paid at once) and one that costs money (pending).
FREE, FREE_2, PRICED = 0, 1, 2


@dataclass
class Person:
    name: str
    country: str | None = "NO"
    organisation: str | None = None
    org_type: str | None = "ngo"
    sector: str | None = None
    ticket: int = FREE
    workshop: int | None = None  # index into forum.sessions
    consent: bool = False
    email: str | None = None
    answers: dict = field(default_factory=dict)


def make_forum(slug="forum", *, sessions=True) -> Event:
    """A published event with a sponsor and the questions country, organisation, organisation
    type and sector; two workshops in one time slot."""
    event = make_event(slug, seats=500, prices=(0, 0, 100_00))
    event.max_attendees_per_order = 100
    event.sponsors = [Sponsor(name="Nordic Impact Fund")]
    add_question(event, QuestionKind.COUNTRY, label="Country", position=0)
    add_question(event, QuestionKind.ORGANISATION, label="Organisation", position=1)
    add_question(event, QuestionKind.ORG_TYPE, label="Organisation type", position=2)
    add_question(event, QuestionKind.SECTOR, label="Sector", position=3)
    if sessions:
        add_session(event, "Microfinance", slot="Day 1, 14:00")
        add_session(event, "Impact", slot="Day 1, 14:00")
    db.session.flush()
    return event


def _question_id(event: Event, kind: QuestionKind) -> str:
    return str(next(q.id for q in event.questions if q.kind == kind))


def register(event: Event, people: list[Person], *, now=NOW) -> list[Attendee]:
    """Registers `people` in one order per ticket type (free ones are paid at once), with their
    answers, workshop and consent; returns the attendees in the order given."""
    by_ticket: dict[int, list[tuple[int, Person]]] = {}
    for i, person in enumerate(people):
        by_ticket.setdefault(person.ticket, []).append((i, person))
    found: dict[int, Attendee] = {}
    for ticket, group in by_ticket.items():
        tt = event.ticket_types[ticket]
        attendees = []
        for i, p in group:
            answers = dict(p.answers)
            for kind, value in (
                (QuestionKind.COUNTRY, p.country),
                (QuestionKind.ORGANISATION, p.organisation),
                (QuestionKind.ORG_TYPE, p.org_type),
                (QuestionKind.SECTOR, p.sector),
            ):
                if value is not None:
                    answers[_question_id(event, kind)] = value
            attendees.append(
                AttendeeData(
                    name=p.name,
                    email=p.email or f"person{i}@example.org",
                    ticket_type_id=tt.id,
                    answers=answers,
                    session_ids=[event.sessions[p.workshop].id] if p.workshop is not None else [],
                )
            )
        order = create_order(
            event,
            OrderData(buyer_name="Buyer", buyer_email="buyer@example.org", attendees=attendees),
            now=now,
        )
        for (i, _p), attendee in zip(group, order.attendees, strict=True):
            found[i] = attendee
    for i, person in enumerate(people):
        if person.consent:
            set_sponsor_consent(found[i], True, now=now, via="attendee")
    db.session.flush()
    return [found[i] for i in range(len(people))]


def make_sponsor(event: Event, email="sponsor@example.org"):
    user = make_user(email)
    grant_event_role(user, event.id, EventRoleKind.SPONSOR)
    return user


@pytest.fixture
def forum(ctx):
    """The forum, in a request context (services are called directly)."""
    return make_forum()
