"""The sponsor pages through the test client: who may see them, what they show, the CSV, and an
attendee withdrawing consent on their own page."""

import csv
import html
import io
import json
import re

import pytest
import sqlalchemy as sa

from eventreg.accounts.models import EventRoleKind
from eventreg.accounts.services import grant_event_role
from eventreg.events.models import EventStatus
from eventreg.extensions import db
from eventreg.registration.models import ConsentRecord
from tests.factories import make_event, make_user
from tests.sponsors.conftest import Person, make_forum, make_sponsor, register
from tests.web.conftest import csrf_from, text

NAMES = ["Åse Ødegård", "محمد يونس", "Борис Ли", "陈伟"]


@pytest.fixture
def forum_with_people(app):
    """The forum with 14 people (four of them consent, with names in four scripts), its sponsor,
    organiser, check-in staff, an admin, another event's sponsor, a draft and a plain user."""
    with app.app_context():
        forum = make_forum()
        other = make_event("other")
        draft = make_event("draft", status=EventStatus.DRAFT)
        people = (
            [Person(n, country="NO", organisation=f"Org {i}", consent=True) for i, n in enumerate(NAMES)]
            + [Person(f"Nora {i}", country="NO") for i in range(4)]
            + [Person(f"Sven {i}", country="SE") for i in range(5)]
            + [Person("Kofi", country="GH")]
        )
        attendees = register(forum, people)
        make_sponsor(forum, "sponsor@example.org")
        make_sponsor(other, "other-sponsor@example.org")
        grant_event_role(make_user("draft-sponsor@example.org"), draft.id, EventRoleKind.SPONSOR)
        make_user("olav@example.org", organiser_of=forum)
        make_user("door@example.org", checkin_of=forum)
        make_user("admin@example.org", admin=True)
        make_user("plain@example.org")
        db.session.commit()
        return {
            "tokens": {a.name: a.manage_token for a in attendees},
            "ids": {a.name: a.id for a in attendees},
        }


SUMMARY_PAGES = {"sponsors.index", "sponsors.summary", "sponsors.contacts_csv"}
# Tested in test_leads_views.py: they need a sponsor company.
LEAD_PAGES = {
    "sponsors.scanner",
    "sponsors.leads_page",
    "sponsors.scan_lead",
    "sponsors.save_lead",
    "sponsors.leads_export",
}


def _sponsor_urls(app, slug="forum") -> dict[str, str]:
    """The summary pages of the blueprint, by endpoint, for the event `slug`."""
    urls = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SUMMARY_PAGES:
            urls[rule.endpoint] = rule.rule.replace("<slug>", slug)
    return urls


def test_the_blueprint_has_the_summary_and_lead_routes(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("sponsors.")}
    assert endpoints == SUMMARY_PAGES | LEAD_PAGES
    assert _sponsor_urls(app)["sponsors.summary"] == "/sponsor/events/forum/"


def test_anonymous_visitors_are_sent_to_the_login_page(app, client, forum_with_people):
    for endpoint, url in _sponsor_urls(app).items():
        r = client.get(url)
        assert r.status_code == 302, endpoint
        assert r.headers["Location"].startswith("/login?next="), endpoint


@pytest.mark.parametrize(
    ("email", "event_pages", "index"),
    [
        ("sponsor@example.org", 200, 200),
        ("olav@example.org", 200, 200),  # organisers see what sponsors see
        ("admin@example.org", 200, 200),  # admins have every role
        ("other-sponsor@example.org", 403, 200),  # a sponsor, but of another event
        ("door@example.org", 403, 403),  # check-in staff
        ("plain@example.org", 403, 403),
    ],
)
def test_who_may_see_the_sponsor_pages(app, client, login, forum_with_people, email, event_pages, index):
    login(email)
    for endpoint, url in _sponsor_urls(app).items():
        expected = index if endpoint == "sponsors.index" else event_pages
        assert client.get(url).status_code == expected, (endpoint, email)


@pytest.mark.parametrize("email", ["sponsor@example.org", "admin@example.org"])
def test_unknown_events_are_404(app, client, login, forum_with_people, email):
    login(email)
    for endpoint, url in _sponsor_urls(app, "no-such-event").items():
        if endpoint != "sponsors.index":
            assert client.get(url).status_code == 404, endpoint


