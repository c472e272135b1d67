"""Who is let in where: the check-in rules, admissions recorded once, undo, and offline uploads."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventreg.checkin import services
from eventreg.checkin.models import Checkin
from eventreg.checkin.services import ListData, OfflineScan, Result, redeem, save_list, upload_scans
from eventreg.core.errors import Conflict, NotFound, ValidationError
from eventreg.extensions import db
from eventreg.payments.invoices import mark_invoice_paid
from eventreg.payments.models import SalesDocument
from eventreg.registration.models import AttendeeSession, OrderStatus
from eventreg.registration.self_service import transfer_ticket
from eventreg.registration.services import cancel_order, create_order
from eventreg.tickets.services import signing_key, ticket_qr
from eventreg.tickets.signing import TicketClaim, sign_ticket
from tests.factories import NOW, add_session, make_event, make_user, order_data


@pytest.fixture
def door(ctx):
    """A free two-ticket-type event with a main entrance list and one paid attendee per type."""
    event = make_event(prices=(0, 0), seats=50)
    staff = make_user("door@example.org", checkin_of=event)
    main = save_list(event, ListData(name="Main entrance"))
    ada = create_order(event, order_data(event, names=["Ada Øverby"]), now=NOW).attendees[0]
    bo = create_order(
        event, order_data(event, names=["Бо Ли"], ticket_type=event.ticket_types[1]), now=NOW
    ).attendees[0]
    return event, main, staff, ada, bo


def scan(lst, attendee_or_qr, staff, *, at=NOW, gate="Door 1", **kw):
    qr = attendee_or_qr if isinstance(attendee_or_qr, str) else ticket_qr(attendee_or_qr, now=NOW)
    return redeem(lst, qr=qr, gate=gate, user=staff, now=at, **kw)


def test_a_genuine_ticket_is_admitted_once(door):
    event, main, staff, ada, _ = door
    first = scan(main, ada, staff)
    assert (first.result, first.attendee) == (Result.OK, ada)
    again = scan(main, ada, make_user("other@example.org"), gate="Door 2", at=NOW + timedelta(minutes=3))
    assert again.result == Result.ALREADY_REDEEMED
    assert again.checkin.id == first.checkin.id  # says when, where and by whom: the first gate
    assert (again.checkin.gate, again.checkin.user.name, again.checkin.scanned_at) == ("Door 1", "door", NOW)
    assert db.session.scalar(sa.select(sa.func.count(Checkin.id))) == 1


def test_forged_altered_and_foreign_tickets_are_invalid(door):
    event, main, staff, ada, _ = door
    genuine = ticket_qr(ada, now=NOW)
    forged = sign_ticket(TicketClaim(event.id, ada.id, 1, 1), Ed25519PrivateKey.generate())
    assert (scan(main, forged, staff).result, scan(main, forged, staff).reason) == (
        Result.INVALID,
        "bad_signature",
    )
    altered = genuine[:20] + ("A" if genuine[20] != "A" else "B") + genuine[21:]
    assert scan(main, altered, staff).result == Result.INVALID
    other = make_event("other", prices=(0,))
    stranger = create_order(other, order_data(other), now=NOW).attendees[0]
    verdict = scan(main, ticket_qr(stranger, now=NOW), staff)
    assert (verdict.result, verdict.reason) == (Result.INVALID, "other_event")
    assert scan(main, "not a ticket", staff).reason == "malformed"
    assert db.session.scalar(sa.select(sa.func.count(Checkin.id))) == 0


def test_a_transferred_ticket_is_revoked_and_the_new_one_admitted(door):
    event, main, staff, ada, _ = door
    old = ticket_qr(ada, now=NOW)
    transfer_ticket(ada, name="Chen Wei 陈伟", email="chen@example.org", language="en", now=NOW)
    assert (scan(main, old, staff).result, scan(main, old, staff).reason) == (Result.INVALID, "revoked")
    assert scan(main, ada, staff).result == Result.OK


def test_cancelled_orders_and_refunded_tickets_are_refused(door):
    event, main, staff, ada, bo = door
    qr = ticket_qr(ada, now=NOW)
    cancel_order(ada.order, now=NOW)  # keeps the ticket version: refused by the order's state
    assert scan(main, qr, staff).result == Result.CANCELLED
    bo_qr = ticket_qr(bo, now=NOW)
    bo.cancelled_at = NOW  # refunded on its own (payments also bumps the version)
    bo.ticket_version += 1
    assert scan(main, bo_qr, staff).result == Result.CANCELLED


def test_unpaid_orders_are_refused_and_unpaid_invoices_where_the_list_says_so(ctx):
    event = make_event(prices=(500_00,))
    staff = make_user("door@example.org", checkin_of=event)
    lenient = save_list(event, ListData(name="Main"))
    strict = save_list(event, ListData(name="Gala dinner", admit_unpaid_invoices=False))
    pending = create_order(event, order_data(event), now=NOW).attendees[0]
    assert pending.order.status == OrderStatus.PENDING
    verdict = redeem(lenient, attendee_id=pending.id, user=staff, now=NOW)
    assert (verdict.result, verdict.reason) == (Result.UNPAID, "pending")
    invoiced = create_order(event, order_data(event, payment_method="invoice"), now=NOW).attendees[0]
    assert (scan(strict, invoiced, staff).result, scan(strict, invoiced, staff).reason) == (
        Result.UNPAID,
        "invoice",
    )
    assert scan(lenient, invoiced, staff).result == Result.OK
    invoice = db.session.scalar(sa.select(SalesDocument).where(SalesDocument.order_id == invoiced.order_id))
    mark_invoice_paid(invoice, now=NOW, via="manual")
    assert scan(strict, invoiced, staff).result == Result.OK


def test_a_list_admits_its_ticket_types_workshop_and_hours(door):
    event, main, staff, ada, bo = door
    members = save_list(event, ListData(name="Members' lounge", ticket_type_ids=[event.ticket_types[1].id]))
    verdict = scan(members, ada, staff)
    assert (verdict.result, verdict.reason) == (Result.NOT_ADMITTED, "ticket_type")
    assert scan(members, bo, staff).result == Result.OK

    workshop = add_session(event, "Mikrolån")
    room = save_list(event, ListData(name="Room 2", session_id=workshop.id))
    assert scan(room, ada, staff).reason == "workshop"
    db.session.add(AttendeeSession(attendee_id=ada.id, session_id=workshop.id, slot=workshop.slot))
    db.session.flush()
    assert scan(room, ada, staff).result == Result.OK

    day2 = save_list(
        event, ListData(name="Day 2", opens_at=NOW + timedelta(days=1), closes_at=NOW + timedelta(days=2))
    )
    assert scan(day2, bo, staff).reason == "not_open"
    assert scan(day2, bo, staff, at=NOW + timedelta(days=2)).reason == "closed"
    assert scan(day2, bo, staff, at=NOW + timedelta(days=1, hours=1)).result == Result.OK


def test_reentry_lists_admit_again_and_undo_takes_an_admission_back(door):
    event, main, staff, ada, _ = door
    lounge = save_list(event, ListData(name="Lounge", allow_reentry=True))
    assert [scan(lounge, ada, staff).checkin.entry_no for _ in range(3)] == [1, 2, 3]

    first = scan(main, ada, staff)
    services.undo(main, first.checkin.id, user=staff, now=NOW)
    with pytest.raises(Conflict):
        services.undo(main, first.checkin.id, user=staff, now=NOW)
    again = scan(main, ada, staff)
    assert again.result == Result.OK and again.checkin.entry_no == 2
    with pytest.raises(NotFound):
        services.undo(lounge, again.checkin.id, user=staff, now=NOW)  # not this list's


def test_the_same_scan_sent_twice_is_one_admission(door):
    event, main, staff, ada, _ = door
    first = scan(main, ada, staff, nonce="scan-0001")
    retry = scan(main, ada, staff, nonce="scan-0001")  # the answer was lost; the gate sends again
    assert retry.result == Result.OK and retry.checkin.id == first.checkin.id
    assert db.session.scalar(sa.select(sa.func.count(Checkin.id))) == 1


def test_someone_without_their_ticket_is_checked_in_by_name(door):
    event, main, staff, ada, _ = door
    assert redeem(main, attendee_id=ada.id, user=staff, now=NOW).result == Result.OK
    with pytest.raises(ValidationError):
        redeem(main, user=staff, now=NOW)
    other = make_event("other", prices=(0,))
    stranger = create_order(other, order_data(other), now=NOW).attendees[0]
    with pytest.raises(NotFound):
        redeem(main, attendee_id=stranger.id, user=staff, now=NOW)


def test_list_validation(door):
    event, *_ = door
    other = make_event("other", prices=(0,))
    with pytest.raises(ValidationError) as err:
        save_list(
            event,
            ListData(
                name=" ",
                ticket_type_ids=[other.ticket_types[0].id],
                opens_at=NOW,
                closes_at=NOW - timedelta(hours=1),
            ),
        )
    assert set(err.value.fields) == {"name", "ticket_type_ids", "closes_at"}


def test_a_used_list_cannot_be_deleted(door):
    event, main, staff, ada, _ = door
    spare = save_list(event, ListData(name="Spare"))
    services.delete_list(spare)
    scan(main, ada, staff)
    with pytest.raises(Conflict):
        services.delete_list(main)


# -- offline uploads ------------------------------------------------------------------------------


def offline(attendee_or_qr, minutes, nonce, gate="Door 3"):
    qr = attendee_or_qr if isinstance(attendee_or_qr, str) else ticket_qr(attendee_or_qr, now=NOW)
    return OfflineScan(nonce=nonce, scanned_at=NOW + timedelta(minutes=minutes), qr=qr, gate=gate)


def test_an_upload_sent_twice_records_nothing_twice(door):
    event, main, staff, ada, bo = door
    batch = [offline(ada, 1, "n-ada-1"), offline(bo, 2, "n-bo-1")]
    first = upload_scans(main, batch, user=staff, now=NOW + timedelta(hours=1))
    assert [r["outcome"] for r in first] == ["admitted", "admitted"]
    assert upload_scans(main, batch, user=staff, now=NOW + timedelta(hours=2)) == first
    rows = db.session.scalars(sa.select(Checkin)).all()
    assert len(rows) == 2 and all(r.offline and r.gate == "Door 3" for r in rows)
    assert {r.scanned_at for r in rows} == {NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)}


def test_two_gates_admitting_one_ticket_offline_is_a_conflict_and_the_first_scan_wins(door):
    event, main, staff, ada, bo = door
    # Door 1 was online and admitted Ada at 12:10; Door 3 had admitted her offline at 12:05.
    online = scan(main, ada, staff, at=NOW + timedelta(minutes=10))
    (answer,) = upload_scans(main, [offline(ada, 5, "n-ada")], user=staff, now=NOW + timedelta(minutes=20))
    assert answer["outcome"] == "admitted"
    db.session.refresh(online.checkin)
    assert (online.checkin.counts, online.checkin.conflict) == (False, "already_redeemed")
    # A third gate, later still, is the conflict.
    (late,) = upload_scans(
        main, [offline(ada, 15, "n-ada-late", gate="Door 4")], user=staff, now=NOW + timedelta(minutes=20)
    )
    assert (late["outcome"], late["result"], late["reason"]) == (
        "conflict",
        "already_redeemed",
        "earlier_scan",
    )
    conflicts = services.conflicts(event)
    assert {c.gate for c in conflicts} == {"Door 1", "Door 4"}
    assert services.counting_admission(main, ada.id).gate == "Door 3"


def test_offline_scans_the_server_would_have_refused_are_conflicts_or_invalid(door):
    event, main, staff, ada, bo = door
    qr = ticket_qr(bo, now=NOW)
    cancel_order(bo.order, now=NOW)  # cancelled after the scanner refreshed its list
    forged = sign_ticket(TicketClaim(event.id, ada.id, 1, 1), Ed25519PrivateKey.generate())
    answers = upload_scans(
        main, [offline(qr, 1, "n-bo"), offline(forged, 2, "n-forged")], user=staff, now=NOW
    )
    assert [(a["outcome"], a["result"], a["reason"]) for a in answers] == [
        ("conflict", "cancelled", ""),
        ("invalid", "invalid", "bad_signature"),
    ]
    assert db.session.scalar(sa.select(sa.func.count(Checkin.id))) == 1  # forged: nothing to record


def test_the_package_judges_attendees_as_redeem_does(door):
    """The scanner judges offline from the package; it must agree with the server."""
    event, main, staff, ada, bo = door
    pending_event_order = create_order(event, order_data(event, names=["Zed"]), now=NOW)
    cancelled = create_order(event, order_data(event, names=["Cy"]), now=NOW).attendees[0]
    cancel_order(cancelled.order, now=NOW)
    scan(main, bo, staff)
    signing_key(event, now=NOW)
    package = services.offline_package(main, now=NOW)
    rows = {r["name"]: r for r in package["attendees"]}
    assert rows["Ada Øverby"]["refused"] is None and rows["Ada Øverby"]["inside"] is None
    assert rows["Бо Ли"]["inside"]["gate"] == "Door 1" and rows["Бо Ли"]["inside"]["by"] == "door"
    assert rows["Cy"]["refused"] == ["cancelled", ""]
    assert rows["Zed"]["refused"] is None  # free order: paid at once
    assert pending_event_order.status == OrderStatus.PAID
    assert list(package["keys"]) == ["1"] and package["event"]["id"] == event.id
    for a in (ada, bo, cancelled):
        verdict = redeem(main, attendee_id=a.id, user=staff, now=NOW)
        row = rows[a.name]
        expected = (
            Result(row["refused"][0])
            if row["refused"]
            else (Result.ALREADY_REDEEMED if row["inside"] else Result.OK)
        )
        assert verdict.result == expected


def test_progress_counts_inside_and_expected_per_list_and_ticket_type(door):
    event, main, staff, ada, bo = door
    scan(main, ada, staff)
    (p,) = services.progress(event)
    assert (p.inside, p.expected) == (1, 2)
    assert [(t.ticket_type.label, t.inside, t.expected) for t in p.by_type] == [
        ("Billett 0", 1, 1),
        ("Billett 1", 0, 1),
    ]
