"""The attendee pages in headless Chromium: an organiser finds attendees by a search without
accents and by a filter, opens an order and moves an attendee to another workshop, then emails
the filtered attendees through the preview. Screenshots go to test-artifacts/attendees-*.png."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from eventreg.extensions import db
from eventreg.mail.models import Mailing, OutboxMessage

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.browser
def test_an_organiser_finds_changes_and_emails_attendees(page, live_server, saved_forum, app):
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(name):
        page.screenshot(path=ARTIFACTS / f"attendees-{name}.png", full_page=True)

    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"{live_server}/login")
    page.locator(".lang-switch button[lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#email").fill("olav@example.org")
    page.locator("#password").fill("secret-pw-kaffe")
    page.locator("form button[type=submit]").last.click()
    page.goto(f"{live_server}/manage/events/forum/")
    page.get_by_role("link", name="Attendees", exact=True).click()
    expect(page.get_by_role("heading", name="Attendees", exact=True)).to_be_visible()
    rows = page.locator("tr.attendee-row")
    expect(rows).to_have_count(7)
    shot("list")

    # Without accents or capitals, in the name and in the organisation.
    page.get_by_label("Search", exact=True).fill("OVRE")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("عائشة بنت أحمد")
    expect(rows.nth(0)).to_contain_text("Øvre Eiker kommune")
    expect(rows.nth(1)).to_contain_text("Åse Øvre")
    assert "q=OVRE" in page.url
    shot("search")

    page.get_by_label("Search", exact=True).fill("")
    page.get_by_label("Answer").select_option(label="Vegan")
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(3)
    assert "answer=" in page.url
    page.get_by_role("link", name="Ахмед Иванов").click()

    expect(page.get_by_role("heading", name=f"Order {saved_forum.codes['invoice']}")).to_be_visible()
    expect(page.locator(f"#attendee-{saved_forum.ids['Ахмед Иванов']}")).to_contain_text(
        "Impact (Day 1, 10:00)"
    )
    expect(page.get_by_role("link", name="Invoice")).to_have_count(1)
    shot("order")

    page.get_by_role("link", name="Change Ахмед Иванов").click()
    expect(page.get_by_label("Full name")).to_have_value("Ахмед Иванов")
    shot("order-edit")
    page.get_by_label("Day 2, 10:00").select_option(label="Finance (1 seat left)")
    page.get_by_role("button", name="Save workshops").click()
    expect(page.locator(".alert-success")).to_contain_text("The workshops of Ахмед Иванов are saved.")
    card = page.locator(f"#attendee-{saved_forum.ids['Ахмед Иванов']}")
    expect(card).to_contain_text("Impact (Day 1, 10:00), Finance (Day 2, 10:00)")
    expect(page.locator(".audit-table")).to_contain_text("Workshops changed")
    shot("order-changed")

    page.go_back()
    page.go_back()
    page.go_back()
    expect(page.get_by_role("link", name="Email these 3 attendees")).to_be_visible()
    page.get_by_role("link", name="Email these 3 attendees").click()
    expect(page.get_by_role("heading", name="To 3 recipients")).to_be_visible()
    page.get_by_label("Subject in Norwegian").fill("Vegansk lunsj")
    page.get_by_label("Message in Norwegian").fill("Hei!\n\nLunsjen er vegansk, i Øvre salong.\nVelkommen.")
    page.get_by_label("Subject in English").fill("Vegan lunch")
    page.get_by_label("Message in English").fill("Hello!\n\nLunch is vegan, in the upper lounge.")
    shot("mailing-compose")
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("heading", name="This message goes to 3 recipients")).to_be_visible()
    previews = page.locator(".mail-text")
    expect(previews).to_have_count(2)
    expect(previews.nth(0)).to_contain_text("Lunsjen er vegansk, i Øvre salong.")
    expect(previews.nth(1)).to_contain_text("Lunch is vegan, in the upper lounge.")
    expect(page.locator(".recipient-names")).to_contain_text("Ахмед Иванов")
    shot("mailing-preview")

    form = page.evaluate("() => Object.fromEntries(new FormData(document.getElementById('send-form')))")
    page.get_by_role("button", name="Send to 3 recipients").click()
    expect(page.locator(".alert-success")).to_contain_text("The message is on its way to 3 attendees.")
    expect(page.locator("tr.mailing-row")).to_have_count(1)
    expect(page.locator("tr.mailing-row")).to_contain_text("Vegan lunch")
    shot("mailings")

    # The same confirmation again (a double click, a replayed form): nothing more goes out.
    replay = page.request.post(f"{live_server}/manage/events/forum/attendees/email/send", form=form)
    assert replay.ok and "it was not sent again" in replay.text()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Mailing.id))) == 1
        assert db.session.scalar(sa.select(sa.func.count()).where(OutboxMessage.kind == "mailing")) == 3

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/manage/events/forum/attendees/?q=ovre")
    shot("list-mobile")
