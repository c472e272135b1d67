"""The sponsor pages in headless Chromium, on data this test seeds itself (the demo has no
attendees): a sponsor logs in, sees the summary with its charts drawn and the opted-in contacts;
an attendee withdraws consent on their own ticket page; the sponsor reloads and the attendee is
gone, from the page and from the CSV. Screenshots go to test-artifacts/sponsor-*.png."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from eventreg.checkin import services as checkin
from eventreg.checkin.services import ListData, save_list
from eventreg.extensions import db
from tests.factories import NOW
from tests.sponsors.conftest import FREE, FREE_2, Person, make_forum, make_sponsor, register

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CONSENTING = ["Åse Ødegård", "محمد يونس", "Борис Ли", "陈伟", "Ingrid Bakke"]


@pytest.fixture
def conference(app):
    """40 registered people (5 of them consent), 23 checked in; Ghana, Kenya, Pakistan and one
    unanswered country are groups of fewer than 5."""
    with app.app_context():
        event = make_forum("forum")
        event.title = {"nb": "Forum for sosialt entreprenørskap 2027", "en": "Social Business Forum 2027"}
        event.venue = "Oslo Kongressenter"
        for tt, (nb, en) in zip(
            event.ticket_types,
            [("Ordinær", "Regular"), ("Student", "Student"), ("Støtte", "Supporter")],
            strict=True,
        ):
            tt.name = {"nb": nb, "en": en}
        for session, name in zip(
            event.sessions, ["Microfinance for founders", "Measuring social impact"], strict=True
        ):
            session.name = {"nb": name, "en": name}
        n = 40
        countries = _slots({"NO": 18, "SE": 9, "DK": 6, "KE": 3, "GH": 2, "PK": 1, None: 1}, n)
        org_types = _slots(
            {"ngo": 14, "social_enterprise": 11, "company": 7, "public": 5, "academia": 2, None: 1}, n
        )
        sectors = _slots(
            {"microfinance": 16, "education": 8, "technology": 6, "health": 4, "agriculture": 3, None: 3}, n
        )
        tickets = _slots({FREE: 28, FREE_2: 12}, n)
        workshops = _slots({0: 17, 1: 14, None: 9}, n)
        names = CONSENTING + [f"Participant {i:02d}" for i in range(n - len(CONSENTING))]
        people = [
            Person(
                name,
                country=countries[i],
                organisation=f"Organisation {i % 7 + 1}",
                org_type=org_types[i],
                sector=sectors[i],
                ticket=tickets[i],
                workshop=workshops[i],
                consent=name in CONSENTING,
                email=f"p{i}@example.org",
            )
            for i, name in enumerate(names)
        ]
        attendees = register(event, people)
        door = save_list(event, ListData(name="Main entrance"))
        for a in attendees[:23]:
            checkin.redeem(door, attendee_id=a.id, user=None, now=NOW)
        make_sponsor(event, "sponsor@example.org")
        db.session.commit()
        return {a.name: a.manage_token for a in attendees}


def _slots(counts: dict, n: int) -> list:
    """`n` values, each value `count` times, in an order that mixes them (a fixed stride)."""
    values = [v for v, c in counts.items() for _ in range(c)]
    assert len(values) == n
    return [values[(i * 7) % n] for i in range(n)]  # 7 and 40 are coprime: a permutation


@pytest.mark.browser
def test_a_sponsor_sees_the_summary_and_a_withdrawal_at_once(page, live_server, conference):
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(name, target=None):
        (target or page).screenshot(path=ARTIFACTS / f"sponsor-{name}.png", full_page=True)

    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"{live_server}/login")
    page.locator(".lang-switch button[lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#email").fill("sponsor@example.org")
    page.locator("#password").fill("secret-pw-kaffe")
    page.locator("form button[type=submit]").last.click()

    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Sponsor").click()
    expect(page.get_by_role("heading", name="Events you sponsor")).to_be_visible()
    page.get_by_role("link", name="Social Business Forum 2027").click()
    expect(page.get_by_role("heading", name="Social Business Forum 2027")).to_be_visible()
    expect(page.locator("#stat-registered .stat-value")).to_have_text("40")
    expect(page.locator("#stat-checked-in .stat-value")).to_have_text("23")

    # Every chart is drawn by Chart.js, with only the numbers the tables show.
    canvases = page.locator("canvas[data-chart]")
    expect(canvases.first).to_be_visible()
    drawn = page.evaluate(
        """() => [...document.querySelectorAll('canvas[data-chart]')].map((c) => {
            const chart = Chart.getChart(c);
            const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
            return {key: c.dataset.chart, hidden: c.getAttribute('aria-hidden'), painted,
                    labels: chart ? chart.data.labels : null,
                    data: chart ? chart.data.datasets[0].data : null};
        })"""
    )
    assert {d["key"] for d in drawn} == {"country", "org_type", "sector", "ticket_type", "workshop-1"}
    for d in drawn:
        assert d["labels"] is not None and d["painted"] > 500 and d["hidden"] == "true", d
    country = next(d for d in drawn if d["key"] == "country")
    assert country["labels"] == ["Norway", "Sweden", "Denmark"] and country["data"] == [18, 9, 6]

    table = page.locator("#breakdown-country table")
    for hidden in ("Ghana", "Kenya", "Pakistan", "Not answered"):
        expect(table.get_by_role("row", name=hidden)).to_contain_text("fewer than 5")
    expect(table.get_by_role("row", name="Norway")).to_contain_text("18")
    contacts = page.locator("#contacts table tbody th")
    expect(contacts).to_have_count(5)
    for name in CONSENTING:
        expect(page.locator("#contacts")).to_contain_text(name)
    shot("summary")

    # The attendee withdraws on their own ticket page (a browser of their own).
    attendee = page.context.browser.new_context(locale="en-GB").new_page()
    attendee.set_viewport_size({"width": 900, "height": 900})
    attendee.goto(f"{live_server}/tickets/{conference['Борис Ли']}")
    box = attendee.get_by_label("Sponsors may see my contact details")
    expect(box).to_be_checked()
    box.uncheck()
    attendee.get_by_role("button", name="Save my choice").click()
    expect(attendee.locator(".alert-success")).to_contain_text(
        "The sponsors will not see your contact details."
    )
    expect(attendee.get_by_label("Sponsors may see my contact details")).not_to_be_checked()
    shot("consent-withdrawn", attendee)
    attendee.context.close()

    page.reload()
    expect(contacts).to_have_count(4)
    expect(page.locator("#contacts")).not_to_contain_text("Борис Ли")
    expect(page.locator("#contacts")).to_contain_text("陈伟")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as CSV").click()
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert "Борис Ли" not in data.decode("utf-8-sig") and "محمد يونس" in data.decode("utf-8-sig")
    shot("summary-after-withdrawal")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    shot("summary-mobile")
