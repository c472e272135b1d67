"""Vouchers, members-only and staff-only events, registration on someone's behalf."""

from datetime import timedelta

import pytest

from eventreg.core.errors import Conflict, Forbidden, ValidationError
from eventreg.events.models import RegistrationMode, Visibility
from eventreg.extensions import db
from eventreg.registration.models import Voucher, VoucherKind
from eventreg.registration.services import AttendeeData, OrderData, create_order
from tests.factories import NOW, make_event, make_user, order_data


def voucher(event, code="SAVE", kind=VoucherKind.PERCENT, value=20, **kw):
    v = Voucher(event_id=event.id, code=code, kind=kind, value=value, **kw)
    db.session.add(v)
    db.session.flush()
    return v


def test_percent_voucher_discounts_every_ticket_it_applies_to(ctx):
    event = make_event(prices=(1950_00,))
    voucher(event, max_uses=5)
    order = create_order(event, order_data(event, 2, voucher_code="save"), now=NOW)  # case does not matter
    assert [a.price_ore for a in order.attendees] == [1560_00, 1560_00]
    assert order.total_ore == 3120_00 and order.voucher is not None


def test_fixed_voucher_never_makes_a_price_negative_and_a_zero_total_is_paid(ctx):
    event = make_event(prices=(450_00,))
    voucher(event, kind=VoucherKind.FIXED, value=500_00)
    order = create_order(event, order_data(event, voucher_code="SAVE"), now=NOW)
    assert order.total_ore == 0
    assert order.status == "paid"


def test_voucher_for_one_ticket_type_leaves_the_others_at_full_price(ctx):
    event = make_event(prices=(1000_00, 500_00))
    a, b = event.ticket_types
    voucher(event, kind=VoucherKind.FIXED, value=100_00, ticket_type=b, max_uses=3)
    data = order_data(event, ticket_type=a, voucher_code="SAVE")
    data.attendees.append(AttendeeData(name="B", email="b@example.org", ticket_type_id=b.id))
    order = create_order(event, data, now=NOW)
    assert [a.price_ore for a in order.attendees] == [1000_00, 400_00]

    with pytest.raises(ValidationError) as err:
        create_order(event, order_data(event, ticket_type=a, voucher_code="SAVE"), now=NOW)
    assert "voucher_code" in err.value.fields  # applies to none of the tickets


def test_voucher_unlocks_a_voucher_only_ticket_type(ctx):
    event = make_event(prices=(1000_00, 0))
    _, speaker = event.ticket_types
    speaker.visibility = Visibility.VOUCHER
    with pytest.raises(ValidationError) as err:
        create_order(event, order_data(event, ticket_type=speaker), now=NOW)
    assert "attendees.0.ticket_type_id" in err.value.fields
    voucher(event, code="SPEAKER", kind=VoucherKind.UNLOCK, value=0, ticket_type=speaker)
    order = create_order(event, order_data(event, ticket_type=speaker, voucher_code="SPEAKER"), now=NOW)
    assert order.status == "paid"


def test_a_voucher_stops_at_its_use_limit_counting_each_ticket(ctx):
    event = make_event(seats=10)
    voucher(event, max_uses=3)
    create_order(event, order_data(event, 2, voucher_code="SAVE"), now=NOW)
    with pytest.raises(Conflict) as err:
        create_order(event, order_data(event, 2, voucher_code="SAVE"), now=NOW)
    assert err.value.code == "voucher_used_up"
    create_order(event, order_data(event, 1, voucher_code="SAVE"), now=NOW)


def test_uses_of_expired_orders_come_back_to_the_voucher(ctx):
    event = make_event(seats=10)
    voucher(event, max_uses=1)
    create_order(event, order_data(event, voucher_code="SAVE"), now=NOW)
    create_order(event, order_data(event, voucher_code="SAVE"), now=NOW + timedelta(hours=1))


def test_an_expired_voucher_is_refused(ctx):
    event = make_event()
    voucher(event, valid_until=NOW)
    with pytest.raises(ValidationError) as err:
        create_order(event, order_data(event, voucher_code="SAVE"), now=NOW)
    assert "voucher_code" in err.value.fields


def test_members_only_events_admit_only_logged_in_members(ctx):
    event = make_event(members_only=True)
    with pytest.raises(Forbidden) as err:
        create_order(event, order_data(event), now=NOW)
    assert err.value.code == "members_only"
    with pytest.raises(Forbidden):
        create_order(event, order_data(event), now=NOW, actor=make_user("guest@example.org"))
    member = make_user("member@example.org", member=True)
    assert create_order(event, order_data(event), now=NOW, actor=member).status == "pending"


def test_member_ticket_types_need_a_member(ctx):
    event = make_event(prices=(100_00, 50_00))
    member_type = event.ticket_types[1]
    member_type.visibility = Visibility.MEMBERS
    with pytest.raises(ValidationError):
        create_order(event, order_data(event, ticket_type=member_type), now=NOW)
    member = make_user("m@example.org", member=True)
    create_order(event, order_data(event, ticket_type=member_type), now=NOW, actor=member)


def test_staff_register_prison_course_participants_with_a_name_only(ctx):
    event = make_event(prices=(0,), registration_mode=RegistrationMode.STAFF, attendee_email_required=False)
    event.ticket_types[0].visibility = Visibility.HIDDEN
    names_only = OrderData(
        buyer_name="Kursansvarlig",
        buyer_email=None,
        attendees=[AttendeeData(name=n, ticket_type_id=event.ticket_types[0].id) for n in ("Ola", "Yusuf")],
    )
    with pytest.raises(Forbidden) as err:
        create_order(event, names_only, now=NOW)
    assert err.value.code == "staff_only"
    with pytest.raises(Forbidden):  # a logged-in user without the organiser role
        create_order(event, names_only, now=NOW, actor=make_user("x@example.org"), on_behalf=True)
    staff = make_user("staff@example.org", organiser_of=event)
    order = create_order(event, names_only, now=NOW, actor=staff, on_behalf=True)
    assert order.status == "paid"
    assert [(a.name, a.email) for a in order.attendees] == [("Ola", None), ("Yusuf", None)]
    assert order.created_by_id == staff.id


def test_organiser_of_another_event_cannot_register_on_behalf(ctx):
    event, other = make_event("a"), make_event("b")
    staff = make_user("staff@example.org", organiser_of=other)
    with pytest.raises(Forbidden):
        create_order(event, order_data(event), now=NOW, actor=staff, on_behalf=True)


def test_check_in_staff_cannot_register_on_behalf(ctx):
    event = make_event()
    staff = make_user("door@example.org", checkin_of=event)
    with pytest.raises(Forbidden):
        create_order(event, order_data(event), now=NOW, actor=staff, on_behalf=True)


def test_hidden_ticket_types_are_for_staff_only(ctx):
    event = make_event(prices=(0,))
    event.ticket_types[0].visibility = Visibility.HIDDEN
    with pytest.raises(ValidationError):
        create_order(event, order_data(event), now=NOW)
    admin = make_user("admin@example.org", admin=True)
    create_order(event, order_data(event), now=NOW, actor=admin, on_behalf=True)
