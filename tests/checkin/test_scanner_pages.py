"""The scanner page, its device token, service worker and manifest, without a browser."""

import json
import re
from html import unescape

import pytest

from eventreg.accounts.services import user_for_token
from eventreg.checkin.services import ListData, save_list
from eventreg.extensions import db
from tests.factories import make_event, make_user


@pytest.fixture
def forum(app):
    with app.app_context():
        event = make_event(prices=(0,))
        make_user("door@example.org", checkin_of=event)
        make_user("organiser@example.org", organiser_of=event)
        make_user("stranger@example.org")
        save_list(event, ListData(name="Hovedinngang"))
        db.session.commit()


def config_of(response) -> dict:
    match = re.search(r'data-config="([^"]*)"', response.get_data(as_text=True))
    return json.loads(unescape(match.group(1)))


@pytest.mark.parametrize(
    ("who", "status"),
    [(None, 302), ("stranger@example.org", 403), ("door@example.org", 200), ("organiser@example.org", 200)],
)
def test_only_the_events_staff_open_the_scanner(client, forum, login, who, status):
    if who:
        login(who)
    r = client.get("/checkin/forum/")
    assert r.status_code == status
    if status == 302:
        assert "/login" in r.headers["Location"]


def test_the_page_carries_lists_texts_and_no_inline_script(client, forum, login):
    login("door@example.org")
    r = client.get("/checkin/forum/")
    config = config_of(r)
    assert [lst["name"] for lst in config["lists"]] == ["Hovedinngang"]
    assert config["results"]["ok"] == "Godkjent" and config["timezone"] == "Europe/Oslo"
    assert "<script>" not in r.get_data(as_text=True)  # scripts come from files only
    assert client.get("/checkin/nope/").status_code == 404


def test_a_scanner_gets_a_device_token_with_the_session_and_csrf(client, forum, login, app):
    login("door@example.org")
    csrf = config_of(client.get("/checkin/forum/"))["csrf"]
    assert client.post("/checkin/forum/device", json={"gate": "Door 1"}).status_code == 400  # no CSRF token
    r = client.post("/checkin/forum/device", json={"gate": "Door 1"}, headers={"X-CSRFToken": csrf})
    assert r.status_code == 200
    with app.app_context():
        assert user_for_token(r.get_json()["token"]).email == "door@example.org"


def test_service_worker_and_manifest(client, forum):
    sw = client.get("/checkin/sw.js")
    assert (
        sw.status_code == 200 and sw.mimetype == "text/javascript" and "caches" in sw.get_data(as_text=True)
    )
    manifest = client.get("/checkin/forum/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    assert manifest.get_json()["start_url"] == "/checkin/forum/"
    icons = manifest.get_json()["icons"]
    for icon in icons:
        response = client.get(icon["src"])
        assert response.status_code == 200 and response.mimetype == "image/png"
        response.close()
