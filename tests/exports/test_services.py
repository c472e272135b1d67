"""What each export contains, read through the services: money, local times, answers as columns,
cancellations, check-ins, both languages, and a query count that does not grow with attendees."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from eventreg.checkin.models import Checkin
from eventreg.checkin.services import ListData, save_list
from eventreg.events.models import Event, QuestionKind, QuestionScope
from eventreg.exports.services import (
    EXPORTS,
    export_answers,
    export_attendees,
    export_checkins,
    export_orders,
)
from eventreg.extensions import db
from eventreg.registration.models import Attendee
from eventreg.registration.services import AttendeeData, OrderData, create_order
from tests.exports.conftest import INJECTIONS, NAMES, ORDERED_AT
from tests.factories import add_question, add_session, invoice_details, make_event


def event_of(slug: str = "forum") -> Event:
    return db.session.scalar(sa.select(Event).where(Event.slug == slug))


def as_dicts(table) -> list[dict]:
    return [dict(zip(table.header, row, strict=True)) for row in table.rows]


def test_attendees_one_row_per_ticket_with_money_times_and_answers(ctx, forum):
    table = export_attendees(event_of(), lang="en")
    assert table.header[:9] == [
        "Order",
        "Order status",
        "Name",
        "Email",
        "Language",
        "Ticket type",
        "Price paid (kr)",
        "VAT (kr)",
        "Workshops",
    ]
    # Every question a column, in the event's order, between the workshops and the consent.
    assert table.header[9:13] == ["Organisation", "Diet", "Reference", "Sponsor consent"]
    rows = as_dicts(table)
    assert [r["Name"] for r in rows] == [*NAMES, "=cmd|' /C calc'!A0"]
    ase, bo, wei, nadia, cancelled = rows
    assert ase["Order"] == forum.invoice_order and ase["Order status"] == "Paid"
    assert ase["Price paid (kr)"] == Decimal("1234.50") and ase["VAT (kr)"] == Decimal("246.90")
    assert ase["Ticket type"] == "Ticket 0" and ase["Workshops"] == "Mikrolån"
    assert ase["Organisation"] == INJECTIONS[0]  # kept as typed; the writers neutralise it
    assert (ase["Diet"], wei["Diet"]) == ("Vegan", "None")
    # The question asked once per order shows on each of the order's attendees.
    assert [r["Reference"] for r in rows] == [INJECTIONS[1]] * 3 + ["R-2", ""]
    # 12:00 UTC in May is 14:00 in Oslo; the scans were at 06:30 and 06:35 UTC.
    assert ase["Registered at"] == datetime(2027, 5, 10, 14, 0)
    assert ase["Checked in (lists)"] == "Main entrance, Workshop room"
    assert ase["First check-in"] == datetime(2027, 5, 27, 8, 30)
    assert (wei["Checked in (lists)"], wei["First check-in"]) == (
        "Main entrance",
        datetime(2027, 5, 27, 8, 35),
    )
    assert (bo["Checked in (lists)"], bo["First check-in"]) == ("", None)
    # The offline admission of the cancelled attendee was a conflict: it does not count.
    assert (cancelled["Checked in (lists)"], cancelled["First check-in"]) == ("", None)
    assert [r["Cancelled or refunded"] for r in rows] == [
        "",
        "Ticket cancelled or refunded",
        "",
        "",
        "Order cancelled",
    ]
    assert cancelled["Order status"] == "Cancelled" and cancelled["Price paid (kr)"] == Decimal("0.00")
    assert {r["Sponsor consent"] for r in rows} == {"No"}
    assert ase["Email"] == "p0@example.org" and ase["Language"] == "nb"


def test_times_follow_the_events_timezone(ctx, forum):
    event = event_of()
    event.timezone = "America/New_York"
    rows = as_dicts(export_attendees(event, lang="en"))
    assert rows[0]["Registered at"] == datetime(2027, 5, 10, 8, 0)
    db.session.rollback()


def test_orders_with_totals_vat_refunds_and_invoices(ctx, forum):
    rows = as_dicts(export_orders(event_of(), lang="en"))
    invoice, card, free = rows
    assert invoice == {
        "Order": forum.invoice_order,
        "Order status": "Paid",
        "Payment method": "Invoice",
        "Buyer": "Åse Ødegård",
        "Buyer's email": "ase@example.org",
        "Total (kr)": Decimal("3703.50"),
        "VAT (kr)": Decimal("740.70"),
        "Refunded (kr)": Decimal("1234.50"),
        "Created at": datetime(2027, 5, 10, 14, 0),
        "Paid at": datetime(2027, 5, 10, 14, 0),
        "Invoice number": 1,
        "Invoice paid": "No",
        "Attendees": 3,
    }
    assert (card["Buyer"], card["Payment method"], card["Paid at"]) == (NAMES[3], "Card", None)
    assert (card["Invoice number"], card["Invoice paid"]) == (None, "")
    assert (free["Order status"], free["Payment method"], free["Total (kr)"]) == (
        "Cancelled",
        "Free",
        Decimal("0.00"),
    )


def test_answers_in_long_format(ctx, forum):
    table = export_answers(event_of(), lang="en")
    assert table.header == ["Attendee", "Order", "Order status", "Question", "Answer"]
    assert table.rows[:3] == [
        ["", forum.invoice_order, "Paid", "Reference", INJECTIONS[1]],  # the order's own answer first
        ["Åse Ødegård", forum.invoice_order, "Paid", "Organisation", INJECTIONS[0]],
        ["Åse Ødegård", forum.invoice_order, "Paid", "Diet", "Vegan"],
    ]
    assert len(table.rows) == 10
    assert table.rows[-1] == ["=cmd|' /C calc'!A0", forum.cancelled_order, "Cancelled", "Diet", "Vegan"]


def test_answers_to_deleted_questions_keep_their_question(ctx, forum):
    event = event_of()
    db.session.delete(next(q for q in event.questions if q.text == "Diet"))
    db.session.flush()
    long = export_answers(event, lang="en")
    assert sum(1 for r in long.rows if r[3] == "Diet") == 5
    wide = export_attendees(event, lang="en")
    assert "Diet" not in wide.header  # only the event's questions are columns
    db.session.rollback()


def test_checkins_every_scan_with_gate_staff_and_conflicts(ctx, forum):
    rows = as_dicts(export_checkins(event_of(), lang="en"))
    assert [(r["Check-in list"], r["Attendee"], r["Gate"]) for r in rows] == [
        ("Main entrance", "Åse Ødegård", "Door 1"),
        ("Main entrance", "陈伟", "Door 2"),
        ("Main entrance", "=cmd|' /C calc'!A0", "Side door"),
        ("Workshop room", "Åse Ødegård", "Room"),
    ]
    first, _wei, conflict, _room = rows
    assert first == {
        "Check-in list": "Main entrance",
        "Attendee": "Åse Ødegård",
        "Order": forum.invoice_order,
        "Gate": "Door 1",
        "Staff": "door",
        "Scanned at": datetime(2027, 5, 27, 8, 30),
        "Offline": "No",
        "Undone at": None,
        "Conflict": "",
    }
    assert (conflict["Offline"], conflict["Conflict"]) == ("Yes", "Cancelled or refunded")


def test_an_undone_admission_is_listed_with_its_time_and_no_longer_counts(ctx, forum):
    event = event_of()
    checkin = db.session.scalar(sa.select(Checkin).where(Checkin.gate == "Door 2"))
    checkin.undone_at = datetime(2027, 5, 27, 7, 0, tzinfo=UTC)
    db.session.flush()
    rows = as_dicts(export_checkins(event, lang="en"))
    assert rows[1]["Undone at"] == datetime(2027, 5, 27, 9, 0)
    wei = as_dicts(export_attendees(event, lang="en"))[2]
    assert (wei["Checked in (lists)"], wei["First check-in"]) == ("", None)
    db.session.rollback()


def test_norwegian_export_shows_answers_and_headers_in_norwegian(ctx, forum):
    table = export_attendees(event_of(), lang="nb")
    assert "Navn" in table.header and "Ticket type" not in table.header
    assert as_dicts(table)[0]["Billettype"] == "Billett 0"
    diet = table.header.index("Diet")
    assert [r[diet] for r in table.rows][:3] == ["Vegansk", "Vegansk", "Ingen"]


def test_another_events_rows_never_appear(ctx, forum):
    for export in EXPORTS.values():
        assert export(event_of("other"), lang="en").rows == []


# --- the number of queries does not grow with the attendees ---------------------------------------


def big_event(slug: str, attendees: int) -> Event:
    """An event whose `attendees` have an answer to each of three questions (one per order), a
    workshop, an invoice per order and one check-in each."""
    event = make_event(slug, seats=None, prices=(450_00,))
    workshop = add_session(event, "Workshop")
    org = add_question(event, QuestionKind.ORGANISATION, label="Organisation", position=1)
    yes = add_question(event, QuestionKind.YESNO, label="Interpreter", position=2)
    ref = add_question(event, QuestionKind.TEXT, label="Reference", position=3, scope=QuestionScope.ORDER)
    lst = save_list(event, ListData(name="Main entrance"))
    tt = event.ticket_types[0]
    done = 0
    while done < attendees:
        n = min(20, attendees - done)
        order = create_order(
            event,
            OrderData(
                buyer_name="Buyer",
                buyer_email="buyer@example.org",
                payment_method="invoice",
                invoice=invoice_details(),
                answers={ref.id: f"R-{done}"},
                attendees=[
                    AttendeeData(
                        name=f"Person {done + i}",
                        email=f"p{done + i}@example.org",
                        ticket_type_id=tt.id,
                        answers={org.id: f"Org {i}", yes.id: "yes"},
                        session_ids=[workshop.id],
                    )
                    for i in range(n)
                ],
            ),
            now=ORDERED_AT,
        )
        db.session.add_all(
            Checkin(
                list_id=lst.id,
                attendee_id=a.id,
                nonce=f"{slug}-{a.id}",
                entry_no=1,
                scanned_at=ORDERED_AT + timedelta(days=17),
                gate="Door",
            )
            for a in order.attendees
        )
        done += n
    db.session.flush()
    return event


@pytest.fixture
def statements(app):
    """Counts the SQL statements sent to the database while it is in use."""
    from eventreg.extensions import db as ext_db

    counted: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        counted.append(statement)

    engine = ext_db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    yield counted
    sa.event.remove(engine, "before_cursor_execute", count)


@pytest.mark.slow
def test_the_number_of_queries_does_not_grow_with_the_attendees(ctx, statements):
    # 600 > 500: SQLAlchemy's selectinload would split the attendees into a second IN query there.
    small, big = big_event("small", 10), big_event("big", 600)
    db.session.commit()
    for kind, export in EXPORTS.items():
        counts = {}
        for event in (small, big):
            db.session.expire_all()
            event_id = event.id
            event = db.session.get(Event, event_id)
            event.timezone  # loaded before counting  # noqa: B018
            statements.clear()
            table = export(event, lang="en")
            counts[event.slug] = len(statements)
            assert table.rows
        assert counts["small"] == counts["big"] <= 6, (kind, counts)
    assert len(export_attendees(big, lang="en").rows) == 600
    assert len(export_answers(big, lang="en").rows) == 600 * 2 + 30


def test_the_counter_sees_queries_per_attendee(ctx, statements):
    """The control: loading each attendee's answers through the relationship, as a naive export
    would, is counted as one more query per attendee."""
    events = big_event("small", 3), big_event("big", 30)
    db.session.commit()
    counts = []
    for event in events:
        db.session.expire_all()
        statements.clear()
        attendees = db.session.scalars(sa.select(Attendee).where(Attendee.event_id == event.id)).all()
        assert all(a.answers for a in attendees)
        counts.append(len(statements))
    assert counts[1] - counts[0] == 30 - 3
