"""The organiser's dashboard: the figures, days in Oslo time, a fixed number of queries, the page."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from eventreg.checkin.services import ListData, redeem, save_list
from eventreg.dashboard.services import dashboard
from eventreg.extensions import db
from eventreg.registration.services import cancel_order, create_order
from tests.factories import add_session, make_event, make_user, order_data
from tests.web.conftest import csrf_from

MAY_1_LATE = datetime(2027, 5, 1, 22, 30, tzinfo=UTC)  # 00:30 on 2 May in Oslo


@pytest.fixture
def event(ctx):
    event = make_event(prices=(0, 500_00), seats=30)
    add_session(event, "Mikrolån", capacity=10)
    return event


def test_figures_count_registrations_money_days_capacity_and_checkins(event):
    free, paid = event.ticket_types
    create_order(event, order_data(event, 2, ticket_type=free), now=MAY_1_LATE)
    create_order(event, order_data(event, ticket_type=paid), now=MAY_1_LATE + timedelta(days=2))  # pending
    gone = create_order(event, order_data(event, ticket_type=free), now=MAY_1_LATE)
    cancel_order(gone, now=MAY_1_LATE)
    create_order(event, order_data(event, ticket_type=paid, payment_method="invoice"), now=MAY_1_LATE)
    lst = save_list(event, ListData(name="Main"))
    at = MAY_1_LATE + timedelta(days=2, minutes=5)
    figures = dashboard(event, now=at)

    assert figures["registrations"] == {"paid": 3, "pending": 1, "cancelled": 1, "orders": 4}
    assert figures["money"]["pending_ore"] == 500_00
    assert figures["money"]["invoiced_unpaid_ore"] == 500_00
    assert figures["per_day"]["days"] == ["2027-05-02", "2027-05-03", "2027-05-04"]  # Oslo dates
    assert [s["counts"] for s in figures["per_day"]["series"]] == [[2, 0, 0], [1, 0, 1]]
    assert [(t["sold"], t["left"]) for t in figures["ticket_types"]] == [(2, 26), (2, 26)]
    assert figures["quotas"] == [{"name": "Seats", "size": 30, "left": 26}]
    assert figures["workshops"] == [{"name": "Mikrolån", "capacity": 10, "left": 10}]

    attendee = db.session.scalars(sa.text("SELECT id FROM attendee ORDER BY id")).first()
    redeem(lst, attendee_id=attendee, user=None, now=at)
    assert dashboard(event, now=at)["checkins"] == [{"name": "Main", "inside": 1, "expected": 3}]


def test_the_number_of_queries_does_not_grow_with_attendees(event):
    statements = []

    def count(*args):
        statements.append(1)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        save_list(event, ListData(name="Main"))
        counts = []
        for orders in (1, 6):
            for _ in range(orders):
                create_order(event, order_data(event, 3, ticket_type=event.ticket_types[0]), now=MAY_1_LATE)
            db.session.expire_all()
            statements.clear()
            dashboard(event, now=MAY_1_LATE)
            counts.append(len(statements))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert counts[0] == counts[1]


def test_the_page_and_its_figures_for_the_organiser_only(app, client, login, event):
    make_user("olav@example.org", organiser_of=event)
    make_user("stranger@example.org")
    db.session.commit()
    login("stranger@example.org")
    assert client.get("/manage/events/forum/dashboard/").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))})
    login("olav@example.org")
    page = client.get("/manage/events/forum/dashboard/")
    assert page.status_code == 200 and "chart-days" in page.get_data(as_text=True)
    figures = client.get("/manage/events/forum/dashboard/figures.json")
    assert figures.get_json()["registrations"]["paid"] == 0 and "no-store" in figures.headers["Cache-Control"]
