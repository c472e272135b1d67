"""The event builder in headless Chromium: an organiser creates an event from scratch (two ticket
types, a quota, a workshop with a capacity, a required question, a sponsor with a member, email
texts), publishes it, and a visitor in a browser of their own registers for it; the order shows
up on the organiser's list. Screenshots of every builder page go to test-artifacts/builder-*.png."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from eventreg.events.models import Event, EventStatus
from eventreg.extensions import db
from eventreg.registration.models import Order, OrderStatus
from tests.factories import make_event, make_user

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "tests" / "vendor" / "axe" / "axe.min.js"  # for tests only; no page links to it
SLUG = "grunderkurs-host-2027"
VISITOR = "عائشة Ødegård-山田"


@pytest.fixture
def organiser(app):
    """Kari organises last spring's course, so she may create the next one."""
    with app.app_context():
        spring = make_event("grunderkurs-var-2027", prices=(0,))
        make_user("kari@example.org", organiser_of=spring)
        db.session.commit()


@pytest.mark.browser
def test_an_organiser_builds_an_event_and_a_visitor_registers(page, live_server, organiser, app):
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(name, target=None):
        (target or page).screenshot(path=ARTIFACTS / f"builder-{name}.png", full_page=True)

    def flash():
        return page.locator(".alert-success")

    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"{live_server}/login")
    page.locator(".lang-switch button[lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("Email").fill("kari@example.org")
    page.get_by_label("Password").fill("secret-pw-kaffe")
    page.get_by_role("button", name="Log in").click()

    # A new event: sent empty first, then filled in.
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Manage").click()
    page.get_by_role("link", name="New event").click()
    expect(page.get_by_role("heading", name="New event")).to_be_visible()
    page.get_by_role("button", name="Create the event").click()
    expect(page.locator("#form-message")).to_contain_text("Please correct the marked fields.")
    expect(page.locator("#slug-error")).to_contain_text("This field is required.")
    expect(page.locator("#starts_at-error")).to_contain_text("Please give a date and a time.")
    shot("new-event-errors")
    page.get_by_label("Title in Norwegian").fill("Gründerkurs høsten 2027")
    page.get_by_label("Title in English").fill("Founders’ course, autumn 2027")
    page.get_by_label("Web address").fill(SLUG)
    page.get_by_label("Starts").fill("2027-09-14T09:00")
    page.get_by_label("Ends").fill("2027-09-14T15:30")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Oslo")
    page.get_by_label("Venue").fill("Kulturhuset, Youngs gate 6, Oslo")
    page.get_by_label("Description in Norwegian").fill("Et kurs for deg som vil starte for deg selv.")
    page.get_by_label("Description in English").fill("A course for people who want to start a business.")
    shot("new-event")
    page.get_by_role("button", name="Create the event").click()
    expect(flash()).to_contain_text("The event is created as a draft.")
    expect(page.get_by_role("heading", name="Founders’ course, autumn 2027")).to_be_visible()
    expect(page.locator(".event-status")).to_have_text("Draft")

    # Two ticket types.
    for name_nb, name_en, price, vat in (
        ("Standard", "Standard", "1 250", "25"),
        ("Student", "Student", "0", "0"),
    ):
        page.get_by_role("link", name="New ticket type").click()
        page.get_by_label("Name in Norwegian").fill(name_nb)
        page.get_by_label("Name in English").fill(name_en)
        page.get_by_label("Price in kroner").fill(price)
        page.get_by_label("VAT", exact=True).select_option(vat)
        if name_en == "Student":
            shot("ticket-type")
        page.get_by_role("button", name="Save").click()
        expect(flash()).to_contain_text(f"The ticket type “{name_en}” is saved.")
    rows = page.locator("table.ticket-types tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("NOK1,250.00")
    expect(rows.nth(1)).to_contain_text("Free")

    # A quota both draw on.
    page.get_by_role("link", name="New quota").click()
    page.get_by_label("Name").fill("Alle plasser")
    page.get_by_label("Seats").fill("30")
    page.get_by_label("Standard").check()
    page.get_by_label("Student").check()
    shot("quota")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("table.quotas")).to_contain_text("Standard, Student")
    shot("tickets")

    # A workshop with a capacity.
    nav = page.get_by_role("navigation", name="Event builder")
    nav.get_by_role("link", name="Workshops").click()
    page.get_by_role("link", name="New workshop").click()
    page.get_by_label("Name in Norwegian").fill("Markedsføring på nett")
    page.get_by_label("Name in English").fill("Online marketing")
    page.get_by_label("Time slot").fill("Day 1, 13:00")
    page.get_by_label("Starts").fill("2027-09-14T13:00")
    page.get_by_label("Room").fill("Sal 2")
    page.get_by_label("Seats").fill("12")
    shot("workshop")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("table.workshops tbody tr")).to_contain_text("12")
    shot("workshops")

    # A required question with a list of answers (the list appears only for such kinds).
    nav.get_by_role("link", name="Questions").click()
    page.get_by_role("link", name="New question").click()
    choices = page.get_by_label("Answers to choose from")
    expect(choices).to_be_hidden()
    page.get_by_label("Question in Norwegian").fill("Har du drevet en bedrift før?")
    page.get_by_label("Question in English").fill("Have you run a business before?")
    page.get_by_label("Kind of answer").select_option("choice")
    expect(choices).to_be_visible()
    choices.fill("never | Aldri | Never\nonce | En gang | Once\nseveral | Flere ganger | Several times")
    page.get_by_label("An answer is required").check()
    shot("question")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("table.questions")).to_contain_text("Have you run a business before?")
    expect(page.locator("table.questions")).to_contain_text("required")
    shot("questions")

    # A voucher code, a sponsor with a member, and a word in the confirmation email.
    nav.get_by_role("link", name="Vouchers").click()
    page.locator("#one-code").fill("partner27")
    page.locator("#one-value").fill("50")
    page.get_by_role("button", name="Create the code").click()
    expect(page.locator("table.vouchers")).to_contain_text("PARTNER27")
    shot("vouchers")

    nav.get_by_role("link", name="Sponsors").click()
    page.get_by_role("link", name="New sponsor").click()
    page.get_by_label("Name").fill("Sparebanken Øst")
    page.get_by_label("Level").fill("Gold")
    page.get_by_role("button", name="Save").click()
    page.locator("#member-email").fill("ahmed@sparebanken.example.org")
    page.locator("#member-name").fill("Ахмед Ли")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#member-added")).to_contain_text("shown only this once")
    expect(page.locator("table.members")).to_contain_text("Ахмед Ли")
    expect(page.locator("#name")).to_have_value("Sparebanken Øst")
    shot("sponsor")
    nav.get_by_role("link", name="Sponsors").click()
    expect(page.locator("table.sponsors")).to_contain_text("Ахмед Ли")
    shot("sponsors")

    nav.get_by_role("link", name="Emails").click()
    page.get_by_label("Confirmation in Norwegian").fill("Velkommen! Ta med PC.")
    page.get_by_label("Confirmation in English").fill("Welcome! Bring a laptop.")
    page.get_by_role("button", name="Save").click()
    expect(flash()).to_contain_text("The email texts are saved.")
    shot("emails")

    nav.get_by_role("link", name="Copy").click()
    expect(page.get_by_label("Web address of the copy")).to_be_visible()
    shot("copy")

    # Publish.
    nav.get_by_role("link", name="Details").click()
    page.get_by_role("button", name="Publish").click()
    expect(flash()).to_contain_text("The event is published")
    expect(page.locator(".event-status")).to_have_text("Published")
    shot("details")

    nav.get_by_role("link", name="Audit log").click()
    expect(page.locator("table.audit tbody tr").first).to_contain_text("event.status")
    expect(page.locator("table.audit")).to_contain_text("kari@example.org")
    shot("audit")

    assert_accessible(page.context.browser, live_server)

    # A visitor registers for a free ticket in a browser of their own.
    visitor = page.context.browser.new_context(locale="en-GB").new_page()
    visitor.set_viewport_size({"width": 1000, "height": 900})
    visitor.goto(f"{live_server}/events/{SLUG}")
    expect(visitor.get_by_role("heading", name="Founders’ course, autumn 2027")).to_be_visible()
    visitor.get_by_label("Number of tickets: Student").fill("1")
    visitor.get_by_role("button", name="Continue to registration").click()
    visitor.locator("#buyer-name").fill(VISITOR)
    visitor.locator("#buyer-email").fill("aisha@example.org")
    block = visitor.locator("fieldset.attendee").first
    block.get_by_label("Full name").fill(VISITOR)
    block.get_by_label("Email").fill("aisha@example.org")
    workshop = block.locator("select[name='a-0-slot-0']")
    expect(workshop.locator("option").nth(1)).to_contain_text("Online marketing (Sal 2) – 12 seats left")
    workshop.select_option(index=1)
    block.get_by_label("Have you run a business before?").select_option("once")
    expect(visitor.locator("#register-form")).to_contain_text("This registration is free.")
    visitor.get_by_role("button", name="Register", exact=True).click()
    expect(visitor.get_by_role("heading", name="Your registration")).to_be_visible()
    expect(visitor.locator(".attendee-name")).to_have_text([VISITOR])
    expect(visitor.locator("main")).to_contain_text("Online marketing")
    expect(visitor.locator("main")).to_contain_text("Once")
    expect(visitor.locator("main")).to_contain_text("Confirmed")
    visitor.screenshot(path=ARTIFACTS / "builder-visitor-order.png", full_page=True)
    visitor.context.close()

    with app.app_context():
        event = db.session.scalar(sa.select(Event).where(Event.slug == SLUG))
        order = db.session.scalar(sa.select(Order).where(Order.event_id == event.id))
        assert event.status == EventStatus.PUBLISHED and order.status == OrderStatus.PAID  # free: confirmed

    # The organiser sees the order.
    page.goto(f"{live_server}/manage/events/{SLUG}/")
    expect(page.locator(".orders")).to_contain_text(VISITOR)
    expect(page.locator(".orders")).to_contain_text("Paid")
    shot("orders")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{live_server}/manage/events/{SLUG}/ticket-types/")
    shot("tickets-mobile")
    # Wide tables scroll inside their box; the page itself does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


