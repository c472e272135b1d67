"""The "Your data" pages behind the private links, and the date on the organiser's event page."""

import json
from datetime import timedelta

import sqlalchemy as sa

from eventreg.core import clock
from eventreg.extensions import db
from eventreg.privacy.services import ERASED
from eventreg.registration.models import Attendee, Order
from tests.factories import make_user
from tests.privacy.conftest import NAMES, move_event, register
from tests.web.conftest import csrf_from, text


def registration(app, *, ended: bool):
    """The demo registration; `ended`: the event ended yesterday (erasure allowed)."""
    with app.app_context():
        reg = register("forum", now=clock.now())
        if ended:
            move_event(reg.event_id, ends_at=clock.now() - timedelta(days=1))
        db.session.commit()
        return reg


def post_form(client, page_url: str, action: str, data: dict | None = None):
    token = csrf_from(text(client.get(page_url)))
    return client.post(action, data={"csrf_token": token, **(data or {})})


def test_the_ticket_page_offers_the_download_and_the_erasure(app, english):
    reg = registration(app, ended=True)
    ticket = reg.ticket_links[1]
    page = text(english.get(ticket))
    assert 'id="your-data"' in page
    assert f'href="{ticket}/my-data.json"' in page and f'href="{ticket}/erase"' in page
    assert "In any case we erase the personal data of this event's attendees on" in page


def test_while_the_ticket_is_valid_the_page_says_when_erasure_is_possible(app, english):
    reg = registration(app, ended=False)
    ticket = reg.ticket_links[1]
    page = text(english.get(ticket))
    assert f'href="{ticket}/my-data.json"' in page and f'href="{ticket}/erase"' not in page
    assert "Your ticket is still valid" in page and "May 28, 2027" in page
    r = english.get(ticket + "/erase")
    assert r.status_code == 409 and "Your ticket is still valid" in text(r)
    r = post_form(english, ticket, ticket + "/erase")
    assert r.status_code == 409
    with app.app_context():
        assert db.session.get(Attendee, reg.attendee_ids[1]).name == NAMES[1]


def test_the_attendee_downloads_their_data_as_json(app, english):
    reg = registration(app, ended=False)
    r = english.get(reg.ticket_links[1] + "/my-data.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="my-data-')
    assert r.headers["Cache-Control"] == "private, no-store"
    data = json.loads(r.get_data(as_text=True))
    assert data["attendee"]["name"] == "محمد يونس"
    assert "Åse" not in r.get_data(as_text=True)


def test_the_attendee_erases_their_data_after_confirming(app, english):
    reg = registration(app, ended=True)
    ticket = reg.ticket_links[1]
    r = english.get(ticket + "/erase")
    page = text(r)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-store"
    assert "What we erase" in page and "What we keep, and why" in page
    assert "Your name and email address on the ticket (محمد يونس)" in page
    assert "Bookkeeping Act" not in page  # the invoices carry the buyer's name, not theirs

    assert english.post(ticket + "/erase").status_code == 400  # no CSRF token
    r = post_form(english, ticket + "/erase", ticket + "/erase")
    assert r.status_code == 302 and r.headers["Location"] == "/events/forum"
    assert "Your personal data is erased" in text(english.get("/events/forum"))
    assert english.get(ticket).status_code == 404
    assert english.get(ticket + "/my-data.json").status_code == 404
    with app.app_context():
        a = db.session.get(Attendee, reg.attendee_ids[1])
        assert (a.name, a.email) == (ERASED, None) and a.erased_at is not None


def test_the_buyer_downloads_and_erases_from_the_order_page(app, english):
    reg = registration(app, ended=True)
    link = reg.order_link
    page = text(english.get(link))
    assert f'href="{link}/my-data.json"' in page and f'href="{link}/erase"' in page

    r = english.get(link + "/my-data.json")
    assert r.mimetype == "application/json"
    data = json.loads(r.get_data(as_text=True))
    assert data["buyer"]["name"] == NAMES[0] and data["sales_documents"][0]["kind"] == "invoice"

    page = text(english.get(link + "/erase"))
    assert "Your own ticket is erased too" in page and "Bookkeeping Act" in page
    assert "The other attendees of this order keep their data" in page
    r = post_form(english, link + "/erase", link + "/erase")
    assert r.status_code == 302
    assert english.get(link).status_code == 404
    assert english.get(reg.ticket_links[0]).status_code == 404  # the buyer's own ticket
    assert english.get(reg.ticket_links[1]).status_code == 200  # someone else's
    with app.app_context():
        order = db.session.get(Order, reg.order_id)
        assert (order.buyer_name, order.buyer_email) == (ERASED, None)


def test_wrong_links_are_not_found(app, english):
    reg = registration(app, ended=True)
    code = reg.order_link.split("/")[2]
    for url in (
        "/tickets/nope/my-data.json",
        "/tickets/nope/erase",
        f"/orders/{code}/nope/my-data.json",
        f"/orders/{code}/nope/erase",
        "/orders/NOPE/nope/erase",
    ):
        assert english.get(url).status_code == 404, url
    r = post_form(english, reg.ticket_links[1], "/tickets/nope/erase")
    assert r.status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Attendee.erased_at.is_not(None))) == 0


def test_the_organiser_sees_when_the_data_is_erased(app, english, login):
    reg = registration(app, ended=False)
    with app.app_context():
        make_user("olav@example.org", organiser_of=db.session.get(Order, reg.order_id).event)
        db.session.commit()
    login("olav@example.org")
    page = text(english.get("/manage/events/forum/"))
    # 365 days after the end (May 28, 2027); 2028 is a leap year.
    assert "Personal data of this event's attendees will be erased on May 27, 2028." in page