def test_drafts_are_404_to_outsiders_and_open_to_their_sponsor(app, client, login, forum_with_people):
    login("other-sponsor@example.org")
    assert client.get("/sponsor/events/draft/").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_from(text(client.get("/")))})
    login("draft-sponsor@example.org")
    assert client.get("/sponsor/events/draft/").status_code == 200


def test_the_index_lists_the_events_the_user_sponsors(client, login, forum_with_people, english):
    login("sponsor@example.org")
    page = text(client.get("/sponsor/"))
    assert 'href="/sponsor/events/forum/"' in page and "/sponsor/events/other/" not in page


def test_the_header_shows_sponsors_the_way_in(client, login, forum_with_people, english):
    assert "/sponsor/" not in text(client.get("/"))
    login("sponsor@example.org")
    assert re.search(r'<a href="/sponsor/">Sponsor</a>', text(client.get("/")))


@pytest.mark.parametrize("email", ["olav@example.org", "door@example.org", "plain@example.org"])
def test_the_header_link_is_only_for_sponsors(client, login, forum_with_people, english, email):
    login(email)
    assert 'href="/sponsor/"' not in text(client.get("/"))


def test_the_summary_page_shows_counts_tables_chart_data_and_contacts(
    client, login, forum_with_people, english
):
    login("sponsor@example.org")
    r = client.get("/sponsor/events/forum/")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "private, no-store"
    page = text(r)
    assert re.search(r'id="stat-registered">.*?<span class="stat-value">14</span>', page)
    # Countries: Norway 8 shown; Sweden 5 and Ghana 1 hidden together ("fewer than 5").
    country = re.search(r'id="breakdown-country".*?</section>', page, re.S).group(0)
    assert re.search(r'>Norway</th><td class="num">8<', country)
    assert re.search(r'>Ghana</th><td class="num">fewer than 5<', country)
    assert re.search(r'>Sweden</th><td class="num">fewer than 5<', country)
    assert 'aria-hidden="true"' in country and "<canvas" in country
    charts = json.loads(html.unescape(re.search(r'data-charts="([^"]*)"', page).group(1)))
    country_chart = next(c for c in charts if c["key"] == "country")
    assert country_chart["labels"] == ["Norway"] and country_chart["counts"] == [8]
    contacts = re.search(r'id="contacts".*?</section>', page, re.S).group(0)
    for name in NAMES:
        assert name in contacts
    assert "Nora 0" not in contacts and "Kofi" not in contacts


def test_the_csv_download(client, login, forum_with_people, english):
    login("sponsor@example.org")
    r = client.get("/sponsor/events/forum/contacts.csv")
    assert r.status_code == 200
    assert r.mimetype == "text/csv" and r.mimetype_params.get("charset") == "utf-8"
    assert r.headers["Cache-Control"] == "private, no-store"
    assert re.fullmatch(
        r'attachment; filename="contacts-forum-\d{8}-\d{4}\.csv"', r.headers["Content-Disposition"]
    )
    assert r.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == ["Name", "Organisation", "Email", "Phone"]
    assert sorted(row[0] for row in rows[1:]) == sorted(NAMES)


def test_withdrawing_on_the_ticket_page_removes_the_attendee_at_once(app, client, login, forum_with_people):
    token = forum_with_people["tokens"]["Борис Ли"]
    page = client.get(f"/tickets/{token}")
    assert 'id="sponsor-consent"' in text(page)
    # The box unticked: the form sends no sponsor_consent.
    r = client.post(f"/tickets/{token}/consent", data={"csrf_token": csrf_from(text(page))})
    assert r.status_code == 302

    login("sponsor@example.org")
    assert "Борис Ли" not in text(client.get("/sponsor/events/forum/"))
    csv_text = client.get("/sponsor/events/forum/contacts.csv").data.decode("utf-8-sig")
    assert "Борис Ли" not in csv_text and "陈伟" in csv_text
    with app.app_context():
        records = db.session.scalars(
            sa.select(ConsentRecord)
            .where(ConsentRecord.attendee_id == forum_with_people["ids"]["Борис Ли"])
            .order_by(ConsentRecord.id)
        ).all()
        assert [(r.given, r.via) for r in records] == [(True, "attendee"), (False, "attendee")]
