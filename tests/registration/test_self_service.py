"""Attendee self-service: details and answers, workshops, transfer, sponsor consent, the buyer's
cancellation, and the deadline that closes them."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eventreg.core.errors import Conflict, NotFound, SoldOut, ValidationError
from eventreg.events.models import QuestionKind, Sponsor
from eventreg.extensions import db
from eventreg.mail.models import OutboxMessage
from eventreg.payments.invoices import amount_due, order_documents
from eventreg.payments.models import DocumentKind
from eventreg.registration import self_service
from eventreg.registration.capacity import compute_availability
from eventreg.registration.models import Answer, AttendeeSession, ConsentRecord, OrderStatus
from eventreg.registration.self_service import (
    cancel_by_buyer,
    change_sessions,
    check_changes_allowed,
    get_attendee_by_token,
    set_sponsor_consent,
    transfer_ticket,
    update_attendee,
)
from eventreg.registration.services import ORDER_STATUS_WORDS, cancel_order, create_order, mark_paid
from eventreg.tickets.services import check_ticket, ticket_qr
from eventreg.tickets.signing import InvalidTicket
from tests.factories import NOW, add_question, add_session, make_event, order_data


def outbox() -> list[tuple[str, str]]:
    rows = db.session.execute(
        sa.select(OutboxMessage.kind, OutboxMessage.recipient_email).order_by(OutboxMessage.id)
    )
    return [tuple(r) for r in rows]


def details(attendee, **changes) -> dict:
    """update_attendee's arguments: the attendee as they are, with `changes`."""
    values = {
        "name": attendee.name,
        "email": attendee.email,
        "language": attendee.language,
        "answers": {str(a.question_id): a.value for a in attendee.answers if a.question_id},
        "now": NOW,
    }
    return values | changes


@pytest.fixture
def free(ctx):
    """A free (so paid at once) order of two attendees for a 10-seat event."""
    event = make_event(prices=(0,))
    order = create_order(event, order_data(event, 2), now=NOW)
    return event, order


@pytest.fixture
def paid(ctx):
    """A paid order of one 100 kr ticket."""
    event = make_event(prices=(100_00,))
    order = create_order(event, order_data(event), now=NOW)
    mark_paid(order, now=NOW)
    return event, order


# --- links and the deadline -----------------------------------------------------------------


def test_the_attendee_link_finds_the_attendee_and_nothing_else(free):
    _event, order = free
    first, second = order.attendees
    assert first.manage_token != second.manage_token and len(first.manage_token) >= 43
    assert get_attendee_by_token(first.manage_token) is first
    for wrong in (
        "",
        "x",
        first.manage_token[:-1],
        first.manage_token + "x",
        first.manage_token.upper(),
        "é" * 43,
    ):
        with pytest.raises(NotFound):
            get_attendee_by_token(wrong)
    with pytest.raises(NotFound):
        get_attendee_by_token(order.manage_token)  # the buyer's token is not an attendee's


def test_changes_close_at_the_start_of_the_event_by_default(free):
    event, order = free
    check_changes_allowed(order, now=event.starts_at - timedelta(seconds=1))
    with pytest.raises(Conflict) as err:
        check_changes_allowed(order, now=event.starts_at)
    assert err.value.code == "changes_closed"
    assert "2027" in str(err.value.message)  # says until when


def test_the_organisers_deadline_closes_changes_earlier(free):
    event, order = free
    event.self_service_until = NOW + timedelta(days=1)
    check_changes_allowed(order, now=NOW)
    attendee = order.attendees[0]
    later = NOW + timedelta(days=1)
    for attempt in (
        lambda: update_attendee(attendee, **details(attendee, name="New", now=later)),
        lambda: change_sessions(attendee, [], now=later),
        lambda: transfer_ticket(attendee, name="Other", email="other@example.org", language="en", now=later),
        lambda: cancel_by_buyer(order, now=later),
    ):
        with pytest.raises(Conflict) as err:
            attempt()
        assert err.value.code == "changes_closed"
    assert attendee.name == "Attendee 0" and order.status == OrderStatus.PAID


