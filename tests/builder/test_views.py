"""The organiser's event-builder pages: each page renders, a good form is saved (and the organiser
is sent on), a bad one comes back with the message next to the field (422) or on top (409), and
another event's objects are 404. The rules themselves are tested in test_services.py; these
tests prove that the pages read what people type (kroner, local times, texts in two languages,
answer lines) and show what the services say."""

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from eventreg.accounts.models import EventRole, EventRoleKind, User
from eventreg.audit.models import AuditEntry
from eventreg.events.models import (
    Event,
    EventSession,
    EventStatus,
    Question,
    QuestionKind,
    QuestionScope,
    Quota,
    Sponsor,
    TicketType,
    Visibility,
)
from eventreg.extensions import db
from eventreg.registration.models import Voucher, VoucherKind
from eventreg.registration.services import AttendeeData, OrderData, create_order
from tests.builder.conftest import BASE
from tests.factories import NOW
from tests.web.conftest import csrf_from, text


@pytest.fixture
def send(organiser):
    """POSTs a form as the logged-in organiser, with the session's CSRF token."""
    token = csrf_from(organiser.get("/manage/").get_data(as_text=True))

    def post(url: str, data: dict | None = None, client=None):
        body = {
            "csrf_token": token,
            "one-csrf_token": token,
            "many-csrf_token": token,
            "member-csrf_token": token,
            **(data or {}),
        }
        return (client or organiser).post(url, data=body)

    return post


def load(app, model, object_id):
    with app.app_context():
        found = db.session.get(model, object_id)
        if found is not None:
            db.session.expunge(found)
        return found


def forum(app) -> Event:
    with app.app_context():
        event = db.session.scalar(sa.select(Event).where(Event.slug == "forum"))
        db.session.expunge(event)
        return event


def error_of(response, field_id: str) -> str:
    """The message shown next to the field `field_id` ("" if none)."""
    html = text(response)
    match = re.search(rf'<div class="field-error" id="{re.escape(field_id)}-error">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", " ", match.group(1)).strip() if match else ""


def table_of(response) -> str:
    """The rows of the page's first table."""
    return re.search(r"<tbody>.*?</tbody>", text(response), re.S).group(0)


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


def sell(app, ticket_type_id: int, *, session_ids=(), slug="forum") -> None:
    """One free (paid at once) or pending ticket of the ticket type."""
    with app.app_context():
        event = db.session.scalar(sa.select(Event).where(Event.slug == slug))
        create_order(
            event,
            OrderData(
                buyer_name="Åse Ødegård",
                buyer_email="ase@example.org",
                attendees=[
                    AttendeeData(
                        name="Åse Ødegård",
                        email="ase@example.org",
                        ticket_type_id=ticket_type_id,
                        session_ids=list(session_ids),
                    )
                ],
            ),
            now=NOW,
        )
        db.session.commit()


EVENT_FORM = {
    "slug": "gründer-2027",  # not allowed: fixed below where a good one is wanted
    "title_nb": "Gründerkurs for 山田 og عائشة",
    "title_en": "Founders’ course for 山田 and عائشة",
    "description_nb": "Lær å starte for deg selv.",
    "description_en": "",
    "venue": "Kulturhuset, Oslo",
    "starts_at": "2027-09-01T09:00",
    "ends_at": "2027-09-01T15:30",
    "timezone": "Europe/Oslo",
}


# --- who may -----------------------------------------------------------------------------------


def test_only_organisers_and_admins_may_create_events(client, login, site):
    assert "/login" in client.get("/manage/events/new").headers["Location"]
    login("plain@example.org")
    assert client.get("/manage/events/new").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))})
    login("other@example.org")  # organises another event: may start a new one
    assert client.get("/manage/events/new").status_code == 200
    assert client.get(f"{BASE}/edit").status_code == 403  # but not edit the forum


def test_the_manage_pages_link_to_the_builder(organiser):
    index = text(organiser.get("/manage/"))
    assert 'href="/manage/events/new"' in index and 'href="/manage/events/forum/edit"' in index
    assert 'href="/manage/events/forum/edit"' in text(organiser.get(f"{BASE}/"))


def test_every_page_has_the_builder_navigation(organiser):
    page = text(organiser.get(f"{BASE}/questions/"))
    nav = re.search(r'<nav class="builder-nav".*?</nav>', page, re.S).group(0)
    for label in ("Details", "Tickets", "Workshops", "Questions", "Vouchers", "Sponsors", "Emails"):
        assert f">{label}</a>" in nav
    assert 'href="/manage/events/forum/checkin/"' in nav
    assert '<a href="/manage/events/forum/questions/" aria-current="page">Questions</a>' in nav


