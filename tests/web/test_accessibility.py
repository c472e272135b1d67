"""axe-core (vendored from the npm registry, tests/vendor/axe/) runs on the attendee and the
organiser pages in headless Chromium: no serious or critical violation anywhere.

The pages are in PAGES below; a new page is one more line there. Each page is opened as the
visitor it is for (nobody logged in, or the demo organiser), in the default language (Norwegian),
after an optional click that brings it into the state to check (a form sent empty shows its
errors). axe is injected by Playwright for the test only; no page of the app links to it."""

from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from eventreg.core.clock import now
from eventreg.demo import seed_demo
from eventreg.events.models import Event
from eventreg.exports.jobs import run_job, start_job
from eventreg.exports.models import ExportJob, ExportStatus
from eventreg.extensions import db
from eventreg.registration.models import Order
from eventreg.registration.services import cancel_order, create_order
from tests.factories import make_event, order_data

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "vendor" / "axe" / "axe.min.js"
ORGANISER = ("organiser@demo.example.org", "organiser-demo-fjord")
FAILING = ("serious", "critical")  # axe's impacts that fail the test


@dataclass(frozen=True)
class Page:
    name: str
    path: str  # filled in from the `world` fixture: {code}, {order_token}, …
    who: str = "attendee"  # attendee: nobody logged in; organiser: the demo organiser
    click: str | None = None  # clicked first, e.g. a form's submit button to see its errors


CONFERENCE = "/events/esbf-2027"
MANAGE = "/manage/events/esbf-2027"
PAGES = [
    # What attendees and buyers see.
    Page("event list", "/"),
    Page("event page", CONFERENCE),
    Page("registration form", CONFERENCE + "/register?tt_{regular}=2"),
    Page(
        "registration form, sent empty",
        CONFERENCE + "/register?tt_{regular}=2",
        click="#register-form [type=submit]",
    ),
    Page("order page", "/orders/{code}/{order_token}"),
    Page("cancel order", "/orders/{code}/{order_token}/cancel"),
    Page("ticket page", "/tickets/{ticket_token}"),
    Page("sold out: the waiting list form", "/events/fullt-kurs"),
    Page("waiting list form, sent empty", "/events/fullt-kurs", click=".waitlist [type=submit]"),
    Page("login", "/login"),
    Page("login, wrong password", "/login", click="main form [type=submit]"),
    Page("privacy: erase the ticket's data", "/tickets/{cancelled_ticket_token}/erase"),
    Page("privacy: erase the order's data", "/orders/{cancelled_code}/{cancelled_order_token}/erase"),
    # What organisers see.
    Page("manage: events", "/manage/", "organiser"),
    Page("manage: event orders", MANAGE + "/", "organiser"),
    Page("dashboard", MANAGE + "/dashboard/", "organiser"),
    Page("exports", MANAGE + "/exports/", "organiser"),
    Page("check-in overview", MANAGE + "/checkin/", "organiser"),
    Page("check-in list form", MANAGE + "/checkin/lists/new", "organiser"),
    Page("check-in list form, edit", MANAGE + "/checkin/lists/{list_id}/edit", "organiser"),
    Page("check-in scanner", "/checkin/esbf-2027/", "organiser"),
    Page("payments", MANAGE + "/payments", "organiser"),
    Page("refund", MANAGE + "/orders/{code}/refund", "organiser"),
    Page("badges", MANAGE + "/badges", "organiser"),
    Page("mail log", MANAGE + "/mail", "organiser"),
    Page("attendees", MANAGE + "/attendees/?q=a", "organiser"),
    Page("attendees: an order", MANAGE + "/orders/{code}/", "organiser"),
    Page("attendees: email them", MANAGE + "/attendees/email", "organiser"),
    Page("mailings", MANAGE + "/mailings/", "organiser"),
    Page("builder: details", MANAGE + "/edit", "organiser"),
    Page("builder: ticket types", MANAGE + "/ticket-types/", "organiser"),
    Page("builder: questions", MANAGE + "/questions/", "organiser"),
    Page("builder: audit log", MANAGE + "/audit", "organiser"),
    Page("sponsor summary", "/sponsor/events/esbf-2027/", "organiser"),
    Page("register on behalf", "/manage/events/okonomikurs-fengsel-2027/register", "organiser"),
    Page(
        "register on behalf, sent empty",
        "/manage/events/okonomikurs-fengsel-2027/register",
        "organiser",
        click="main form [type=submit]",
    ),
]


