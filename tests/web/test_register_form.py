"""Registering through the HTML form, as a visitor would."""

import re

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from eventreg.core import clock
from eventreg.events.models import EventStatus, QuestionKind, QuestionScope
from eventreg.events.services import get_event
from eventreg.extensions import db
from eventreg.registration.models import Attendee, WaitingListEntry
from eventreg.registration.services import cancel_order, create_order, join_waitlist
from tests.factories import add_question, add_session, make_event, make_user, order_data
from tests.web.conftest import csrf_from, text


@pytest.fixture
def forum(app):
    with app.app_context():
        event = make_event("forum", seats=2, prices=(100_00,))
        db.session.commit()
        return {"slug": event.slug, "tt": event.ticket_types[0].id}


def form_for(client, slug, tt, n=1, **overrides):
    """GETs the register page for `n` tickets and returns valid form data for it."""
    page = client.get(f"/events/{slug}/register?tt_{tt}={n}")
    assert page.status_code == 200, page.status_code
    data = {
        "csrf_token": csrf_from(text(page)),
        "buyer-name": "Kari Nordmann",
        "buyer-email": "kari@example.org",
        "buyer-language": "nb",
        "payment_method": "card",
    }
    for i in range(n):
        data |= {
            f"a-{i}-tt": str(tt),
            f"a-{i}-name": f"Person {i}",
            f"a-{i}-email": f"p{i}@example.org",
            f"a-{i}-language": "en",
        }
    data.update(overrides)
    return data


def test_the_quantities_decide_how_many_attendee_blocks_the_form_has(english, forum):
    page = text(english.get(f"/events/forum/register?tt_{forum['tt']}=2"))
    assert 'name="a-0-name"' in page and 'name="a-1-name"' in page and 'name="a-2-name"' not in page
    assert "How will you pay?" in page


def test_no_quantity_sends_the_visitor_back_to_choose(app, english):
    with app.app_context():
        make_event("two", prices=(100_00, 200_00))
        db.session.commit()
    r = english.get("/events/two/register")
    assert r.status_code == 302 and r.headers["Location"] == "/events/two"


def test_one_attendee_registers_and_lands_on_the_order_page(english, forum, count_orders):
    r = english.post("/events/forum/register", data=form_for(english, "forum", forum["tt"]))
    assert r.status_code == 302
    assert re.fullmatch(r"/orders/[A-Z0-9]{8}/[\w-]+", r.headers["Location"])
    page = text(english.get(r.headers["Location"]))
    assert "Person 0" in page and "Kari Nordmann" in page
    assert "Awaiting payment" in page and "held until" in page
    assert "NOK100.00" in page and "NOK20.00" in page  # total and VAT
    assert count_orders() == 1


def test_missing_name_and_bad_email_show_messages_next_to_the_fields(english, forum, count_orders):
    data = form_for(english, "forum", forum["tt"], **{"a-0-name": "  ", "a-0-email": "not-an-email"})
    r = english.post("/events/forum/register", data=data)
    assert r.status_code == 422
    page = text(r)
    assert "Please correct the marked fields." in page
    name_error = re.search(r'id="a-0-name-error">(.*?)</div>', page, re.S).group(1)
    email_error = re.search(r'id="a-0-email-error">(.*?)</div>', page, re.S).group(1)
    assert "This field is required." in name_error
    assert "Not a valid email address." in email_error
    assert 'aria-describedby="a-0-name-error"' in page
    assert 'value="Kari Nordmann"' in page and 'value="not-an-email"' in page  # input kept
    assert count_orders() == 0


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_missing_or_wrong_csrf_token_is_a_clear_400(english, forum, count_orders, token):
    data = form_for(english, "forum", forum["tt"])
    if token is None:
        del data["csrf_token"]
    else:
        data["csrf_token"] = token
    r = english.post("/events/forum/register", data=data)
    assert r.status_code == 400
    assert "security token" in text(r)
    assert count_orders() == 0