PAGES = [
    ("/manage/events/new", "Create the event"),
    ("/edit", "Details and settings"),
    ("/ticket-types/", "New ticket type"),
    ("/ticket-types/new", "Price in kroner, VAT included"),
    ("/ticket-types/{tt}/edit", "Delete this ticket type"),
    ("/quotas/new", "Ticket types drawing on it"),
    ("/quotas/{quota}/edit", "Delete this quota"),
    ("/workshops/", "f Mikrolån"),
    ("/workshops/new", "Time slot"),
    ("/workshops/{workshop}/edit", "Delete this workshop"),
    ("/questions/", "f Allergies"),
    ("/questions/new", "Answers to choose from"),
    ("/questions/{question}/edit", "Delete this question"),
    ("/vouchers/", "F10"),
    ("/sponsors/", "f Nordic Impact Fund"),
    ("/sponsors/new", "New sponsor"),
    ("/sponsors/{sponsor}/", "People who log in for f Nordic Impact Fund"),
    ("/emails", "Confirmation in Norwegian"),
    ("/copy", "Make the copy"),
    ("/audit", "Nothing has been changed yet."),
]


def test_every_builder_page_renders(organiser, site):
    f = site.forum
    ids = {"tt": f.ticket_types[0], "quota": f.quota, "workshop": f.workshop, "question": f.question}
    problems = []
    for path, shows in PAGES:
        url = path if path.startswith("/manage/") else BASE + path.format(**ids, sponsor=f.sponsor)
        r = organiser.get(url)
        if r.status_code != 200 or shows not in text(r):
            problems.append(f"{url}: {r.status_code}")
    assert problems == []


# --- a new event -----------------------------------------------------------------------------


def test_an_organiser_creates_an_event_read_in_its_timezone(app, organiser, send):
    r = send("/manage/events/new", {**EVENT_FORM, "slug": "grunder-2027", "timezone": "America/New_York"})
    assert r.status_code == 302 and r.headers["Location"] == "/manage/events/grunder-2027/ticket-types/"
    with app.app_context():
        event = db.session.scalar(sa.select(Event).where(Event.slug == "grunder-2027"))
        assert event.status == EventStatus.DRAFT
        assert event.title == {
            "nb": "Gründerkurs for 山田 og عائشة",
            "en": "Founders’ course for 山田 and عائشة",
        }
        assert event.description == {"nb": "Lær å starte for deg selv."}
        assert event.starts_at == datetime(2027, 9, 1, 13, 0, tzinfo=UTC)  # 09:00 in New York (EDT)
        assert event.ends_at == datetime(2027, 9, 1, 19, 30, tzinfo=UTC)
        olav = db.session.scalar(sa.select(User).where(User.email == "olav@example.org"))
        assert any(r.event_id == event.id and r.role == EventRoleKind.ORGANISER for r in olav.roles)
    page = text(organiser.get(r.headers["Location"]))
    assert "The event is created as a draft." in page and "Founders’ course for 山田 and عائشة" in page
    assert "Founders’ course for 山田 and عائشة" in text(organiser.get("/manage/"))


def test_a_bad_new_event_comes_back_with_the_messages_by_the_fields(app, organiser, send):
    r = send(
        "/manage/events/new", {**EVENT_FORM, "ends_at": "2027-09-01T08:00", "title_nb": "", "title_en": ""}
    )
    assert r.status_code == 422
    assert "lowercase letters" in error_of(r, "slug")
    assert error_of(
        r, "ends_at"
    ) == "⚠ The event must end after it starts." or "end after it starts" in error_of(r, "ends_at")
    assert "Norwegian or English" in error_of(r, "title_nb")
    assert 'value="Kulturhuset, Oslo"' in text(r)  # what was typed is kept
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Event.id))) == 2


def test_a_new_event_needs_a_start_and_a_free_address(organiser, send):
    r = send("/manage/events/new", {**EVENT_FORM, "slug": "forum", "starts_at": ""})
    assert r.status_code == 422
    assert "Please give a date and a time." in error_of(r, "starts_at")
    r = send("/manage/events/new", {**EVENT_FORM, "slug": "forum"})
    assert r.status_code == 422 and "Another event already has this address." in error_of(r, "slug")
    r = send("/manage/events/new", {**EVENT_FORM, "slug": "year-one", "starts_at": "0001-01-01T00:00"})
    assert r.status_code == 422 and "Give a year between 1900 and 2200." in error_of(r, "starts_at")


