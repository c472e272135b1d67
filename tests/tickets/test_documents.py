"""Ticket PDFs, badges and the calendar file: names in any script come out right (checked in the
PDF's text and with fontconfig), every printed QR decodes to a ticket the door accepts, badges sit
on the sheet's real geometry, and the calendar file gives the right instants.

PNGs of what was rendered go to test-artifacts/ for people to look at."""

import io
import re
import subprocess
import tempfile
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import icalendar
import pytest
import zxingcpp
from flask import current_app
from PIL import Image, ImageDraw

from eventreg.core.errors import ValidationError
from eventreg.events.models import QuestionKind, QuestionScope
from eventreg.extensions import db
from eventreg.registration.models import OrderStatus
from eventreg.registration.services import AttendeeData, OrderData, create_order
from eventreg.tickets.documents import (
    BADGE_LAYOUTS,
    badge_facts,
    badges_pdf,
    choose_badge_attendees,
    event_ics,
    event_when,
    fit_text,
    paid_attendees,
    qr_png,
    text_dir,
    ticket_pdf,
)
from eventreg.tickets.services import check_ticket
from tests.factories import NOW, add_question, add_session, make_event, order_data

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts"
NAMES = ["Åse Ødegård", "محمد يونس", "Юнус Мухаммад", "尤努斯"]
ORGANISATIONS = ["Grameen Norge", "بنك غرامين", "Банк Грамин", "格莱珉银行"]
COUNTRIES = ["NO", "EG", "RU", "CN"]
LONG_NAME = "Maria del Carmen Fernández de la Concepción García-López y Montenegro Villanueva"
BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"))


# --- helpers for PDFs (also used by tests/web/test_badges.py) ----------------------------------


def pdf_text(pdf: bytes) -> str:
    """The PDF's text as a reader would copy it: NFKC folds Arabic presentation forms, bidi marks go."""
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    return unicodedata.normalize("NFKC", out).translate(BIDI)


def pdf_pages(pdf: bytes, dpi: int = 150) -> list[Image.Image]:
    """Every page as an image, as pdftoppm renders it."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-", f"{tmp}/page"], input=pdf, check=True)
        files = sorted(Path(tmp).glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        return [Image.open(f).copy() for f in files]


def decode_qrs(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def page_count(pdf: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def page_size_mm(pdf: bytes) -> tuple[float, float]:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    w, h = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", info, re.M).groups()
    return round(float(w) * 25.4 / 72, 1), round(float(h) * 25.4 / 72, 1)


def word_boxes(pdf: bytes) -> list[tuple[int, str, float, float, float, float]]:
    """(page, word, x_min, y_min, x_max, y_max in mm) of every word pdftotext finds."""
    html = subprocess.run(
        ["pdftotext", "-bbox", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    boxes, page = [], 0
    for line in html.splitlines():
        if "<page " in line:
            page += 1
        m = re.search(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*)</word>', line)
        if m:
            x0, y0, x1, y1 = (float(v) * 25.4 / 72 for v in m.groups()[:4])
            boxes.append((page, m.group(5), x0, y0, x1, y1))
    return boxes


def save_artifact(image: Image.Image, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    image.save(ARTIFACTS / name)


def with_sheet_outline(image: Image.Image, layout, dpi: int = 150) -> Image.Image:
    """The page with the stock's cards or labels outlined in red, to see that badges sit on them."""
    image = image.convert("RGB")
    draw = ImageDraw.Draw(image)
    px = dpi / 25.4
    for x, y in layout.positions():
        box = (x * px, y * px, (x + layout.badge_width) * px - 1, (y + layout.badge_height) * px - 1)
        draw.rectangle(box, outline=(230, 40, 40))
    return image


def has_font_for(text: str) -> bool:
    """Whether fontconfig has a font covering every character of `text` (tofu still extracts as
    the right text, so pdftotext alone cannot tell)."""
    charset = " ".join(f"{ord(c):x}" for c in set(text) if not c.isspace())
    out = subprocess.run(["fc-list", f":charset={charset}", "family"], capture_output=True, text=True)
    return bool(out.stdout.strip())


# --- fixtures ------------------------------------------------------------------------------------


