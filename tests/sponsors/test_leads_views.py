"""The booth scanner and leads pages through the test client: who may use them, what a scan
answers under the consent rule, saving notes and ratings, and the exports."""

import csv
import html
import io
import json
import re

import openpyxl
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventreg.events.models import Lead, Sponsor
from eventreg.extensions import db
from eventreg.registration.services import cancel_order, create_order
from eventreg.tickets.services import ticket_qr
from eventreg.tickets.signing import TicketClaim, sign_ticket
from tests.factories import NOW, make_event, make_user, order_data
from tests.sponsors.conftest import BOOTH_PEOPLE, Person, make_booth, make_member, register
from tests.web.conftest import csrf_from, text

ASE, CHEN, BORIS = (p.name for p in BOOTH_PEOPLE)
PAGES = ("scan", "leads", "leads.csv", "leads.xlsx")


@pytest.fixture
def booth(app):
    """The booth committed, with another event whose sponsor has a company there, the forum's
    organiser and an admin; also a cancelled ticket and another event's ticket to scan."""
    with app.app_context():
        b = make_booth()
        other = make_event("other", prices=(0,))
        other.sponsors = [Sponsor(name="Elsewhere AS")]
        db.session.flush()
        make_member(other, other.sponsors[0], "elsewhere@example.org")
        make_user("olav@example.org", organiser_of=b.event)
        make_user("admin@example.org", admin=True)
        cancelled = register(b.event, [Person("Cy Cancelled")])[0]
        qrs = dict(b.qrs)
        qrs["cancelled"] = ticket_qr(cancelled, now=NOW)
        cancel_order(cancelled.order, now=NOW)
        qrs["other"] = ticket_qr(create_order(other, order_data(other), now=NOW).attendees[0], now=NOW)
        ase = b.people[ASE]
        qrs["forged"] = sign_ticket(TicketClaim(b.event.id, ase.id, 1, 1), Ed25519PrivateKey.generate())
        db.session.commit()
        return {
            "qrs": qrs,
            "tokens": {a.name: a.manage_token for a in b.people.values()},
            "ids": {a.name: a.id for a in b.people.values()},
            "fund_id": b.fund.id,
            "rival_id": b.rival.id,
        }


def scanner_csrf(client) -> str:
    page = text(client.get("/sponsor/events/forum/scan"))
    config = json.loads(html.unescape(re.search(r'data-config="([^"]*)"', page).group(1)))
    return config["csrf"]


def post_scan(client, qr, csrf):
    return client.post(
        "/sponsor/events/forum/leads",
        json={"qr": qr},
        headers={"X-CSRFToken": csrf, "Accept": "application/json"},
    )


@pytest.fixture
def member(client, login, booth, english):
    """The fund's member, logged in, with the scanner's CSRF token."""
    login("fund@example.org")
    return scanner_csrf(client)


# --- who may use the pages --------------------------------------------------------------------


def test_a_member_of_the_company_may_use_every_page(client, member):
    for page in PAGES:
        r = client.get(f"/sponsor/events/forum/{page}")
        assert r.status_code == 200, page
        assert r.headers["Cache-Control"] == "private, no-store", page


@pytest.mark.parametrize(
    ("email", "says"),
    [
        ("no-company@example.org", "ask the organiser to add you to your company"),
        ("elsewhere@example.org", "You do not have access to this event"),  # sponsors another event
        ("olav@example.org", "only its members scan badges"),  # the organiser
        ("admin@example.org", "only its members scan badges"),
    ],
)
def test_everybody_else_logged_in_is_refused_with_a_reason(app, client, login, booth, english, email, says):
    login(email)
    for page in PAGES:
        r = client.get(f"/sponsor/events/forum/{page}")
        assert r.status_code == 403, (page, email)
        assert says in text(r), (page, email)
    csrf = csrf_from(text(client.get("/")))
    r = client.post("/sponsor/events/forum/leads", data={"csrf_token": csrf, "qr": booth["qrs"][ASE]})
    assert r.status_code == 403
    r = client.post(
        f"/sponsor/events/forum/leads/{_any_lead(app, booth)}",
        data={"csrf_token": csrf, "note": "mine now", "rating": "1"},
    )
    assert r.status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 1  # only _any_lead's
        assert db.session.scalar(sa.select(Lead.note)) == ""