# --- details, settings and status -------------------------------------------------------------


def test_the_details_page_shows_the_event_in_local_time(organiser):
    page = text(organiser.get(f"{BASE}/edit"))
    assert 'value="2027-05-27T09:00"' in page  # 07:00 UTC is 09:00 in Oslo in May
    assert 'value="Forum forum"' in page
    assert '<option value="Europe/Oslo" selected>' in page
    assert "Close registration" in page and "Back to draft" in page  # published


def settings(**changes) -> dict:
    form = {
        "title_nb": "Forum forum",
        "title_en": "Forum forum",
        "starts_at": "2027-05-27T09:00",
        "ends_at": "2027-05-28T17:00",
        "timezone": "Europe/Oslo",
        "venue": "",
        "max_attendees_per_order": "20",
        "registration_mode": "public",
        "waitlist_enabled": "y",
        "waitlist_offer_hours": "24",
        "cancellation_refund_percent": "100",
        "retention_days": "365",
        "hold_minutes": "30",
        "attendee_email_required": "y",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_the_settings_are_saved_and_only_the_changes_logged(app, organiser, send):
    r = send(
        f"{BASE}/edit",
        settings(
            title_en="Social Business Forum",
            total_capacity="300",
            cancellation_refund_percent="50",
            self_service_until="2027-05-20T23:59",
            waitlist_enabled=None,
        ),
    )
    assert r.status_code == 302
    event = forum(app)
    assert event.title == {"nb": "Forum forum", "en": "Social Business Forum"}
    assert (event.total_capacity, event.cancellation_refund_percent, event.waitlist_enabled) == (
        300,
        50,
        False,
    )
    assert event.self_service_until == datetime(2027, 5, 20, 21, 59, tzinfo=UTC)
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "event.update"))
        assert set(entry.after) == {
            "title",
            "total_capacity",
            "cancellation_refund_percent",
            "self_service_until",
            "waitlist_enabled",
        }
        assert entry.actor_name == "olav@example.org"
    assert "The event is saved." in text(organiser.get(r.headers["Location"]))


def test_bad_settings_come_back_by_their_fields(app, organiser, send):
    r = send(f"{BASE}/edit", settings(max_attendees_per_order="0", hold_minutes="lots", retention_days="-1"))
    assert r.status_code == 422
    assert "Not a valid integer value." in error_of(r, "hold_minutes")
    r = send(f"{BASE}/edit", settings(max_attendees_per_order="0", retention_days="-1"))
    assert r.status_code == 422
    assert "between 1 and 500" in error_of(r, "max_attendees_per_order")
    assert "between 0 and 36500" in error_of(r, "retention_days")
    assert forum(app).max_attendees_per_order == 20


def test_the_capacity_cannot_go_below_the_seats_sold(app, organiser, send, site):
    sell(app, site.forum.ticket_types[1])
    sell(app, site.forum.ticket_types[1])
    r = send(f"{BASE}/edit", settings(total_capacity="1"))
    assert r.status_code == 409
    assert "2 seats are already sold or reserved" in error_of(r, "total_capacity")
    assert forum(app).total_capacity is None


def test_status_buttons_publish_close_and_reopen(app, organiser, send):
    r = send(f"{BASE}/status", {"status": "closed"})
    assert r.status_code == 302 and forum(app).status == EventStatus.CLOSED
    assert "Registration is closed." in text(organiser.get(r.headers["Location"]))
    assert send(f"{BASE}/status", {"status": "published"}).status_code == 302
    assert forum(app).status == EventStatus.PUBLISHED
    assert audit_actions(app) == ["event.status", "event.status"]


def test_refused_status_changes_are_explained(app, organiser, send, site):
    sell(app, site.forum.ticket_types[1])
    r = send(f"{BASE}/status", {"status": "draft"})
    assert r.status_code == 409 and "cannot go back to draft" in text(r)
    assert 'value="Forum forum"' in text(r)  # the details form below shows the event
    assert forum(app).status == EventStatus.PUBLISHED
    assert send(f"{BASE}/status", {"status": "finished"}).status_code == 422
    # A new event has no ticket types yet, so it cannot be published.
    send("/manage/events/new", {**EVENT_FORM, "slug": "empty"})
    r = send("/manage/events/empty/status", {"status": "published"})
    assert r.status_code == 409 and "Add at least one ticket type before publishing the event." in text(r)


# --- ticket types and quotas -----------------------------------------------------------------


