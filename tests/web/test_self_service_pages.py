"""The buyer's order page and each attendee's own page, through the test client."""

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eventreg.core import clock
from eventreg.events.models import Event, QuestionKind, Sponsor
from eventreg.extensions import db
from eventreg.mail.models import OutboxMessage
from eventreg.registration.models import Attendee, ConsentRecord, Order, OrderStatus
from eventreg.registration.services import create_order, mark_paid
from tests.factories import add_question, add_session, make_event, order_data
from tests.web.conftest import csrf_from, text


def make_order(
    app, *, prices=(0,), paid=True, n=2, question=False, workshops=False, payment_method="card", **event_kw
) -> dict:
    """An order for a fresh event; returns the links and ids the tests need."""
    with app.app_context():
        event = make_event("forum", prices=prices, **event_kw)
        event.sponsors = [Sponsor(name="Nordic Impact Fund")]
        q = (
            add_question(event, QuestionKind.ORGANISATION, label="Organisation", required=True)
            if question
            else None
        )
        sessions = (
            [add_session(event, "Alpha", capacity=1), add_session(event, "Beta", capacity=1)]
            if workshops
            else []
        )
        data = order_data(event, n, payment_method=payment_method)
        for a in data.attendees:
            if q:
                a.answers = {str(q.id): "Acme"}
        order = create_order(event, data, now=clock.now())
        if paid and order.status == OrderStatus.PENDING:
            mark_paid(order, now=clock.now())
        db.session.commit()
        return {
            "order": f"/orders/{order.code}/{order.manage_token}",
            "order_id": order.id,
            "tickets": [f"/tickets/{a.manage_token}" for a in order.attendees],
            "attendee_ids": [a.id for a in order.attendees],
            "question": q.id if q else None,
            "sessions": [s.id for s in sessions],
        }


def post_form(client, page_url: str, action: str, data: dict):
    """POSTs `data` to `action` with the CSRF token of the page at `page_url`."""
    token = csrf_from(text(client.get(page_url)))
    return client.post(action, data={"csrf_token": token, **data})


def attendee(app, attendee_id) -> Attendee:
    with app.app_context():
        a = db.session.get(Attendee, attendee_id)
        db.session.expunge(a)
        return a


# --- the order page -------------------------------------------------------------------------


def test_the_order_page_links_each_attendee_and_offers_the_documents(app, english):
    links = make_order(app)
    r = english.get(links["order"])
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "private, no-store"
    assert r.headers["Referrer-Policy"] == "same-origin"
    page = text(r)
    for ticket in links["tickets"]:
        assert f'href="{ticket}"' in page
    assert f'href="{links["order"]}/tickets.pdf"' in page
    assert f'href="{links["order"]}/event.ics"' in page
    assert f'href="{links["order"]}/cancel"' in page
    assert "Changes possible until" in page


def test_an_unpaid_order_has_no_ticket_pdf_yet(app, english):
    links = make_order(app, prices=(100_00,), paid=False)
    page = text(english.get(links["order"]))
    assert "tickets.pdf" not in page and "event.ics" in page
    r = english.get(links["order"] + "/tickets.pdf")
    assert r.status_code == 409 and "ready when the order is paid" in text(r)


def test_a_wrong_order_token_is_404(app, english):
    links = make_order(app)
    code = links["order"].split("/")[2]
    for url in (
        f"/orders/{code}/wrong",
        f"/orders/{code}/%C3%A9",
        f"/orders/{code}/wrong/cancel",
        f"/orders/{code}/x/tickets.pdf",
        f"/orders/{code}/x/event.ics",
        "/orders/NOSUCHCODE/x",
    ):
        assert english.get(url).status_code == 404, url


def test_the_order_documents_download(app, english):
    links = make_order(app)
    pdf = english.get(links["order"] + "/tickets.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF") and "attachment" in pdf.headers["Content-Disposition"]
    ics = english.get(links["order"] + "/event.ics")
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    assert b"BEGIN:VCALENDAR" in ics.data and b"/events/forum" in ics.data
    assert links["order"].encode() not in ics.data  # the private link stays out of calendars


# --- the buyer cancels ----------------------------------------------------------------------


def test_the_buyer_cancels_after_a_confirm_step(app, english):
    links = make_order(app, prices=(100_00,), paid=False, seats=2)
    confirm = english.get(links["order"] + "/cancel")
    assert confirm.status_code == 200 and "Yes, cancel the order" in text(confirm)
    r = english.post(links["order"] + "/cancel", data={"csrf_token": csrf_from(text(confirm))})
    assert r.status_code == 302 and r.headers["Location"] == links["order"]
    page = text(english.get(links["order"]))
    assert "Your order is cancelled" in page and "Cancelled" in page
    assert "/cancel" not in page and "/tickets/" not in page
    with app.app_context():
        assert db.session.get(Order, links["order_id"]).status == OrderStatus.CANCELLED


