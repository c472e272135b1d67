"""Logging in, and the organisers' pages under /manage."""

import re

import pytest
import sqlalchemy as sa

from eventreg.core import clock
from eventreg.extensions import db
from eventreg.registration.models import Attendee, Order, OrderStatus
from eventreg.registration.services import create_order, mark_paid
from tests.factories import make_event, make_user, order_data
from tests.web.conftest import csrf_from, text


@pytest.fixture
def two_events(app):
    """Forum (organised by olav@) and another event (organised by other@), and a plain user."""
    with app.app_context():
        forum = make_event("forum", seats=2)
        other = make_event("other")
        make_user("olav@example.org", organiser_of=forum)
        make_user("other@example.org", organiser_of=other)
        make_user("plain@example.org")
        order = create_order(forum, order_data(forum, names=["Åse Ødegård"]), now=clock.now())
        db.session.commit()
        return {"code": order.code}


def test_login_with_a_wrong_password_says_so(english, two_events, login):
    r = login("olav@example.org", "nope")
    assert r.status_code == 401 and "Wrong email or password." in text(r)


def test_login_redirects_only_to_local_next(english, two_events):
    token = csrf_from(text(english.get("/login?next=https://evil.example/")))
    r = english.post(
        "/login",
        data={
            "email": "olav@example.org",
            "password": "secret-pw-kaffe",
            "next": "https://evil.example/",
            "csrf_token": token,
        },
    )
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_login_then_logout(english, two_events, login):
    r = login("olav@example.org")
    assert r.status_code == 302
    page = text(english.get("/"))
    assert "Manage" in page and "Log out" in page
    english.post("/logout", data={"csrf_token": csrf_from(page)})
    assert "Log in" in text(english.get("/"))


@pytest.mark.parametrize("url", ["/manage/", "/manage/events/forum/", "/manage/events/forum/register"])
def test_anonymous_visitors_are_sent_to_the_login_page(english, two_events, url):
    r = english.get(url)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("who", "status"),
    [("plain@example.org", 403), ("other@example.org", 403), ("olav@example.org", 200)],
)
def test_only_the_organiser_of_the_event_sees_its_orders(english, two_events, login, who, status):
    login(who)
    r = english.get("/manage/events/forum/")
    assert r.status_code == status
    if status == 200:
        page = text(r)
        assert two_events["code"] in page and "Åse Ødegård" in page
        assert "of 2 left" in page and "Pending" in page


def test_manage_index_lists_the_organisers_events(english, two_events, login):
    login("olav@example.org")
    page = text(english.get("/manage/"))
    assert "/manage/events/forum/" in page and "/manage/events/other/" not in page
    login("plain@example.org")
    assert english.get("/manage/").status_code == 403


def test_unknown_event_is_404_for_organisers(english, two_events, login):
    login("olav@example.org")
    assert english.get("/manage/events/nope/").status_code == 404


def test_cancel_frees_the_seat(app, english, two_events, login):
    login("olav@example.org")
    page = text(english.get("/manage/events/forum/"))
    assert "1 seat left" in text(english.get("/events/forum"))
    r = english.post(f"/manage/orders/{two_events['code']}/cancel", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 302
    assert "2 seats left" in text(english.get("/events/forum"))
    with app.app_context():
        assert db.session.scalar(sa.select(Order.status)) == OrderStatus.CANCELLED
    again = english.post(f"/manage/orders/{two_events['code']}/cancel", data={"csrf_token": csrf_from(page)})
    assert again.status_code == 409 and "was not cancelled" in text(again)


def test_a_paid_order_is_not_cancelled(app, english, two_events, login):
    with app.app_context():
        mark_paid(db.session.scalar(sa.select(Order)), now=clock.now())
        db.session.commit()
    login("olav@example.org")
    token = csrf_from(text(english.get("/manage/events/forum/")))
    r = english.post(f"/manage/orders/{two_events['code']}/cancel", data={"csrf_token": token})
    assert r.status_code == 409 and "refunded, not cancelled" in text(r)


def test_organiser_of_another_event_may_not_cancel(english, two_events, login):
    login("other@example.org")
    token = csrf_from(text(english.get("/manage/")))
    r = english.post(f"/manage/orders/{two_events['code']}/cancel", data={"csrf_token": token})
    assert r.status_code == 403
    assert english.post("/manage/orders/NOSUCH/cancel", data={"csrf_token": token}).status_code == 404


def test_prison_course_participants_are_registered_by_name_only(app, english, demo, login, count_orders):
    login("organiser@demo.example.org", "organiser-demo-fjord")
    page = english.get("/manage/events/okonomikurs-fengsel-2027/register")
    assert page.status_code == 200 and "Participant" in text(page)
    with app.app_context():
        from eventreg.events.services import get_event

        tt = get_event("okonomikurs-fengsel-2027").ticket_types[0].id
    data = {
        "csrf_token": csrf_from(text(page)),
        "ticket_type_id": str(tt),
        "language": "nb",
        "p-0-name": "Ola Nordmann",
        "p-1-name": "محمد يونس",
        "p-2-name": "",
    }
    r = english.post("/manage/events/okonomikurs-fengsel-2027/register", data=data)
    assert r.status_code == 302, text(r)
    order_page = text(english.get(r.headers["Location"]))  # the new order, its tickets ready to print
    assert (
        "Registered 2 participants" in order_page
        and "Ola Nordmann" in order_page
        and "محمد يونس" in order_page
    )
    pdf_link = re.search(r'href="([^"]+/tickets\.pdf)"', order_page).group(1)
    pdf = english.get(pdf_link)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    with app.app_context():
        assert db.session.scalars(sa.select(Attendee.email)).all() == [None, None]
    assert count_orders() == 1


def test_register_on_behalf_with_no_names_shows_the_problem(english, demo, login, count_orders):
    login("organiser@demo.example.org", "organiser-demo-fjord")
    page = text(english.get("/manage/events/okonomikurs-fengsel-2027/register"))
    r = english.post(
        "/manage/events/okonomikurs-fengsel-2027/register",
        data={
            "csrf_token": csrf_from(page),
            "ticket_type_id": "999",
            "p-0-name": "",
            "p-1-email": "x@example.org",
        },
    )
    assert r.status_code == 422
    assert 'id="p-0-name-error"' in text(r)
    assert count_orders() == 0