def test_sold_out_post_says_so_and_offers_the_waiting_list(app, english, forum, count_orders):
    data = form_for(english, "forum", forum["tt"], n=1)
    with app.app_context():  # someone else takes both seats meanwhile
        event = get_event("forum")
        create_order(event, order_data(event, 2), now=clock.now())
        db.session.commit()
    r = english.post("/events/forum/register", data=data)
    assert r.status_code == 409
    page = text(r)
    assert "not enough seats left" in page
    assert 'action="/events/forum/waitlist"' in page
    assert count_orders() == 1

    joined = english.post(
        "/events/forum/waitlist",
        data={
            "csrf_token": csrf_from(page),
            "ticket_type_id": str(forum["tt"]),
            "seats": "1",
            "name": "Kari Nordmann",
            "email": "kari@example.org",
            "language": "en",
        },
        follow_redirects=True,
    )
    assert "waiting list as number 1" in text(joined)


def test_waitlist_form_with_bad_email_is_shown_again(app, english, forum):
    with app.app_context():
        event = get_event("forum")
        create_order(event, order_data(event, 2), now=clock.now())
        db.session.commit()
    token = csrf_from(text(english.get("/events/forum")))
    r = english.post(
        "/events/forum/waitlist",
        data={"csrf_token": token, "ticket_type_id": str(forum["tt"]), "seats": "1", "name": "Ola"},
    )
    assert r.status_code == 422
    assert "This field is required." in text(r) and 'value="Ola"' in text(r)


def test_a_very_long_name_gets_a_clear_message(english, forum, count_orders):
    r = english.post(
        "/events/forum/register", data=form_for(english, "forum", forum["tt"], **{"a-0-name": "x" * 10_000})
    )
    assert r.status_code == 422
    assert "At most 200 characters." in text(r)
    assert count_orders() == 0


def test_markup_in_a_name_is_shown_as_text(english, forum):
    evil = "<script>alert(1)</script>"
    r = english.post(
        "/events/forum/register", data=form_for(english, "forum", forum["tt"], **{"a-0-name": evil})
    )
    page = text(english.get(r.headers["Location"]))
    assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("name", ["Åse Ødegård", "محمد يونس", "Юнус", "尤努斯"])
def test_names_in_any_script_survive_unchanged(app, english, forum, name):
    data = form_for(english, "forum", forum["tt"], **{"a-0-name": name, "buyer-name": name})
    r = english.post("/events/forum/register", data=data)
    assert r.status_code == 302
    assert name in text(english.get(r.headers["Location"]))
    with app.app_context():
        assert db.session.scalar(sa.select(Attendee.name)) == name


def test_questions_workshops_and_a_condition_through_the_form(app, english, count_orders):
    with app.app_context():
        event = make_event("qs", seats=10, prices=(0,))
        interp = add_question(event, QuestionKind.YESNO, label="Interpreter?", position=0)
        which = add_question(
            event,
            label="Which language?",
            required=True,
            position=1,
            depends_on_id=interp.id,
            depends_on_value="yes",
        )
        diet = add_question(
            event,
            QuestionKind.MULTIPLE,
            label="Diet",
            position=2,
            choices=[{"value": "vegan", "en": "Vegan"}, {"value": "halal", "en": "Halal"}],
        )
        org = add_question(event, QuestionKind.ORG_TYPE, label="Org", scope=QuestionScope.ORDER, position=3)
        ws = add_session(event, "Impact", slot="day1", capacity=5)
        db.session.commit()
        ids = {"tt": event.ticket_types[0].id, "interp": interp.id, "which": which.id, "diet": diet.id}
        ids |= {"org": org.id, "ws": ws.id}
    page = text(english.get(f"/events/qs/register?tt_{ids['tt']}=1"))
    assert f'data-depends-on="a-0-q-{ids["interp"]}"' in page
    assert "This registration is free." in page and "How will you pay?" not in page
    base = form_for(english, "qs", ids["tt"])
    base |= {f"a-0-q-{ids['interp']}": "yes", "a-0-slot-0": str(ids["ws"]), f"q-{ids['org']}": "ngo"}
    base["buyer-language"] = "en"  # order answers are stored in the words the buyer saw

    missing = english.post("/events/qs/register", data=base)
    assert missing.status_code == 422
    assert f'id="a-0-q-{ids["which"]}-error"' in text(missing)
    assert count_orders() == 0

    base[f"a-0-q-{ids['which']}"] = "Arabic"
    data = MultiDict(base)
    data.add(f"a-0-q-{ids['diet']}", "vegan")
    data.add(f"a-0-q-{ids['diet']}", "halal")
    r = english.post("/events/qs/register", data=data)
    assert r.status_code == 302, text(r)
    order_page = text(english.get(r.headers["Location"]))
    for shown in ("Arabic", "Vegan, Halal", "Impact", "Non-profit organisation", "Confirmed"):
        assert shown in order_page