def test_cancelling_needs_the_csrf_token(app, english):
    links = make_order(app)
    assert english.post(links["order"] + "/cancel").status_code == 400
    with app.app_context():
        assert db.session.get(Order, links["order_id"]).status == OrderStatus.PAID


def test_cancelling_an_invoiced_order_shows_the_refund_by_the_events_rule_first(app, english):
    links = make_order(app, prices=(100_00,), payment_method="invoice", cancellation_refund_percent=75)
    confirm = english.get(links["order"] + "/cancel")
    assert confirm.status_code == 200
    rule = html.unescape(confirm.get_data(as_text=True).split('class="refund-rule">')[1].split("</p>")[0])
    assert rule == "By the event's cancellation rule you get NOK150.00 back (75 % of the price)."
    r = post_form(english, links["order"] + "/cancel", links["order"] + "/cancel", {})
    assert r.status_code == 302
    page = text(english.get(links["order"]))
    assert "Refunded" in page and "Credit note" in page


# --- the attendee page ----------------------------------------------------------------------


def test_the_attendee_page_shows_the_ticket_with_its_qr(app, english):
    links = make_order(app, workshops=True)
    r = english.get(links["tickets"][0])
    assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-store"
    page = text(r)
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+"', page)
    assert "Attendee 0" in page and "Save my details" in page and "Save workshops" in page
    assert "Give the ticket to someone else" in page
    assert "Nordic Impact Fund" in page and "name, organisation, email address and phone number" in page
    assert "withdraw it here at any time" in page
    assert f'href="{links["tickets"][0]}/ticket.pdf"' in page
    assert links["order"] not in page  # an attendee never sees the buyer's link


def test_an_unpaid_ticket_waits_for_payment(app, english):
    links = make_order(app, prices=(100_00,), paid=False)
    page = text(english.get(links["tickets"][0]))
    assert "waiting for payment" in page and "data:image/png" not in page and "ticket.pdf" not in page
    assert english.get(links["tickets"][0] + "/ticket.pdf").status_code == 409


def test_the_ticket_documents_download(app, english):
    links = make_order(app)
    pdf = english.get(links["tickets"][1] + "/ticket.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    ics = english.get(links["tickets"][1] + "/event.ics")
    assert ics.status_code == 200 and b"BEGIN:VEVENT" in ics.data


def test_wrong_ticket_tokens_are_404(app, english):
    links = make_order(app)
    token = links["tickets"][0].rsplit("/", 1)[1]
    for url in (
        "/tickets/nonsense",
        f"/tickets/{token}x",
        f"/tickets/{token[:-1]}",
        f"/tickets/{'x' * 500}",
        "/tickets/%C3%A9%C3%A9",
        "/tickets/nonsense/ticket.pdf",
        "/tickets/nonsense/event.ics",
    ):
        assert english.get(url).status_code == 404, url
    page = english.get(links["tickets"][0])
    token_field = csrf_from(text(page))
    assert english.post("/tickets/nonsense/details", data={"csrf_token": token_field}).status_code == 404


def test_an_attendee_saves_details_and_a_missing_required_answer_is_shown(app, english):
    links = make_order(app, question=True)
    url, qid = links["tickets"][0], links["question"]
    data = {"name": "Kari Nordmann", "email": "kari@example.org", "language": "en", f"q-{qid}": ""}
    r = post_form(english, url, url + "/details", data)
    assert r.status_code == 422
    page = text(r)
    assert "Please correct the marked fields." in page
    assert re.search(rf'id="q-{qid}-error">\s*<p>This field is required.</p>', page)
    assert 'value="Kari Nordmann"' in page  # what was typed is kept
    assert attendee(app, links["attendee_ids"][0]).name == "Attendee 0"

    data[f"q-{qid}"] = "Nordic Ventures"
    r = post_form(english, url, url + "/details", data)
    assert r.status_code == 302 and r.headers["Location"] == url
    page = text(english.get(url))
    assert "Your details are saved." in page and "Nordic Ventures" in page
    assert attendee(app, links["attendee_ids"][0]).email == "kari@example.org"


def test_a_full_workshop_is_refused_on_the_page_and_a_free_one_is_taken(app, english):
    links = make_order(app, workshops=True)
    alpha, beta = links["sessions"]
    first, second = links["tickets"]
    assert post_form(english, first, first + "/workshops", {"slot-0": str(alpha)}).status_code == 302
    r = post_form(english, second, second + "/workshops", {"slot-0": str(alpha)})
    assert r.status_code == 409 and "A workshop you chose is full" in text(r)
    r = post_form(english, second, second + "/workshops", {"slot-0": str(beta)})
    assert r.status_code == 302
    assert "Your workshops are saved." in text(english.get(second))
    r = post_form(english, second, second + "/workshops", {"slot-0": "not-a-workshop"})
    assert r.status_code == 422 and "Unknown workshop" in text(r)


def test_a_transfer_needs_a_confirmation_and_then_the_old_link_is_gone(app, english):
    links = make_order(app)
    url = links["tickets"][0]
    data = {"name": "Ny Person", "email": "ny@example.org", "language": "nb"}
    r = post_form(english, url, url + "/transfer", data)
    assert r.status_code == 422 and "Tick the box to confirm" in text(r)
    r = post_form(english, url, url + "/transfer", data | {"email": ""})
    assert r.status_code == 422  # without the box ticked: only that is reported
    r = post_form(english, url, url + "/transfer", data | {"email": "", "confirm": "yes"})
    assert r.status_code == 422 and re.search(
        r'id="transfer-email-error">\s*<p>This field is required', text(r)
    )

    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.max(OutboxMessage.id))) or 0
    r = post_form(english, url, url + "/transfer", data | {"confirm": "yes"})
    assert r.status_code == 302 and r.headers["Location"] == "/events/forum"
    assert "The ticket now belongs to Ny Person" in text(english.get("/events/forum"))
    assert english.get(url).status_code == 404
    with app.app_context():
        a = db.session.get(Attendee, links["attendee_ids"][0])
        assert (a.name, a.email, a.ticket_version) == ("Ny Person", "ny@example.org", 2)
        kinds = db.session.execute(
            sa.select(OutboxMessage.kind, OutboxMessage.recipient_email).where(OutboxMessage.id > before)
        ).all()
        assert sorted(kinds) == [("ticket", "ny@example.org"), ("ticket_transferred", "a0@example.org")]
        new_link = f"/tickets/{a.manage_token}"
    assert english.get(new_link).status_code == 200


