"""One walk through the real pages in headless Chromium: a group of two registers for the demo
conference. Screenshots go to test-artifacts/ for a human to look at."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.browser
def test_a_group_of_two_registers_for_the_conference(page, live_server, demo):
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(name):
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)

    def switch_to(lang):
        page.locator(f".lang-switch button[lang={lang}]").click()
        expect(page.locator("html")).to_have_attribute("lang", lang)

    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(f"{live_server}/events/esbf-2027")
    switch_to("nb")
    shot("event-nb")
    switch_to("en")
    expect(page.get_by_role("heading", name="European Social Business Forum 2027")).to_be_visible()
    expect(page.locator(".ticket-table")).to_contain_text("incl. 25 % VAT")
    shot("event-en")

    page.get_by_label("Number of tickets: Regular").fill("2")
    page.get_by_role("button", name="Continue to registration").click()
    blocks = page.locator("fieldset.attendee")
    expect(blocks).to_have_count(2)

    # The JavaScript adds and removes attendee blocks.
    page.get_by_role("button", name="Add another attendee").click()
    expect(blocks).to_have_count(3)
    blocks.nth(2).get_by_role("button", name="Remove").click()
    expect(blocks).to_have_count(2)

    # Sent empty: the server answers with messages next to the fields.
    page.get_by_role("button", name="Register", exact=True).click()
    expect(page.locator("#form-message")).to_contain_text("Please correct the marked fields.")
    expect(page.locator("#a-0-name-error")).to_contain_text("This field is required.")
    shot("register-errors-en")

    page.get_by_label("Full name", exact=False).first.fill("Åse Ødegård")
    page.locator("#buyer-email").fill("ase@example.org")
    people = [("Åse Ødegård", "ase@example.org"), ("محمد يونس", "mohammed@example.org")]
    for i, (name, email) in enumerate(people):
        block = blocks.nth(i)
        block.get_by_label("Full name").fill(name)
        block.get_by_label("Email").fill(email)
        block.get_by_label("Country").select_option("NO")
        block.get_by_label(re.compile(r"^Organisation type")).select_option("ngo")
    first = blocks.nth(0)
    which = first.get_by_label("Which language?")
    expect(which).to_be_hidden()
    first.get_by_label("Yes").check()
    expect(which).to_be_visible()
    which.fill("Arabic")
    first.locator("select[name='a-0-slot-0']").select_option(index=1)
    first.get_by_label("Vegan").check()
    page.get_by_label("Invoice (for organisations)").check()
    page.get_by_label("Organisation number").fill("923 609 016")
    page.get_by_label("Organisation name").fill("Nordic Social Ventures AS")
    page.get_by_label("Invoice address").fill("Storgata 10\n0155 Oslo")
    shot("register-filled-en")

    page.get_by_role("button", name="Register", exact=True).click()
    expect(page.get_by_role("heading", name="Your registration")).to_be_visible()
    names = page.locator(".attendee-name")
    expect(names).to_have_text(["Åse Ødegård", "محمد يونس"])
    expect(page.locator("main")).to_contain_text("Arabic")
    expect(page.locator("main")).to_contain_text("Microfinance for immigrant founders")
    shot("order-en")
    switch_to("nb")
    shot("order-nb")

    page.goto(f"{live_server}/login?next=/manage/events/esbf-2027/")
    page.get_by_label("E-post").fill("organiser@demo.example.org")  # the session chose nb above
    page.get_by_label("Passord").fill("organiser-demo-fjord")
    page.get_by_role("button", name="Logg inn").click()
    expect(page.locator(".orders")).to_contain_text("محمد يونس")
    shot("admin-orders-nb")
    switch_to("en")
    shot("admin-orders-en")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{live_server}/events/esbf-2027")
    shot("event-mobile-en")
