"""Copying an event as the template for the next one: everything an organiser set up comes along,
every time moves with the start, the questions' conditions point at the copied questions, and
nothing is shared with the original (nor are its orders, vouchers or people)."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from eventreg.accounts.models import EventRole, EventRoleKind
from eventreg.accounts.services import grant_event_role
from eventreg.builder import services as builder
from eventreg.checkin.models import CheckinList
from eventreg.checkin.services import ListData, save_list
from eventreg.core.errors import ValidationError
from eventreg.events.models import Event, EventStatus, QuestionKind
from eventreg.extensions import db
from eventreg.registration.models import Order, Voucher
from eventreg.registration.services import create_order
from tests.factories import NOW, add_question, add_session, make_event, make_organiser, make_user, order_data

NEXT_YEAR = datetime(2028, 5, 25, 7, 0, tzinfo=UTC)  # the original starts 2027-05-27 07:00 UTC
SHIFT = NEXT_YEAR - datetime(2027, 5, 27, 7, 0, tzinfo=UTC)
FOOD = [{"value": "vegan", "nb": "Vegansk", "en": "Vegan"}, {"value": "halal", "nb": "Halal", "en": "Halal"}]


@pytest.fixture
def setup(ctx):
    """An event with everything: two quotas, three ticket types with sales windows, a workshop,
    conditional questions, email texts, a sponsor with a member, a check-in list, a voucher and
    an order; and a second organiser who makes the copy."""
    make_organiser()
    kari = make_user("kari@example.org")
    event = make_event("forum-2027", seats=100, prices=(1950_00, 450_00, 0))
    event.title = {"nb": "Forum for sosialt entreprenørskap", "en": "Social Business Forum"}
    event.description = {"nb": "Velkommen til 山田 og عائشة"}
    event.self_service_until = datetime(2027, 5, 20, 22, 0, tzinfo=UTC)
    event.total_capacity = 150
    event.email_texts = {"confirmation": {"nb": "Parkering i bakgården", "en": "Parking at the back"}}
    grant_event_role(kari, event.id, EventRoleKind.ORGANISER)
    staff = make_user("staff@example.org", checkin_of=event)
    early, student, free = event.ticket_types
    early.sales_start = datetime(2027, 1, 1, tzinfo=UTC)
    early.sales_end = datetime(2027, 3, 1, tzinfo=UTC)
    workshops_quota = builder.save_quota(
        event, actor=kari, now=NOW, name="Workshop day", size=40, ticket_type_ids=[student.id, free.id]
    )
    workshop = add_session(event, "Mikrofinans", slot="day1", capacity=25)
    workshop.starts_at = datetime(2027, 5, 27, 9, 0, tzinfo=UTC)
    diet = add_question(event, QuestionKind.YESNO, label="Spesialkost?", position=0)
    which = add_question(
        event,
        QuestionKind.CHOICE,
        label="Hvilken?",
        position=1,
        choices=FOOD,
        depends_on_id=diet.id,
        depends_on_value="yes",
    )
    which.ticket_types = [early]
    acme = builder.save_sponsor(event, actor=kari, now=NOW, name="Acme Bank", level="gold")
    builder.add_sponsor_member(acme, actor=kari, now=NOW, email="ahmed@example.org", name="Ахмед")
    save_list(
        event,
        ListData(
            name="Workshop room",
            ticket_type_ids=[student.id],
            session_id=workshop.id,
            opens_at=datetime(2027, 5, 27, 8, 30, tzinfo=UTC),
            closes_at=datetime(2027, 5, 27, 12, 0, tzinfo=UTC),
        ),
    )
    builder.create_voucher(event, actor=kari, now=NOW, code="EARLY", kind="percent", value=10)
    create_order(event, order_data(event, ticket_type=free), now=NOW)
    copier = make_user("ola@example.org", organiser_of=event)
    db.session.commit()
    return {
        "event": event,
        "copier": copier,
        "kari": kari,
        "staff": staff,
        "workshops_quota": workshops_quota,
    }


def copy_of(setup, **kw):
    kw.setdefault("slug", "forum-2028")
    kw.setdefault("starts_at", NEXT_YEAR)
    new = builder.copy_event(setup["event"], actor=setup["copier"], now=NOW, **kw)
    db.session.commit()
    return new


def test_the_copy_is_a_draft_with_the_same_setup_and_every_time_moved(setup):
    event = setup["event"]
    new = copy_of(setup)

    assert new.status == EventStatus.DRAFT and new.slug == "forum-2028"
    assert new.title == event.title and new.description == event.description
    assert (new.venue, new.timezone, new.total_capacity, new.organiser_id) == (
        event.venue,
        event.timezone,
        150,
        event.organiser_id,
    )
    assert new.starts_at == NEXT_YEAR
    assert new.ends_at == event.ends_at + SHIFT
    assert new.self_service_until == datetime(2027, 5, 20, 22, 0, tzinfo=UTC) + SHIFT
    assert new.email_texts == {"confirmation": {"nb": "Parkering i bakgården", "en": "Parking at the back"}}

    old_types, new_types = event.ticket_types, new.ticket_types
    assert [(t.name, t.price_ore, t.vat_rate, t.position) for t in new_types] == [
        (t.name, t.price_ore, t.vat_rate, t.position) for t in old_types
    ]
    assert not {t.id for t in new_types} & {t.id for t in old_types}
    assert new_types[0].sales_start == datetime(2027, 1, 1, tzinfo=UTC) + SHIFT
    assert new_types[0].sales_end == datetime(2027, 3, 1, tzinfo=UTC) + SHIFT
    assert new_types[2].sales_start is None

    # The same quota structure, made of the copy's own quotas.
    seats, day = sorted(new.quotas, key=lambda q: q.size, reverse=True)
    assert (seats.size, day.name, day.size) == (100, "Workshop day", 40)
    assert {q.event_id for q in new.quotas} == {new.id}
    assert [sorted(q.name for q in t.quotas) for t in new_types] == [
        ["Seats"],
        ["Seats", "Workshop day"],
        ["Seats", "Workshop day"],
    ]

    [workshop] = new.sessions
    assert (workshop.label, workshop.slot, workshop.capacity) == ("Mikrofinans", "day1", 25)
    assert workshop.starts_at == datetime(2027, 5, 27, 9, 0, tzinfo=UTC) + SHIFT


def test_questions_are_copied_with_their_conditions_pointing_at_the_copies(setup):
    event = setup["event"]
    new = copy_of(setup)
    old_diet, old_which = event.questions
    diet, which = new.questions
    assert {diet.id, which.id}.isdisjoint({old_diet.id, old_which.id})
    assert which.depends_on_id == diet.id and which.depends_on_value == "yes"
    assert which.choices == FOOD
    assert which.ticket_types == [new.ticket_types[0]]
    assert [q.position for q in new.questions] == [0, 1]


def test_sponsors_and_check_in_lists_come_along_but_no_people(setup):
    event = setup["event"]
    new = copy_of(setup)

    assert [(s.name, s.level) for s in new.sponsors] == [("Acme Bank", "gold")]
    assert new.sponsors[0].id != event.sponsors[0].id
    roles = db.session.scalars(sa.select(EventRole).where(EventRole.event_id == new.id)).all()
    assert [(r.user_id, r.role) for r in roles] == [(setup["copier"].id, EventRoleKind.ORGANISER)]

    [lst] = db.session.scalars(sa.select(CheckinList).where(CheckinList.event_id == new.id)).all()
    assert lst.name == "Workshop room"
    assert lst.session is new.sessions[0]
    assert lst.ticket_types == [new.ticket_types[1]]
    assert lst.opens_at == datetime(2027, 5, 27, 8, 30, tzinfo=UTC) + SHIFT
    assert lst.closes_at == datetime(2027, 5, 27, 12, 0, tzinfo=UTC) + SHIFT

    assert db.session.scalar(sa.select(sa.func.count(Order.id)).where(Order.event_id == new.id)) == 0
    assert db.session.scalar(sa.select(sa.func.count(Voucher.id)).where(Voucher.event_id == new.id)) == 0
    # The original keeps all of its own.
    assert db.session.scalar(sa.select(sa.func.count(Order.id)).where(Order.event_id == event.id)) == 1
    assert db.session.scalar(sa.select(sa.func.count(Voucher.id)).where(Voucher.event_id == event.id)) == 1


def test_editing_the_copy_leaves_the_original_alone(setup):
    event = setup["event"]
    copier = setup["copier"]
    new = builder.copy_event(
        event, actor=copier, now=NOW, slug="forum-2028", starts_at=NEXT_YEAR, title={"nb": "Forum 2028"}
    )
    assert event.title["nb"] == "Forum for sosialt entreprenørskap"

    # Changed in place (before anything is committed and read again): no JSON value is shared.
    new.description["nb"] = "Endret"
    new.email_texts["confirmation"]["nb"] = "Endret"
    new.questions[1].choices[0]["nb"] = "Endret"
    new.ticket_types[0].name["nb"] = "Endret"
    assert event.description["nb"] == "Velkommen til 山田 og عائشة"
    assert event.email_texts["confirmation"]["nb"] == "Parkering i bakgården"
    assert event.questions[1].choices == FOOD
    assert event.ticket_types[0].name["nb"] == "Billett 0"
    db.session.commit()

    tt = new.ticket_types[1]
    builder.save_ticket_type(
        new,
        actor=copier,
        now=NOW,
        ticket_type=tt,
        name={"nb": "Student 2028"},
        price_ore=500_00,
        vat_rate=25,
        quota_ids=[],
    )
    builder.save_quota(new, actor=copier, now=NOW, quota=new.quotas[0], name="Seats", size=5)
    builder.save_workshop(
        new, actor=copier, now=NOW, workshop=new.sessions[0], name={"en": "Changed"}, slot="day2", capacity=3
    )
    builder.save_question(
        new, actor=copier, now=NOW, question=new.questions[1], label={"en": "Changed"}, kind="text"
    )
    builder.delete_ticket_type(new.ticket_types[0], actor=copier, now=NOW)
    builder.delete_sponsor(new.sponsors[0], actor=copier, now=NOW)
    db.session.commit()
    db.session.expire_all()

    old = db.session.scalar(sa.select(Event).where(Event.slug == "forum-2027"))
    assert old.description == {"nb": "Velkommen til 山田 og عائشة"}
    assert old.email_texts["confirmation"]["nb"] == "Parkering i bakgården"
    assert [t.label for t in old.ticket_types] == ["Billett 0", "Billett 1", "Billett 2"]
    assert [t.price_ore for t in old.ticket_types] == [1950_00, 450_00, 0]
    assert [len(t.quotas) for t in old.ticket_types] == [1, 2, 2]
    assert sorted(q.size for q in old.quotas) == [40, 100]
    assert (old.sessions[0].label, old.sessions[0].slot, old.sessions[0].capacity) == (
        "Mikrofinans",
        "day1",
        25,
    )
    assert old.questions[1].kind == QuestionKind.CHOICE and old.questions[1].choices == FOOD
    assert old.questions[1].depends_on_id == old.questions[0].id
    assert [s.name for s in old.sponsors] == ["Acme Bank"]
    members = builder.sponsor_members(old.sponsors[0])
    assert [m.email for m in members] == ["ahmed@example.org"]


def test_a_copy_needs_a_free_slug_and_a_start_with_timezone(setup):
    with pytest.raises(ValidationError) as err:
        builder.copy_event(
            setup["event"],
            actor=setup["copier"],
            now=NOW,
            slug="forum-2027",
            starts_at=datetime(2028, 5, 25, 9),
        )
    assert set(err.value.fields) == {"slug", "starts_at"}
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == 1


def test_copying_earlier_moves_times_back(setup):
    new = copy_of(setup, slug="forum-early", starts_at=NEXT_YEAR - timedelta(days=800))
    shift = NEXT_YEAR - timedelta(days=800) - setup["event"].starts_at
    assert new.ends_at == setup["event"].ends_at + shift
    assert new.ticket_types[0].sales_end == datetime(2027, 3, 1, tzinfo=UTC) + shift


def test_the_copy_is_logged_with_its_origin(setup):
    from eventreg.audit.services import entries_of

    new = copy_of(setup)
    [entry] = entries_of(new.id)
    assert entry.action == "event.copy" and entry.user_id == setup["copier"].id
    assert entry.after["copied_from"] == "forum-2027" and entry.after["slug"] == "forum-2028"
