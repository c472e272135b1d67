"""The organiser's badge page: who may use it, what it refuses, and the PDF it answers with."""

import pytest

from eventreg.accounts.models import EventRoleKind
from eventreg.accounts.services import grant_event_role
from eventreg.core import clock
from eventreg.events.services import get_event
from eventreg.extensions import db
from eventreg.registration.models import OrderStatus
from eventreg.registration.services import create_order
from eventreg.tickets.services import check_ticket
from tests.factories import make_event, make_user, order_data
from tests.tickets.test_documents import NAMES, decode_qrs, pdf_pages, pdf_text
from tests.web.conftest import csrf_from, text

URL = "/manage/events/forum/badges"


@pytest.fixture
def badge_event(app):
    """Forum (organised by olav@, with check-in and sponsor staff) with four paid attendees and
    one pending; another event with an attendee of its own."""
    with app.app_context():
        forum = make_event("forum", prices=(0, 100_00))
        other = make_event("other", prices=(0,))
        make_user("olav@example.org", organiser_of=forum)
        make_user("door@example.org", checkin_of=forum)
        sponsor = make_user("sponsor@example.org")
        grant_event_role(sponsor, forum.id, EventRoleKind.SPONSOR)
        make_user("other@example.org", organiser_of=other)
        paid = create_order(forum, order_data(forum, names=NAMES), now=clock.now())
        pending = create_order(
            forum,
            order_data(forum, names=["Pending Person"], ticket_type=forum.ticket_types[1]),
            now=clock.now(),
        )
        foreign = create_order(other, order_data(other, names=["Someone Else"]), now=clock.now())
        assert paid.status == OrderStatus.PAID and pending.status == OrderStatus.PENDING
        db.session.commit()
        return {
            "paid": [a.id for a in paid.attendees],
            "pending": pending.attendees[0].id,
            "foreign": foreign.attendees[0].id,
            "free_type": forum.ticket_types[0].id,
            "paid_type": forum.ticket_types[1].id,
            "other_type": other.ticket_types[0].id,
        }


def post(client, data: dict, url: str = URL):
    token = csrf_from(text(client.get(url)))
    return client.post(url, data={"csrf_token": token, **data})


def verified_attendees(app, pdf: bytes) -> list[int]:
    """Ids of the attendees whose QR codes are on the badges, each checked as the door would."""
    qrs = [qr for page in pdf_pages(pdf) for qr in decode_qrs(page)]
    with app.app_context():
        event = get_event("forum")
        return sorted(check_ticket(event, qr).id for qr in qrs)


def test_the_organiser_sees_the_form_with_the_paid_attendees(english, badge_event, login):
    login("olav@example.org")
    page = text(english.get(URL))
    assert "Badges" in page and "Durable 1445-02" in page and "Dymo 99014" in page
    for name in NAMES:
        assert name in page
    assert "Pending Person" not in page
    assert 'name="csrf_token"' in page


def test_the_orders_page_links_to_the_badges(english, badge_event, login):
    login("olav@example.org")
    assert 'href="/manage/events/forum/badges"' in text(english.get("/manage/events/forum/"))


@pytest.mark.parametrize("layout", ["a4-90x54-10up", "label-101x54"])
def test_the_organiser_gets_a_pdf_of_everyone_with_qr_codes_the_door_accepts(
    app, english, badge_event, login, layout
):
    login("olav@example.org")
    r = post(english, {"layout": layout, "language": "en", "who": "all"})
    assert r.status_code == 200, text(r)
    assert r.mimetype == "application/pdf"
    assert r.headers["Content-Disposition"] == 'attachment; filename="badges-forum.pdf"'
    assert r.data.startswith(b"%PDF")
    assert verified_attendees(app, r.data) == sorted(badge_event["paid"])
    assert "Pending Person" not in pdf_text(r.data)


def test_ticked_attendees_only(app, english, badge_event, login):
    login("olav@example.org")
    chosen = badge_event["paid"][1:3]
    r = post(english, {"layout": "a4-a6-4up", "language": "nb", "who": "attendees", "attendee": chosen})
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert verified_attendees(app, r.data) == sorted(chosen)


def test_filter_by_ticket_type(app, english, badge_event, login):
    login("olav@example.org")
    r = post(
        english,
        {
            "layout": "a4-a6-4up",
            "language": "en",
            "who": "ticket_types",
            "ticket_type": badge_event["free_type"],
        },
    )
    assert r.status_code == 200 and verified_attendees(app, r.data) == sorted(badge_event["paid"])
    r = post(
        english,
        {
            "layout": "a4-a6-4up",
            "language": "en",
            "who": "ticket_types",
            "ticket_type": badge_event["paid_type"],
        },
    )
    assert r.status_code == 422 and "There is nobody to print badges for." in text(r)  # only a pending order


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"who": "attendees", "attendee": "FOREIGN"}, "not attendees of a paid order of this event"),
        ({"who": "attendees", "attendee": "PENDING"}, "not attendees of a paid order of this event"),
        ({"who": "attendees", "attendee": "x'; --"}, "not attendees of a paid order of this event"),
        ({"who": "attendees"}, "There is nobody to print badges for."),
        ({"who": "ticket_types", "ticket_type": "OTHER_TYPE"}, "not ticket types of this event"),
        ({"who": "everyone-please"}, "Choose whom to print badges for."),
        ({"layout": "a3-poster"}, "Choose one of the badge layouts."),
        ({"layout": ""}, "Choose one of the badge layouts."),
        ({"language": "de"}, "Choose Norwegian or English."),
    ],
)
def test_bad_choices_re_render_the_form_with_a_message(english, badge_event, login, data, message):
    login("olav@example.org")
    swap = {
        "FOREIGN": badge_event["foreign"],
        "PENDING": badge_event["pending"],
        "OTHER_TYPE": badge_event["other_type"],
    }
    form = {"layout": "a4-90x54-10up", "language": "en", "who": "all"}
    form.update({k: swap.get(v, v) for k, v in data.items()})
    r = post(english, form)
    assert r.status_code == 422
    assert r.mimetype == "text/html"
    page = text(r)
    assert message in page and "<form" in page and "Åse Ødegård" in page


def test_a_post_without_the_csrf_token_is_refused(english, badge_event, login):
    login("olav@example.org")
    r = english.post(URL, data={"layout": "a4-90x54-10up", "language": "en", "who": "all"})
    assert r.status_code == 400


@pytest.mark.parametrize("who", ["door@example.org", "sponsor@example.org", "other@example.org"])
def test_other_staff_may_not_print_badges(english, badge_event, login, who):
    login(who)
    assert english.get(URL).status_code == 403
    page = text(english.get("/"))
    r = english.post(URL, data={"csrf_token": csrf_from(page), "layout": "a4-90x54-10up", "who": "all"})
    assert r.status_code == 403


def test_anonymous_visitors_are_sent_to_the_login_page(english, badge_event):
    token = csrf_from(text(english.get("/")))
    for r in (english.get(URL), english.post(URL, data={"csrf_token": token})):
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")


def test_an_unknown_event_is_404(english, badge_event, login):
    login("olav@example.org")
    assert english.get("/manage/events/no-such-event/badges").status_code == 404