def ticket_form(**changes) -> dict:
    form = {
        "name_nb": "Støttebillett",
        "name_en": "Supporter",
        "price": "1 250,50",
        "vat_rate": "25",
        "visibility": "public",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def test_the_ticket_types_page_lists_prices_and_quotas(organiser):
    page = text(organiser.get(f"{BASE}/ticket-types/"))
    assert "Ticket 0" in page and "NOK1,250.00" in page and "Free" in page
    assert "incl. 25 % VAT" in page and "Seats" in page


def test_a_ticket_type_is_saved_from_kroner_and_local_times(app, organiser, send, site):
    r = send(
        f"{BASE}/ticket-types/new",
        ticket_form(
            sales_start="2027-03-01T08:00",
            sales_end="2027-05-01T00:00",
            quota_ids=[str(site.forum.quota)],
            visibility="voucher",
        ),
    )
    assert r.status_code == 302 and r.headers["Location"] == f"{BASE}/ticket-types/"
    with app.app_context():
        tt = db.session.scalar(sa.select(TicketType).order_by(TicketType.id.desc()))
        assert tt.name == {"nb": "Støttebillett", "en": "Supporter"}
        assert (tt.price_ore, tt.vat_rate, tt.visibility) == (125050, 25, Visibility.VOUCHER)
        assert tt.sales_start == datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # CET
        assert tt.sales_end == datetime(2027, 4, 30, 22, 0, tzinfo=UTC)  # CEST
        assert [q.id for q in tt.quotas] == [site.forum.quota]
    edit = text(organiser.get(f"{BASE}/ticket-types/{tt.id}/edit"))
    assert 'value="1250,50"' in edit and 'value="2027-03-01T08:00"' in edit


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"price": "tolv kroner"}, "price", "Write an amount in kroner"),
        ({"price": ""}, "price", "Please give a price."),
        ({"price": "-5"}, "price", "The amount cannot be negative."),
        ({"vat_rate": "7"}, "vat_rate", "VAT must be 0, 12, 15 or 25 %."),
        ({"name_nb": "", "name_en": ""}, "name_nb", "Norwegian or English"),
        (
            {"sales_start": "2027-05-01T00:00", "sales_end": "2027-03-01T00:00"},
            "sales_end",
            "Sales must end after they start.",
        ),
        ({"visibility": "friends"}, "visibility", "Invalid Choice"),
    ],
)
def test_a_bad_ticket_type_comes_back_by_its_fields(app, organiser, send, changes, field, message):
    r = send(f"{BASE}/ticket-types/new", ticket_form(**changes))
    assert r.status_code == 422
    assert message in error_of(r, field)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(TicketType.id))) == 3  # 2 + the other event's


def test_a_sold_ticket_type_keeps_its_price(app, organiser, send, site):
    paid = site.forum.ticket_types[0]
    sell(app, paid)  # pending payment: it holds a ticket
    r = send(f"{BASE}/ticket-types/{paid}/edit", ticket_form(price="999"))
    assert r.status_code == 409 and "its price cannot change" in error_of(r, "price")
    assert load(app, TicketType, paid).price_ore == 1250_00
    r = send(f"{BASE}/ticket-types/{paid}/edit", ticket_form(price="1250", name_en="Regular"))
    assert r.status_code == 302 and load(app, TicketType, paid).name["en"] == "Regular"


def test_ticket_types_are_deleted_unless_someone_has_one(app, organiser, send, site):
    paid, free = site.forum.ticket_types
    sell(app, free)
    r = send(f"{BASE}/ticket-types/{free}/delete")
    assert r.status_code == 302 and load(app, TicketType, free) is not None
    assert "cannot be deleted" in text(organiser.get(r.headers["Location"]))
    r = send(f"{BASE}/ticket-types/{paid}/delete")
    assert r.status_code == 302 and load(app, TicketType, paid) is None
    assert "The ticket type “Ticket 0” is deleted." in text(organiser.get(r.headers["Location"]))


def test_ticket_types_move_up_and_down(app, organiser, send, site):
    paid, free = site.forum.ticket_types
    assert send(f"{BASE}/ticket-types/{paid}/move", {"direction": "down"}).status_code == 302
    rows = table_of(organiser.get(f"{BASE}/ticket-types/"))
    assert rows.index("Ticket 1") < rows.index("Ticket 0")
    assert send(f"{BASE}/ticket-types/{paid}/move", {"direction": "sideways"}).status_code == 422