def _any_lead(app, booth) -> int:
    with app.app_context():
        lead = db.session.scalar(sa.select(Lead))
        if lead is None:
            lead = Lead(sponsor_id=booth["fund_id"], attendee_id=booth["ids"][ASE], scanned_at=NOW)
            db.session.add(lead)
            db.session.commit()
        return lead.id


def test_a_sponsor_without_a_company_gets_json_saying_so_from_the_scanner(client, login, booth, english):
    login("no-company@example.org")
    csrf = csrf_from(text(client.get("/")))
    r = post_scan(client, booth["qrs"][ASE], csrf)
    assert r.status_code == 403
    assert r.json["error"] == "no_sponsor" and "ask the organiser" in r.json["message"]


def test_anonymous_visitors_are_sent_to_the_login_page(client, booth):
    for page in PAGES:
        r = client.get(f"/sponsor/events/forum/{page}")
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next="), page


def test_unknown_events_are_404(client, member):
    for page in PAGES:
        assert client.get(f"/sponsor/events/no-such-event/{page}").status_code == 404, page


# --- scanning ---------------------------------------------------------------------------------


def test_a_scan_without_consent_answers_only_name_and_organisation(client, member, booth):
    r = post_scan(client, booth["qrs"][CHEN], member)
    assert r.status_code == 201
    assert r.headers["Cache-Control"] == "private, no-store"
    body = r.json
    assert body["created"] is True and body["message"] == "New lead"
    lead = body["lead"]
    assert set(lead) == {"id", "name", "organisation", "consents", "note", "rating", "scanned_at", "url"}
    assert (lead["name"], lead["organisation"], lead["consents"]) == ("陈伟", "深圳公益基金会", False)
    assert lead["url"] == f"/sponsor/events/forum/leads#lead-{lead['id']}"
    raw = r.get_data(as_text=True)
    for secret in ("p1@example.org", "+8613800138000", "China", "Education", "CN"):
        assert secret not in raw


def test_a_scan_with_consent_also_answers_the_contact_details(client, member, booth):
    body = post_scan(client, booth["qrs"][ASE], member).json
    assert body["lead"]["consents"] is True
    assert body["lead"]["contact"] == {
        "email": "p0@example.org",
        "phone": "+4791234567",
        "country": "Norway",
        "sector": "Microfinance",
    }


