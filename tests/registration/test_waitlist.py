"""The waiting list: who gets freed seats, offers that hold them, and offers that run out."""

from datetime import timedelta

import pytest

from eventreg.core.errors import Conflict, DomainError, SoldOut, ValidationError
from eventreg.extensions import db
from eventreg.registration.capacity import compute_availability
from eventreg.registration.models import OrderStatus, WaitlistStatus
from eventreg.registration.services import (
    cancel_order,
    create_order,
    expire_all_holds,
    join_waitlist,
    mark_paid,
    waitlist_position,
)
from tests.factories import NOW, make_event, order_data


def join(event, name, seats=1, at=NOW):
    return join_waitlist(
        event,
        ticket_type_id=event.ticket_types[0].id,
        seats=seats,
        name=name,
        email=f"{name.lower()}@example.org",
        language="en",
        now=at,
    )


@pytest.fixture
def full_event(ctx):
    event = make_event(seats=3)
    orders = [create_order(event, order_data(event, n), now=NOW) for n in (1, 2)]
    return event, orders


def test_joining_is_only_for_sold_out_tickets(ctx):
    event = make_event(seats=2)
    with pytest.raises(Conflict) as err:
        join(event, "Early")
    assert err.value.code == "seats_available"
    with pytest.raises(Conflict):  # a group of 3 does not fit in 2 seats: it may wait
        join(event, "Group", seats=2)
    assert join(event, "Group", seats=3).status == WaitlistStatus.WAITING


def test_joining_checks_its_input(full_event):
    event, _ = full_event
    with pytest.raises(ValidationError) as err:
        join_waitlist(event, ticket_type_id=0, seats=0, name="", email="x", language="xx", now=NOW)
    assert set(err.value.fields) == {"ticket_type_id", "seats", "name", "email", "language"}


def test_people_queue_in_order(full_event):
    event, _ = full_event
    entries = [join(event, n, at=NOW + timedelta(seconds=i)) for i, n in enumerate(("Ada", "Bo", "Cy"))]
    assert [waitlist_position(e) for e in entries] == [1, 2, 3]


def test_freed_seats_go_to_the_first_entry_they_satisfy(full_event):
    event, (single, pair) = full_event
    group = join(event, "Group", seats=2, at=NOW)
    solo = join(event, "Solo", seats=1, at=NOW + timedelta(seconds=1))
    cancel_order(single, now=NOW)  # one seat: too few for the group, enough for Solo
    assert (group.status, solo.status) == (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)
    assert solo.offer_expires_at == NOW + timedelta(hours=24) and solo.offer_token
    cancel_order(pair, now=NOW)  # two more: now the group's turn
    assert group.status == WaitlistStatus.OFFERED


def test_an_offer_holds_its_seats_against_everyone_else(full_event):
    event, (single, _) = full_event
    entry = join(event, "Waiting")
    cancel_order(single, now=NOW)
    assert entry.status == WaitlistStatus.OFFERED
    assert compute_availability(event, now=NOW).ticket_type_left(event.ticket_types[0].id) == 0
    with pytest.raises(SoldOut):
        create_order(event, order_data(event), now=NOW)
    order = create_order(
        event, order_data(event, waitlist_token=entry.offer_token), now=NOW + timedelta(hours=1)
    )
    assert entry.status == WaitlistStatus.ACCEPTED and entry.order_id == order.id
    with pytest.raises(Conflict):  # a used offer cannot be used twice
        create_order(event, order_data(event, waitlist_token=entry.offer_token), now=NOW + timedelta(hours=1))


def test_an_offer_is_for_its_seats_and_ticket_type_only(ctx):
    event = make_event(seats=2, prices=(100, 200))
    order = create_order(event, order_data(event, 2), now=NOW)
    entry = join(event, "Waiting")
    cancel_order(order, now=NOW)
    token = entry.offer_token
    with pytest.raises(ValidationError) as err:
        create_order(event, order_data(event, 2, waitlist_token=token), now=NOW)
    assert "attendees" in err.value.fields
    with pytest.raises(ValidationError) as err:
        create_order(
            event, order_data(event, ticket_type=event.ticket_types[1], waitlist_token=token), now=NOW
        )
    assert "attendees.0.ticket_type_id" in err.value.fields


def test_an_expired_hold_is_offered_to_the_waiting_list(full_event):
    event, _ = full_event
    entry = join(event, "Patient")
    db.session.commit()
    expire_all_holds(now=NOW + timedelta(minutes=31))
    db.session.refresh(entry)
    assert entry.status == WaitlistStatus.OFFERED


def test_a_walk_in_buyer_does_not_get_a_seat_whose_hold_ran_out_before_the_waiting_list(full_event):
    """No job has run: the sale itself finds the stale hold and offers its seat first."""
    event, (single, pair) = full_event
    mark_paid(pair, now=NOW)
    entry = join(event, "Patient")
    later = NOW + timedelta(minutes=31)
    with pytest.raises(SoldOut):
        create_order(event, order_data(event), now=later)
    db.session.refresh(entry)
    assert entry.status == WaitlistStatus.OFFERED and single.status == OrderStatus.EXPIRED


def test_an_unused_offer_runs_out_and_passes_to_the_next(full_event):
    event, (single, _) = full_event
    first = join(event, "First", at=NOW)
    second = join(event, "Second", at=NOW + timedelta(seconds=1))
    cancel_order(single, now=NOW)
    token = first.offer_token
    db.session.commit()
    expire_all_holds(now=NOW + timedelta(hours=25))
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.status == WaitlistStatus.EXPIRED
    assert second.status == WaitlistStatus.OFFERED
    with pytest.raises(Conflict) as err:
        create_order(event, order_data(event, waitlist_token=token), now=NOW + timedelta(hours=25))
    assert err.value.code == "offer_expired"


def test_a_made_up_offer_token_is_refused(full_event):
    event, _ = full_event
    with pytest.raises(DomainError) as err:
        create_order(event, order_data(event, waitlist_token="guess"), now=NOW)
    assert err.value.code == "invalid_offer"