def test_cancelled_and_lapsed_orders_cannot_be_changed(ctx):
    event = make_event()
    lapsed = create_order(event, order_data(event), now=NOW)
    with pytest.raises(Conflict) as err:
        check_changes_allowed(lapsed, now=lapsed.expires_at)
    assert err.value.code == "changes_closed"
    cancelled = create_order(event, order_data(event), now=NOW)
    cancel_order(cancelled, now=NOW)
    with pytest.raises(Conflict) as err:
        check_changes_allowed(cancelled, now=NOW)
    assert err.value.code == "changes_closed"
    assert str(ORDER_STATUS_WORDS[OrderStatus.CANCELLED]) in str(err.value.message)


# --- details and answers ----------------------------------------------------------------------


def test_an_attendee_changes_name_email_language_and_answers(ctx):
    event = make_event(prices=(0,))
    org = add_question(event, QuestionKind.ORGANISATION, label="Organisation")
    diet = add_question(
        event,
        QuestionKind.MULTIPLE,
        label="Diet",
        choices=[
            {"value": "vegan", "nb": "Vegansk", "en": "Vegan"},
            {"value": "nuts", "nb": "Nøtter", "en": "Nuts"},
        ],
    )
    data = order_data(event)
    data.attendees[0].answers = {str(org.id): "Acme"}
    attendee = create_order(event, data, now=NOW).attendees[0]
    update_attendee(
        attendee,
        name="  Kari  Nordmann ",
        email="KARI@Example.org",
        language="en",
        answers={str(org.id): "Acme", str(diet.id): ["vegan"]},
        now=NOW,
    )
    db.session.expire_all()
    assert (attendee.name, attendee.email, attendee.language) == ("Kari  Nordmann", "KARI@example.org", "en")
    assert {a.question_id: a.display["nb"] for a in attendee.answers} == {org.id: "Acme", diet.id: "Vegansk"}


def test_an_unchanged_answer_keeps_its_frozen_texts_and_a_changed_one_is_frozen_anew(ctx):
    event = make_event(prices=(0,))
    org = add_question(event, QuestionKind.ORGANISATION, label="Organisation")
    city = add_question(event, QuestionKind.TEXT, label="City")
    data = order_data(event)
    data.attendees[0].answers = {str(org.id): "Acme", str(city.id): "Oslo"}
    attendee = create_order(event, data, now=NOW).attendees[0]
    org.label = {"nb": "Arbeidsgiver", "en": "Employer"}  # the organiser rewords both questions
    city.label = {"nb": "By (ny)", "en": "City (new)"}
    update_attendee(attendee, **details(attendee, answers={str(org.id): "Acme", str(city.id): "Bergen"}))
    db.session.expire_all()
    labels = {a.question_id: (a.question_label["en"], a.value) for a in attendee.answers}
    assert labels == {org.id: ("Organisation", "Acme"), city.id: ("City (new)", "Bergen")}
    assert db.session.scalar(sa.select(sa.func.count(Answer.id))) == 2


def test_a_missing_required_answer_is_refused_and_nothing_changes(ctx):
    event = make_event(prices=(0,))
    org = add_question(event, QuestionKind.ORGANISATION, label="Organisation", required=True)
    data = order_data(event)
    data.attendees[0].answers = {str(org.id): "Acme"}
    attendee = create_order(event, data, now=NOW).attendees[0]
    db.session.commit()
    with pytest.raises(ValidationError) as err:
        update_attendee(attendee, **details(attendee, name="New name", answers={str(org.id): "  "}))
    assert set(err.value.fields) == {f"answers.{org.id}"}
    db.session.rollback()
    assert attendee.name == "Attendee 0" and [a.value for a in attendee.answers] == ["Acme"]


def test_details_are_validated_as_at_registration(free):
    event, order = free
    attendee = order.attendees[0]
    with pytest.raises(ValidationError) as err:
        update_attendee(
            attendee, name=" ", email="not-an-email", language="de", answers={"999999": "x"}, now=NOW
        )
    assert set(err.value.fields) == {"name", "email", "language", "answers.999999"}
    with pytest.raises(ValidationError) as err:
        update_attendee(attendee, **details(attendee, email=""))  # the event requires email
    assert set(err.value.fields) == {"email"}
    event.attendee_email_required = False
    update_attendee(attendee, **details(attendee, email=""))
    assert attendee.email is None


def test_a_question_for_another_ticket_type_cannot_be_answered(ctx):
    event = make_event(prices=(0, 0))
    student_q = add_question(event, label="Student id", ticket_types=[event.ticket_types[1]])
    attendee = create_order(event, order_data(event), now=NOW).attendees[0]
    with pytest.raises(ValidationError) as err:
        update_attendee(attendee, **details(attendee, answers={str(student_q.id): "123"}))
    assert set(err.value.fields) == {f"answers.{student_q.id}"}


