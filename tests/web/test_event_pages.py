"""The public pages: event list, event page, language switch."""

from eventreg.core import clock
from eventreg.extensions import db
from eventreg.registration.services import create_order
from tests.factories import add_session, make_event, order_data
from tests.web.conftest import csrf_from, text


def test_event_list_shows_published_events_with_badges(client, demo):
    page = text(client.get("/"))
    assert "European Social Business Forum 2027" in page
    assert "Oslo Kongressenter" in page
    assert "Bare for medlemmer" in page  # nb is the default language
    assert 'href="/events/okonomikurs-fengsel-2027"' in page


def test_event_page_shows_prices_with_vat_and_seats_left(app, english):
    with app.app_context():
        event = make_event("forum", seats=3, prices=(2950_00, 0))
        add_session(event, "Impact", capacity=40)
        db.session.commit()
        tt = event.ticket_types[0].id
    page = text(english.get("/events/forum"))
    assert "NOK2,950.00" in page
    assert "incl. 25 % VAT: NOK590.00" in page
    assert "3 seats left" in page
    assert "Free" in page
    assert "Impact" in page and "40 seats left" in page
    assert f'name="tt_{tt}"' in page and 'action="/events/forum/register"' in page


def test_sold_out_ticket_shows_sold_out_and_waitlist_form(app, english):
    with app.app_context():
        event = make_event("tiny", seats=1)
        create_order(event, order_data(event), now=clock.now())
        db.session.commit()
        tt = event.ticket_types[0].id
    page = text(english.get("/events/tiny"))
    assert "Sold out" in page
    assert f'name="tt_{tt}"' not in page  # no quantity picker for a sold-out type
    assert 'action="/events/tiny/waitlist"' in page


def test_no_limit_shows_no_seat_count(app, english):
    with app.app_context():
        make_event("open", seats=None)
        db.session.commit()
    page = text(english.get("/events/open"))
    assert "seats left" not in page and "Sold out" not in page


def test_voucher_code_reveals_voucher_only_ticket(english, demo):
    assert "Speaker" not in text(english.get("/events/esbf-2027"))
    page = text(english.get("/events/esbf-2027?voucher_code=speaker27"))
    assert "Speaker" in page
    assert 'name="voucher_code" value="speaker27"' in page
    unknown = text(english.get("/events/esbf-2027?voucher_code=NOPE"))
    assert "Unknown voucher code." in unknown


def test_staff_only_event_shows_notice_instead_of_picker(english, demo):
    page = text(english.get("/events/okonomikurs-fengsel-2027"))
    assert "Participants are registered by the organisers." in page
    assert "Continue to registration" not in page


def test_members_only_event_asks_anonymous_visitors_to_log_in(english, demo):
    page = text(english.get("/events/nettverksgruppe-oslo-2027"))
    assert "This event is for members only." in page
    assert "/login?next=" in page
    assert "Continue to registration" not in page


def test_unknown_event_is_404(client):
    assert client.get("/events/nope").status_code == 404


def test_norwegian_is_the_default_and_english_is_remembered(app, client):
    with app.app_context():
        make_event("forum")
        db.session.commit()
    first = client.get("/events/forum")
    assert 'lang="nb"' in text(first)
    switched = client.post(
        "/lang/en", data={"csrf_token": csrf_from(text(first)), "next": "/events/forum?x=1"}
    )
    assert switched.status_code == 302 and switched.headers["Location"] == "/events/forum?x=1"
    assert '<html lang="en">' in text(client.get("/"))
    assert '<html lang="en">' in text(client.get("/events/forum"))


def test_language_switch_only_redirects_to_local_paths(client):
    token = csrf_from(text(client.get("/")))
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = client.post("/lang/en", data={"csrf_token": token, "next": evil})
        assert r.headers["Location"] == "/"
    assert client.post("/lang/xx", data={"csrf_token": token}).status_code == 404
