"""Each attendee's QR, the event's keys, rotation and revocation."""

import pytest
import sqlalchemy as sa

from eventreg.extensions import db
from eventreg.registration.services import create_order
from eventreg.tickets.models import TicketKey
from eventreg.tickets.services import check_ticket, public_keys, rotate_key, signing_key, ticket_qr
from eventreg.tickets.signing import InvalidTicket
from tests.factories import NOW, make_event, order_data


@pytest.fixture
def paid(ctx):
    event = make_event(prices=(0,))
    return event, create_order(event, order_data(event, 2), now=NOW)


def test_each_attendee_gets_a_qr_that_checks_out(paid):
    event, order = paid
    first, second = order.attendees
    assert check_ticket(event, ticket_qr(first, now=NOW)) is first
    assert check_ticket(event, ticket_qr(second, now=NOW)) is second


def test_the_private_key_is_stored_encrypted(paid):
    event, order = paid
    ticket_qr(order.attendees[0], now=NOW)
    key = db.session.scalar(sa.select(TicketKey))
    assert key.key_id == 1 and len(key.public_key) == 32
    assert len(key.private_key) > 32 and key.public_key not in key.private_key


def test_one_key_per_event_until_rotated(paid):
    event, order = paid
    other = make_event("other", prices=(0,))
    assert signing_key(event, now=NOW).id == signing_key(event, now=NOW).id
    assert signing_key(other, now=NOW).id != signing_key(event, now=NOW).id


def test_rotation_signs_new_tickets_with_a_new_key_and_old_ones_stay_valid(paid):
    event, order = paid
    old_qr = ticket_qr(order.attendees[0], now=NOW)
    assert rotate_key(event, now=NOW).key_id == 2
    new_qr = ticket_qr(order.attendees[0], now=NOW)
    assert new_qr != old_qr
    assert sorted(public_keys(event)) == [1, 2]
    assert check_ticket(event, old_qr) is check_ticket(event, new_qr)


def test_a_bumped_ticket_version_revokes_the_old_qr(paid):
    event, order = paid
    attendee = order.attendees[0]
    old_qr = ticket_qr(attendee, now=NOW)
    attendee.ticket_version += 1  # what a transfer or cancellation does
    with pytest.raises(InvalidTicket) as err:
        check_ticket(event, old_qr)
    assert err.value.reason == "revoked"
    assert check_ticket(event, ticket_qr(attendee, now=NOW)) is attendee


def test_a_qr_of_another_event_is_refused(paid):
    event, order = paid
    other = make_event("other", prices=(0,))
    foreign = create_order(other, order_data(other), now=NOW).attendees[0]
    with pytest.raises(InvalidTicket) as err:
        check_ticket(event, ticket_qr(foreign, now=NOW))
    assert err.value.reason in {"unknown_key", "bad_signature", "other_event"}