def test_a_quota_is_made_shared_and_kept_above_the_seats_sold(app, organiser, send, site):
    paid, free = site.forum.ticket_types
    r = send(
        f"{BASE}/quotas/new", {"name": "Middag", "size": "40", "ticket_type_ids": [str(paid), str(free)]}
    )
    assert r.status_code == 302
    with app.app_context():
        quota = db.session.scalar(sa.select(Quota).where(Quota.name == "Middag"))
        assert (quota.size, sorted(t.id for t in quota.ticket_types)) == (40, sorted([paid, free]))
        quota_id = quota.id
    sell(app, free)
    r = send(
        f"{BASE}/quotas/{quota_id}/edit", {"name": "Middag", "size": "0", "ticket_type_ids": [str(free)]}
    )
    assert r.status_code == 409 and "1 seats are already sold" in error_of(r, "size")
    r = send(f"{BASE}/quotas/{quota_id}/edit", {"name": "", "size": "many"})
    assert r.status_code == 422 and "Not a valid integer value." in error_of(r, "size")
    assert send(f"{BASE}/quotas/{quota_id}/delete").status_code == 302
    assert load(app, Quota, quota_id) is None


# --- workshops -------------------------------------------------------------------------------


def test_a_workshop_is_saved_and_its_capacity_kept_above_the_choices(app, organiser, send, site):
    form = {
        "name_nb": "Mikrolån i praksis",
        "name_en": "",
        "slot": "Dag 1, 14:00",
        "starts_at": "2027-05-27T14:00",
    }
    r = send(f"{BASE}/workshops/new", {**form, "room": "Sal 2", "capacity": "25"})
    assert r.status_code == 302 and r.headers["Location"] == f"{BASE}/workshops/"
    with app.app_context():
        workshop = db.session.scalar(sa.select(EventSession).order_by(EventSession.id.desc()))
        assert (workshop.name, workshop.capacity, workshop.room) == (
            {"nb": "Mikrolån i praksis"},
            25,
            "Sal 2",
        )
        assert workshop.starts_at == datetime(2027, 5, 27, 12, 0, tzinfo=UTC)
    assert "Mikrolån i praksis" in text(organiser.get(f"{BASE}/workshops/"))
    assert "In the event's time zone (Europe/Oslo)." in text(organiser.get(f"{BASE}/workshops/new"))

    sell(app, site.forum.ticket_types[1], session_ids=[site.forum.workshop])
    url = f"{BASE}/workshops/{site.forum.workshop}"
    r = send(f"{url}/edit", {**form, "slot": "Day 1, 14:00", "capacity": "0"})
    assert r.status_code == 409 and "1 attendees have chosen this workshop" in error_of(r, "capacity")
    r = send(f"{url}/edit", {**form, "slot": ""})
    assert r.status_code == 422 and "This field is required." in error_of(r, "slot")
    r = send(f"{url}/delete")
    assert r.status_code == 302 and load(app, EventSession, site.forum.workshop) is not None
    assert "cannot be deleted" in text(organiser.get(r.headers["Location"]))
    assert send(f"{BASE}/workshops/{workshop.id}/delete").status_code == 302
    assert load(app, EventSession, workshop.id) is None


# --- questions -------------------------------------------------------------------------------


CHOICES = "vegan | Vegansk | Vegan\nhalal | Halal\n\nnone|Ingen|None\n"


def test_a_choice_question_is_read_from_its_lines(app, organiser, send, site):
    paid, free = site.forum.ticket_types
    r = send(
        f"{BASE}/questions/new",
        {
            "label_nb": "Kosthold",
            "label_en": "Diet",
            "kind": "choice",
            "scope": "attendee",
            "required": "y",
            "choices": CHOICES,
            "ticket_type_ids": [str(free)],
        },
    )
    assert r.status_code == 302
    with app.app_context():
        q = db.session.scalar(sa.select(Question).where(Question.kind == QuestionKind.CHOICE))
        assert q.required and [t.id for t in q.ticket_types] == [free]
        assert q.choices == [
            {"value": "vegan", "nb": "Vegansk", "en": "Vegan"},
            {"value": "halal", "nb": "Halal", "en": "Halal"},
            {"value": "none", "nb": "Ingen", "en": "None"},
        ]
        qid = q.id
    edit = text(organiser.get(f"{BASE}/questions/{qid}/edit"))
    assert "vegan | Vegansk | Vegan\nhalal | Halal | Halal" in edit

    # A conditional question after it: only an answer the first one offers.
    follow = {"label_nb": "Hvilken?", "kind": "text", "scope": "attendee", "depends_on_id": str(qid)}
    r = send(f"{BASE}/questions/new", {**follow, "depends_on_value": "kosher"})
    assert r.status_code == 422 and "Choose one of the answers" in error_of(r, "depends_on_value")
    assert send(f"{BASE}/questions/new", {**follow, "depends_on_value": "vegan"}).status_code == 302


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"choices": "vegan | Vegansk | Vegan | extra"}, "choices", "Line 1: write one answer a line"),
        ({"choices": "vegan | Vegansk | Vegan"}, "choices", "Give at least two options."),
        ({"choices": "a | A\na | B"}, "choices", "Each option needs its own value."),
        ({"kind": "essay"}, "kind", "Invalid Choice"),
        ({"label_nb": ""}, "label_nb", "Norwegian or English"),
    ],
)
def test_a_bad_question_comes_back_by_its_fields(app, organiser, send, changes, field, message):
    form = {"label_nb": "Kosthold", "kind": "multiple", "scope": "order", "choices": CHOICES, **changes}
    r = send(f"{BASE}/questions/new", form)
    assert r.status_code == 422 and message in error_of(r, field)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Question.id))) == 2


