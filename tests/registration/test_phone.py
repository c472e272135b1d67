"""Phone questions: a Norwegian or international number, typed as people type it, kept in one
international form, refused with a clear message when it is not a number, shown on the form with
the phone keypad, and given to sponsors only with the attendee's consent."""

import re
from pathlib import Path

import pytest
from flask_babel import force_locale
from playwright.sync_api import expect

from eventreg.core.errors import ValidationError
from eventreg.events.models import QuestionKind, QuestionScope
from eventreg.extensions import db
from eventreg.registration.models import Answer
from eventreg.registration.services import create_order, normalise_phone
from eventreg.sponsors.services import contacts, contacts_csv
from tests.factories import NOW, add_question, make_event, order_data
from tests.web.conftest import csrf_from, text

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+47 912 34 567", "+4791234567"),
        ("912 34 567", "+4791234567"),  # eight digits: Norwegian
        ("91234567", "+4791234567"),
        ("912-34-567", "+4791234567"),
        ("0047 912 34 567", "+4791234567"),
        (" +44 20-7946-0958 ", "+442079460958"),
        ("+880 1712-345678", "+8801712345678"),
        ("4791234567", "+4791234567"),  # longer without +: starts with its country code
        ("+1 234 567 890 123 45", "+123456789012345"),  # 15 digits
    ],
)
def test_numbers_are_kept_in_international_form(typed, stored):
    assert normalise_phone(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "1234567",  # 7 digits
        "+1234567890123456",  # 16 digits
        "+47 912 34 567 ext 3",
        "+47 (912) 34 567",
        "++4791234567",
        "912..34567",
        "912  34 567",  # separators are single
        "tlf 91234567",
        "٩١٢٣٤٥٦٧",  # Arabic-Indic digits are not what the sponsor's phone dials
        "",
        None,
        4791234567,
    ],
)
def test_anything_else_is_not_a_phone_number(typed):
    assert normalise_phone(typed) is None


def answered(event, answers, **kw):
    data = order_data(event, **kw)
    data.attendees[0].answers = answers
    return create_order(event, data, now=NOW)


def test_a_phone_answer_is_stored_normalised_as_typed_in_every_language(ctx):
    event = make_event(prices=(0,))
    q = add_question(event, QuestionKind.PHONE, label="Mobil")
    order = answered(event, {str(q.id): "+47 912 34 567"})
    [answer] = order.attendees[0].answers
    assert answer.value == "+4791234567"
    assert answer.display == {"nb": "+4791234567", "en": "+4791234567"}


def messages(err, key) -> list[str]:
    with force_locale("en"):
        return [str(m) for m in err.value.fields[key]]


def test_a_bad_number_is_refused_with_a_message_for_its_field(ctx):
    event = make_event(prices=(0,))
    q = add_question(event, QuestionKind.PHONE, label="Mobil", required=True)
    with pytest.raises(ValidationError) as err:
        answered(event, {str(q.id): "call me"})
    assert messages(err, f"attendees.0.answers.{q.id}") == [
        "Not a phone number: give 8 to 15 digits, and + with the country code for a number outside Norway."
    ]
    db.session.rollback()
    with pytest.raises(ValidationError) as err:
        answered(event, {str(q.id): "  "})
    assert messages(err, f"attendees.0.answers.{q.id}") == ["This field is required."]


def test_a_phone_asked_once_per_order(ctx):
    event = make_event(prices=(0,))
    q = add_question(event, QuestionKind.PHONE, label="Kontakt", scope=QuestionScope.ORDER)
    order = create_order(event, order_data(event, answers={str(q.id): "0046 70-123 45 67"}), now=NOW)
    assert [a.value for a in order.answers] == ["+46701234567"]


def test_sponsors_see_the_phone_of_attendees_who_consent_only(ctx):
    event = make_event(prices=(0,))
    q = add_question(event, QuestionKind.PHONE, label="Mobil")
    yes = answered(event, {str(q.id): "912 34 567"}, names=["عائشة"])
    answered(event, {str(q.id): "+47 400 00 000"}, names=["Ola"])
    yes.attendees[0].sponsor_consent = True
    db.session.flush()
    [contact] = contacts(event)
    assert (contact.name, contact.phone) == ("عائشة", "+4791234567")
    # In the CSV the number cannot start a formula.
    assert "'+4791234567" in contacts_csv([contact], language="en").decode("utf-8-sig")


# --- the form -------------------------------------------------------------------------------


@pytest.fixture
def forum(app):
    with app.app_context():
        event = make_event("forum", prices=(0,))
        q = add_question(event, QuestionKind.PHONE, label="Mobile", required=True)
        db.session.commit()
        return {"tt": event.ticket_types[0].id, "q": q.id}


def form(client, forum, phone):
    page = client.get(f"/events/forum/register?tt_{forum['tt']}=1")
    return {
        "csrf_token": csrf_from(text(page)),
        "buyer-name": "Ахмед Иванов",
        "buyer-email": "ahmed@example.org",
        "buyer-language": "en",
        "payment_method": "card",
        "a-0-tt": str(forum["tt"]),
        "a-0-name": "Ахмед Иванов",
        "a-0-email": "ahmed@example.org",
        "a-0-language": "en",
        f"a-0-q-{forum['q']}": phone,
    }


def test_the_form_offers_the_phone_keypad_and_keeps_a_bad_number_with_its_message(app, client, forum):
    english = client
    english.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page = text(english.get(f"/events/forum/register?tt_{forum['tt']}=1"))
    field = re.search(rf'<input[^>]*name="a-0-q-{forum["q"]}"[^>]*>', page, re.S).group(0)
    assert 'inputmode="tel"' in field and 'aria-required="true"' in field

    r = english.post("/events/forum/register", data=form(english, forum, "912 34"))
    assert r.status_code == 422
    page = text(r)
    error = re.search(rf'id="a-0-q-{forum["q"]}-error">(.*?)</div>', page, re.S).group(1)
    assert "Not a phone number" in error
    assert 'value="912 34"' in page

    r = english.post("/events/forum/register", data=form(english, forum, "+47 912 34 567"))
    assert r.status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(Answer.value)) == "+4791234567"


@pytest.mark.browser
def test_a_visitor_types_a_phone_number(page, live_server, forum):
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 900, "height": 1000})
    page.goto(f"{live_server}/events/forum/register?tt_{forum['tt']}=1")
    page.locator(".lang-switch button[lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.fill("#buyer-name", "عائشة الفاسي")
    page.fill("#buyer-email", "aisha@example.org")
    page.fill("#a-0-name", "عائشة الفاسي")
    page.fill("#a-0-email", "aisha@example.org")
    phone = page.locator(f"#a-0-q-{forum['q']}")
    expect(phone).to_have_attribute("inputmode", "tel")
    phone.fill("91 23")
    page.get_by_role("button", name=re.compile("Register|Continue|Confirm", re.I)).first.click()
    expect(page.locator(f"#a-0-q-{forum['q']}-error")).to_contain_text("Not a phone number")
    expect(phone).to_have_value("91 23")
    page.locator("fieldset.attendee").screenshot(path=ARTIFACTS / "registration-phone-error.png")

    page.locator(f"#a-0-q-{forum['q']}").fill("+47 912 34 567")
    page.get_by_role("button", name=re.compile("Register|Continue|Confirm", re.I)).first.click()
    expect(page).to_have_url(re.compile(r"/orders/"))
    expect(page.locator("main")).to_contain_text("عائشة الفاسي")
