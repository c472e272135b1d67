"""A sponsored event with the questions the summary breaks down by, and a builder that registers
people with chosen answers, workshops, consent and payment state; for leads, a booth with two
sponsor companies, their members and badges to scan."""

from dataclasses import dataclass, field, replace

import pytest

from eventreg.accounts.models import EventRoleKind
from eventreg.accounts.services import grant_event_role
from eventreg.events.models import Event, QuestionKind, Sponsor
from eventreg.extensions import db
from eventreg.registration.models import Answer, Attendee
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


# --- leads ------------------------------------------------------------------------------------


def make_member(event: Event, sponsor: Sponsor, email: str):
    """A member of `sponsor`'s company: a user with the sponsor role linked to it."""
    user = make_user(email)
    grant_event_role(user, event.id, EventRoleKind.SPONSOR, sponsor_id=sponsor.id)
    return user


def add_phone(attendee: Attendee, number: str) -> None:
    """Gives the attendee an answer to the event's phone question (made on first use), stored
    as registration stores it."""
    event = attendee.order.event
    question = next((q for q in event.questions if q.kind == QuestionKind.PHONE), None)
    if question is None:
        question = add_question(event, QuestionKind.PHONE, label="Phone", position=9)
    db.session.add(
        Answer(
            order_id=attendee.order_id,
            attendee_id=attendee.id,
            question_id=question.id,
            question_label=dict(question.label),
            value=number,
            display={"nb": number, "en": number},
        )
    )
    db.session.flush()
    db.session.expire(attendee, ["answers"])


@dataclass
class Booth:
    """The forum with two sponsor companies, their members and three people to scan: Åse agrees
    to share her contact details, 陈伟 and Борис do not."""

    event: Event
    fund: Sponsor  # the company whose booth we are at
    rival: Sponsor
    members: dict  # "fund", "fund_2" (two members of the fund), "rival", "no_company"
    people: dict  # name -> Attendee
    qrs: dict  # name -> the QR text of their badge


BOOTH_PEOPLE = [
    Person(
        "Åse Ødegård", country="NO", organisation="Øst Mikrokreditt AS", sector="microfinance", consent=True
    ),
    Person("陈伟", country="CN", organisation="深圳公益基金会", sector="education"),
    Person("Борис Ли", country="KZ", organisation="Компания", sector="health"),
]


def make_booth(*, now=NOW) -> Booth:
    from eventreg.tickets.services import ticket_qr

    event = make_forum()
    fund = event.sponsors[0]
    rival = Sponsor(name="Rival Bank")
    event.sponsors.append(rival)
    db.session.flush()
    members = {
        "fund": make_member(event, fund, "fund@example.org"),
        "fund_2": make_member(event, fund, "fund-2@example.org"),
        "rival": make_member(event, rival, "rival@example.org"),
        "no_company": make_sponsor(event, "no-company@example.org"),
    }
    attendees = register(event, [replace(p, email=f"p{i}@example.org") for i, p in enumerate(BOOTH_PEOPLE)])
    add_phone(attendees[0], "+4791234567")
    add_phone(attendees[1], "+8613800138000")
    people = {a.name: a for a in attendees}
    return Booth(event, fund, rival, members, people, {a.name: ticket_qr(a, now=now) for a in attendees})