def test_a_question_depends_only_on_an_earlier_one_of_its_event(organiser, send, site):
    form = {"label_nb": "Hvilken?", "kind": "text", "scope": "attendee", "depends_on_value": "yes"}
    r = send(f"{BASE}/questions/new", {**form, "depends_on_id": str(site.other.question)})
    assert r.status_code == 422 and "Choose an earlier question of this event." in error_of(
        r, "depends_on_id"
    )


def test_questions_are_edited_moved_and_deleted(app, organiser, send, site):
    r = send(
        f"{BASE}/questions/{site.forum.question}/edit",
        {"label_nb": "Allergier", "label_en": "Allergies", "kind": "phone", "scope": "order"},
    )
    assert r.status_code == 302
    q = load(app, Question, site.forum.question)
    assert (q.label, q.kind, q.scope) == (
        {"nb": "Allergier", "en": "Allergies"},
        QuestionKind.PHONE,
        QuestionScope.ORDER,
    )
    send(f"{BASE}/questions/new", {"label_nb": "Organisasjon", "kind": "organisation", "scope": "attendee"})
    assert send(f"{BASE}/questions/{site.forum.question}/move", {"direction": "down"}).status_code == 302
    rows = table_of(organiser.get(f"{BASE}/questions/"))
    assert rows.index("Organisasjon") < rows.index("Allergies")
    r = send(f"{BASE}/questions/{site.forum.question}/delete")
    assert r.status_code == 302 and load(app, Question, site.forum.question) is None
    assert "Answers already given keep it." in text(organiser.get(r.headers["Location"]))


# --- vouchers --------------------------------------------------------------------------------


def test_a_voucher_code_is_created_in_capitals_with_its_discount(app, organiser, send, site):
    r = send(
        f"{BASE}/vouchers/new",
        {
            "one-code": "press-27",
            "one-kind": "fixed",
            "one-value": "150,50",
            "one-max_uses": "3",
            "one-ticket_type_id": str(site.forum.ticket_types[0]),
        },
    )
    assert r.status_code == 302
    with app.app_context():
        v = db.session.scalar(sa.select(Voucher).where(Voucher.code == "PRESS-27"))
        assert (v.kind, v.value, v.max_uses, v.ticket_type_id) == (
            VoucherKind.FIXED,
            15050,
            3,
            site.forum.ticket_types[0],
        )
    page = text(organiser.get(f"{BASE}/vouchers/"))
    assert "PRESS-27" in page and "NOK150.50 off" in page and "0 / 3" in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"one-code": "SUMMER SALE!"}, "one-code", "letters A–Z, digits and single hyphens"),
        ({"one-code": "f10"}, "one-code", "already has a voucher with this code"),
        ({"one-value": "a fifth"}, "one-value", "whole number"),
        ({"one-value": "120"}, "one-value", "between 1 and 100"),
        ({"one-max_uses": "0"}, "one-max_uses", "between 1 and 100000"),
        ({"one-ticket_type_id": "999999"}, "one-ticket_type_id", "Choose a ticket type of this event."),
    ],
)
def test_a_bad_voucher_comes_back_by_its_fields(app, organiser, send, changes, field, message):
    form = {"one-code": "SPRING", "one-kind": "percent", "one-value": "20", "one-max_uses": "1", **changes}
    r = send(f"{BASE}/vouchers/new", form)
    assert r.status_code == 422 and message in error_of(r, field)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Voucher.id))) == 2


