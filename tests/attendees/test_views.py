"""The attendee pages as an organiser uses them: the list with its bookmarkable filter, an order
and its changes, and a mailing from writing to the preview to sending, once."""

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eventreg.audit.models import AuditEntry
from eventreg.extensions import db
from eventreg.mail.models import Mailing, OutboxMessage
from eventreg.registration.models import Attendee, Order, OrderStatus
from tests.attendees.conftest import AT, PEOPLE
from tests.factories import NOW
from tests.web.conftest import csrf_from, text

BASE = "/manage/events/forum"


@pytest.fixture
def at_noon(monkeypatch):
    """The pages' clock: five minutes after the registrations (the card order's hold runs)."""
    for module in ("eventreg.attendees.views", "eventreg.admin.views"):
        monkeypatch.setattr(f"{module}.now", lambda: AT)


@pytest.fixture
def olav(english, saved_forum, login, at_noon):
    login("olav@example.org")
    return english


def rows(page) -> list[str]:
    return [
        html.unescape(n)
        for n in re.findall(
            r'<tr class="attendee-row"[^>]*>\s*<th scope="row"><a [^>]*><bdi>([^<]*)</bdi>', page
        )
    ]


def plain(page: str) -> str:
    """The page's text without its tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def form_fields(page: str, form_id: str) -> dict[str, str]:
    form = page.split(f'id="{form_id}"')[1].split("</form>")[0]
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    }


# --- the list -------------------------------------------------------------------------------


def test_the_event_page_links_to_the_attendee_list(olav):
    assert f'href="{BASE}/attendees/"' in text(olav.get(f"{BASE}/"))


def test_the_list_shows_the_standing_attendees_with_their_facts(olav, saved_forum):
    page = text(olav.get(f"{BASE}/attendees/"))
    assert sorted(rows(page)) == sorted(
        [
            "Åse Øvre",
            "山田 太郎",
            "Ахмед Иванов",
            "Zoë Ðorđević",
            "عائشة بنت أحمد",
            "Ola Nordmann",
            "Lise Uten Epost",
        ]
    )
    row = page.split(f'data-attendee="{saved_forum.ids["Ахмед Иванов"]}"')[1].split("</tr>")[0]
    assert "Ёлка ООО" in row and "Impact" in row and saved_forum.codes["invoice"] in row
    assert "Invoice not paid yet" in row and "Standard" in row
    assert (
        f'href="{BASE}/orders/{saved_forum.codes["invoice"]}/#attendee-{saved_forum.ids["Ахмед Иванов"]}"'
        in row
    )
    assert "7 attendees" in page and "Email these 7 attendees" in page


def test_search_and_filters_live_in_the_query_string(olav, saved_forum):
    page = text(olav.get(f"{BASE}/attendees/?q=OVRE&state=all"))
    assert sorted(rows(page)) == ["Åse Øvre", "عائشة بنت أحمد"]
    assert 'value="OVRE"' in page and '<option value="all" selected>' in page
    # The mailing link carries the same filter.
    assert f'href="{BASE}/attendees/email?q=OVRE&amp;state=all"' in page
    diet = saved_forum.questions["diet"]
    page = text(olav.get(f"{BASE}/attendees/?answer={diet}:vegan&checked_in=yes"))
    assert rows(page) == ["Åse Øvre"] and f'<option value="{diet}:vegan" selected>' in page
    assert rows(text(olav.get(f"{BASE}/attendees/?q=p2@EXAMPLE.org"))) == ["Ахмед Иванов"]
    # Not "zzz": the search also looks at the random order codes ("ZZZ57G26" has happened).
    assert "Nobody matches this search and these filters." in text(olav.get(f"{BASE}/attendees/?q=no-such"))


def test_pages_keep_the_filter(olav, saved_forum, app):
    with app.app_context():
        order = db.session.scalar(sa.select(Order).where(Order.code == saved_forum.codes["free"]))
        for i in range(60):
            db.session.add(
                Attendee(
                    order_id=order.id,
                    event_id=order.event_id,
                    ticket_type_id=saved_forum.ticket_types["free"],
                    position=10 + i,
                    name=f"Gjest {i:02d}",
                    email=f"gjest{i}@example.org",
                    price_ore=0,
                )
            )
        db.session.commit()
    page = text(olav.get(f"{BASE}/attendees/?q=gjest"))
    assert len(rows(page)) == 50 and "Page 1 of 2" in page and "Showing 1–50 of 60" in page
    assert f'href="{BASE}/attendees/?page=2&amp;q=gjest"' in page
    second = text(olav.get(f"{BASE}/attendees/?page=2&q=gjest"))
    assert len(rows(second)) == 10 and set(rows(second)).isdisjoint(rows(page))


@pytest.mark.parametrize(
    "query",
    ["?ticket_type=99999", "?state=sold", "?answer=nonsense", "?page=abc", "?page=0", "?checked_in=x"],
)
def test_a_bad_filter_is_a_clear_422(olav, query):
    r = olav.get(f"{BASE}/attendees/{query}")
    assert r.status_code == 422
    assert "a filter is not valid for this event" in text(r)
    assert ('aria-invalid="true"' in text(r)) == ("page" not in query)  # the field is marked


def test_another_events_list_is_not_the_organisers(olav):
    assert olav.get("/manage/events/forum-other/attendees/").status_code == 403
    assert olav.get("/manage/events/nope/attendees/").status_code == 404


# --- an order -------------------------------------------------------------------------------


def order_url(forum, kind: str) -> str:
    return f"{BASE}/orders/{forum.codes[kind]}/"


def test_the_order_page_shows_buyer_attendees_answers_workshops_documents_and_mail(olav, saved_forum):
    page = text(olav.get(order_url(saved_forum, "invoice")))
    assert "Order " + saved_forum.codes["invoice"] in page
    assert "Buyer invoice" in page and "buyer-invoice@example.org" in page
    for name in ("Ахмед Иванов", "Zoë Ðorđević"):
        assert name in page
    assert "Ёлка ООО" in page and "Vegan" in page and "Impact (Day 1, 10:00)" in page
    assert re.search(rf'href="{BASE}/documents/\d+\.pdf">Invoice \d+ \(PDF\)', page)
    mail = page.split('id="mail-heading"')[1].split("</section>")[0]
    assert "buyer-invoice@example.org" in mail and saved_forum.codes["invoice"] in mail  # the confirmation
    assert "Refund the chosen tickets" in page and "Send the confirmation again" in page
    assert "Cancel the order" not in page  # paid with money: refunded, not cancelled


def test_another_events_order_or_another_orders_attendee_is_404(olav, saved_forum):
    assert olav.get(f"{BASE}/orders/NOSUCH/").status_code == 404
    wrong = f"{order_url(saved_forum, 'free')}attendees/{saved_forum.ids['Ахмед Иванов']}/details"
    page = text(olav.get(order_url(saved_forum, "free")))
    assert olav.post(wrong, data={"csrf_token": csrf_from(page), "name": "X"}).status_code == 404
    assert (
        olav.get(order_url(saved_forum, "free") + f"?edit={saved_forum.ids['Ахмед Иванов']}").status_code
        == 404
    )


def test_the_organiser_changes_an_attendee_after_the_deadline(olav, saved_forum, app, monkeypatch):
    late = NOW + timedelta(days=200)
    monkeypatch.setattr("eventreg.attendees.views.now", lambda: late)
    ase = saved_forum.ids["Åse Øvre"]
    url = order_url(saved_forum, "free")
    page = text(olav.get(url + f"?edit={ase}"))
    assert 'id="details-form"' in page and 'id="workshops-form"' in page
    diet, org = saved_forum.questions["diet"], saved_forum.questions["org"]
    data = {
        "csrf_token": csrf_from(page),
        "name": "Åse Øvre-Ødegård",
        "email": "ase@example.org",
        "language": "en",
        f"q-{diet}": "none",
        f"q-{org}": "Nordlys AS",
        f"q-{saved_forum.questions['interpreter']}": "yes",  # unchanged; interests left empty
    }
    r = olav.post(f"{url}attendees/{ase}/details", data=data)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"{url}#attendee-{ase}")
    page = plain(text(olav.get(url)))
    assert "The details of Åse Øvre-Ødegård are saved." in page
    assert "Details changed" in page and "Name: Åse Øvre → Åse Øvre-Ødegård" in page
    assert (
        "Answers: Organisation: Nordlys AS; Diet: Vegan; Interests: Finance; Interpreter: Yes"
        " → Organisation: Nordlys AS; Diet: None; Interpreter: Yes"
    ) in page
    with app.app_context():
        assert db.session.get(Attendee, ase).email == "ase@example.org"


def test_a_bad_change_is_shown_next_to_the_field_with_422(olav, saved_forum, app):
    ase = saved_forum.ids["Åse Øvre"]
    url = order_url(saved_forum, "free")
    page = text(olav.get(url + f"?edit={ase}"))
    r = olav.post(
        f"{url}attendees/{ase}/details",
        data={"csrf_token": csrf_from(page), "name": "", "email": "nope", "language": "nb"},
    )
    assert r.status_code == 422
    body = text(r)
    assert 'id="name-error"' in body and 'id="email-error"' in body and 'value="nope"' in body
    with app.app_context():
        assert db.session.get(Attendee, ase).name == "Åse Øvre"
        assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))) == 0


def test_a_full_workshop_is_refused_with_409_and_the_form_open(olav, saved_forum):
    ahmed = saved_forum.ids["Ахмед Иванов"]
    url = order_url(saved_forum, "invoice")
    page = text(olav.get(url + f"?edit={ahmed}"))
    r = olav.post(
        f"{url}attendees/{ahmed}/workshops",
        data={"csrf_token": csrf_from(page), "slot-0": str(saved_forum.workshops["Mikrolån"])},
    )
    assert (
        r.status_code == 409
        and "The workshop Mikrolån is full." in text(r)
        and 'id="workshops-form"' in text(r)
    )
    r = olav.post(
        f"{url}attendees/{ahmed}/workshops",
        data={"csrf_token": csrf_from(page), "slot-1": str(saved_forum.workshops["Finance"])},
    )
    assert r.status_code == 302
    page = plain(text(olav.get(url)))
    assert "Workshops changed" in page and "Workshops: Impact → Finance" in page


def test_resend_cancel_and_refund_from_the_order_page_are_recorded(olav, saved_forum, app):
    page = text(olav.get(order_url(saved_forum, "free")))
    token = csrf_from(page)
    r = olav.post(order_url(saved_forum, "free") + "resend", data={"csrf_token": token})
    assert r.status_code == 302
    page = text(olav.get(order_url(saved_forum, "free")))
    assert "Sent again to buyer-free@example.org, p0@example.org, p1@example.org." in page
    assert "Mail sent again" in page
    r = olav.post(
        order_url(saved_forum, "free") + "resend",
        data={"csrf_token": token, "attendee": str(saved_forum.ids["山田 太郎"])},
    )
    assert r.status_code == 302 and "Sent again to p1@example.org." in text(
        olav.get(order_url(saved_forum, "free"))
    )

    assert olav.post(order_url(saved_forum, "card") + "cancel", data={"csrf_token": token}).status_code == 302
    page = text(olav.get(order_url(saved_forum, "card")))
    assert "is cancelled and its seats are free again" in page and "Order cancelled" in page
    r = olav.post(order_url(saved_forum, "card") + "cancel", data={"csrf_token": token})
    assert r.status_code == 409 and "cannot become cancelled" in text(r)

    zoe = saved_forum.ids["Zoë Ðorđević"]
    assert (
        olav.post(order_url(saved_forum, "invoice") + "refunds", data={"csrf_token": token}).status_code
        == 422
    )
    assert (
        olav.post(
            order_url(saved_forum, "invoice") + "refunds", data={"csrf_token": token, "attendee": "x"}
        ).status_code
        == 422
    )
    r = olav.post(
        order_url(saved_forum, "invoice") + "refunds",
        data={"csrf_token": token, "attendee": str(zoe), "reason": "syk"},
    )
    assert r.status_code == 302
    page = text(olav.get(order_url(saved_forum, "invoice")))
    assert "Tickets refunded" in page and "Credit note" in page and "syk" in page
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["order.resend_mail", "order.resend_mail", "order.cancel", "order.refund"]
        assert db.session.get(Attendee, zoe).cancelled_at is not None
        assert db.session.scalar(sa.select(Order.status).where(Order.code == saved_forum.codes["card"])) == (
            OrderStatus.CANCELLED
        )


# --- mailings -------------------------------------------------------------------------------


def test_a_mailing_from_the_filtered_list_to_the_preview_and_sent_once(olav, saved_forum, app):
    diet = saved_forum.questions["diet"]
    compose = text(olav.get(f"{BASE}/attendees/email?answer={diet}:vegan"))
    assert "To 3 recipients" in compose and "Diet: Vegan" in compose
    data = {
        "csrf_token": csrf_from(compose),
        "answer": f"{diet}:vegan",
        "action": "preview",
        "subject_nb": "Lunsj",
        "body_nb": "Vegansk lunsj <i>kl. 12</i>.\n\nVelkommen!",
        "subject_en": "Lunch",
        "body_en": "Vegan lunch at noon.",
    }
    preview = olav.post(f"{BASE}/attendees/email", data=data)
    assert preview.status_code == 200
    page = text(preview)
    assert "This message goes to 3 recipients" in page
    for name in ("Åse Øvre", "Ахмед Иванов", "Ola Nordmann"):
        assert name in page
    assert "Hei Ola Nordmann," in page and "Hello Ola Nordmann," in page  # the newest order's attendee
    assert "Vegansk lunsj &lt;i&gt;kl. 12&lt;/i&gt;." in page and "Vegan lunch at noon." in page
    assert page.count('class="mail-text"') == 2
    fields = form_fields(page, "send-form")
    assert fields["answer"] == f"{diet}:vegan" and fields["body_nb"] == data["body_nb"]
    assert fields["token"]
    confirm = {"csrf_token": csrf_from(page), **fields}
    r = olav.post(f"{BASE}/attendees/email/send", data=confirm)
    assert r.status_code == 303 and r.headers["Location"].endswith(f"{BASE}/mailings/")
    assert "The message is on its way to 3 attendees." in text(olav.get(r.headers["Location"]))
    replay = olav.post(f"{BASE}/attendees/email/send", data=confirm)  # a double click, or Back and again
    assert replay.status_code == 303
    mailings = text(olav.get(f"{BASE}/mailings/"))
    assert "already sent to these attendees; it was not sent again" in mailings
    assert mailings.count('class="mailing-row"') == 1 and "Lunch" in mailings  # in the reader's language
    with app.app_context():
        [mailing] = db.session.scalars(sa.select(Mailing)).all()
        assert mailing.recipients == 3 and mailing.recipient_filter == {"answer": f"{diet}:vegan"}
        assert (
            db.session.scalar(sa.select(sa.func.count()).where(OutboxMessage.mailing_id == mailing.id)) == 3
        )


def test_the_preview_says_who_is_skipped_and_unwritten_texts_are_refused(olav, saved_forum):
    compose = text(olav.get(f"{BASE}/attendees/email?q=lise"))
    assert "To 0 recipients" in compose and "1 attendee has no email address and is skipped." in compose
    token = csrf_from(compose)
    r = olav.post(
        f"{BASE}/attendees/email", data={"csrf_token": token, "action": "preview", "subject_nb": "Hei"}
    )
    assert r.status_code == 422 and 'id="body_nb-error"' in text(r) and 'value="Hei"' in text(r)
    r = olav.post(
        f"{BASE}/attendees/email", data={"csrf_token": token, "state": "bogus", "action": "preview"}
    )
    assert r.status_code == 422


def test_changing_the_message_goes_back_to_the_form_with_the_text(olav):
    token = csrf_from(text(olav.get(f"{BASE}/attendees/email")))
    r = olav.post(
        f"{BASE}/attendees/email",
        data={"csrf_token": token, "action": "edit", "subject_en": "Lunch", "body_en": "Line 1\nLine 2"},
    )
    assert r.status_code == 200 and 'value="Lunch"' in text(r) and ">Line 1\nLine 2</textarea>" in text(r)


def test_a_tampered_confirmation_sends_nothing(olav, saved_forum, app):
    compose = text(olav.get(f"{BASE}/attendees/email"))
    data = {"csrf_token": csrf_from(compose), "action": "preview", "subject_en": "Hi", "body_en": "Text"}
    page = text(olav.post(f"{BASE}/attendees/email", data=data))
    fields = form_fields(page, "send-form")
    r = olav.post(
        f"{BASE}/attendees/email/send",
        data={"csrf_token": csrf_from(page), **fields, "body_en": "Something else", "state": "all"},
    )
    assert r.status_code == 409 and "This preview is out of date" in text(r)
    r = olav.post(f"{BASE}/attendees/email/send", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Mailing.id))) == 0


def test_the_mailings_page_is_empty_at_first(olav):
    assert "No mailings yet." in text(olav.get(f"{BASE}/mailings/"))


def test_every_name_in_the_event_can_be_found_from_the_list(olav):
    for name in PEOPLE:
        if name in ("Kari Avlyst", "Olav Utløpt", "Per Refundert"):
            continue
        word = name.split()[0]
        assert name in rows(text(olav.get(f"{BASE}/attendees/", query_string={"q": word.upper()}))), name


def test_replacing_an_orders_private_links_from_its_page(olav, saved_forum, app):
    with app.app_context():
        order = db.session.scalar(sa.select(Order).where(Order.code == saved_forum.codes["free"]))
        old_order_link = f"/orders/{order.code}/{order.manage_token}"
        old_ticket_link = f"/tickets/{order.attendees[0].manage_token}"
    assert app.test_client().get(old_ticket_link).status_code == 200
    page = text(olav.get(order_url(saved_forum, "free")))
    assert "Replace links and tickets" in page
    r = olav.post(order_url(saved_forum, "free") + "links", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 302
    page = text(olav.get(order_url(saved_forum, "free")))
    assert "The old links and QR codes no longer work. New ones were sent to buyer-free@example.org" in page
    assert "Links and tickets replaced" in page  # in the order's history
    visitor = app.test_client()
    assert visitor.get(old_ticket_link).status_code == 404
    assert visitor.get(old_order_link).status_code == 404
