"""The event builder's rules, called directly: what an organiser may set, what is refused (with
the field it is about), what would break tickets already sold, and what the audit log keeps."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from werkzeug.security import check_password_hash

from eventreg.accounts.models import EventRole, EventRoleKind, User
from eventreg.audit.models import AuditEntry
from eventreg.builder import services as builder
from eventreg.core.errors import Conflict, NotFound, ValidationError
from eventreg.events.models import (
    Event,
    EventStatus,
    Question,
    QuestionKind,
    QuestionScope,
    TicketType,
    Visibility,
)
from eventreg.extensions import db
from eventreg.registration.models import AttendeeSession, Voucher, VoucherKind
from eventreg.registration.services import AttendeeData, OrderData, create_order
from tests.factories import NOW, add_question, add_session, make_event, make_organiser, make_user, order_data

START = datetime(2027, 9, 1, 7, 0, tzinfo=UTC)
END = datetime(2027, 9, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def actor(ctx):
    make_organiser()
    return make_user("kari@example.org", admin=True)


@pytest.fixture
def event(actor):
    """A published event with two ticket types (500 kr and free) sharing a quota of 10 seats."""
    return make_event("forum", seats=10, prices=(500_00, 0))


def fields_of(excinfo) -> dict:
    """The field messages as an English-speaking organiser reads them."""
    with force_locale("en"):
        return {k: [str(m) for m in v] for k, v in excinfo.value.fields.items()}


def new_event(actor, **kw):
    kw.setdefault("slug", "forum-2027")
    kw.setdefault("title", {"nb": "Forum for sosialt entreprenørskap", "en": "Social Business Forum"})
    kw.setdefault("starts_at", START)
    kw.setdefault("ends_at", END)
    return builder.create_event(actor=actor, now=NOW, **kw)


def audit(action: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
    )


def sell(event, n=1, *, ticket_type=None, session_ids=()):
    """A paid order (free tickets are paid at once) of `n` attendees."""
    tt = ticket_type or event.ticket_types[1]
    data = OrderData(
        buyer_name="Åse Ødegård",
        buyer_email="ase@example.org",
        attendees=[
            AttendeeData(
                name=f"Юнус {i}",
                email=f"a{i}@example.org",
                ticket_type_id=tt.id,
                session_ids=list(session_ids),
            )
            for i in range(n)
        ],
    )
    order = create_order(event, data, now=NOW)
    db.session.flush()
    return order


# --- creating and changing an event ---------------------------------------------------------


def test_a_new_event_is_a_draft_organised_by_its_creator_and_logged(actor):
    event = new_event(actor, venue="Oslo rådhus", description={"nb": "Velkommen", "en": ""})

    assert event.status == EventStatus.DRAFT
    assert event.title == {"nb": "Forum for sosialt entreprenørskap", "en": "Social Business Forum"}
    assert event.description == {"nb": "Velkommen"}  # the empty English text is dropped
    assert event.timezone == "Europe/Oslo"
    roles = db.session.scalars(sa.select(EventRole).where(EventRole.event_id == event.id)).all()
    assert [(r.user_id, r.role) for r in roles] == [(actor.id, EventRoleKind.ORGANISER)]
    [entry] = audit("event.create")
    assert (entry.user_id, entry.actor_name, entry.event_id, entry.object_id) == (
        actor.id,
        "kari@example.org",
        event.id,
        event.id,
    )
    assert entry.before is None
    assert entry.after["slug"] == "forum-2027" and entry.after["status"] == "draft"
    assert entry.after["starts_at"] == START.isoformat()


@pytest.mark.parametrize(
    "slug",
    ["Forum", "forum 2027", "-forum", "forum-", "forum--2027", "førum", "forum/2027", "", "a" * 81, None],
)
def test_a_malformed_slug_is_refused(actor, slug):
    with pytest.raises(ValidationError) as err:
        new_event(actor, slug=slug)
    assert list(fields_of(err)) == ["slug"]
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == 0


def test_a_slug_in_use_is_refused(actor):
    new_event(actor, slug="forum")
    with pytest.raises(ValidationError) as err:
        new_event(actor, slug="forum")
    assert fields_of(err) == {"slug": ["Another event already has this address."]}


@pytest.mark.parametrize("ends_at", [START, START - timedelta(minutes=1)])
def test_an_event_must_end_after_it_starts(actor, ends_at):
    with pytest.raises(ValidationError) as err:
        new_event(actor, ends_at=ends_at)
    assert fields_of(err) == {"ends_at": ["The event must end after it starts."]}


@pytest.mark.parametrize("tz", ["Europe/Atlantis", "../../etc/passwd", "", "CET+1", 1])
def test_an_unknown_timezone_is_refused(actor, tz):
    with pytest.raises(ValidationError) as err:
        new_event(actor, timezone=tz)
    assert list(fields_of(err)) == ["timezone"]


def test_times_without_timezone_and_a_missing_title_are_each_reported(actor):
    with pytest.raises(ValidationError) as err:
        new_event(actor, starts_at=datetime(2027, 9, 1, 9, 0), title={"nb": " ", "en": ""})
    assert set(fields_of(err)) == {"starts_at", "title"}


def test_an_event_needs_a_seller(ctx):
    user = make_user("kari@example.org", admin=True)  # no Organiser row at all
    with pytest.raises(ValidationError) as err:
        new_event(user)
    assert list(fields_of(err)) == ["organiser_id"]
    with pytest.raises(ValidationError) as err:
        new_event(user, organiser_id=999)
    assert fields_of(err) == {"organiser_id": ["No such organiser."]}


def test_who_may_create_events(event):
    assert builder.can_create_events(make_user("admin@example.org", admin=True))
    assert builder.can_create_events(make_user("org@example.org", organiser_of=event))
    assert not builder.can_create_events(make_user("staff@example.org", checkin_of=event))
    assert not builder.can_create_events(None)


def test_update_changes_settings_and_logs_only_what_changed(actor, event):
    builder.update_event(
        event,
        actor=actor,
        now=NOW,
        title={"nb": "Nytt navn", "en": "New name"},
        venue=event.venue,  # unchanged: not in the log
        max_attendees_per_order=5,
        hold_minutes=15,
        total_capacity=None,
    )
    assert event.title == {"nb": "Nytt navn", "en": "New name"}
    assert (event.max_attendees_per_order, event.hold_minutes) == (5, 15)
    [entry] = audit("event.update")
    assert entry.before == {
        "title": {"nb": "Forum forum", "en": "Forum forum"},
        "max_attendees_per_order": 20,
        "hold_minutes": 30,
    }
    assert entry.after == {
        "title": {"nb": "Nytt navn", "en": "New name"},
        "max_attendees_per_order": 5,
        "hold_minutes": 15,
    }


def test_an_update_that_changes_nothing_is_not_logged(actor, event):
    builder.update_event(event, actor=actor, now=NOW, venue=event.venue)
    assert audit("event.update") == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"status": "closed"}, "status"),  # set_status does that
        ({"max_attendees_per_order": 0}, "max_attendees_per_order"),
        ({"max_attendees_per_order": 501}, "max_attendees_per_order"),
        ({"cancellation_refund_percent": 101}, "cancellation_refund_percent"),
        ({"cancellation_refund_percent": -1}, "cancellation_refund_percent"),
        ({"retention_days": -1}, "retention_days"),
        ({"hold_minutes": 4}, "hold_minutes"),
        ({"hold_minutes": 1441}, "hold_minutes"),
        ({"total_capacity": -1}, "total_capacity"),
        ({"total_capacity": True}, "total_capacity"),
        ({"members_only": "yes"}, "members_only"),
        ({"registration_mode": "everybody"}, "registration_mode"),
        ({"ends_at": datetime(2027, 5, 27, 6, 0, tzinfo=UTC)}, "ends_at"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"title": {"nb": "", "en": ""}}, "title"),
        ({"title": {"de": "Forum"}}, "title.de"),
        ({"self_service_until": datetime(2027, 5, 1)}, "self_service_until"),
    ],
)
def test_bad_settings_are_refused_by_field(actor, event, changes, field):
    before = builder.snapshot(event, builder.EVENT_FIELDS)
    with pytest.raises(ValidationError) as err:
        builder.update_event(event, actor=actor, now=NOW, **changes)
    assert list(fields_of(err)) == [field]
    assert builder.snapshot(event, builder.EVENT_FIELDS) == before
    assert audit("event.update") == []


def test_the_capacity_cannot_go_below_the_seats_sold(actor, event):
    sell(event, 3)
    with pytest.raises(Conflict) as err:
        builder.update_event(event, actor=actor, now=NOW, total_capacity=2)
    assert err.value.code == "below_sold"
    assert list(fields_of(err)) == ["total_capacity"]
    builder.update_event(event, actor=actor, now=NOW, total_capacity=3)
    assert event.total_capacity == 3


# --- status ---------------------------------------------------------------------------------


def test_publishing_needs_a_ticket_type(actor):
    event = new_event(actor)
    with pytest.raises(Conflict) as err:
        builder.set_status(event, EventStatus.PUBLISHED, actor=actor, now=NOW)
    assert err.value.code == "no_ticket_types"
    builder.save_ticket_type(event, actor=actor, now=NOW, name={"en": "Standard"}, price_ore=0, vat_rate=0)
    builder.set_status(event, EventStatus.PUBLISHED, actor=actor, now=NOW)
    assert event.status == EventStatus.PUBLISHED
    [entry] = audit("event.status")
    assert (entry.before, entry.after) == ({"status": "draft"}, {"status": "published"})


def test_a_draft_cannot_be_closed_but_a_published_event_can_close_and_reopen(actor):
    event = new_event(actor)
    builder.save_ticket_type(event, actor=actor, now=NOW, name={"en": "Standard"}, price_ore=0, vat_rate=0)
    with pytest.raises(Conflict) as err:
        builder.set_status(event, EventStatus.CLOSED, actor=actor, now=NOW)
    assert err.value.code == "bad_transition"
    for status in (EventStatus.PUBLISHED, EventStatus.CLOSED, EventStatus.PUBLISHED, EventStatus.DRAFT):
        builder.set_status(event, status, actor=actor, now=NOW)
        assert event.status == status
    with pytest.raises(ValidationError) as err:
        builder.set_status(event, "archived", actor=actor, now=NOW)
    assert list(fields_of(err)) == ["status"]


def test_an_event_with_orders_never_goes_back_to_draft(actor, event):
    sell(event)
    for status in (EventStatus.DRAFT, EventStatus.CLOSED, EventStatus.DRAFT):
        if status == EventStatus.DRAFT:
            with pytest.raises(Conflict) as err:
                builder.set_status(event, status, actor=actor, now=NOW)
            assert err.value.code == "has_orders"
        else:
            builder.set_status(event, status, actor=actor, now=NOW)
    assert event.status == EventStatus.CLOSED


# --- ticket types and quotas ----------------------------------------------------------------


def test_a_ticket_type_is_saved_with_its_window_quotas_and_place_last(actor, event):
    [quota] = event.quotas
    tt = builder.save_ticket_type(
        event,
        actor=actor,
        now=NOW,
        name={"nb": "Student", "en": "Student"},
        price_ore=250_00,
        vat_rate=12,
        visibility=Visibility.VOUCHER,
        sales_start=datetime(2027, 2, 1, tzinfo=UTC),
        sales_end=datetime(2027, 5, 1, tzinfo=UTC),
        quota_ids=[quota.id],
    )
    assert tt.position == 2 and tt.quotas == [quota] and tt.visibility == Visibility.VOUCHER
    [entry] = audit("ticket_type.create")
    assert entry.after["price_ore"] == 250_00 and entry.after["quota_ids"] == [quota.id]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"vat_rate": 7}, "vat_rate"),
        ({"vat_rate": 100}, "vat_rate"),
        ({"vat_rate": True}, "vat_rate"),
        ({"price_ore": -1}, "price_ore"),
        ({"price_ore": 1.5}, "price_ore"),
        ({"name": {}}, "name"),
        ({"visibility": "secret"}, "visibility"),
        (
            {"sales_start": datetime(2027, 3, 1, tzinfo=UTC), "sales_end": datetime(2027, 2, 1, tzinfo=UTC)},
            "sales_end",
        ),
        ({"sales_end": datetime(2027, 3, 1)}, "sales_end"),
    ],
)
def test_bad_ticket_types_are_refused_by_field(actor, event, changes, field):
    values = {"name": {"en": "Student"}, "price_ore": 100_00, "vat_rate": 25, **changes}
    with pytest.raises(ValidationError) as err:
        builder.save_ticket_type(event, actor=actor, now=NOW, **values)
    assert list(fields_of(err)) == [field]
    assert len(event.ticket_types) == 2


def test_a_quota_of_another_event_is_refused(actor, event):
    other = make_event("other")
    with pytest.raises(ValidationError) as err:
        builder.save_ticket_type(
            event,
            actor=actor,
            now=NOW,
            name={"en": "X"},
            price_ore=0,
            vat_rate=0,
            quota_ids=[other.quotas[0].id],
        )
    assert fields_of(err) == {"quota_ids": ["Choose quotas of this event."]}


def test_a_sold_ticket_type_keeps_its_price_but_may_change_the_rest(actor, event):
    paid, free = event.ticket_types
    seats = [event.quotas[0].id]
    sell(event, ticket_type=free)
    with pytest.raises(Conflict) as err:
        builder.save_ticket_type(
            event, actor=actor, now=NOW, ticket_type=free, name=free.name, price_ore=100_00, vat_rate=25
        )
    assert err.value.code == "price_locked" and list(fields_of(err)) == ["price_ore"]
    assert free.price_ore == 0

    builder.save_ticket_type(
        event,
        actor=actor,
        now=NOW,
        ticket_type=free,
        name={"nb": "Gratis", "en": "Free"},
        price_ore=0,
        vat_rate=0,
        quota_ids=seats,
    )
    assert free.name == {"nb": "Gratis", "en": "Free"}
    # An unsold type may change its price.
    builder.save_ticket_type(
        event,
        actor=actor,
        now=NOW,
        ticket_type=paid,
        name=paid.name,
        price_ore=450_00,
        vat_rate=25,
        quota_ids=seats,
    )
    assert paid.price_ore == 450_00
    entries = audit("ticket_type.update")
    assert [(e.object_id, e.before, e.after) for e in entries] == [
        (free.id, {"name": {"nb": "Billett 1", "en": "Ticket 1"}}, {"name": {"nb": "Gratis", "en": "Free"}}),
        (paid.id, {"price_ore": 500_00}, {"price_ore": 450_00}),
    ]


def test_a_ticket_type_anybody_ordered_cannot_be_deleted(actor, event):
    paid, free = event.ticket_types
    sell(event, ticket_type=free)
    with pytest.raises(Conflict) as err:
        builder.delete_ticket_type(free, actor=actor, now=NOW)
    assert err.value.code == "in_use"
    builder.delete_ticket_type(paid, actor=actor, now=NOW)
    db.session.expire_all()
    assert [t.id for t in db.session.get(Event, event.id).ticket_types] == [free.id]
    [entry] = audit("ticket_type.delete")
    assert entry.object_id == paid.id and entry.before["price_ore"] == 500_00 and entry.after is None


def test_ticket_types_move_up_and_down(actor, event):
    first, second = event.ticket_types
    third = builder.save_ticket_type(
        event, actor=actor, now=NOW, name={"en": "Third"}, price_ore=0, vat_rate=0
    )
    builder.move_ticket_type(third, actor=actor, now=NOW, up=True)
    assert [t.id for t in db.session.get(Event, event.id).ticket_types] == [first.id, third.id, second.id]
    builder.move_ticket_type(first, actor=actor, now=NOW, up=True)  # already first: nothing
    builder.move_ticket_type(first, actor=actor, now=NOW, up=False)
    assert [t.id for t in db.session.get(Event, event.id).ticket_types] == [third.id, first.id, second.id]
    assert len(audit("ticket_type.move")) == 2


def test_a_quota_cannot_shrink_below_the_seats_its_ticket_types_took(actor, event):
    [quota] = event.quotas
    sell(event, 4)
    ids = [t.id for t in event.ticket_types]
    with pytest.raises(Conflict) as err:
        builder.save_quota(
            event, actor=actor, now=NOW, quota=quota, name="Seats", size=3, ticket_type_ids=ids
        )
    assert list(fields_of(err)) == ["size"]
    builder.save_quota(event, actor=actor, now=NOW, quota=quota, name="Seats", size=4, ticket_type_ids=ids)
    assert quota.size == 4
    # A new quota for the paid type only (nothing sold) may be small.
    small = builder.save_quota(event, actor=actor, now=NOW, name="Paid", size=0, ticket_type_ids=[ids[0]])
    assert small.ticket_types == [event.ticket_types[0]]
    with pytest.raises(ValidationError) as err:
        builder.save_quota(event, actor=actor, now=NOW, name="", size=-1, ticket_type_ids=[12345])
    assert set(fields_of(err)) == {"name", "size", "ticket_type_ids"}
    builder.delete_quota(small, actor=actor, now=NOW)
    assert [a.action for a in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))] == [
        "quota.update",
        "quota.create",
        "quota.delete",
    ]


# --- workshops ------------------------------------------------------------------------------


def test_workshop_capacity_slot_and_deletion_respect_the_choices_made(actor, event):
    chosen = add_session(event, "Impact", slot="day1", capacity=10)
    empty = add_session(event, "Finance", slot="day1")
    sell(event, 2, session_ids=[chosen.id])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AttendeeSession)) == 2

    with pytest.raises(Conflict) as err:
        builder.save_workshop(
            event, actor=actor, now=NOW, workshop=chosen, name=chosen.name, slot="day1", capacity=1
        )
    assert list(fields_of(err)) == ["capacity"]
    with pytest.raises(Conflict) as err:
        builder.save_workshop(
            event, actor=actor, now=NOW, workshop=chosen, name=chosen.name, slot="day2", capacity=10
        )
    assert list(fields_of(err)) == ["slot"]
    builder.save_workshop(
        event,
        actor=actor,
        now=NOW,
        workshop=chosen,
        name={"nb": "Effekt", "en": "Impact"},
        slot="day1",
        capacity=2,
    )
    assert chosen.capacity == 2

    with pytest.raises(Conflict):
        builder.delete_workshop(chosen, actor=actor, now=NOW)
    builder.delete_workshop(empty, actor=actor, now=NOW)
    assert [s.id for s in event.sessions] == [chosen.id]

    with pytest.raises(ValidationError) as err:
        builder.save_workshop(event, actor=actor, now=NOW, name={}, slot=" ", capacity=-1)
    assert set(fields_of(err)) == {"name", "slot", "capacity"}


# --- questions ------------------------------------------------------------------------------

FOOD = [
    {"value": "vegan", "nb": "Vegansk", "en": "Vegan"},
    {"value": "halal", "nb": "Halal", "en": "Halal"},
]


def test_a_choice_question_with_a_condition_on_an_earlier_question(actor, event):
    diet = builder.save_question(
        event,
        actor=actor,
        now=NOW,
        label={"nb": "Mat?", "en": "Food?"},
        kind=QuestionKind.YESNO,
        required=True,
    )
    which = builder.save_question(
        event,
        actor=actor,
        now=NOW,
        label={"nb": "Hvilken?", "en": "Which?"},
        kind=QuestionKind.MULTIPLE,
        scope=QuestionScope.ATTENDEE,
        choices=FOOD,
        ticket_type_ids=[event.ticket_types[0].id],
        depends_on_id=diet.id,
        depends_on_value="yes",
    )
    assert which.depends_on is diet and which.choices == FOOD and which.position == diet.position + 1
    assert which.ticket_types == [event.ticket_types[0]]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"kind": QuestionKind.CHOICE, "choices": FOOD[:1]}, "choices"),
        ({"kind": QuestionKind.MULTIPLE, "choices": []}, "choices"),
        (
            {"kind": QuestionKind.CHOICE, "choices": [FOOD[0], {**FOOD[1], "value": "vegan"}]},
            "choices.1.value",
        ),
        (
            {"kind": QuestionKind.CHOICE, "choices": [FOOD[0], {"value": "x", "nb": "", "en": ""}]},
            "choices.1",
        ),
        ({"kind": "essay"}, "kind"),
        ({"scope": "event"}, "scope"),
        ({"label": {"nb": ""}}, "label"),
        ({"ticket_type_ids": [999999]}, "ticket_type_ids"),
        ({"depends_on_value": "yes"}, "depends_on_id"),
    ],
)
def test_bad_questions_are_refused_by_field(actor, event, values, field):
    values = {"label": {"en": "Q"}, "kind": QuestionKind.TEXT, **values}
    with pytest.raises(ValidationError) as err:
        builder.save_question(event, actor=actor, now=NOW, **values)
    assert list(fields_of(err)) == [field]


def test_a_condition_must_be_on_an_earlier_question_of_the_event_and_one_of_its_answers(actor, event):
    first = add_question(event, QuestionKind.CHOICE, label="First", choices=FOOD, position=0)
    later = add_question(event, QuestionKind.YESNO, label="Later", position=1)
    elsewhere = add_question(make_event("other"), QuestionKind.YESNO, label="Other")

    def condition(question, on, value):
        return builder.save_question(
            event,
            actor=actor,
            now=NOW,
            question=question,
            label=question.label,
            kind=question.kind,
            choices=question.choices,
            depends_on_id=on.id,
            depends_on_value=value,
        )

    for on in (later, elsewhere, first):  # later, another event's, itself
        with pytest.raises(ValidationError) as err:
            condition(first, on, "yes")
        assert list(fields_of(err)) == ["depends_on_id"]
    with pytest.raises(ValidationError) as err:
        condition(later, first, "kosher")
    assert list(fields_of(err)) == ["depends_on_value"]
    condition(later, first, "halal")
    assert later.depends_on is first


def test_questions_move_but_never_above_the_question_they_depend_on(actor, event):
    parent = add_question(event, QuestionKind.YESNO, label="Parent", position=0)
    child = add_question(event, label="Child", position=1, depends_on_id=parent.id, depends_on_value="yes")
    loose = add_question(event, label="Loose", position=2)
    with pytest.raises(Conflict):
        builder.move_question(child, actor=actor, now=NOW, up=True)
    with pytest.raises(Conflict):
        builder.move_question(parent, actor=actor, now=NOW, up=False)
    builder.move_question(loose, actor=actor, now=NOW, up=True)
    assert [q.id for q in db.session.get(Event, event.id).questions] == [parent.id, loose.id, child.id]


def test_deleting_a_question_keeps_the_answers_and_frees_its_dependants(actor, event):
    diet = add_question(event, QuestionKind.YESNO, label="Kosthold", position=0)
    which = add_question(event, label="Which", position=1, depends_on_id=diet.id, depends_on_value="yes")
    data = order_data(event, ticket_type=event.ticket_types[1])
    data.attendees[0].answers = {str(diet.id): "yes", str(which.id): "Vegan"}
    order = create_order(event, data, now=NOW)
    builder.delete_question(diet, actor=actor, now=NOW)
    db.session.expire_all()
    assert db.session.get(Question, which.id).depends_on_id is None
    assert db.session.get(Question, which.id).depends_on_value is None
    answers = {a.question_label["nb"]: a.question_id for a in order.attendees[0].answers}
    assert answers == {"Kosthold": None, "Which": which.id}


# --- vouchers -------------------------------------------------------------------------------


def test_voucher_codes_are_stored_in_capitals_and_unique_per_event(actor, event):
    v = builder.create_voucher(
        event, actor=actor, now=NOW, code=" early-bird ", kind=VoucherKind.PERCENT, value=20
    )
    assert v.code == "EARLY-BIRD"
    with pytest.raises(ValidationError) as err:
        builder.create_voucher(
            event, actor=actor, now=NOW, code="Early-Bird", kind=VoucherKind.PERCENT, value=20
        )
    assert fields_of(err) == {"code": ["This event already has a voucher with this code."]}
    # Another event may use the same code.
    builder.create_voucher(
        make_event("other"), actor=actor, now=NOW, code="early-bird", kind="fixed", value=100_00
    )


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"code": "ÆØÅ"}, "code"),
        ({"code": "two words"}, "code"),
        ({"code": ""}, "code"),
        ({"code": "A" * 65}, "code"),
        ({"kind": VoucherKind.PERCENT, "value": 0}, "value"),
        ({"kind": VoucherKind.PERCENT, "value": 101}, "value"),
        ({"kind": VoucherKind.FIXED, "value": 0}, "value"),
        ({"kind": "gift"}, "kind"),
        ({"max_uses": 0}, "max_uses"),
        ({"ticket_type_id": 999999}, "ticket_type_id"),
        ({"valid_until": datetime(2027, 5, 1)}, "valid_until"),
    ],
)
def test_bad_vouchers_are_refused_by_field(actor, event, values, field):
    values = {"code": "SPRING", "kind": VoucherKind.PERCENT, "value": 10, **values}
    with pytest.raises(ValidationError) as err:
        builder.create_voucher(event, actor=actor, now=NOW, **values)
    assert list(fields_of(err)) == [field]


def test_generated_vouchers_are_as_many_as_asked_unique_and_unguessable(actor, event):
    vouchers = builder.generate_vouchers(
        event, actor=actor, now=NOW, count=300, prefix="vip", kind=VoucherKind.UNLOCK, max_uses=2
    )
    codes = [v.code for v in vouchers]
    assert len(codes) == len(set(codes)) == 300
    assert all(c.startswith("VIP-") and len(c) == 4 + builder.CODE_LENGTH for c in codes)
    assert all(set(c[4:]) <= set(builder.CODE_ALPHABET) for c in codes)
    # Random, not a sequence: every position takes most of the alphabet's letters.
    for i in range(4, 4 + builder.CODE_LENGTH):
        assert len({c[i] for c in codes}) > 20
    more = builder.generate_vouchers(event, actor=actor, now=NOW, count=300, prefix="VIP", kind="unlock")
    assert not {v.code for v in more} & set(codes)
    assert db.session.scalar(sa.select(sa.func.count(Voucher.id))) == 600
    entries = audit("voucher.generate")
    assert len(entries) == 2  # one entry per batch
    assert entries[0].after["count"] == 300 and entries[0].after["max_uses"] == 2


@pytest.mark.parametrize(
    ("count", "prefix"), [(0, ""), (1001, ""), ("many", ""), (5, "VIP CODES"), (5, "A" * 21)]
)
def test_bad_batches_are_refused(actor, event, count, prefix):
    with pytest.raises(ValidationError) as err:
        builder.generate_vouchers(
            event, actor=actor, now=NOW, count=count, prefix=prefix, kind="percent", value=10
        )
    assert list(fields_of(err)) == (["count"] if not prefix else ["prefix"])
    assert db.session.scalar(sa.select(sa.func.count(Voucher.id))) == 0


def test_a_used_voucher_cannot_be_deleted(actor, event):
    used = builder.create_voucher(event, actor=actor, now=NOW, code="USED", kind="percent", value=50)
    unused = builder.create_voucher(event, actor=actor, now=NOW, code="UNUSED", kind="percent", value=50)
    create_order(event, order_data(event, voucher_code="used"), now=NOW)
    with pytest.raises(Conflict) as err:
        builder.delete_voucher(used, actor=actor, now=NOW)
    assert err.value.code == "in_use"
    builder.delete_voucher(unused, actor=actor, now=NOW)
    assert db.session.scalars(sa.select(Voucher.code)).all() == ["USED"]


# --- sponsors -------------------------------------------------------------------------------


def test_a_sponsor_member_gets_an_account_once_and_can_move_between_sponsors(actor, event):
    acme = builder.save_sponsor(event, actor=actor, now=NOW, name="Acme Bank", level="gold")
    other = builder.save_sponsor(event, actor=actor, now=NOW, name="أكمي", level="silver")

    user, password = builder.add_sponsor_member(
        acme, actor=actor, now=NOW, email="Ahmed@Example.org", name="Ахмед"
    )
    assert user.email == "ahmed@example.org" and user.name == "Ахмед"
    assert password and check_password_hash(user.password_hash, password)

    again, no_password = builder.add_sponsor_member(other, actor=actor, now=NOW, email="AHMED@example.org")
    assert again is user and no_password is None
    roles = db.session.scalars(sa.select(EventRole).where(EventRole.user_id == user.id)).all()
    assert [(r.event_id, r.role, r.sponsor_id) for r in roles] == [
        (event.id, EventRoleKind.SPONSOR, other.id)
    ]
    assert builder.sponsor_members(acme) == [] and builder.sponsor_members(other) == [user]

    with pytest.raises(NotFound):
        builder.remove_sponsor_member(acme, user, actor=actor, now=NOW)
    builder.remove_sponsor_member(other, user, actor=actor, now=NOW)
    assert builder.sponsor_members(other) == []
    assert db.session.get(User, user.id) is not None  # the account stays

    with pytest.raises(ValidationError) as err:
        builder.add_sponsor_member(acme, actor=actor, now=NOW, email="not an address")
    assert list(fields_of(err)) == ["email"]
    with pytest.raises(ValidationError) as err:
        builder.save_sponsor(event, actor=actor, now=NOW, name=" ")
    assert list(fields_of(err)) == ["name"]
    assert [e.action for e in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))] == [
        "sponsor.create",
        "sponsor.create",
        "sponsor.member_add",
        "sponsor.member_add",
        "sponsor.member_remove",
    ]


def test_deleting_a_sponsor_takes_its_members_access(actor, event):
    acme = builder.save_sponsor(event, actor=actor, now=NOW, name="Acme")
    user, _ = builder.add_sponsor_member(acme, actor=actor, now=NOW, email="m@example.org")
    builder.delete_sponsor(acme, actor=actor, now=NOW)
    assert db.session.scalars(sa.select(EventRole).where(EventRole.user_id == user.id)).all() == []
    assert event.sponsors == []


# --- email texts ----------------------------------------------------------------------------


def test_email_texts_are_kept_per_kind_and_language_without_empty_ones(actor, event):
    builder.set_email_texts(
        event,
        actor=actor,
        now=NOW,
        texts={
            "confirmation": {"nb": "  Velkommen, عائشة!\r\nParkering i bakgården. ", "en": ""},
            "invoice": {"nb": "", "en": ""},
            "ticket": {"en": "Bring the ticket."},
        },
    )
    assert event.email_texts == {
        "confirmation": {"nb": "Velkommen, عائشة!\nParkering i bakgården."},
        "ticket": {"en": "Bring the ticket."},
    }
    [entry] = audit("event.email_texts")
    assert entry.before == {"email_texts": {}} and entry.after == {"email_texts": event.email_texts}


@pytest.mark.parametrize(
    ("texts", "field"),
    [
        ({"reminder": {"nb": "Hei"}}, "reminder"),
        ({"ticket": {"nb": "x" * 2001}}, "ticket.nb"),
        ({"ticket": {"sv": "Hej"}}, "ticket.sv"),
        ({"ticket": "Hei"}, "ticket"),
        ({"ticket": {"nb": 5}}, "ticket.nb"),
    ],
)
def test_bad_email_texts_are_refused(actor, event, texts, field):
    with pytest.raises(ValidationError) as err:
        builder.set_email_texts(event, actor=actor, now=NOW, texts=texts)
    assert list(fields_of(err)) == [field]
    assert event.email_texts == {}


def test_nothing_is_committed_by_the_services(app, actor):
    new_event(actor, slug="uncommitted")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(TicketType.id))) == 0