def test_scanning_twice_gives_the_same_lead(app, client, member, booth):
    first = post_scan(client, booth["qrs"][ASE], member)
    again = post_scan(client, booth["qrs"][ASE], member)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["created"] is False and again.json["message"] == "Already scanned"
    assert again.json["lead"]["id"] == first.json["lead"]["id"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 1


@pytest.mark.parametrize(
    ("qr", "status", "error", "message"),
    [
        ("forged", 422, "invalid_ticket", "Forged or damaged QR code."),
        ("other", 422, "invalid_ticket", "This ticket is for another event."),
        ("not a ticket", 422, "invalid_ticket", "This is not a ticket of ours."),
        ("", 422, "missing", "Scan a badge, or type or paste its code."),
        ("cancelled", 409, "cancelled", "This ticket was cancelled or refunded: it is not a lead."),
    ],
)
def test_a_refused_scan_answers_a_clear_message(app, client, member, booth, qr, status, error, message):
    r = post_scan(client, booth["qrs"].get(qr, qr), member)
    assert r.status_code == status
    assert r.json["error"] == error and r.json["message"] == message
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 0


def test_a_scan_without_the_csrf_header_or_a_body_is_refused(client, member, booth):
    r = client.post("/sponsor/events/forum/leads", json={"qr": booth["qrs"][ASE]})
    assert r.status_code == 400
    r = client.post(
        "/sponsor/events/forum/leads",
        data="not json",
        headers={"X-CSRFToken": member, "Accept": "application/json", "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json["error"] == "missing"
    r = client.post(
        "/sponsor/events/forum/leads",
        json={"qr": ["a", "list"]},
        headers={"X-CSRFToken": member, "Accept": "application/json"},
    )
    assert r.status_code == 422


# --- the leads page -------------------------------------------------------------------------


def _lead_card(page: str, lead_id: int) -> str:
    return re.search(rf'<li class="card lead[^"]*" id="lead-{lead_id}">.*?</li>', page, re.S).group(0)


def test_the_leads_page_shows_contact_details_per_current_consent(client, login, member, booth):
    ase = post_scan(client, booth["qrs"][ASE], member).json["lead"]["id"]
    chen = post_scan(client, booth["qrs"][CHEN], member).json["lead"]["id"]
    page = text(client.get("/sponsor/events/forum/leads"))
    assert "Leads of Nordic Impact Fund" in page and "(2)" in page
    card = _lead_card(page, ase)
    assert "Åse Ødegård" in card and "mailto:p0@example.org" in card and "+4791234567" in card
    assert "Norway" in card and "Microfinance" in card
    card = _lead_card(page, chen)
    assert "陈伟" in card and "深圳公益基金会" in card and "Contact details not shared" in card
    assert "p1@example.org" not in page and "+8613800138000" not in page

    # Åse withdraws on her ticket page: her details are gone from the next load and download.
    attendee = client.application.test_client()
    ticket = f"/tickets/{booth['tokens'][ASE]}"
    r = attendee.post(f"{ticket}/consent", data={"csrf_token": csrf_from(text(attendee.get(ticket)))})
    assert r.status_code == 302
    page = text(client.get("/sponsor/events/forum/leads"))
    card = _lead_card(page, ase)
    assert "Åse Ødegård" in card and "Contact details not shared" in card
    assert "p0@example.org" not in page and "+4791234567" not in page
    assert "p0@example.org" not in client.get("/sponsor/events/forum/leads.csv").data.decode("utf-8-sig")


def test_the_leads_page_never_shows_another_companys_leads(app, client, login, booth, english):
    login("rival@example.org")
    rival_csrf = scanner_csrf(client)
    rival_lead = post_scan(client, booth["qrs"][BORIS], rival_csrf).json["lead"]["id"]
    client.post("/logout", data={"csrf_token": csrf_from(text(client.get("/")))})
    login("fund@example.org")
    page = text(client.get("/sponsor/events/forum/leads"))
    assert "Борис Ли" not in page and "No leads yet" in page
    assert "/leads.csv" not in page  # nothing to download
    csrf = csrf_from(page)
    r = client.post(
        f"/sponsor/events/forum/leads/{rival_lead}", data={"csrf_token": csrf, "note": "mine", "rating": "1"}
    )
    assert r.status_code == 404
    with app.app_context():
        assert db.session.get(Lead, rival_lead).note == ""


def test_saving_a_note_and_rating(app, client, member, booth):
    lead = post_scan(client, booth["qrs"][BORIS], member).json["lead"]["id"]
    csrf = csrf_from(text(client.get("/sponsor/events/forum/leads")))
    note = "Wants the Ахмед & عائشة report <b>soon</b>"
    r = client.post(
        f"/sponsor/events/forum/leads/{lead}", data={"csrf_token": csrf, "note": note, "rating": "4"}
    )
    assert r.status_code == 302 and r.headers["Location"] == f"/sponsor/events/forum/leads#lead-{lead}"
    page = text(client.get("/sponsor/events/forum/leads"))
    assert "The note and rating are saved." in page
    card = _lead_card(page, lead)
    assert "Wants the Ахмед &amp; عائشة report &lt;b&gt;soon&lt;/b&gt;</textarea>" in card
    assert '<option value="4" selected>4 of 5</option>' in card
    with app.app_context():
        saved = db.session.get(Lead, lead)
        assert (saved.note, saved.rating) == (note, 4)


@pytest.mark.parametrize("rating", ["9", "0", "abc"])
def test_a_rating_out_of_range_is_refused_with_the_message_by_the_field(app, client, member, booth, rating):
    lead = post_scan(client, booth["qrs"][BORIS], member).json["lead"]["id"]
    csrf = csrf_from(text(client.get("/sponsor/events/forum/leads")))
    r = client.post(
        f"/sponsor/events/forum/leads/{lead}", data={"csrf_token": csrf, "note": "keep me", "rating": rating}
    )
    assert r.status_code == 422
    card = _lead_card(text(r), lead)
    assert f'id="rating-{lead}" name="rating"' in card and 'aria-invalid="true"' in card
    assert "Choose a rating from 1 to 5, or none." in card
    assert "keep me</textarea>" in card  # what was typed is not lost
    with app.app_context():
        assert (db.session.get(Lead, lead).note, db.session.get(Lead, lead).rating) == ("", None)


def test_saving_without_the_csrf_token_is_refused(app, client, member, booth):
    lead = post_scan(client, booth["qrs"][BORIS], member).json["lead"]["id"]
    r = client.post(f"/sponsor/events/forum/leads/{lead}", data={"note": "x", "rating": "3"})
    assert r.status_code == 400
    with app.app_context():
        assert db.session.get(Lead, lead).note == ""


# --- the exports ----------------------------------------------------------------------------


def test_the_csv_export(client, member, booth):
    ase = post_scan(client, booth["qrs"][ASE], member).json["lead"]["id"]
    post_scan(client, booth["qrs"][CHEN], member)
    csrf = csrf_from(text(client.get("/sponsor/events/forum/leads")))
    client.post(
        f"/sponsor/events/forum/leads/{ase}", data={"csrf_token": csrf, "note": "Demo in June", "rating": "5"}
    )

    r = client.get("/sponsor/events/forum/leads.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert re.fullmatch(
        r"attachment; filename=leads-forum-\d{8}-\d{4}\.csv", r.headers["Content-Disposition"]
    )
    assert r.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0][:4] == ["Name", "Organisation", "Shares contact details", "Email"]
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {ASE, CHEN}
    assert by_name[ASE][2:5] == ["Yes", "p0@example.org", "'+4791234567"]
    assert by_name[ASE][7:9] == ["5", "Demo in June"]
    assert by_name[CHEN][1:8] == ["深圳公益基金会", "No", "", "", "", "", ""]


def test_the_xlsx_export(client, member, booth):
    post_scan(client, booth["qrs"][ASE], member)
    post_scan(client, booth["qrs"][BORIS], member)
    r = client.get("/sponsor/events/forum/leads.xlsx")
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert r.headers["Content-Disposition"].endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows[ASE][3] == "p0@example.org" and rows[BORIS][1] == "Компания" and rows[BORIS][3] is None


def test_an_unknown_export_format_is_404(client, member):
    assert client.get("/sponsor/events/forum/leads.pdf").status_code == 404


# --- the summary page links to them ---------------------------------------------------------


def test_the_summary_links_members_to_the_scanner_and_their_leads(client, member, booth):
    post_scan(client, booth["qrs"][ASE], member)
    booth_card = re.search(
        r'id="booth".*?</section>', text(client.get("/sponsor/events/forum/")), re.S
    ).group(0)
    assert 'href="/sponsor/events/forum/scan"' in booth_card
    assert 'href="/sponsor/events/forum/leads">Your leads (1)</a>' in booth_card


@pytest.mark.parametrize(
    ("email", "hint"),
    [("no-company@example.org", True), ("olav@example.org", False), ("admin@example.org", False)],
)
def test_others_get_no_scanner_link(client, login, booth, english, email, hint):
    login(email)
    page = text(client.get("/sponsor/events/forum/"))
    assert "/sponsor/events/forum/scan" not in page and "/sponsor/events/forum/leads" not in page
    assert ("ask the organiser to add you to your company" in page) is hint