def make_people(event, names=NAMES, *, organisations=ORGANISATIONS, countries=COUNTRIES):
    """A paid (free) order for `names`, each with an organisation and a country, one workshop."""
    country_q = add_question(event, QuestionKind.COUNTRY, label="Country", position=0)
    org_q = add_question(event, QuestionKind.ORGANISATION, label="Organisation", position=1)
    workshop = add_session(event, "Sosialt entreprenørskap", slot="Dag 1, 10:00")
    attendees = [
        AttendeeData(
            name=name,
            email=f"p{i}@example.org",
            ticket_type_id=event.ticket_types[0].id,
            answers={str(country_q.id): country, str(org_q.id): org},
            session_ids=[workshop.id],
        )
        for i, (name, org, country) in enumerate(zip(names, organisations, countries, strict=True))
    ]
    data = OrderData(buyer_name="Buyer", buyer_email="buyer@example.org", attendees=attendees)
    order = create_order(event, data, now=NOW)
    assert order.status == OrderStatus.PAID
    return order


@pytest.fixture
def event(ctx):
    return make_event(prices=(0,), venue="Oslo kongressenter, Youngs gate 21")


@pytest.fixture
def order(event):
    return make_people(event)


# --- QR and text direction -----------------------------------------------------------------------


def test_qr_png_decodes_to_its_text():
    png = qr_png("ER1.hello")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert decode_qrs(image) == ["ER1.hello"]


@pytest.mark.parametrize(
    ("text", "direction"),
    [("Åse", "ltr"), ("محمد يونس", "rtl"), ("  (محمد) Bob", "rtl"), ("123 Bob", "ltr"), ("", "ltr")],
)
def test_text_direction_is_that_of_the_first_strong_character(text, direction):
    assert text_dir(text) == direction


# --- the ticket PDF ------------------------------------------------------------------------------


def test_ticket_pdf_has_a_page_per_attendee_with_every_name_and_a_qr_the_door_accepts(event, order):
    attendees = order.attendees
    pdf = ticket_pdf(attendees, language="en", now=NOW)

    assert page_count(pdf) == 4
    assert page_size_mm(pdf) == (148.0, 210.0)  # A5
    text = pdf_text(pdf)
    for name in NAMES + ORGANISATIONS:
        assert name in text, name  # the Arabic in logical order: shaped right to left
    assert "Forum forum" in text and "Oslo kongressenter" in text
    assert "Thursday, May 27, 2027, 9:00 AM – Friday, May 28, 2027, 5:00 PM" in text
    assert "Sosialt entreprenørskap" in text and order.code in text and "Ticket 0" in text
    assert all(has_font_for(name) for name in NAMES)

    pages = pdf_pages(pdf)
    save_artifact(pages[0], "ticket-page-1.png")
    save_artifact(pages[1], "ticket-page-2-rtl.png")
    for attendee, page in zip(attendees, pages, strict=True):
        (qr,) = decode_qrs(page)
        assert check_ticket(event, qr) is attendee


def test_ticket_pdf_speaks_norwegian_and_shows_oslo_time(event, order):
    text = pdf_text(ticket_pdf(order.attendees[:1], language="nb", now=NOW))
    assert "torsdag 27. mai 2027, 09:00 – fredag 28. mai 2027, 17:00" in text
    assert "Billett 0" in text


def test_event_time_is_in_the_event_timezone_for_one_day_events(event):
    event.starts_at = datetime(2027, 1, 10, 8, 0, tzinfo=UTC)  # winter: UTC+1
    event.ends_at = datetime(2027, 1, 10, 15, 30, tzinfo=UTC)
    assert event_when(event, "nb") == "søndag 10. januar 2027, 09:00\u2009–\u200916:30"
    assert event_when(event, "en").startswith("Sunday, January 10, 2027, 9:00")


def test_unknown_language_is_refused(event, order):
    with pytest.raises(ValueError):
        ticket_pdf(order.attendees, language="de", now=NOW)


