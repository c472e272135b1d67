"""The organiser's check-in pages: the list form, the overview with its figures, conflicts and
undo, and who may use them."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import url_for

from eventreg.accounts.models import User
from eventreg.checkin import services
from eventreg.checkin.models import Checkin, CheckinList
from eventreg.checkin.services import ListData, OfflineScan, save_list
from eventreg.extensions import db
from eventreg.registration.models import Attendee
from eventreg.registration.services import cancel_order, create_order
from tests.factories import NOW, add_session, make_event, make_user, order_data
from tests.web import conftest as web_pages
from tests.web.conftest import csrf_from, text

english, login = web_pages.english, web_pages.login  # the page tests' fixtures

BASE = "/manage/events/forum/checkin"


@dataclass
class Forum:
    ticket_types: list[int]
    workshop: int
    main: int  # every ticket type, no hours
    day2: int  # with hours, unused
    foreign_list: int  # a list of the other event
    foreign_type: int  # a ticket type of the other event
    ada: int  # Ticket 0
    bo: int  # Ticket 1


@pytest.fixture
def forum(app):
    """A free event with three ticket types and a workshop, two attendees and two lists; its
    organiser (olav@), its check-in staff (door@) and the organiser of another event (other@)."""
    with app.app_context():
        event = make_event("forum", prices=(0, 0, 0), seats=50)
        other = make_event("other", prices=(0,))
        workshop = add_session(event, "Mikrolån")
        make_user("olav@example.org", organiser_of=event)
        make_user("other@example.org", organiser_of=other)
        make_user("door@example.org", checkin_of=event)
        ada = create_order(event, order_data(event, names=["Ada Øverby"]), now=NOW).attendees[0]
        bo = create_order(
            event, order_data(event, names=["Бо Ли"], ticket_type=event.ticket_types[1]), now=NOW
        ).attendees[0]
        main = save_list(event, ListData(name="Main entrance"))
        day2 = save_list(
            event,
            ListData(
                name="Day 2",
                opens_at=datetime(2027, 5, 28, 6, 0, tzinfo=UTC),
                closes_at=datetime(2027, 5, 28, 16, 0, tzinfo=UTC),
            ),
        )
        foreign_list = save_list(other, ListData(name="Other door"))
        db.session.commit()
        return Forum(
            ticket_types=[t.id for t in event.ticket_types],
            workshop=workshop.id,
            main=main.id,
            day2=day2.id,
            foreign_list=foreign_list.id,
            foreign_type=other.ticket_types[0].id,
            ada=ada.id,
            bo=bo.id,
        )


def redeem(app, list_id: int, attendee_id: int, *, at=NOW, gate="Door 1") -> int:
    """Admits an attendee as a scanner would; the check-in's id."""
    with app.app_context():
        lst = db.session.get(CheckinList, list_id)
        staff = db.session.scalar(sa.select(User).where(User.email == "door@example.org"))
        verdict = services.redeem(lst, attendee_id=attendee_id, gate=gate, user=staff, now=at)
        assert verdict.result == services.Result.OK
        db.session.commit()
        return verdict.checkin.id


@pytest.fixture
def admitted(app, forum) -> int:
    """Ada is inside, through the main entrance."""
    return redeem(app, forum.main, forum.ada)


