from eventreg.registration.models import OrderStatus
from eventreg.registration.services import create_order
from tests.factories import NOW, make_event, order_data


def test_an_order_holds_seats(ctx):
    event = make_event(seats=2)
    order = create_order(event, order_data(event, 2), now=NOW)
    assert order.status == OrderStatus.PENDING
    assert order.total_ore == 200_00