def test_sponsor_consent_is_given_and_withdrawn(app, english):
    links = make_order(app)
    url = links["tickets"][0]
    assert post_form(english, url, url + "/consent", {"sponsor_consent": "yes"}).status_code == 302
    page = text(english.get(url))
    assert "The sponsors may see your contact details." in page
    assert re.search(r'id="sponsor-consent" name="sponsor_consent" value="yes" checked', page)
    assert post_form(english, url, url + "/consent", {}).status_code == 302
    assert post_form(english, url, url + "/consent", {}).status_code == 302
    with app.app_context():
        assert [r.given for r in db.session.scalars(sa.select(ConsentRecord).order_by(ConsentRecord.id))] == [
            True,
            False,
        ]


def test_after_the_deadline_the_forms_are_hidden_and_posts_are_refused(app, english):
    links = make_order(app, workshops=True)
    url = links["tickets"][0]
    csrf = csrf_from(text(english.get(url)))
    with app.app_context():
        event = db.session.scalar(sa.select(Event))
        event.self_service_until = clock.now() - timedelta(hours=1)
        db.session.commit()
    page = text(english.get(url))
    assert "Changes to this registration were possible until" in page
    for hidden in ("Save my details", "Save workshops", "Give the ticket away"):
        assert hidden not in page
    assert "data:image/png" in page and "Save my choice" in page  # the ticket stays; consent can be withdrawn
    for action, data in (
        ("/details", {"name": "X", "email": "x@example.org", "language": "en"}),
        ("/workshops", {"slot-0": str(links["sessions"][0])}),
        ("/transfer", {"name": "X", "email": "x@example.org", "language": "en", "confirm": "yes"}),
    ):
        r = english.post(url + action, data={"csrf_token": csrf, **data})
        assert r.status_code == 409, action
        assert "Changes to this registration were possible until" in text(r)
    r = english.post(links["order"] + "/cancel", data={"csrf_token": csrf})
    assert r.status_code == 409
    assert "/cancel" not in text(english.get(links["order"]))
    assert attendee(app, links["attendee_ids"][0]).name == "Attendee 0"


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_both_pages_render_in_either_language(app, client, lang):
    links = make_order(app)
    page = client.get("/")
    client.post(f"/lang/{lang}", data={"csrf_token": csrf_from(text(page)), "next": "/"})
    for url in (links["order"], links["tickets"][0], links["order"] + "/cancel"):
        r = client.get(url)
        assert r.status_code == 200 and f'<html lang="{lang}">' in text(r), url