@pytest.fixture
def world(app) -> dict:
    """The demo with its delegates registered, a sold-out course with a waiting list and a
    cancelled order, and three export files (ready, failed, waiting) on the exports page."""
    with app.app_context():
        seed_demo(with_registrations=True)
        conference = db.session.scalar(sa.select(Event).where(Event.slug == "esbf-2027"))
        order = db.session.scalar(
            sa.select(Order).where(Order.event_id == conference.id).order_by(Order.id).limit(1)
        )
        full = make_event("fullt-kurs", seats=1, prices=(0,))
        # Personal data can be erased once the ticket no longer counts: a cancelled order.
        cancelled = create_order(full, order_data(full, names=["Øyvind Ødegård"]), now=now())
        cancel_order(cancelled, now=now())
        create_order(full, order_data(full, names=["山田 花子"]), now=now())  # the last seat
        ready = start_job(conference, kind="attendees", fmt="xlsx", language="nb", actor=None, now=now())
        failed = start_job(conference, kind="orders", fmt="csv", language="nb", actor=None, now=now())
        start_job(conference, kind="answers", fmt="csv", language="nb", actor=None, now=now())  # waiting
        db.session.commit()
        run_job(ready.id)
        db.session.execute(
            sa.update(ExportJob)
            .where(ExportJob.id == failed.id)
            .values(status=ExportStatus.FAILED, error="Filen kunne ikke lages (OSError).", finished_at=now())
        )
        values = {
            "regular": conference.ticket_types[1].id,
            "code": order.code,
            "order_token": order.manage_token,
            "ticket_token": order.attendees[0].manage_token,
            "cancelled_code": cancelled.code,
            "cancelled_order_token": cancelled.manage_token,
            "cancelled_ticket_token": cancelled.attendees[0].manage_token,
            "list_id": conference_list_id(conference),
        }
        db.session.commit()
        return values


def conference_list_id(event: Event) -> int:
    from eventreg.checkin.models import CheckinList

    return db.session.scalar(
        sa.select(CheckinList.id).where(CheckinList.event_id == event.id).order_by(CheckinList.id)
    )


def report(page: Page, violations: list[dict]) -> str:
    """One violation per paragraph: what, how bad, where (CSS selector) and why."""
    lines = [f"{page.name} ({page.path}):"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:6]:
            lines.append(f"      at {' '.join(node['target'])}")
            lines.append(f"         {node['html'][:160]}")
            for reason in node.get("failureSummary", "").splitlines()[1:3]:
                lines.append(f"         {reason.strip()}")
        if len(v["nodes"]) > 6:
            lines.append(f"      … and {len(v['nodes']) - 6} more")
    return "\n".join(lines)


def serious_violations(tab) -> list[dict]:
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in FAILING]


@pytest.mark.browser
def test_no_serious_or_critical_accessibility_violations(browser, live_server, world):
    assert AXE.exists(), "tests/vendor/axe/axe.min.js is missing (see static/vendor/README.md)"
    tabs = {}
    for who in ("attendee", "organiser"):
        # bypass_csp: axe is injected as an inline script, which a Content-Security-Policy forbids.
        context = browser.new_context(
            bypass_csp=True, locale="nb-NO", viewport={"width": 1100, "height": 900}
        )
        tabs[who] = context.new_page()
    organiser = tabs["organiser"]
    organiser.goto(f"{live_server}/login")
    organiser.locator("#email").fill(ORGANISER[0])
    organiser.locator("#password").fill(ORGANISER[1])
    organiser.locator("main form [type=submit]").click()
    expect(organiser.locator(".site-nav a[href='/manage/']")).to_be_visible()
    expect(organiser.locator("html")).to_have_attribute("lang", "nb")

    problems, checked = [], []
    for page in PAGES:
        tab = tabs[page.who]
        response = tab.goto(live_server + page.path.format(**world))
        assert response.status < 400, f"{page.name}: {response.status}"
        if page.click:
            with tab.expect_navigation():
                tab.locator(page.click).first.click()
        tab.wait_for_load_state("networkidle")
        violations = serious_violations(tab)
        checked.append(page.name)
        if violations:
            problems.append(report(page, violations))
    for tab in tabs.values():
        tab.context.close()
    assert len(checked) == len(PAGES)
    assert not problems, "axe found serious or critical violations:\n\n" + "\n\n".join(problems)


@pytest.mark.browser
def test_axe_finds_what_it_should(browser, live_server, app):
    """The control: a page with an unlabelled field and unreadable text fails."""
    context = browser.new_context(bypass_csp=True)
    tab = context.new_page()
    tab.goto(f"{live_server}/login")
    tab.evaluate(
        """() => {
            document.querySelector('label[for=email]').remove();
            document.querySelector('main h1').style.color = '#ddd';
        }"""
    )
    found = {v["id"] for v in serious_violations(tab)}
    context.close()
    assert {"label", "color-contrast"} <= found, found