def test_members_only_event_refuses_anonymous_and_admits_a_member(app, english, count_orders, login):
    with app.app_context():
        event = make_event("club", members_only=True, prices=(0,))
        make_user("member@example.org", member=True)
        db.session.commit()
        tt = event.ticket_types[0].id
    r = english.get(f"/events/club/register?tt_{tt}=1")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    token = csrf_from(text(english.get("/events/club")))
    refused = english.post(
        "/events/club/register",
        data={"csrf_token": token, "buyer-name": "A", "buyer-email": "a@example.org", "a-0-tt": str(tt)},
    )
    assert refused.status_code == 403 and "members only" in text(refused)
    assert login("member@example.org").status_code == 302
    data = form_for(english, "club", tt)
    assert english.post("/events/club/register", data=data).status_code == 302
    assert count_orders() == 1


def test_staff_only_event_refuses_the_public_form(english, demo, count_orders):
    assert english.get("/events/okonomikurs-fengsel-2027/register").status_code == 403
    token = csrf_from(text(english.get("/events/okonomikurs-fengsel-2027")))
    r = english.post(
        "/events/okonomikurs-fengsel-2027/register",
        data={"csrf_token": token, "buyer-name": "A", "buyer-email": "a@example.org", "a-0-tt": "1"},
    )
    assert r.status_code == 403
    assert "registered by the organisers" in text(r)
    assert count_orders() == 0


def test_closed_event_refuses_with_a_message(app, english):
    with app.app_context():
        make_event("done", status=EventStatus.CLOSED)
        db.session.commit()
    assert "Registration for this event is closed." in text(english.get("/events/done"))


def test_a_waiting_list_offer_link_opens_a_prefilled_form(app, english, count_orders):
    now = clock.now()
    with app.app_context():
        event = make_event("wl", seats=1)
        tt = event.ticket_types[0]
        first = create_order(event, order_data(event), now=now)
        join_waitlist(
            event, ticket_type_id=tt.id, seats=1, name="Wanda", email="w@example.org", language="en", now=now
        )
        cancel_order(first, now=now)  # frees the seat: Wanda gets an offer
        db.session.commit()
        token = db.session.scalar(sa.select(WaitingListEntry.offer_token))
        tt_id = tt.id
    page = text(english.get(f"/events/wl/offer/{token}"))
    assert "A seat is held for you" in page and 'value="Wanda"' in page
    data = {
        "csrf_token": csrf_from(page),
        "waitlist_token": token,
        "buyer-name": "Wanda",
        "buyer-email": "w@example.org",
        "a-0-tt": str(tt_id),
        "a-0-name": "Wanda",
        "a-0-email": "w@example.org",
        "payment_method": "invoice",
        "invoice-org_number": "923 609 016",
        "invoice-org_name": "Wanda AS",
        "invoice-address": "Storgata 1, 0155 Oslo",
    }
    r = english.post("/events/wl/register", data=data)
    assert r.status_code == 302, text(r)
    assert count_orders() == 2
    assert english.get(f"/events/wl/offer/{token}").status_code == 409  # used


def test_an_order_page_needs_the_right_token(app, english, forum):
    r = english.post("/events/forum/register", data=form_for(english, "forum", forum["tt"]))
    code = r.headers["Location"].split("/")[2]
    assert english.get(f"/orders/{code}/wrong-token").status_code == 404
