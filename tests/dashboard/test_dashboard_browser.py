"""The organiser's dashboard in headless Chromium updates itself: while it is open, somebody
registers through the public API (a card order, waiting for payment) and then somebody else
through the registration form in another browser (an invoice order); within the 10 s poll
interval the counts, the money, the ticket type table and both charts' data change, and the page
is never reloaded. Screenshots: test-artifacts/dashboard-*.png."""

import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from eventreg.core.clock import now
from eventreg.core.money import format_money
from eventreg.extensions import db
from eventreg.registration.services import create_order
from tests.factories import make_event, make_user, order_data

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
OSLO = ZoneInfo("Europe/Oslo")
POLL = 10  # seconds: static/dashboard/dashboard.js refreshes this often
WITHIN = (POLL + 5) * 1000  # the poll interval, and time to fetch and draw


@pytest.fixture
def forum(app):
    """Standard (1 250 kr) and Student (free) tickets sharing 50 seats; one student registered two
    days ago; its organiser olav@."""
    with app.app_context():
        event = make_event("forum", prices=(1250_00, 0), seats=50)
        event.title = {"nb": "Forum for sosialt entreprenørskap", "en": "Social Business Forum"}
        standard, student = event.ticket_types
        standard.name = {"nb": "Standard", "en": "Standard"}
        student.name = {"nb": "Student", "en": "Student"}
        make_user("olav@example.org", organiser_of=event)
        earlier = now() - timedelta(days=2)
        create_order(event, order_data(event, ticket_type=student, names=["Ахмед Салим"]), now=earlier)
        db.session.commit()
        return {"standard": standard.id, "student": student.id, "earlier": earlier.astimezone(OSLO).date()}


def figure(page, key):
    return page.locator(f'#dashboard [data-figure="{key}"]')


def money(ore: int) -> str:
    return format_money(ore, "en")


def chart_data(page, canvas_id: str) -> dict:
    return page.evaluate(
        """(id) => {
            const chart = Chart.getChart(document.getElementById(id));
            return {labels: chart.data.labels,
                    series: Object.fromEntries(chart.data.datasets.map((d) => [d.label, d.data]))};
        }""",
        canvas_id,
    )


def days_from(first, last) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


@pytest.mark.browser
def test_the_dashboard_shows_new_registrations_and_money_without_a_reload(page, live_server, forum):
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1100, "height": 1000})
    page.goto(f"{live_server}/login")
    page.locator(".lang-switch button[lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#email").fill("olav@example.org")
    page.locator("#password").fill("secret-pw-kaffe")
    page.locator("form button[type=submit]").last.click()
    page.goto(f"{live_server}/manage/events/forum/dashboard/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    expect(figure(page, "registrations.paid")).to_have_text("1")
    expect(figure(page, "registrations.pending")).to_have_text("0")
    expect(figure(page, "money_text.pending_ore")).to_have_text(money(0))
    expect(figure(page, "money_text.invoiced_unpaid_ore")).to_have_text(money(0))
    expect(figure(page, "ticket_types.0.sold")).to_have_text("0")
    expect(figure(page, "quotas.0.left")).to_have_text("49")
    days = chart_data(page, "chart-days")
    assert days == {"labels": [forum["earlier"].isoformat()], "series": {"Standard": [0], "Student": [1]}}
    assert chart_data(page, "chart-capacity")["series"] == {"Taken": [1], "Left": [49]}
    page.evaluate("window.sameDocument = true")  # gone if the page were reloaded
    page.screenshot(path=ARTIFACTS / "dashboard-before.png", full_page=True)

    # 1. Two people register through the public API and will pay by card: waiting for payment.
    api = page.context.browser.new_context()
    r = api.request.post(
        f"{live_server}/api/v1/events/forum/orders",
        data={
            "buyer": {"name": "Øystein Ødegård", "email": "oystein@example.org", "language": "nb"},
            "attendees": [
                {
                    "name": "Øystein Ødegård",
                    "email": "oystein@example.org",
                    "ticket_type_id": forum["standard"],
                },
                {"name": "山田 花子", "email": "hanako@example.org", "ticket_type_id": forum["standard"]},
            ],
            "payment_method": "card",
        },
    )
    assert r.status == 201, r.text()
    assert r.json()["status"] == "pending"
    api.close()
    registered = time.monotonic()
    expect(figure(page, "registrations.pending")).to_have_text("2", timeout=WITHIN)
    assert time.monotonic() - registered < POLL + 5
    expect(figure(page, "money_text.pending_ore")).to_have_text(money(2 * 1250_00))
    expect(figure(page, "registrations.paid")).to_have_text("1")
    expect(figure(page, "ticket_types.0.sold")).to_have_text("2")
    expect(figure(page, "quotas.0.left")).to_have_text("47")
    today = now().astimezone(OSLO).date()
    labels = days_from(forum["earlier"], today)
    assert chart_data(page, "chart-days") == {
        "labels": labels,
        "series": {"Standard": [0] * (len(labels) - 1) + [2], "Student": [1] + [0] * (len(labels) - 1)},
    }
    assert chart_data(page, "chart-capacity")["series"] == {"Taken": [3], "Left": [47]}
    expect(page.locator("#dashboard-status")).to_contain_text("Updated")
    page.screenshot(path=ARTIFACTS / "dashboard-after-api.png", full_page=True)

    # 2. Somebody else registers on the registration form, in a browser of their own, by invoice.
    other = page.context.browser.new_context(locale="en-GB").new_page()
    other.set_viewport_size({"width": 900, "height": 900})
    other.goto(f"{live_server}/events/forum")
    other.locator(".lang-switch button[lang=en]").click()
    expect(other.locator("html")).to_have_attribute("lang", "en")
    other.get_by_label("Number of tickets: Standard").fill("1")
    other.get_by_role("button", name="Continue to registration").click()
    other.locator("#buyer-name").fill("عائشة الحربي")
    other.locator("#buyer-email").fill("aisha@example.org")
    block = other.locator("fieldset.attendee").first
    block.get_by_label("Full name").fill("عائشة الحربي")
    block.get_by_label("Email").fill("aisha@example.org")
    other.get_by_label("Invoice (for organisations)").check()
    other.get_by_label("Organisation number").fill("923 609 016")
    other.get_by_label("Organisation name").fill("Nordic Social Ventures AS")
    other.get_by_label("Invoice address").fill("Storgata 10\n0155 Oslo")
    other.get_by_role("button", name="Register", exact=True).click()
    expect(other.get_by_role("heading", name="Your registration")).to_be_visible()
    expect(other.locator(".attendee-name")).to_have_text(["عائشة الحربي"])
    other.context.close()
    registered = time.monotonic()

    expect(figure(page, "registrations.paid")).to_have_text("2", timeout=WITHIN)
    assert time.monotonic() - registered < POLL + 5
    expect(figure(page, "money_text.invoiced_unpaid_ore")).to_have_text(money(1250_00))
    expect(figure(page, "money_text.pending_ore")).to_have_text(money(2 * 1250_00))
    expect(figure(page, "ticket_types.0.sold")).to_have_text("3")
    expect(figure(page, "quotas.0.left")).to_have_text("46")
    assert chart_data(page, "chart-days")["series"]["Standard"][-1] == 3
    assert chart_data(page, "chart-capacity")["series"] == {"Taken": [4], "Left": [46]}
    assert page.evaluate("window.sameDocument") is True
    page.screenshot(path=ARTIFACTS / "dashboard-after-form.png", full_page=True)