def list_names(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(sa.select(CheckinList.name).order_by(CheckinList.id)).all()


def get_list(app, list_id: int) -> CheckinList | None:
    with app.app_context():
        lst = db.session.get(CheckinList, list_id)
        if lst is not None:
            db.session.expunge(lst)
        return lst


def card(html: str, list_id: int) -> str:
    match = re.search(rf'<article[^>]*data-list-id="{list_id}".*?</article>', html, re.S)
    assert match, f"no card for list {list_id}"
    return match.group(0)


def big_numbers(html: str, list_id: int) -> tuple[int, int]:
    """A card's checked in / expected."""
    found = re.search(
        r'class="stat-value"><span data-figure="inside">(\d+)</span> / <span data-figure="expected">(\d+)<',
        card(html, list_id),
    )
    return int(found.group(1)), int(found.group(2))


def by_type(html: str, list_id: int) -> dict[str, tuple[int, int]]:
    rows = re.findall(
        r'<tr data-type="\d+"><th scope="row">([^<]+)</th>'
        r'.*?data-figure="inside">(\d+)<.*?data-figure="expected">(\d+)<',
        card(html, list_id),
        re.S,
    )
    return {name: (int(i), int(e)) for name, i, e in rows}


def error_of(html: str, field: str) -> str:
    match = re.search(rf'id="{field}-error">(.*?)</div>', html, re.S)
    return match.group(1) if match else ""


# -- the list form -------------------------------------------------------------------------------


def test_a_list_with_two_ticket_types_a_workshop_and_hours_typed_in_oslo_time(app, english, forum, login):
    login("olav@example.org")
    form = english.get(f"{BASE}/lists/new")
    assert form.status_code == 200
    page = text(form)
    assert all(f'id="tt-{t}"' in page for t in forum.ticket_types)
    assert re.search(r'id="admit_unpaid_invoices"[^>]*checked', page)  # on unless unticked
    t0, _, t2 = forum.ticket_types
    r = english.post(
        f"{BASE}/lists/new",
        data={
            "csrf_token": csrf_from(page),
            "name": "  Workshop room 2 ",
            "ticket_type_ids": [str(t2), str(t0)],
            "session_id": str(forum.workshop),
            "allow_reentry": "y",
            # admit_unpaid_invoices unticked: a browser sends nothing
            "opens_at": "2027-05-27T09:30",
            "closes_at": "2027-05-27T12:00",
        },
    )
    assert r.status_code == 302 and r.headers["Location"] == f"{BASE}/"
    assert "The check-in list “Workshop room 2” is saved." in text(english.get(r.headers["Location"]))
    with app.app_context():
        lst = db.session.scalar(sa.select(CheckinList).where(CheckinList.name == "Workshop room 2"))
        assert [t.id for t in lst.ticket_types] == [t0, t2]
        assert lst.session_id == forum.workshop
        # Oslo is on summer time (UTC+2) in May.
        assert lst.opens_at == datetime(2027, 5, 27, 7, 30, tzinfo=UTC)
        assert lst.closes_at == datetime(2027, 5, 27, 10, 0, tzinfo=UTC)
        assert (lst.allow_reentry, lst.admit_unpaid_invoices) == (True, False)


def test_a_bad_list_shows_the_problems_next_to_the_fields_and_saves_nothing(app, english, forum, login):
    login("olav@example.org")
    token = csrf_from(text(english.get(f"{BASE}/lists/new")))
    r = english.post(
        f"{BASE}/lists/new",
        data={
            "csrf_token": token,
            "name": "   ",
            "ticket_type_ids": [str(forum.foreign_type)],
            "opens_at": "2027-05-27T12:00",
            "closes_at": "2027-05-27T09:00",
        },
    )
    assert r.status_code == 422
    page = text(r)
    assert "Please correct the marked fields." in page
    assert "Give the list a name" in error_of(page, "name")
    assert "Choose ticket types of this event." in error_of(page, "ticket_type_ids")
    assert "The list must close after it opens." in error_of(page, "closes_at")
    assert re.search(r'id="name"[^>]*aria-invalid="true"', page)
    assert 'value="2027-05-27T12:00"' in page and 'value="2027-05-27T09:00"' in page  # input kept
    assert list_names(app) == ["Main entrance", "Day 2", "Other door"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("opens_at", "tomorrow", "Not a valid datetime value."),
        ("session_id", "room-2", "Invalid Choice"),
        ("ticket_type_ids", "x", "Invalid choice(s)"),
    ],
)
def test_values_that_cannot_be_read_are_422(app, english, forum, login, field, value, message):
    login("olav@example.org")
    token = csrf_from(text(english.get(f"{BASE}/lists/new")))
    r = english.post(f"{BASE}/lists/new", data={"csrf_token": token, "name": "Door", field: value})
    assert r.status_code == 422 and message in error_of(text(r), field)
    assert "Door" not in list_names(app)