# --- workshops --------------------------------------------------------------------------------


def test_an_attendee_changes_workshop_and_the_seat_follows(free):
    event, order = free
    a, b = add_session(event, "A", capacity=5), add_session(event, "B", capacity=5)
    later = add_session(event, "Afternoon", slot="day1-pm", capacity=5)
    attendee = order.attendees[0]
    change_sessions(attendee, [a.id], now=NOW)
    change_sessions(attendee, [str(b.id), later.id], now=NOW)
    assert [s.name["en"] for s in attendee.sessions] == ["B", "Afternoon"]
    left = compute_availability(event, now=NOW).sessions
    assert (left[a.id], left[b.id], left[later.id]) == (5, 4, 4)
    change_sessions(attendee, [], now=NOW)
    assert attendee.sessions == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AttendeeSession)) == 0


def test_a_full_workshop_refuses_and_the_old_choice_stays(free):
    event, order = free
    first, second = order.attendees
    a, b = add_session(event, "A", capacity=5), add_session(event, "B", capacity=1)
    change_sessions(first, [b.id], now=NOW)
    change_sessions(second, [a.id], now=NOW)
    db.session.commit()
    with pytest.raises(SoldOut) as err:
        change_sessions(second, [b.id], now=NOW)
    assert err.value.code == "session_full" and err.value.details["sessions"] == [b.id]
    db.session.rollback()
    assert [s.id for s in second.sessions] == [a.id]


def test_keeping_a_seat_in_a_full_workshop_is_not_refused(free):
    event, order = free
    attendee = order.attendees[0]
    full = add_session(event, "Full", capacity=1)
    other = add_session(event, "Other", slot="pm", capacity=3)
    change_sessions(attendee, [full.id], now=NOW)
    change_sessions(attendee, [full.id, other.id], now=NOW)  # keeps its own seat in the full one
    assert {s.id for s in attendee.sessions} == {full.id, other.id}


def test_a_swap_works_in_a_sold_out_event_and_frees_the_old_seat(ctx):
    event = make_event(seats=2, prices=(0,))
    a, b = add_session(event, "A", capacity=1), add_session(event, "B", capacity=1)
    data = order_data(event, 2)
    data.attendees[0].session_ids = [a.id]
    mine, other = create_order(event, data, now=NOW).attendees
    assert compute_availability(event, now=NOW).ticket_type_left(event.ticket_types[0].id) == 0
    change_sessions(mine, [b.id], now=NOW)  # gives up A and takes B in one go
    change_sessions(other, [a.id], now=NOW)  # the seat given up is free at once
    assert [s.id for s in mine.sessions] == [b.id] and [s.id for s in other.sessions] == [a.id]


def test_one_workshop_per_time_slot_and_only_this_events_workshops(free):
    event, order = free
    a, b = add_session(event, "A"), add_session(event, "B")
    elsewhere = add_session(make_event("other"), "Elsewhere")
    for ids in ([a.id, b.id], [elsewhere.id], "nonsense"):
        with pytest.raises(ValidationError) as err:
            change_sessions(order.attendees[0], ids, now=NOW)
        assert set(err.value.fields) == {"session_ids"}


@pytest.fixture
def last_workshop_seat(app):
    """Two attendees of two orders and a workshop with one seat left."""
    with app.app_context():
        event = make_event(prices=(0,))
        workshop = add_session(event, "Popular", capacity=2)
        taken = order_data(event)
        taken.attendees[0].session_ids = [workshop.id]
        create_order(event, taken, now=NOW)
        tokens = [create_order(event, order_data(event), now=NOW).attendees[0].manage_token for _ in range(2)]
        db.session.commit()
        ids = event.id, workshop.id, tokens
        db.session.remove()
    return ids


