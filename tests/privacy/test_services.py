"""Downloading, erasing and purging personal data, through the services."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import current_app

from eventreg.audit.models import AuditEntry
from eventreg.checkin.models import Checkin
from eventreg.core.errors import Conflict, NotFound
from eventreg.extensions import db
from eventreg.mail.models import MessageStatus, OutboxMessage
from eventreg.mail.transport import FolderTransport
from eventreg.payments.models import SalesDocument
from eventreg.privacy import services
from eventreg.privacy.services import ERASED
from eventreg.registration.models import (
    Answer,
    Attendee,
    AttendeeSession,
    ConsentRecord,
    Order,
    OrderStatus,
    WaitingListEntry,
)
from eventreg.registration.self_service import get_attendee_by_token
from eventreg.registration.services import cancel_order, create_order, get_order_by_token
from tests.factories import NOW, make_event, order_data
from tests.privacy.conftest import EMAILS, NAMES, move_event, register, tables_mentioning

AFTER = NOW + timedelta(days=200)  # the event (May 2027) is over, its retention (365 days) is not


def attendee(reg, i) -> Attendee:
    return db.session.get(Attendee, reg.attendee_ids[i])


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def columns(model) -> list[dict]:
    return [
        {c.name: getattr(row, c.name) for c in model.__table__.columns}
        for row in db.session.scalars(sa.select(model))
    ]


# --- what we hold ---------------------------------------------------------------------------


def test_the_download_holds_everything_about_the_attendee_and_nothing_about_the_others(ctx):
    reg = register("forum", now=NOW)
    data = services.personal_data(attendee(reg, 1), now=NOW)
    text = json.dumps(data, ensure_ascii=False)
    assert json.loads(text) == data  # serialisable as is

    assert data["format"] == "eventreg-personal-data/1"
    assert data["generated_at"] == NOW.isoformat()
    assert data["event"]["slug"] == "forum"
    assert data["retention"] == {"days": 365, "erase_on": "2028-05-27T15:00:00+00:00"}
    person = data["attendee"]
    assert person["name"] == "محمد يونس" and person["email"] == "mohammed@example.org"
    assert person["price_ore"] == 100_00 and person["vat_rate"] == 25 and person["currency"] == "NOK"
    assert person["sponsor_consent"] is True and person["erased_at"] is None
    assert data["answers"] == [
        {
            "question": {"nb": "Anything we should know?", "en": "Anything we should know?"},
            "answer": {"nb": "Nut allergy (محمد يونس)", "en": "Nut allergy (محمد يونس)"},
        }
    ]
    assert [w["name"]["en"] for w in data["workshops"]] == ["Impact measurement"]
    assert [(c["given"], c["via"]) for c in data["consent_history"]] == [(True, "attendee")]
    assert [(c["list"], c["gate"], c["counted"]) for c in data["checkins"]] == [
        ("Main entrance", "Door A", True)
    ]
    assert [(m["kind"], m["to"], m["status"]) for m in data["emails"]] == [
        ("ticket", "mohammed@example.org", "queued")
    ]
    assert data["order"]["code"] and data["as_buyer"] is None
    for other in NAMES[:1] + NAMES[2:]:
        assert other not in text
    for other in EMAILS[:1] + EMAILS[2:]:
        assert other not in text
    assert "Ødegård Consulting" not in text  # the order's answers are the buyer's


def test_the_buyer_download_has_the_order_documents_and_their_own_ticket(ctx):
    reg = register("forum", now=NOW)
    order = db.session.get(Order, reg.order_id)
    data = services.order_data(order, now=NOW)
    text = json.dumps(data, ensure_ascii=False)
    assert json.loads(text) == data

    assert data["buyer"] == {"name": "Åse Ødegård", "email": "ase@example.org", "language": "nb"}
    assert data["order"]["total_ore"] == 4 * 100_00 and data["order"]["vat_ore"] == 4 * 20_00
    assert data["order_answers"][0]["answer"]["nb"] == "Ødegård Consulting"
    assert len(data["tickets"]) == 4 and all("name" not in t for t in data["tickets"])
    [invoice] = data["sales_documents"]
    assert invoice["kind"] == "invoice" and invoice["total_ore"] == 4 * 100_00
    assert invoice["buyer"]["name"] == "Kommune-Kari AS" and invoice["buyer"]["reference"] == "Åse Ødegård"
    assert [(w["name"], w["email"]) for w in data["waiting_list"]] == [("Åse Ødegård", "ase@example.org")]
    assert {m["kind"] for m in data["emails"]} == {"invoice", "confirmation"}
    # The buyer holds the first ticket themselves (same email): that ticket is theirs too.
    assert [a["attendee"]["name"] for a in data["as_attendee"]] == ["Åse Ødegård"]
    for other in NAMES[1:] + EMAILS[1:]:
        assert other not in text

    # And the buyer's own ticket page gives the same buyer sections.
    mine = services.personal_data(attendee(reg, 0), now=NOW)
    assert mine["as_buyer"]["sales_documents"] == data["sales_documents"]


# --- erasing --------------------------------------------------------------------------------


def test_erasing_an_attendee_removes_them_everywhere_and_keeps_the_accounts(ctx):
    reg = register("forum", now=NOW)
    move_event(reg.event_id, ends_at=NOW - timedelta(days=1))
    person = attendee(reg, 1)
    old_link, old_version = person.manage_token, person.ticket_version
    sent = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.attendee_id == person.id))
    sent.status, sent.sent_at = MessageStatus.SENT, NOW
    sent.last_error = "451 try later <mohammed@example.org>"  # an earlier attempt's
    documents = columns(SalesDocument)
    order_total = db.session.get(Order, reg.order_id).total_ore
    assert "attendee" in tables_mentioning("محمد يونس")

    result = services.erase_attendee(person, now=NOW, via="attendee")

    assert (result.attendees, result.buyers) == (1, 0)
    assert tables_mentioning("محمد يونس") == set()
    assert tables_mentioning("mohammed@example.org") == set()
    person = db.session.get(Attendee, reg.attendee_ids[1])
    assert person.name == ERASED and person.email is None and person.erased_at == NOW
    assert person.sponsor_consent is False
    assert person.manage_token != old_link and person.ticket_version == old_version + 1
    assert count(Answer, Answer.attendee_id == person.id) == 0
    consents = db.session.scalars(
        sa.select(ConsentRecord).where(ConsentRecord.attendee_id == person.id).order_by(ConsentRecord.id)
    )
    assert [(c.given, c.via, c.at) for c in consents] == [(True, "attendee", NOW), (False, "erasure", NOW)]
    [message] = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.attendee_id == person.id))
    assert (message.recipient_name, message.recipient_email, message.status) == (
        ERASED,
        "",
        MessageStatus.SENT,
    )
    assert message.last_error is None
    # Kept: the ticket, its price and VAT, workshop seat, check-in, the order and its invoice.
    tt = person.order.event.ticket_types[0]
    assert (person.price_ore, person.vat_rate, person.ticket_type_id) == (100_00, 25, tt.id)
    assert count(AttendeeSession, AttendeeSession.attendee_id == person.id) == 1
    assert count(Checkin, Checkin.attendee_id == person.id) == 1
    assert db.session.get(Order, reg.order_id).total_ore == order_total
    assert columns(SalesDocument) == documents
    # The others of the order keep their data; the buyer too (another person).
    assert [attendee(reg, i).name for i in (0, 2, 3)] == [NAMES[0], NAMES[2], NAMES[3]]
    assert db.session.get(Order, reg.order_id).buyer_name == NAMES[0]
    # The old link is dead; erasing again changes nothing.
    with pytest.raises(NotFound):
        get_attendee_by_token(old_link)
    assert services.erase_attendee(person, now=NOW, via="attendee") == services.Erasure()


def test_erasing_an_attendee_clears_what_organisers_changed_in_the_audit_log(ctx):
    from eventreg.attendees.services import update_attendee_details
    from tests.factories import make_user

    reg = register("forum", now=NOW)
    person = attendee(reg, 1)
    organiser = make_user("organiser@example.org")
    update_attendee_details(
        person,
        name="Mohammed Younis",
        email="m.younis@example.org",
        language="en",
        answers={},
        actor=organiser,
        now=NOW,
    )
    assert "audit_entry" in tables_mentioning("Mohammed Younis")
    move_event(reg.event_id, ends_at=NOW - timedelta(days=1))

    services.erase_attendee(db.session.get(Attendee, person.id), now=NOW, via="attendee")

    for trace in ("Mohammed Younis", "محمد يونس", "m.younis@example.org"):
        assert tables_mentioning(trace) == set()
    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.object_id == person.id))
    assert (entry.action, entry.actor_name, entry.before, entry.after) == (
        "attendee.update",
        "organiser@example.org",
        None,
        None,
    )


def test_erasing_the_buyer_keeps_the_sales_documents_as_issued(ctx):
    reg = register("forum", now=NOW)
    order = db.session.get(Order, reg.order_id)
    code, old_link = order.code, order.manage_token
    messages = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.order_id == order.id)).all()
    assert {m.status for m in messages} == {MessageStatus.QUEUED}

    result = services.erase_buyer(order, now=AFTER, via="buyer")

    # The buyer, and their own ticket (same email); the other three are other people.
    assert (result.buyers, result.attendees) == (1, 1)
    order = db.session.get(Order, reg.order_id)
    assert (order.buyer_name, order.buyer_email, order.erased_at) == (ERASED, None, AFTER)
    assert order.answers == []
    assert attendee(reg, 0).name == ERASED and attendee(reg, 1).name == NAMES[1]
    entry = db.session.scalar(sa.select(WaitingListEntry))
    assert (entry.name, entry.email, entry.offer_token) == (ERASED, "", None)
    # Only the invoice still names the buyer: bookkeeping law; it is unchanged.
    assert tables_mentioning(NAMES[0]) == {"sales_document"}
    assert tables_mentioning(EMAILS[0]) == {"sales_document"}
    assert tables_mentioning("Ødegård Consulting") == set()
    doc = db.session.scalar(sa.select(SalesDocument))
    assert doc.buyer["reference"] == NAMES[0] and doc.total_ore == 4 * 100_00
    # Messages not sent yet to the buyer never will be.
    to_buyer = db.session.scalars(
        sa.select(OutboxMessage).where(
            OutboxMessage.order_id == order.id, OutboxMessage.attendee_id.is_(None)
        )
    ).all()
    assert {(m.status, m.recipient_email, m.last_error) for m in to_buyer} == {
        (MessageStatus.SUPERSEDED, "", "personal data erased")
    }
    with pytest.raises(NotFound):
        get_order_by_token(code, old_link)


def test_an_attendee_who_is_the_buyer_erases_both_once_the_order_is_over(ctx):
    reg = register("forum", now=NOW, names=NAMES[:1], emails=EMAILS[:1])
    services.erase_attendee(attendee(reg, 0), now=AFTER, via="attendee")
    order = db.session.get(Order, reg.order_id)
    assert order.buyer_name == ERASED and order.erased_at == AFTER
    assert tables_mentioning(NAMES[0]) == {"sales_document"}


def test_erasure_waits_while_the_ticket_is_valid(ctx):
    reg = register("forum", now=NOW)
    order = db.session.get(Order, reg.order_id)
    with pytest.raises(Conflict) as err:
        services.erase_attendee(attendee(reg, 1), now=NOW, via="attendee")
    assert err.value.code == "ticket_valid" and "2027" in str(err.value.message)
    with pytest.raises(Conflict) as err:
        services.erase_buyer(order, now=NOW, via="buyer")
    assert err.value.code == "registration_valid"
    assert attendee(reg, 1).name == NAMES[1] and order.buyer_name == NAMES[0]

    # A ticket refunded on its own may go at once; the buyer's data stays while the rest stands.
    attendee(reg, 1).cancelled_at = NOW
    services.erase_attendee(attendee(reg, 1), now=NOW, via="attendee")
    assert services.order_erasure_refusal(order, now=NOW) is not None


def test_a_cancelled_order_may_be_erased_before_the_event(ctx):
    event = make_event("free", prices=(0,))
    order = create_order(event, order_data(event, 2), now=NOW)
    cancel_order(order, now=NOW)
    assert order.status == OrderStatus.CANCELLED
    result = services.erase_buyer(order, now=NOW, via="buyer")
    assert result.buyers == 1
    for a in order.attendees:
        assert services.erasure_refusal(a, now=NOW) is None


def test_an_unknown_channel_is_a_programming_error(ctx):
    reg = register("forum", now=NOW)
    with pytest.raises(ValueError):
        services.erase_attendee(attendee(reg, 1), now=AFTER, via="someone")


def test_the_copies_in_the_outbox_folder_go_too(ctx):
    reg = register("forum", now=NOW)
    folder = Path(current_app.config["OUTBOX_DIR"])
    message = db.session.scalar(
        sa.select(OutboxMessage).where(OutboxMessage.attendee_id == reg.attendee_ids[1])
    )
    FolderTransport(folder).send(
        message.message_id, "noreply@eventreg.test", message.recipient_email, b"body"
    )
    files = list(folder.glob("*.eml"))
    assert len(files) == 1

    result = services.erase_attendee(attendee(reg, 1), now=AFTER, via="attendee")
    db.session.commit()
    assert services.forget_mail_copies(result.message_ids) == 1
    assert not files[0].exists()