BUILDER_PAGES = (
    "edit",
    "ticket-types/",
    "ticket-types/new",
    "workshops/",
    "workshops/new",
    "questions/",
    "questions/new",
    "vouchers/",
    "sponsors/",
    "sponsors/new",
    "emails",
    "copy",
    "audit",
)


def assert_accessible(browser, live_server):
    """axe-core finds no serious or critical problem on the builder's pages (empty forms and a
    form sent back with errors)."""
    # bypass_csp: axe is injected as an inline script, which the Content-Security-Policy forbids.
    tab = browser.new_context(bypass_csp=True, locale="en-GB").new_page()
    tab.goto(f"{live_server}/login")
    tab.locator("#email").fill("kari@example.org")
    tab.locator("#password").fill("secret-pw-kaffe")
    tab.locator("main form [type=submit]").click()
    expect(tab.locator(".site-nav a[href='/manage/']")).to_be_visible()
    problems = []

    def check(what):
        tab.add_script_tag(path=str(AXE))
        result = tab.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        for v in result["violations"]:
            if v["impact"] in ("serious", "critical"):
                targets = [n["target"] for n in v["nodes"][:5]]
                problems.append(f"{what}: {v['id']} ({v['impact']}): {v['help']} {targets}")

    for path in ("/manage/events/new", *(f"/manage/events/{SLUG}/{p}" for p in BUILDER_PAGES)):
        tab.goto(live_server + path)
        check(path)
    tab.goto(f"{live_server}/manage/events/{SLUG}/questions/new")
    tab.locator("main form [type=submit]").first.click()
    expect(tab.locator("#form-message")).to_be_visible()
    check("a question sent back with errors")
    tab.context.close()
    assert not problems, "\n".join(problems)
