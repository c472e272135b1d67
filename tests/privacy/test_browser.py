"""The "Your data" section and the erase confirmation in headless Chromium. Screenshots go to
test-artifacts/privacy-*.png for a human to look at."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.privacy.test_pages import registration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.browser
def test_an_attendee_erases_their_data_after_the_event(page, live_server, app):
    ARTIFACTS.mkdir(exist_ok=True)
    reg = registration(app, ended=True)
    page.set_viewport_size({"width": 1000, "height": 900})
    page.goto(live_server + reg.ticket_links[1])
    page.locator(".lang-switch button[lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    section = page.locator("#your-data")
    expect(section.get_by_role("heading", name="Your data")).to_be_visible()
    section.scroll_into_view_if_needed()
    section.screenshot(path=ARTIFACTS / "privacy-your-data-en.png")
    with page.expect_download() as download:
        section.get_by_role("link", name="Download my data (JSON)").click()
    assert download.value.suggested_filename.endswith("-2.json")

    section.get_by_role("link", name="Erase my data …").click()
    expect(page.get_by_role("heading", name="Erase your data?")).to_be_visible()
    expect(page.locator("main")).to_contain_text("محمد يونس")
    page.screenshot(path=ARTIFACTS / "privacy-erase-confirm-en.png", full_page=True)
    page.get_by_role("button", name="Yes, erase my data").click()
    expect(page.locator(".alert-success")).to_contain_text("Your personal data is erased")
    page.screenshot(path=ARTIFACTS / "privacy-erased-en.png")

    # The buyer's confirmation page names their own ticket, and says what the invoice keeps.
    page.goto(live_server + reg.order_link + "/erase")
    expect(page.get_by_role("heading", name="Erase your data?")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Bookkeeping Act")
    page.screenshot(path=ARTIFACTS / "privacy-erase-buyer-en.png", full_page=True)