# --- the calendar file ---------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "summary"), [("nb", "Forumet"), ("en", "The forum")])
def test_ics_parses_back_to_the_same_instants_in_oslo_time(event, language, summary):
    event.title = {"nb": "Forumet", "en": "The forum"}
    ics = event_ics(event, language=language, url="https://example.org/events/forum")
    calendar = icalendar.Calendar.from_ical(ics)
    assert calendar["METHOD"] == "PUBLISH" and calendar["PRODID"]
    (vevent,) = calendar.events
    assert vevent.start == event.starts_at and vevent.end == event.ends_at  # the same instants
    assert vevent["DTSTART"].params["TZID"] == "Europe/Oslo"
    assert vevent.start.utcoffset().total_seconds() == 2 * 3600  # CEST in May
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Oslo"]
    assert vevent["SUMMARY"] == summary
    assert vevent["LOCATION"] == "Oslo kongressenter, Youngs gate 21"
    assert vevent["URL"] == "https://example.org/events/forum"
    assert "https://example.org/events/forum" in vevent["DESCRIPTION"]
    host = urlsplit(current_app.config["PUBLIC_URL"]).hostname
    assert vevent["UID"] == f"event-{event.id}@{host}"
    assert event_ics(event, language="en")  # the url is optional
    assert icalendar.Calendar.from_ical(event_ics(event, language="en")).events[0]["UID"] == vevent["UID"]


# --- badges --------------------------------------------------------------------------------------


def test_badge_facts_come_from_the_answers_in_the_language_asked(event, order):
    first = order.attendees[0]
    assert badge_facts(first, language="nb") == {
        "name": "Åse Ødegård",
        "organisation": "Grameen Norge",
        "country": "Norge",
        "ticket_type": "Billett 0",
    }
    assert badge_facts(first, language="en")["country"] == "Norway"


def test_badge_facts_fall_back_to_the_orders_organisation(event):
    q = add_question(event, QuestionKind.ORGANISATION, label="Your organisation", scope=QuestionScope.ORDER)
    order = create_order(event, order_data(event, 2, answers={str(q.id): "NAV Grünerløkka"}), now=NOW)
    facts = badge_facts(order.attendees[1], language="en")
    assert facts["organisation"] == "NAV Grünerløkka" and facts["country"] == ""


def test_layouts_match_their_sheets():
    for layout in BADGE_LAYOUTS.values():
        right = layout.left + (layout.columns - 1) * layout.pitch_x + layout.badge_width
        bottom = layout.top + (layout.rows - 1) * layout.pitch_y + layout.badge_height
        assert right <= layout.page_width + 0.01 and bottom <= layout.page_height + 0.01, layout.key
        assert layout.pitch_x >= layout.badge_width and layout.pitch_y >= layout.badge_height
    durable = BADGE_LAYOUTS["a4-90x54-10up"]  # Durable 1445-02: 15 mm left and right, 12/15 mm
    assert (durable.left, durable.top, durable.per_page) == (15, 12, 10)
    assert durable.left * 2 + 2 * durable.badge_width == 210
    a6 = BADGE_LAYOUTS["a4-a6-4up"]
    assert a6.positions() == [(0, 0), (105, 0), (0, 148), (105, 148)]
    assert BADGE_LAYOUTS["label-101x54"].per_page == 1