def race_for_the_seat(app, workshop_id, tokens, monkeypatch, *, lock=True) -> list[str]:
    count = self_service.compute_availability

    def slow_count(*args, **kwargs):  # widen the gap between counting and writing
        result = count(*args, **kwargs)
        time.sleep(0.05)
        return result

    monkeypatch.setattr(self_service, "compute_availability", slow_count)
    if not lock:
        monkeypatch.setattr(self_service, "lock_event_for_sale", lambda event: None)
    barrier = threading.Barrier(len(tokens))

    def attempt(token):
        with app.app_context():
            try:
                attendee = get_attendee_by_token(token)
                barrier.wait()
                change_sessions(attendee, [workshop_id], now=NOW)
                db.session.commit()
                return "won"
            except SoldOut as err:
                db.session.rollback()
                return err.code
            finally:
                db.session.remove()

    with ThreadPoolExecutor(len(tokens)) as pool:
        return sorted(pool.map(attempt, tokens))


def seats_taken(app, workshop_id) -> int:
    with app.app_context():
        query = sa.select(sa.func.count()).select_from(AttendeeSession)
        n = db.session.scalar(query.where(AttendeeSession.session_id == workshop_id))
        db.session.remove()
    return n


def test_two_attendees_racing_for_the_last_workshop_seat_give_one_winner(
    app, last_workshop_seat, monkeypatch
):
    _event_id, workshop_id, tokens = last_workshop_seat
    assert race_for_the_seat(app, workshop_id, tokens, monkeypatch) == ["session_full", "won"]
    assert seats_taken(app, workshop_id) == 2


def test_without_the_lock_the_same_workshop_race_overfills(app, last_workshop_seat, monkeypatch):
    """The control experiment: the race above is real, so its pass means something."""
    _event_id, workshop_id, tokens = last_workshop_seat
    assert race_for_the_seat(app, workshop_id, tokens, monkeypatch, lock=False) == ["won", "won"]
    assert seats_taken(app, workshop_id) == 3


# --- transfer ---------------------------------------------------------------------------------


def test_a_transfer_revokes_the_old_ticket_and_link_and_mails_both_people(free):
    event, order = free
    event.sponsors = [Sponsor(name="Fund")]
    attendee = order.attendees[0]
    set_sponsor_consent(attendee, True, now=NOW, via="attendee")
    old_qr, old_token, old_version = (
        ticket_qr(attendee, now=NOW),
        attendee.manage_token,
        attendee.ticket_version,
    )
    before = len(outbox())

    transfer_ticket(attendee, name="Ny Person", email="ny@example.org", language="en", now=NOW)

    assert (attendee.name, attendee.email, attendee.language) == ("Ny Person", "ny@example.org", "en")
    assert attendee.ticket_version == old_version + 1
    with pytest.raises(InvalidTicket) as err:
        check_ticket(event, old_qr)
    assert err.value.reason == "revoked"
    assert check_ticket(event, ticket_qr(attendee, now=NOW)) is attendee
    with pytest.raises(NotFound):
        get_attendee_by_token(old_token)
    assert get_attendee_by_token(attendee.manage_token) is attendee
    assert attendee.sponsor_consent is False
    records = db.session.scalars(sa.select(ConsentRecord).order_by(ConsentRecord.id)).all()
    assert [(r.given, r.via) for r in records] == [(True, "attendee"), (False, "transfer")]
    assert outbox()[before:] == [("ticket_transferred", "a0@example.org"), ("ticket", "ny@example.org")]


def test_a_transfer_removes_the_previous_holders_answers_and_keeps_the_workshop(ctx):
    event = make_event(prices=(0,))
    org = add_question(event, QuestionKind.ORGANISATION, label="Organisation", required=True)
    workshop = add_session(event, "A", capacity=3)
    data = order_data(event)
    data.attendees[0].answers = {str(org.id): "Acme"}
    data.attendees[0].session_ids = [workshop.id]
    attendee = create_order(event, data, now=NOW).attendees[0]
    transfer_ticket(attendee, name="Ny Person", email="ny@example.org", language="nb", now=NOW)
    db.session.commit()
    db.session.expire_all()
    assert attendee.answers == [] and db.session.scalar(sa.select(sa.func.count(Answer.id))) == 0
    assert [s.id for s in attendee.sessions] == [workshop.id]
    assert self_service.missing_answers(attendee) == [org]
    assert not [r for r in db.session.scalars(sa.select(ConsentRecord))]  # no consent: nothing to record