def test_a_workshop_of_another_event_is_refused(app, english, forum, login):
    with app.app_context():
        foreign_workshop = add_session(db.session.get(CheckinList, forum.foreign_list).event, "Elsewhere").id
        db.session.commit()
    login("olav@example.org")
    token = csrf_from(text(english.get(f"{BASE}/lists/new")))
    r = english.post(
        f"{BASE}/lists/new", data={"csrf_token": token, "name": "Door", "session_id": str(foreign_workshop)}
    )
    assert r.status_code == 422 and "Choose a workshop of this event." in error_of(text(r), "session_id")


def test_editing_shows_the_list_in_oslo_time_and_changes_it(app, english, forum, login):
    login("olav@example.org")
    form = english.get(f"{BASE}/lists/{forum.day2}/edit")
    assert form.status_code == 200
    page = text(form)
    assert 'value="Day 2"' in page
    assert 'value="2027-05-28T08:00"' in page and 'value="2027-05-28T18:00"' in page
    assert re.search(r'id="admit_unpaid_invoices"[^>]*checked', page)
    assert not re.search(r'id="allow_reentry"[^>]*checked', page)
    r = english.post(
        f"{BASE}/lists/{forum.day2}/edit",
        data={
            "csrf_token": csrf_from(page),
            "name": "Winter day",
            "ticket_type_ids": [str(forum.ticket_types[1])],
            "session_id": "",
            "admit_unpaid_invoices": "y",
            "opens_at": "2027-01-15T09:00",  # winter time: UTC+1
            "closes_at": "",
        },
    )
    assert r.status_code == 302 and r.headers["Location"] == f"{BASE}/"
    lst = get_list(app, forum.day2)
    assert lst.name == "Winter day" and lst.session_id is None
    assert lst.opens_at == datetime(2027, 1, 15, 8, 0, tzinfo=UTC) and lst.closes_at is None
    with app.app_context():
        assert [t.id for t in db.session.get(CheckinList, forum.day2).ticket_types] == [forum.ticket_types[1]]

    # None ticked again: every ticket type.
    english.post(
        f"{BASE}/lists/{forum.day2}/edit",
        data={"csrf_token": csrf_from(page), "name": "Winter day", "admit_unpaid_invoices": "y"},
    )
    with app.app_context():
        assert db.session.get(CheckinList, forum.day2).ticket_types == []


def test_editing_keeps_the_list_when_the_form_is_bad(app, english, forum, login):
    login("olav@example.org")
    token = csrf_from(text(english.get(f"{BASE}/lists/{forum.day2}/edit")))
    r = english.post(
        f"{BASE}/lists/{forum.day2}/edit",
        data={
            "csrf_token": token,
            "name": "",
            "opens_at": "2027-05-28T10:00",
            "closes_at": "2027-05-28T10:00",
        },
    )
    assert r.status_code == 422 and "The list must close after it opens." in error_of(text(r), "closes_at")
    lst = get_list(app, forum.day2)
    assert lst.name == "Day 2" and lst.opens_at == datetime(2027, 5, 28, 6, 0, tzinfo=UTC)


def test_another_events_list_is_404(english, forum, login):
    login("olav@example.org")
    assert english.get(f"{BASE}/lists/{forum.foreign_list}/edit").status_code == 404
    assert english.get(f"{BASE}/lists/999999/edit").status_code == 404


