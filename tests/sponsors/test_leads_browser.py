"""The booth scanner in headless Chromium with a fake camera: a sponsor's member scans a badge of
an attendee who shares their contact details and one of an attendee who does not, sees the email
only for the first, adds a note and a rating on the leads page and downloads the leads. Each
screenshot goes to test-artifacts/leads-*.png."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from eventreg.extensions import db
from tests.checkin.test_scanner_browser import write_camera
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.sponsors.conftest import BOOTH_PEOPLE, make_booth

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ASE, CHEN, BORIS = (p.name for p in BOOTH_PEOPLE)


@pytest.fixture
def booth(app):
    with app.app_context():
        b = make_booth()
        b.event.title = {"nb": "Forum for sosialt entreprenørskap 2027", "en": "Social Business Forum 2027"}
        db.session.commit()
        return dict(b.qrs)


@pytest.mark.browser
def test_a_member_scans_two_badges_notes_one_and_exports(playwright, live_server, booth, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    camera = tmp_path / "camera.y4m"
    write_camera(booth[ASE], camera)
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS
        + [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}",
        ],
    )
    context = browser.new_context(
        viewport={"width": 900, "height": 1000}, locale="en-GB", accept_downloads=True
    )
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    verdict = page.locator("#verdict")

    def shot(name):
        page.screenshot(path=ARTIFACTS / f"leads-{name}.png", full_page=True)

    def show(name, result):
        """Puts `name`'s badge in front of the camera and waits for the answer."""
        write_camera(booth[name], camera)
        for attempt in range(4):
            page.locator("#camera-restart").click()
            # Now and then Chromium hands a restarted camera the old capture; restart again.
            try:
                expect(page.locator("#verdict-name")).to_have_text(name, timeout=4_000)
                expect(verdict).to_have_attribute("data-result", result, timeout=500)
                break
            except AssertionError:
                if attempt == 3:
                    raise

    try:
        page.goto(f"{live_server}/login")
        page.locator(".lang-switch button[lang=en]").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.locator("#email").fill("fund@example.org")
        page.locator("#password").fill("secret-pw-kaffe")
        page.locator("form button[type=submit]").last.click()
        page.goto(f"{live_server}/sponsor/events/forum/")
        expect(page.locator("#booth")).to_contain_text("Leads at your booth")
        page.locator("#booth").screenshot(path=ARTIFACTS / "leads-summary-booth.png")
        page.get_by_role("link", name="Scan badges").click()
        expect(page.get_by_role("heading", name="Scan badges")).to_be_visible()

        # Åse shares her contact details: the camera sees her badge as the page opens.
        expect(verdict).to_have_attribute("data-result", "new", timeout=10_000)
        expect(page.locator("#verdict-name")).to_have_text(ASE)
        expect(page.locator("#verdict-organisation")).to_have_text("Øst Mikrokreditt AS")
        expect(page.locator("#verdict-contact [data-field=email]")).to_have_text("p0@example.org")
        expect(page.locator("#verdict-contact [data-field=phone]")).to_have_text("+4791234567")
        expect(page.locator("#verdict-contact [data-field=country]")).to_have_text("Norway")
        shot("scan-consenting")

        # 陈伟 does not: name and organisation only.
        show(CHEN, "new")
        expect(page.locator("#verdict-organisation")).to_have_text("深圳公益基金会")
        expect(page.locator("#verdict-contact")).to_be_hidden()
        expect(page.locator("#verdict-reason")).to_contain_text("Contact details not shared")
        expect(page.locator("#verdict")).not_to_contain_text("@example.org")
        shot("scan-not-consenting")

        # The same badge again is the same lead.
        show(ASE, "again")
        expect(page.locator("#verdict-headline")).to_have_text("Already scanned")

        # A handheld scanner types a code that is no ticket of ours.
        page.locator("#code").fill("ER1.not-a-ticket")
        page.locator("#code-form button[type=submit]").click()
        expect(verdict).to_have_attribute("data-result", "refused")
        expect(page.locator("#verdict-reason")).to_have_text("This is not a ticket of ours.")
        expect(page.locator("#verdict-name")).to_have_text("")
        shot("scan-refused")

        # A note and a rating for Åse, from the scanner's link to her lead.
        show(ASE, "again")
        page.locator("#verdict-link").click()
        card = page.locator(".lead", has_text=ASE)
        expect(card).to_contain_text("p0@example.org")
        expect(page.locator(".lead", has_text=CHEN)).to_contain_text("Contact details not shared")
        expect(page.locator(".lead", has_text=CHEN)).not_to_contain_text("@example.org")
        card.get_by_label("Note").fill("Wants a pilot in Tromsø; call Ахмед in May")
        card.get_by_label("Rating").select_option("5")
        card.get_by_role("button", name="Save").click()
        expect(page.locator(".alert-success")).to_have_text("The note and rating are saved.")
        card = page.locator(".lead", has_text=ASE)
        expect(card.get_by_label("Note")).to_have_value("Wants a pilot in Tromsø; call Ахмед in May")
        expect(card.get_by_label("Rating")).to_have_value("5")
        shot("page")

        with page.expect_download() as download:
            page.get_by_role("link", name="Download as CSV").click()
        data = Path(download.value.path()).read_bytes()
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
        by_name = {row[0]: row for row in rows[1:]}
        assert set(by_name) == {ASE, CHEN}
        assert by_name[ASE][3] == "p0@example.org"
        assert by_name[ASE][7:9] == ["5", "Wants a pilot in Tromsø; call Ахмед in May"]
        assert by_name[CHEN][3] == "" and "@example.org" not in ";".join(by_name[CHEN])
        with page.expect_download() as download:
            page.get_by_role("link", name="Download as Excel (XLSX)").click()
        assert Path(download.value.path()).read_bytes().startswith(b"PK")

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{live_server}/sponsor/events/forum/scan")
        show(CHEN, "again")
        shot("scan-mobile")
        page.goto(f"{live_server}/sponsor/events/forum/leads")
        shot("page-mobile")
        assert errors == []
    finally:
        context.close()
        browser.close()