def test_a_transfer_needs_the_new_persons_name_and_email(free):
    _event, order = free
    attendee = order.attendees[0]
    with pytest.raises(ValidationError) as err:
        transfer_ticket(attendee, name="", email=None, language="xx", now=NOW)
    assert set(err.value.fields) == {"name", "email", "language"}
    with pytest.raises(ValidationError) as err:
        transfer_ticket(attendee, name=attendee.name, email=attendee.email.upper(), language="nb", now=NOW)
    assert set(err.value.fields) == {"email"}  # the ticket already belongs to this person
    assert attendee.ticket_version == 1


def test_a_transfer_of_a_ticket_without_email_mails_only_the_new_holder(ctx):
    event = make_event(prices=(0,), attendee_email_required=False)
    data = order_data(event)
    data.attendees[0].email = None
    attendee = create_order(event, data, now=NOW).attendees[0]
    before = len(outbox())
    transfer_ticket(attendee, name="Ny", email="ny@example.org", language="nb", now=NOW)
    assert outbox()[before:] == [("ticket", "ny@example.org")]


# --- sponsor consent --------------------------------------------------------------------------


def test_consent_on_off_on_writes_three_records_and_repeats_write_none(free):
    _event, order = free
    attendee = order.attendees[0]
    assert set_sponsor_consent(attendee, False, now=NOW, via="attendee") is None  # off → off
    for given in (True, True, False, False, True):
        set_sponsor_consent(attendee, given, now=NOW, via="attendee")
    records = db.session.scalars(sa.select(ConsentRecord).order_by(ConsentRecord.id)).all()
    assert [r.given for r in records] == [True, False, True]
    assert all(r.attendee_id == attendee.id and r.at == NOW and r.via == "attendee" for r in records)
    assert attendee.sponsor_consent is True


def test_consent_can_be_withdrawn_after_the_deadline_but_not_given_on_a_cancelled_order(ctx):
    event = make_event(prices=(0,))
    order = create_order(event, order_data(event), now=NOW)
    attendee = order.attendees[0]
    set_sponsor_consent(attendee, True, now=NOW, via="attendee")
    after_start = event.starts_at + timedelta(days=1)
    assert set_sponsor_consent(attendee, False, now=after_start, via="attendee").given is False
    cancel_order(order, now=NOW)
    with pytest.raises(Conflict) as err:
        set_sponsor_consent(attendee, True, now=NOW, via="attendee")
    assert err.value.code == "changes_closed"
    with pytest.raises(ValueError):
        set_sponsor_consent(attendee, False, now=NOW, via="someone")


# --- the buyer cancels ------------------------------------------------------------------------


def test_the_buyer_cancels_a_pending_order_and_the_seats_are_free(ctx):
    event = make_event(seats=2)
    order = create_order(event, order_data(event, 2), now=NOW)
    tt = event.ticket_types[0].id
    assert compute_availability(event, now=NOW).ticket_type_left(tt) == 0
    cancel_by_buyer(order, now=NOW)
    assert order.status == OrderStatus.CANCELLED and order.closed_at == NOW
    assert compute_availability(event, now=NOW).ticket_type_left(tt) == 2
    assert [kind for kind, _to in outbox()].count("order_cancelled") == 1  # queued once, by cancel_order


def test_the_buyer_cancels_a_free_order(free):
    event, order = free
    cancel_by_buyer(order, now=NOW)
    assert order.status == OrderStatus.CANCELLED


def test_a_buyer_cancelling_an_invoiced_order_gets_the_event_rules_share_as_a_credit_note(ctx):
    event = make_event(prices=(100_00,), cancellation_refund_percent=50)
    order = create_order(event, order_data(event, 2, payment_method="invoice"), now=NOW)
    qr = ticket_qr(order.attendees[0], now=NOW)
    assert self_service.cancel_refund_ore(order) == 100_00
    cancel_by_buyer(order, now=NOW)
    assert order.status == OrderStatus.REFUNDED
    invoice, note = order_documents(order)
    assert note.kind == DocumentKind.CREDIT_NOTE and note.credits_id == invoice.id
    assert note.total_ore == 100_00 and amount_due(invoice) == 100_00  # half the 200 kr is still owed
    with pytest.raises(InvalidTicket):
        check_ticket(event, qr)
    assert compute_availability(event, now=NOW).ticket_type_left(event.ticket_types[0].id) == 10


def test_a_cancelled_order_cannot_be_cancelled_again(free):
    _event, order = free
    cancel_by_buyer(order, now=NOW)
    with pytest.raises(Conflict) as err:
        cancel_by_buyer(order, now=NOW)
    assert err.value.code == "changes_closed"