def test_an_unused_list_is_deleted_and_a_used_one_is_kept(app, english, forum, admitted, login):
    login("olav@example.org")
    token = csrf_from(text(english.get(f"{BASE}/lists/{forum.day2}/edit")))
    r = english.post(f"{BASE}/lists/{forum.day2}/delete", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == f"{BASE}/"
    assert "The check-in list “Day 2” is deleted." in text(english.get(r.headers["Location"]))
    assert get_list(app, forum.day2) is None

    r = english.post(f"{BASE}/lists/{forum.main}/delete", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == f"{BASE}/lists/{forum.main}/edit"
    page = text(english.get(r.headers["Location"]))
    assert "People have been checked in on this list, so it cannot be deleted." in page
    assert 'class="alert alert-error"' in page
    assert get_list(app, forum.main) is not None
    with app.app_context():
        assert db.session.get(Checkin, admitted).counts


# -- the overview --------------------------------------------------------------------------------


def test_the_overview_counts_who_is_inside_per_list_and_ticket_type(app, english, forum, login):
    login("olav@example.org")
    page = text(english.get(f"{BASE}/"))
    assert big_numbers(page, forum.main) == (0, 2)
    assert by_type(page, forum.main) == {"Ticket 0": (0, 1), "Ticket 1": (0, 1), "Ticket 2": (0, 0)}
    assert f'href="/checkin/forum/?list={forum.main}"' in page
    assert "Nobody has been checked in yet." in page and "No conflicts." in page

    redeem(app, forum.main, forum.ada)
    page = text(english.get(f"{BASE}/"))
    assert big_numbers(page, forum.main) == (1, 2)
    assert by_type(page, forum.main) == {"Ticket 0": (1, 1), "Ticket 1": (0, 1), "Ticket 2": (0, 0)}
    assert big_numbers(page, forum.day2) == (0, 2)  # another door
    assert "Ada Øverby" in page.split('id="recent-heading"')[1]


def test_an_unpaid_attendee_of_a_ticket_type_the_list_does_not_admit_is_not_expected(app, english, login):
    with app.app_context():
        event = make_event("paid", prices=(100_00, 0))
        make_user("olav@example.org", organiser_of=event)
        free_only = save_list(event, ListData(name="Free only", ticket_type_ids=[event.ticket_types[1].id]))
        create_order(event, order_data(event, names=["Pending Paula"]), now=NOW)  # not paid yet
        create_order(
            event, order_data(event, names=["Free Fred"], ticket_type=event.ticket_types[1]), now=NOW
        )
        db.session.commit()
        free_only_id, event_type_id = free_only.id, event.ticket_types[1].id
    login("olav@example.org")
    (figures,) = english.get("/manage/events/paid/checkin/progress.json").get_json()["lists"]
    assert figures["id"] == free_only_id
    assert (figures["expected"], figures["ticket_types"]) == (
        1,
        [{"id": event_type_id, "name": "Ticket 1", "inside": 0, "expected": 1}],
    )


def test_the_organisers_event_page_links_to_check_in(english, forum, login):
    login("olav@example.org")
    assert f'href="{BASE}/"' in text(english.get("/manage/events/forum/"))


def test_progress_json_has_the_figures_of_the_page(app, english, forum, login):
    redeem(app, forum.main, forum.bo)
    login("olav@example.org")
    r = english.get(f"{BASE}/progress.json")
    assert r.status_code == 200 and "no-store" in r.headers["Cache-Control"]
    figures = r.get_json()
    assert figures["conflicts"] == 0
    assert [(f["id"], f["name"], f["inside"], f["expected"]) for f in figures["lists"]] == [
        (forum.main, "Main entrance", 1, 2),
        (forum.day2, "Day 2", 0, 2),
    ]
    main, day2 = figures["lists"]
    assert [(t["id"], t["name"], t["inside"], t["expected"]) for t in main["ticket_types"]] == [
        (forum.ticket_types[0], "Ticket 0", 0, 1),
        (forum.ticket_types[1], "Ticket 1", 1, 1),
        (forum.ticket_types[2], "Ticket 2", 0, 0),
    ]
    assert [(t["inside"], t["expected"]) for t in day2["ticket_types"]] == [(0, 1), (0, 1), (0, 0)]
    page = text(english.get(f"{BASE}/"))
    assert big_numbers(page, forum.main) == (1, 2)
    assert 'src="/static/checkin/live.js"' in page and "<script>" not in page


def test_conflicts_show_why_and_which_admission_counts(app, english, forum, login):
    # Door 1 was online and admitted Ada at 12:10 UTC; Door 4 was offline and admitted her again
    # at 12:15, and also let Bo in, whose order had been cancelled.
    redeem(app, forum.main, forum.ada, at=NOW + timedelta(minutes=10))
    with app.app_context():
        main = db.session.get(CheckinList, forum.main)
        staff = db.session.scalar(sa.select(User).where(User.email == "door@example.org"))
        cancel_order(db.session.get(Attendee, forum.bo).order, now=NOW)
        scans = [
            OfflineScan(
                nonce="n-ada", scanned_at=NOW + timedelta(minutes=15), attendee_id=forum.ada, gate="Door 4"
            ),
            OfflineScan(
                nonce="n-bo", scanned_at=NOW + timedelta(minutes=16), attendee_id=forum.bo, gate="Door 4"
            ),
        ]
        answers = services.upload_scans(main, scans, user=staff, now=NOW + timedelta(minutes=20))
        assert [a["outcome"] for a in answers] == ["conflict", "conflict"]
        code = db.session.get(Attendee, forum.ada).order.code
        db.session.commit()
    login("olav@example.org")
    page = text(english.get(f"{BASE}/"))
    rows = re.findall(r'<tr class="conflict-row[^"]*".*?</tr>', page, re.S)
    assert len(rows) == 2
    bo_row, ada_row = rows  # the latest scan first
    assert "Ada Øverby" in ada_row and code in ada_row and "Main entrance" in ada_row
    assert "Door 4" in ada_row and ">door<" in ada_row
    assert "1:15 PM" in ada_row  # 12:15 UTC, shown in Oslo time
    assert "Already checked in: Another gate had admitted this ticket first." in ada_row
    assert "Door 1, 1/15/27, 1:10 PM" in ada_row  # the admission that counts
    assert "Бо Ли" in bo_row and "Cancelled or refunded" in bo_row
    assert "None: not checked in" in bo_row
    assert english.get(f"{BASE}/progress.json").get_json()["conflicts"] == 2


def test_undo_through_the_page(app, english, forum, admitted, login):
    login("olav@example.org")
    page = text(english.get(f"{BASE}/"))
    action = f"{BASE}/checkins/{admitted}/undo"
    assert f'action="{action}"' in page and big_numbers(page, forum.main) == (1, 2)
    r = english.post(action, data={"csrf_token": csrf_from(page)})
    assert r.status_code == 302 and r.headers["Location"] == f"{BASE}/#recent-heading"
    page = text(english.get(r.headers["Location"]))
    assert "The check-in of Ada Øverby on “Main entrance” is undone" in page
    assert big_numbers(page, forum.main) == (0, 2)
    assert f'action="{action}"' not in page and "Undone" in page
    with app.app_context():
        checkin = db.session.get(Checkin, admitted)
        assert checkin.undone_at is not None and checkin.undone_by_id is not None

    again = english.post(action, data={"csrf_token": csrf_from(page)})
    assert "This check-in does not count; there is nothing to undo." in text(
        english.get(again.headers["Location"])
    )
    assert redeem(app, forum.main, forum.ada)  # let in again


def test_undo_of_another_events_check_in_is_404(app, english, forum, login):
    with app.app_context():
        other = db.session.get(CheckinList, forum.foreign_list).event
        stranger = create_order(other, order_data(other, names=["Stranger"]), now=NOW).attendees[0].id
        db.session.commit()
    foreign = redeem(app, forum.foreign_list, stranger)
    login("olav@example.org")
    token = csrf_from(text(english.get(f"{BASE}/")))
    assert english.post(f"{BASE}/checkins/{foreign}/undo", data={"csrf_token": token}).status_code == 404
    assert english.post(f"{BASE}/checkins/999999/undo", data={"csrf_token": token}).status_code == 404
    with app.app_context():
        assert db.session.get(Checkin, foreign).counts


def test_every_form_input_has_a_label(english, forum, login):
    login("olav@example.org")
    for url in (f"{BASE}/lists/new", f"{BASE}/lists/{forum.day2}/edit"):
        page = text(english.get(url))
        ids = re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page)
        assert len(ids) >= 8
        for i in ids:
            assert f'for="{i}"' in page, i


# -- who may -------------------------------------------------------------------------------------


def manage_routes(app) -> list[tuple[str, str]]:
    """(method, endpoint) of every route of the blueprint: a new route is checked here too."""
    routes = [
        (method, rule.endpoint)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("checkin_manage.")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]
    assert len(routes) >= 8
    return routes


def url_of(app, endpoint: str, forum: Forum, checkin_id: int, slug: str = "forum") -> str:
    values = {"slug": slug, "list_id": forum.day2, "checkin_id": checkin_id}
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    with app.test_request_context():
        return url_for(endpoint, **{k: values[k] for k in rule.arguments})


def attempt(client, app, forum, checkin_id, token, slug="forum"):
    """Every route, with a form that would change something if it were let through."""
    data = {"name": "Hijacked", "admit_unpaid_invoices": "y"}
    if token:
        data["csrf_token"] = token
    for method, endpoint in manage_routes(app):
        url = url_of(app, endpoint, forum, checkin_id, slug)
        r = client.get(url) if method == "GET" else client.post(url, data=data)
        yield method, url, r


def assert_nothing_changed(app, forum, checkin_id):
    assert list_names(app) == ["Main entrance", "Day 2", "Other door"]
    with app.app_context():
        assert db.session.get(Checkin, checkin_id).counts


def test_anonymous_visitors_are_sent_to_the_login_page(app, english, forum, admitted):
    token = csrf_from(text(english.get("/")))
    for method, url, r in attempt(english, app, forum, admitted, token):
        assert r.status_code == 302, (method, url)
        assert r.headers["Location"].startswith("/login?next="), (method, url)
    assert_nothing_changed(app, forum, admitted)


@pytest.mark.parametrize("who", ["door@example.org", "other@example.org"])
def test_check_in_staff_and_other_organisers_are_refused_everywhere(
    app, english, forum, admitted, login, who
):
    login(who)
    token = csrf_from(text(english.get("/")))
    for method, url, r in attempt(english, app, forum, admitted, token):
        assert r.status_code == 403, (method, url)
    assert_nothing_changed(app, forum, admitted)


def test_unknown_events_are_404_everywhere(app, english, forum, admitted, login):
    login("olav@example.org")
    token = csrf_from(text(english.get("/")))
    for method, url, r in attempt(english, app, forum, admitted, token, slug="no-such-event"):
        assert r.status_code == 404, (method, url)
    assert_nothing_changed(app, forum, admitted)


def test_the_organiser_may_open_every_page(app, english, forum, admitted, login):
    login("olav@example.org")
    for method, endpoint in manage_routes(app):
        if method == "GET":
            assert english.get(url_of(app, endpoint, forum, admitted)).status_code == 200, endpoint


def test_a_post_without_the_csrf_token_is_refused(app, english, forum, admitted, login):
    login("olav@example.org")
    posts = 0
    for method, url, r in attempt(english, app, forum, admitted, token=None):
        if method == "POST":
            posts += 1
            assert r.status_code == 400 and "security token" in text(r), url
    assert posts >= 4
    assert_nothing_changed(app, forum, admitted)