# --- in a real browser ------------------------------------------------------------------------


@pytest.fixture
def demo_order(app, demo):
    """The links of two orders for the demo conference: a paid one of two attendees, with answers
    and a workshop, and one of one attendee waiting for an invoice to be paid."""
    with app.app_context():
        event = db.session.scalar(sa.select(Event).where(Event.slug == "esbf-2027"))
        q = {x.label["en"]: x.id for x in event.questions}
        regular = next(t for t in event.ticket_types if t.name["en"] == "Regular")
        data = order_data(event, 2, ticket_type=regular, names=["Åse Ødegård", "محمد يونس"])
        for a, country in zip(data.attendees, ("NO", "SE"), strict=True):
            a.answers = {str(q["Country"]): country, str(q["Organisation type"]): "ngo"}
        data.attendees[0].answers |= {
            str(q["Organisation"]): "Nordic Social Ventures AS",
            str(q["Do you need an interpreter?"]): "yes",
            str(q["Which language?"]): "Arabic",
        }
        data.attendees[0].session_ids = [event.sessions[0].id]
        order = create_order(event, data, now=clock.now())
        mark_paid(order, now=clock.now())
        unpaid = order_data(event, ticket_type=regular, names=["Kari Nordmann"], payment_method="card")
        unpaid.attendees[0].answers = {str(q["Country"]): "NO", str(q["Organisation type"]): "public"}
        invoice = create_order(event, unpaid, now=clock.now())
        db.session.commit()
        return f"/orders/{order.code}/{order.manage_token}", f"/orders/{invoice.code}/{invoice.manage_token}"


@pytest.mark.browser
def test_the_order_and_ticket_pages_in_a_browser(page, live_server, demo_order):
    paid_order, invoice_order = demo_order
    from playwright.sync_api import expect

    from tests.web.test_browser import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)

    def shot(name):
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)

    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(f"{live_server}/")
    page.locator(".lang-switch button[lang=en]").click()
    page.goto(f"{live_server}{paid_order}")
    expect(page.get_by_role("heading", name="Your registration")).to_be_visible()
    expect(page.locator(".attendee-name")).to_have_text(["Åse Ødegård", "محمد يونس"])
    shot("self-service-order-en")
    page.set_viewport_size({"width": 390, "height": 844})
    shot("self-service-order-mobile-en")

    page.get_by_role("link", name="Ticket and changes for Åse Ødegård").click()
    expect(page.get_by_role("heading", name="Your ticket")).to_be_visible()
    expect(page.get_by_role("img", name="QR code of the ticket of Åse Ødegård")).to_be_visible()
    which = page.get_by_label("Which language?")
    expect(which).to_be_visible()
    page.locator("#details").get_by_label("No").check()  # the follow-up question goes away
    expect(which).to_be_hidden()
    shot("self-service-ticket-mobile-en")
    page.set_viewport_size({"width": 1100, "height": 900})
    shot("self-service-ticket-en")

    page.locator("#details").get_by_label("Yes").check()
    page.get_by_label("Which language?").fill("")
    page.get_by_role("button", name="Save my details").click()
    expect(page.locator("#form-message")).to_contain_text("Please correct the marked fields.")
    shot("self-service-ticket-errors-en")
    page.get_by_label("Which language?").fill("Somali")
    page.get_by_role("button", name="Save my details").click()
    expect(page.locator(".alert-success")).to_contain_text("Your details are saved.")
    expect(page.locator(".ticket-facts")).to_contain_text("Somali")

    page.locator(".lang-switch button[lang=nb]").click()
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    shot("self-service-ticket-nb")
    page.locator(".lang-switch button[lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}{invoice_order}")
    expect(page.locator(".order-status")).to_contain_text("Awaiting payment")
    page.get_by_role("link", name="Ticket and changes for Kari Nordmann").click()
    expect(page.locator(".ticket-waiting")).to_contain_text("waiting for payment")
    shot("self-service-ticket-unpaid-mobile-en")
    page.go_back()
    page.get_by_role("link", name="Cancel this order").click()
    expect(page.locator(".confirm-cancel")).to_contain_text("Kari Nordmann")
    shot("self-service-cancel-mobile-en")
    page.get_by_role("button", name="Yes, cancel the order").click()
    expect(page.locator(".alert-success")).to_contain_text("Your order is cancelled")
    expect(page.locator(".order-status")).to_contain_text("Cancelled")
    shot("self-service-order-cancelled-mobile-en")
