"""A forum with attendees in every state, names in several scripts, workshops, answers to every
kind of question the list filters by, a check-in, and its organiser olav@ (other@ organises
another event)."""

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eventreg.checkin.services import ListData, redeem, save_list
from eventreg.events.models import Event, QuestionKind, QuestionScope
from eventreg.extensions import db
from eventreg.payments.services import refund_order
from eventreg.registration.models import Attendee
from eventreg.registration.services import AttendeeData, OrderData, cancel_order, create_order
from tests.factories import NOW, add_question, add_session, invoice_details, make_event, make_user
from tests.web.conftest import english, login  # noqa: F401 (fixtures)

AT = NOW + timedelta(minutes=5)  # "now" for the list: the card order's hold still runs


@dataclass
class Forum:
    event_id: int
    codes: dict[str, str] = field(default_factory=dict)  # order → code
    ids: dict[str, int] = field(default_factory=dict)  # attendee name → id
    questions: dict[str, int] = field(default_factory=dict)
    workshops: dict[str, int] = field(default_factory=dict)
    ticket_types: dict[str, int] = field(default_factory=dict)


# name → (order, ticket, organisation, diet, interests, interpreter, workshops)
PEOPLE = {
    "Åse Øvre": ("free", "free", "Nordlys AS", "vegan", ["finance"], True, ["Mikrolån"]),
    "山田 太郎": ("free", "free", "株式会社山田", "none", [], False, []),
    "Ахмед Иванов": ("invoice", "standard", "Ёлка ООО", "vegan", ["finance", "impact"], False, ["Impact"]),
    "Zoë Ðorđević": ("invoice", "standard", "", "none", ["impact"], False, []),
    "عائشة بنت أحمد": ("card", "standard", "Øvre Eiker kommune", "none", [], True, ["Mikrolån"]),
    "Kari Avlyst": ("cancelled", "free", "", "none", [], False, []),
    "Olav Utløpt": ("expired", "standard", "", "none", [], False, []),
    "Ola Nordmann": ("refund", "standard", "", "vegan", [], False, []),
    "Per Refundert": ("refund", "standard", "", "none", [], False, []),
}
# What each attendee's state is at AT.
STATES = {
    "Åse Øvre": "paid",
    "山田 太郎": "paid",
    "Ахмед Иванов": "invoice_unpaid",
    "Zoë Ðorđević": "invoice_unpaid",
    "عائشة بنت أحمد": "pending",
    "Kari Avlyst": "cancelled",
    "Olav Utløpt": "expired",
    "Ola Nordmann": "invoice_unpaid",
    "Per Refundert": "refunded",
    "Lise Uten Epost": "paid",
}


def email_of(name: str) -> str:
    return f"p{list(PEOPLE).index(name)}@example.org"


def make_forum(slug="forum") -> Forum:
    event = make_event(slug, seats=500, prices=(1250_00, 0))
    event.title = {"nb": "Forum for sosialt entreprenørskap", "en": "Social Business Forum"}
    event.max_attendees_per_order = 100
    standard, free = event.ticket_types
    standard.name = {"nb": "Standard", "en": "Standard"}
    free.name = {"nb": "Gratis", "en": "Free"}
    workshops = {
        "Mikrolån": add_session(event, "Mikrolån", slot="Day 1, 10:00", capacity=2),
        "Impact": add_session(event, "Impact", slot="Day 1, 10:00"),
        "Finance": add_session(event, "Finance", slot="Day 2, 10:00", capacity=1),
    }
    org = add_question(event, QuestionKind.ORGANISATION, label="Organisation", position=0)
    diet = add_question(
        event,
        QuestionKind.CHOICE,
        label="Diet",
        position=1,
        choices=[
            {"value": "vegan", "nb": "Vegansk", "en": "Vegan"},
            {"value": "none", "nb": "Ingen", "en": "None"},
            {"value": "blåbær", "nb": "Blåbær", "en": "Blueberries"},
        ],
    )
    interests = add_question(
        event,
        QuestionKind.MULTIPLE,
        label="Interests",
        position=2,
        choices=[
            {"value": "finance", "nb": "Finans", "en": "Finance"},
            {"value": "impact", "nb": "Effekt", "en": "Impact"},
        ],
    )
    interpreter = add_question(event, QuestionKind.YESNO, label="Interpreter", position=3)
    caseworker = add_question(
        event, QuestionKind.ORGANISATION, label="Caseworker's office", position=4, scope=QuestionScope.ORDER
    )
    forum = Forum(
        event.id,
        questions={"org": org.id, "diet": diet.id, "interests": interests.id, "interpreter": interpreter.id},
        workshops={k: s.id for k, s in workshops.items()},
        ticket_types={"standard": standard.id, "free": free.id},
    )

    def people(kind: str) -> list[AttendeeData]:
        result = []
        for name, (order, ticket, organisation, food, likes, interpret, chosen) in PEOPLE.items():
            if order != kind:
                continue
            answers = {diet.id: food, interests.id: likes, interpreter.id: "yes" if interpret else "no"}
            if organisation:
                answers[org.id] = organisation
            result.append(
                AttendeeData(
                    name=name,
                    email=email_of(name),
                    language="en" if name in ("Zoë Ðorđević", "山田 太郎") else "nb",
                    ticket_type_id=(standard if ticket == "standard" else free).id,
                    answers=answers,
                    session_ids=[workshops[w].id for w in chosen],
                )
            )
        return result

    def order(kind: str, *, at=NOW, method="card", **kw):
        made = create_order(
            event,
            OrderData(
                buyer_name=f"Buyer {kind}",
                buyer_email=f"buyer-{kind}@example.org",
                attendees=people(kind),
                payment_method=method,
                invoice=invoice_details() if method == "invoice" else None,
                **kw,
            ),
            now=at,
        )
        forum.codes[kind] = made.code
        return made

    order("free")
    order("invoice", method="invoice")
    order("card", answers={caseworker.id: "NAV Grünerløkka"})
    cancelled = order("cancelled")
    order("expired", at=NOW - timedelta(hours=2))
    refunded = order("refund", method="invoice")
    cancel_order(cancelled, now=NOW)
    db.session.flush()
    refund_order(refunded, attendee_ids=[refunded.attendees[1].id], now=NOW, reason="ill")
    # Registered by the organisers, without an email address.
    olav = make_user("olav@example.org", organiser_of=event)
    on_behalf = create_order(
        event,
        OrderData(
            buyer_name="Olav",
            buyer_email=None,
            attendees=[AttendeeData(name="Lise Uten Epost", ticket_type_id=free.id, answers={})],
        ),
        now=NOW,
        actor=olav,
        on_behalf=True,
    )
    forum.codes["on_behalf"] = on_behalf.code
    make_user("other@example.org", organiser_of=make_event(f"{slug}-other", prices=(0,)))
    door = save_list(event, ListData(name="Main entrance"))
    db.session.flush()
    forum.ids = dict(
        db.session.execute(sa.select(Attendee.name, Attendee.id).where(Attendee.event_id == event.id)).all()
    )
    redeem(door, attendee_id=forum.ids["Åse Øvre"], user=None, now=NOW)
    db.session.flush()
    return forum


@pytest.fixture
def forum(ctx) -> Forum:
    """The forum, in a request context (services are called directly)."""
    return make_forum()


@pytest.fixture
def saved_forum(app) -> Forum:
    """The forum, committed (for the page tests)."""
    with app.app_context():
        made = make_forum()
        db.session.commit()
        return made


def event_of(forum: Forum) -> Event:
    from eventreg.events.services import get_event

    return get_event(db.session.get(Event, forum.event_id).slug)