@pytest.mark.parametrize("layout", sorted(BADGE_LAYOUTS))
def test_badges_carry_names_in_any_script_and_qrs_the_door_accepts(event, order, layout):
    spec = BADGE_LAYOUTS[layout]
    attendees = paid_attendees(event)
    pdf = badges_pdf(attendees, layout=layout, language="en", now=NOW)

    assert page_size_mm(pdf) == (spec.page_width, spec.page_height)
    assert page_count(pdf) == -(-len(attendees) // spec.per_page)
    text = " ".join(pdf_text(pdf).split())  # a name may wrap
    for name in NAMES:
        assert name in text, name
    assert "Norway" in text and "TICKET 0" in text.upper()

    pages = pdf_pages(pdf)
    save_artifact(with_sheet_outline(pages[0], spec), f"badges-{layout}.png")
    found = [qr for page in pages for qr in decode_qrs(page)]
    assert len(found) == len(attendees)
    assert sorted(check_ticket(event, qr).id for qr in found) == sorted(a.id for a in attendees)


def _badge_rectangles(spec):
    return [(x, y, x + spec.badge_width, y + spec.badge_height) for x, y in spec.positions()]


@pytest.mark.parametrize("layout", sorted(BADGE_LAYOUTS))
def test_long_names_shrink_or_wrap_and_stay_on_their_badge(event, layout):
    spec = BADGE_LAYOUTS[layout]
    names = [LONG_NAME, "Åse", "Hubert Blaine Wolfeschlegelsteinhausenbergerdorff", "尤努斯" * 12]
    orgs = ["Norsk senter for sosialt entreprenørskap og samfunnsinnovasjon i Nord-Norge", "", "X", "Y"]
    order = make_people(event, names, organisations=orgs, countries=COUNTRIES)
    pdf = badges_pdf(order.attendees, layout=layout, language="en", now=NOW)
    pages = pdf_pages(pdf)
    save_artifact(with_sheet_outline(pages[0], spec), f"badges-long-{layout}.png")

    text = " ".join(pdf_text(pdf).split())
    assert "Maria del Carmen" in text and "Villanueva" in text
    rects = _badge_rectangles(spec)
    for page, word, x0, y0, x1, y1 in word_boxes(pdf):
        inside = [r for r in rects if r[0] + 1 <= x0 and x1 <= r[2] - 1 and r[1] + 1 <= y0 and y1 <= r[3] - 1]
        assert inside, (
            f"{word!r} on page {page} at ({x0:.1f}, {y0:.1f})–({x1:.1f}, {y1:.1f}) leaves its badge"
        )
    assert len([q for p in pages for q in decode_qrs(p)]) == len(names)


def test_fit_text_shrinks_long_names_and_keeps_short_ones_large():
    short = fit_text("Åse", width_mm=53, height_mm=20, max_pt=20, min_pt=8, max_lines=2)
    assert short.size == 20 and short.lines == 1
    two = fit_text("Юнус Мухаммад", width_mm=53, height_mm=20, max_pt=20, min_pt=8, max_lines=2)
    assert two.size == 20 and two.lines == 2
    long = fit_text(LONG_NAME, width_mm=53, height_mm=20, max_pt=20, min_pt=7, max_lines=4)
    assert 7 <= long.size < 12 and long.lines >= 3 and long.fits
    cjk = fit_text("尤努斯" * 4, width_mm=53, height_mm=20, max_pt=20, min_pt=8, max_lines=2)
    assert cjk.size * 12 / 72 * 25.4 <= 53 * 2  # 12 ideographs of one em on two lines
    hopeless = fit_text("x" * 300, width_mm=53, height_mm=20, max_pt=20, min_pt=8, max_lines=2)
    assert not hopeless.fits and hopeless.size == 8


def test_only_attendees_of_paid_orders_get_badges(event, order):
    pending = create_order(event, order_data(event, names=["Pending Person"]), now=NOW)
    pending.status = OrderStatus.PENDING
    db.session.flush()
    names = [a.name for a in paid_attendees(event)]
    assert sorted(names) == sorted(NAMES) and "Pending Person" not in names
    chosen = choose_badge_attendees(event, attendee_ids=[str(order.attendees[1].id)])
    assert [a.name for a in chosen] == [NAMES[1]]
    with pytest.raises(ValidationError) as err:
        choose_badge_attendees(event, attendee_ids=[pending.attendees[0].id])
    assert "attendees" in err.value.fields
    with pytest.raises(ValidationError):
        choose_badge_attendees(event, attendee_ids=["1; DROP TABLE"])
    with pytest.raises(ValidationError):
        choose_badge_attendees(event, attendee_ids=[])
    assert len(choose_badge_attendees(event, ticket_type_ids=[event.ticket_types[0].id])) == 4
    other = make_event("other", prices=(0,))
    with pytest.raises(ValidationError) as err:
        choose_badge_attendees(event, ticket_type_ids=[other.ticket_types[0].id])
    assert "ticket_types" in err.value.fields


def test_unknown_layout_is_refused(event, order):
    with pytest.raises(ValidationError) as err:
        badges_pdf(order.attendees, layout="a3-poster", language="en", now=NOW)
    assert "layout" in err.value.fields