def test_voucher_codes_are_generated_in_bulk(app, organiser, send):
    form = {
        "many-count": "25",
        "many-code_prefix": "ngo",
        "many-kind": "percent",
        "many-value": "100 %",
        "many-max_uses": "1",
    }
    r = send(f"{BASE}/vouchers/generate", form)
    assert r.status_code == 302
    with app.app_context():
        codes = list(db.session.scalars(sa.select(Voucher.code).where(Voucher.code.like("NGO-%"))))
    assert len(set(codes)) == 25
    page = text(organiser.get(r.headers["Location"]))
    assert "25 voucher codes are generated." in page and all(c in page for c in codes)
    r = send(f"{BASE}/vouchers/generate", {**form, "many-count": "1001"})
    assert r.status_code == 422 and "between 1 and 1000" in error_of(r, "many-count")


def test_a_voucher_is_deleted_unless_it_was_used(app, organiser, send, site):
    r = send(f"{BASE}/vouchers/{site.forum.voucher}/delete")
    assert r.status_code == 302 and load(app, Voucher, site.forum.voucher) is None
    assert "The voucher F10 is deleted." in text(organiser.get(r.headers["Location"]))


# --- sponsors --------------------------------------------------------------------------------


def test_a_sponsor_is_made_and_a_new_member_sees_the_password_once(app, client, organiser, send):
    r = send(f"{BASE}/sponsors/new", {"name": "Sparebank 山田", "level": "Partner"})
    assert r.status_code == 302
    with app.app_context():
        sponsor = db.session.scalar(sa.select(Sponsor).where(Sponsor.name == "Sparebank 山田"))
        sponsor_id = sponsor.id
    assert r.headers["Location"] == f"{BASE}/sponsors/{sponsor_id}/"

    r = send(
        f"{BASE}/sponsors/{sponsor_id}/members",
        {"member-email": "Aisha@Sparebank.example.org", "member-name": "عائشة"},
    )
    assert r.status_code == 200
    password = re.search(r"Their password is: <code>([^<]+)</code>", text(r)).group(1)
    assert 'id="name" name="name" value="Sparebank 山田"' in text(r)  # the sponsor's own form
    assert "it is shown only this once" in text(r)
    page = text(organiser.get(f"{BASE}/sponsors/{sponsor_id}/"))
    assert "عائشة" in page and "aisha@sparebank.example.org" in page and password not in page
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "aisha@sparebank.example.org"))
        role = db.session.scalar(sa.select(EventRole).where(EventRole.user_id == user.id))
        assert (role.role, role.sponsor_id) == (EventRoleKind.SPONSOR, sponsor_id)

    # The same person again: no new account and no password.
    r = send(f"{BASE}/sponsors/{sponsor_id}/members", {"member-email": "AISHA@sparebank.example.org"})
    assert r.status_code == 200 and "already has an account" in text(r) and "<code>" not in text(r)

    # The password works.
    other = client.application.test_client()
    token = csrf_from(other.get("/login").get_data(as_text=True))
    login = other.post(
        "/login", data={"email": "aisha@sparebank.example.org", "password": password, "csrf_token": token}
    )
    assert login.status_code == 302


def test_bad_sponsors_and_members_come_back_by_their_fields(organiser, send, site):
    r = send(f"{BASE}/sponsors/new", {"name": "  ", "level": "Gold"})
    assert r.status_code == 422 and "This field is required." in error_of(r, "name")
    r = send(f"{BASE}/sponsors/{site.forum.sponsor}/members", {"member-email": "not an address"})
    assert r.status_code == 422 and "Not a valid email address." in error_of(r, "member-email")


def test_members_are_removed_and_sponsors_edited_and_deleted(app, organiser, send, site):
    page = text(organiser.get(f"{BASE}/sponsors/"))
    assert "f Nordic Impact Fund" in page and "ingrid" in page
    url = f"{BASE}/sponsors/{site.forum.sponsor}"
    r = send(f"{url}/members/{site.forum.member}/remove")
    assert r.status_code == 302 and "no longer logs in" in text(organiser.get(r.headers["Location"]))
    with app.app_context():
        assert db.session.scalar(sa.select(EventRole).where(EventRole.user_id == site.forum.member)) is None
    assert send(f"{url}/members/{site.forum.member}/remove").status_code == 404  # not a member any more
    assert send(f"{url}/", {"name": "Nordic Impact Fund AS", "level": "Gold"}).status_code == 302
    assert load(app, Sponsor, site.forum.sponsor).name == "Nordic Impact Fund AS"
    assert send(f"{url}/delete").status_code == 302 and load(app, Sponsor, site.forum.sponsor) is None


# --- email texts, copy, audit ----------------------------------------------------------------


def test_the_email_texts_are_saved_per_kind_and_language(app, organiser, send):
    texts = {
        "confirmation_nb": "Velkommen! Ta med legitimasjon.",
        "confirmation_en": "Welcome! Bring an ID. مرحبا",
        "ticket_en": "Show this ticket at the door. 山田",
    }
    r = send(f"{BASE}/emails", texts)
    assert r.status_code == 302
    assert forum(app).email_texts == {
        "confirmation": {"nb": "Velkommen! Ta med legitimasjon.", "en": "Welcome! Bring an ID. مرحبا"},
        "ticket": {"en": "Show this ticket at the door. 山田"},
    }
    page = text(organiser.get(f"{BASE}/emails"))
    assert "Welcome! Bring an ID. مرحبا</textarea>" in page
    r = send(f"{BASE}/emails", {**texts, "invoice_nb": "x" * 2001})
    assert r.status_code == 422 and "At most 2000 characters." in error_of(r, "invoice_nb")


def test_an_event_is_copied_with_its_times_moved(app, organiser, send):
    page = text(organiser.get(f"{BASE}/copy"))
    assert 'value="2027-05-27T09:00"' in page and 'value="Forum forum"' in page
    r = send(
        f"{BASE}/copy",
        {"slug": "forum-2028", "title_nb": "Forum 2028", "title_en": "", "starts_at": "2028-05-25T09:00"},
    )
    assert r.status_code == 302 and r.headers["Location"] == "/manage/events/forum-2028/edit"
    with app.app_context():
        copy = db.session.scalar(sa.select(Event).where(Event.slug == "forum-2028"))
        assert copy.status == EventStatus.DRAFT and copy.title == {"nb": "Forum 2028"}
        assert copy.starts_at == datetime(2028, 5, 25, 7, 0, tzinfo=UTC)
        assert len(copy.ticket_types) == 2 and len(copy.sessions) == 1
    assert "is a copy of" in text(organiser.get(r.headers["Location"]))
    r = send(f"{BASE}/copy", {"slug": "forum-2028", "starts_at": "2028-05-25T09:00"})
    assert r.status_code == 422 and "Another event already has this address." in error_of(r, "slug")


def test_the_audit_log_shows_who_changed_what_from_what(app, organiser, send, site):
    url = f"{BASE}/workshops/{site.forum.workshop}/edit"
    send(
        url,
        {"name_nb": "f Mikrolån", "slot": "Day 1, 14:00", "capacity": "35", "starts_at": "2027-05-27T14:00"},
    )
    page = text(organiser.get(f"{BASE}/audit"))
    row = re.search(r'<tr data-action="workshop.update">.*?</tr>', page, re.S).group(0)
    assert "olav@example.org" in row
    assert re.search(r'<strong>capacity</strong>: <span class="was">20</span> → 35', row)
    assert '<strong>starts_at</strong>: <span class="was">–</span> → 5/27/27, 2:00 PM' in row  # Oslo time
    assert "room" not in row  # unchanged fields are left out


# --- another event's objects -----------------------------------------------------------------


def test_another_events_objects_are_not_found(organiser, send, site):
    o = site.other
    for url in (
        f"{BASE}/ticket-types/{o.ticket_types[0]}/edit",
        f"{BASE}/quotas/{o.quota}/edit",
        f"{BASE}/workshops/{o.workshop}/edit",
        f"{BASE}/questions/{o.question}/edit",
        f"{BASE}/sponsors/{o.sponsor}/",
    ):
        assert organiser.get(url).status_code == 404, url
    for url in (
        f"{BASE}/ticket-types/{o.ticket_types[0]}/delete",
        f"{BASE}/ticket-types/{o.ticket_types[0]}/move",
        f"{BASE}/quotas/{o.quota}/delete",
        f"{BASE}/workshops/{o.workshop}/delete",
        f"{BASE}/questions/{o.question}/delete",
        f"{BASE}/questions/{o.question}/move",
        f"{BASE}/vouchers/{o.voucher}/delete",
        f"{BASE}/sponsors/{o.sponsor}/delete",
        f"{BASE}/sponsors/{o.sponsor}/members",
        f"{BASE}/sponsors/{site.forum.sponsor}/members/{site.forum.member + 1000}/remove",
    ):
        assert send(url, {"direction": "up", "email": "x@example.org"}).status_code == 404, url
