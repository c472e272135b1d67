"""What a ticket looks like outside the app: the QR as a PNG, the ticket PDF, the event's calendar
file, and name badges on the sheets and labels organisers buy.

PDFs are drawn by WeasyPrint: Pango and HarfBuzz shape every script and fontconfig picks a font per
glyph, so Arabic comes out joined and right to left and CJK needs no code of its own. Two things
it does not do are done here: it ignores dir="auto", so each text gets its direction computed
(`text_dir`), and it cannot shrink text to fit a box, so badge names get a font size computed from
the fonts' advance widths (`fit_text`)."""

import base64
import io
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import qrcode
import sqlalchemy as sa
from babel.dates import format_date, format_time
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from qrcode.constants import ERROR_CORRECT_M
from sqlalchemy.orm import selectinload

from eventreg.core import clock
from eventreg.core.errors import ValidationError
from eventreg.core.i18n import LANGUAGES, localized
from eventreg.events.choices import countries
from eventreg.events.models import Event, QuestionKind
from eventreg.extensions import db
from eventreg.registration.models import Answer, Attendee, Order, OrderStatus
from eventreg.tickets.services import ticket_qr

# Pinned families (fontconfig would find some font for every script anyway, but not always these).
FONT_STACK = (
    '"Noto Sans", "Noto Sans Arabic", "Noto Sans CJK JP", "DejaVu Sans", "Droid Sans Fallback", sans-serif'
)
PT_PER_MM = 72 / 25.4
LINE_HEIGHT = 1.15  # of badge names and organisations, as badges_pdf.html sets it


# --- QR ---------------------------------------------------------------------------------------


@lru_cache(maxsize=256)  # a confirmation draws each QR twice (inline and in the PDF): ~10 ms each
def qr_png(text: str, *, box_size: int = 10) -> bytes:
    """A black-on-white PNG of `text` as a QR code (error correction M, a quiet zone of 4 modules),
    `box_size` pixels per module."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(text)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out, format="PNG")
    return out.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


# --- text in any script ---------------------------------------------------------------------


def text_dir(text: str | None) -> str:
    """The direction, "rtl" or "ltr", of the first strongly directional character, as dir="auto"
    would decide it (WeasyPrint ignores dir="auto")."""
    for char in text or "":
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
_BOLD_FONTS = ("NotoSans-Bold.ttf", "NotoSansArabic-Bold.ttf")  # the first families of FONT_STACK


@cache
def _advances() -> dict[int, float]:
    """Advance widths (in em) of the bold fonts badge names use, by code point; empty without them.
    Regular text is narrower, so what fits in bold fits in regular too."""
    from fontTools.ttLib import TTFont  # WeasyPrint's own dependency; loaded once, when first needed

    widths: dict[int, float] = {}
    for name in reversed(_BOLD_FONTS):  # the first font wins where both have a glyph
        path = next((p for d in _FONT_DIRS if d.is_dir() for p in d.rglob(name)), None)
        if path is None:
            continue
        with TTFont(path, lazy=True) as font:
            metrics, units = font["hmtx"].metrics, font["head"].unitsPerEm
            widths.update({cp: metrics[glyph][0] / units for cp, glyph in font.getBestCmap().items()})
    return widths


def _char_width(char: str) -> float:
    """Width of `char` in em in a bold face, measured where we have the font, else estimated."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0.0
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 1.0  # CJK ideographs, kana, hangul: a full em
    return _advances().get(ord(char), 0.65)


def _segments(text: str) -> list[tuple[float, float]]:
    """(width of the space before it, width) of each piece a line may break before, in em: words,
    and single CJK characters (CJK breaks between any two)."""
    pieces: list[tuple[float, float]] = []
    space, word = 0.0, 0.0
    for char in text:
        if char.isspace():
            if word:
                pieces.append((space, word))
                space, word = 0.0, 0.0
            space = _char_width(" ")
        elif unicodedata.east_asian_width(char) in ("W", "F"):
            if word:
                pieces.append((space, word))
                space = 0.0
            pieces.append((space, 1.0))
            space, word = 0.0, 0.0
        else:
            word += _char_width(char)
    if word:
        pieces.append((space, word))
    return pieces


def _lines_needed(pieces: list[tuple[float, float]], width: float) -> int:
    """Lines a greedy line breaker (as browsers do) fills with `pieces` at `width` em per line."""
    lines, used = 1, 0.0
    for space, piece in pieces:
        if used and used + space + piece > width:
            lines, used = lines + 1, piece
        else:
            used += (space if used else 0.0) + piece
    return lines


def _narrowest(pieces: list[tuple[float, float]], lines: int) -> float:
    """The narrowest line width (em) that fits `pieces` in `lines` lines."""
    low = max(p for _s, p in pieces)
    high = sum(s + p for s, p in pieces)
    for _ in range(24):
        mid = (low + high) / 2
        if _lines_needed(pieces, mid) <= lines:
            high = mid
        else:
            low = mid
    return high


@dataclass(frozen=True)
class Fit:
    size: float  # font size in pt
    lines: int  # how many lines the text will take at that size
    fits: bool  # False: too long even at the smallest size; the box clips what is left
    line_height: float = LINE_HEIGHT

    def offset(self, box_mm: float) -> float:
        """How far down (mm) the text starts to sit in the middle of a box `box_mm` high; computed
        here because centring with flex or table cells costs WeasyPrint more than the rest of a badge."""
        return round(max(0.0, (box_mm - self.lines * self.size * self.line_height / PT_PER_MM) / 2), 2)


def fit_text(
    text: str,
    *,
    width_mm: float,
    height_mm: float,
    max_pt: float,
    min_pt: float,
    max_lines: int,
    line_height: float = LINE_HEIGHT,
) -> Fit:
    """The largest font size (at most `max_pt`) at which `text` fits a box of `width_mm` ×
    `height_mm` in at most `max_lines` lines; fewer lines win unless more lines let it grow by 15 %.
    Widths come from the bold Noto fonts (with a 6 % margin for kerning and shaping)."""
    pieces = _segments(text)
    if not pieces:
        return Fit(max_pt, 1, True, line_height)
    width_pt = width_mm * PT_PER_MM * 0.94
    height_pt = height_mm * PT_PER_MM
    best: Fit | None = None
    for lines in range(1, max_lines + 1):
        size = min(max_pt, width_pt / _narrowest(pieces, lines), height_pt / (lines * line_height))
        if best is None or size > best.size * 1.15:
            best = Fit(size, lines, True, line_height)
        if size >= max_pt:
            break
    assert best is not None
    if best.size < min_pt:
        return Fit(min_pt, max_lines, False, line_height)
    return Fit(round(best.size, 1), best.lines, True, line_height)


# --- what a ticket says -----------------------------------------------------------------------


def answered(value) -> bool:
    """Whether an answer's value says something (an empty one does not count)."""
    return value not in (None, "", [])


def answer_of(attendee: Attendee, kind: QuestionKind) -> Answer | None:
    """The attendee's answer to a question of `kind`, else the order's (e.g. the organisation a
    caseworker gave once for a group). sponsors.services.attendees_with_answers follows the same
    rule for many attendees at once."""
    kinds = {q.id: q.kind for q in attendee.order.event.questions}
    for answers in (attendee.answers, attendee.order.answers):
        for answer in sorted(answers, key=lambda a: a.id or 0):
            if kinds.get(answer.question_id) == kind and answered(answer.value):
                return answer
    return None


def badge_facts(attendee: Attendee, *, language: str) -> dict:
    """What a badge (and a ticket) says about the attendee: {"name", "organisation", "country",
    "ticket_type"}, the last three in `language` and "" when not known."""
    organisation = answer_of(attendee, QuestionKind.ORGANISATION)
    country = answer_of(attendee, QuestionKind.COUNTRY)
    country_name = ""
    if country is not None:
        names = dict(countries(language))
        country_name = names.get(str(country.value)) or localized(country.display, language)
    return {
        "name": attendee.name,
        "organisation": str(organisation.value) if organisation is not None else "",
        "country": country_name,
        "ticket_type": localized(attendee.ticket_type.name, language),
    }


def event_when(event: Event, language: str) -> str:
    """The event's start and end in its own timezone, written for `language`
    ("torsdag 27. mai 2027, 09:00–17:00"; "Thursday, May 27, 2027, 9:00 AM – 5:00 PM")."""
    tz = ZoneInfo(event.timezone)
    start, end = event.starts_at.astimezone(tz), event.ends_at.astimezone(tz)
    day = format_date(start, "full", locale=language)
    start_time = format_time(start, "short", tzinfo=tz, locale=language)
    end_time = format_time(end, "short", tzinfo=tz, locale=language)
    if start.date() == end.date():
        return f"{day}, {start_time}\u2009–\u2009{end_time}"
    return f"{day}, {start_time} – {format_date(end, 'full', locale=language)}, {end_time}"


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")


_fonts = threading.local()


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported when first needed: the import alone takes 0.6 s
    from weasyprint.text.fonts import FontConfiguration

    # One font setup per thread: WeasyPrint builds a new one for every PDF otherwise, which
    # costs ~10 ms and leaks ~230 KB each time (bench/mail.py). Our templates add no @font-face,
    # so the shared setup never grows.
    if not hasattr(_fonts, "config"):
        _fonts.config = FontConfiguration()
    return HTML(string=html, base_url=current_app.root_path).write_pdf(font_config=_fonts.config)


def ticket_pdf(attendees: list[Attendee], *, language: str, now: datetime) -> bytes:
    """A PDF with one A5 page per attendee: the event (title, time in the event's timezone,
    venue), the attendee (name, organisation, ticket type, workshops), the order code and the
    ticket's QR code. Texts are in `language` ("nb" or "en"; ValueError otherwise). May create
    the event's first signing key (see `ticket_qr`), so the caller commits."""
    _check_language(language)
    pages = []
    for attendee in attendees:
        event = attendee.order.event
        facts = badge_facts(attendee, language=language)
        title = localized(event.title, language)
        workshops = [
            {"name": localized(s.name, language), "slot": s.slot, "room": s.room} for s in attendee.sessions
        ]
        pages.append(
            {
                **facts,
                "title": title,
                "when": event_when(event, language),
                "venue": event.venue,
                "workshops": workshops,
                "order_code": attendee.order.code,
                "qr": _data_uri(qr_png(ticket_qr(attendee, now=now))),
            }
        )
    with force_locale(language):
        html = render_template(
            "tickets/ticket_pdf.html", pages=pages, language=language, dir=text_dir, fonts=FONT_STACK
        )
    return html_to_pdf(html)


# --- calendar ---------------------------------------------------------------------------------


def event_ics(event: Event, *, language: str, url: str | None = None) -> bytes:
    """An iCalendar file (METHOD:PUBLISH) with the event as one VEVENT: a UID that stays the same
    for the event (its id and PUBLIC_URL's host), start and end in the event's timezone (with its
    VTIMEZONE), the title in `language` as SUMMARY, the venue as LOCATION and `url`, when given,
    as URL and DESCRIPTION."""
    _check_language(language)
    tz = ZoneInfo(event.timezone)
    host = urlsplit(current_app.config["PUBLIC_URL"]).hostname or "localhost"
    vevent = icalendar.Event.new(
        uid=f"event-{event.id}@{host}",
        stamp=clock.now(),
        start=event.starts_at.astimezone(tz),
        end=event.ends_at.astimezone(tz),
        summary=localized(event.title, language),
        location=event.venue or None,
        url=url,
        description=url,
    )
    calendar = icalendar.Calendar.new(
        prodid="-//eventreg//eventreg//" + language.upper(), method="PUBLISH", subcomponents=[vevent]
    )
    del calendar["UID"]  # Calendar.new invents a random one; the VEVENT's is the one that matters
    calendar.add_missing_timezones(
        first_date=date(event.starts_at.year, 1, 1), last_date=date(event.ends_at.year + 1, 1, 1)
    )
    return calendar.to_ical()


# --- badges -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadgeLayout:
    """Where badges go on a page, in mm from the page's top left corner; the geometry of the
    stock named in `product`, so printed badges land on the pre-cut cards or labels."""

    key: str
    label: str  # lazy, shown to organisers
    product: str
    page_width: float
    page_height: float
    badge_width: float
    badge_height: float
    columns: int
    rows: int
    left: float  # page edge to the first column
    top: float  # page edge to the first row
    pitch_x: float  # left edge of one badge to the left edge of the next
    pitch_y: float
    style: str  # "tall" (portrait, QR below) or "wide" (landscape, QR beside the text)
    padding: float  # mm kept clear inside each badge: cutting tolerance and printers' margins
    qr: float  # QR side, including its quiet zone

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    def positions(self) -> list[tuple[float, float]]:
        """(left, top) of each badge on a page, row by row."""
        return [
            (self.left + c * self.pitch_x, self.top + r * self.pitch_y)
            for r in range(self.rows)
            for c in range(self.columns)
        ]

    @property
    def text_width(self) -> float:
        inner = self.badge_width - 2 * self.padding
        return inner if self.style == "tall" else inner - self.qr - 3


BADGE_LAYOUTS: dict[str, BadgeLayout] = {
    b.key: b
    for b in (
        # Four A6 portrait cards on A4: the usual size of conference lanyard pouches (A6 holders).
        # Perforated A4 sheets quartered, e.g. Herma 10809 (105 x 148 mm, no margins).
        BadgeLayout(
            key="a4-a6-4up",
            label=_l("A6 badges, 4 per A4 sheet (105 × 148 mm, e.g. Herma 10809)"),
            product="Herma 10809",
            page_width=210,
            page_height=297,
            badge_width=105,
            badge_height=148,
            columns=2,
            rows=2,
            left=0,
            top=0,
            pitch_x=105,
            pitch_y=148,
            style="tall",
            padding=8,
            qr=46,
        ),
        # Business-card size inserts for the common 54 x 90 mm badge holders: Durable BADGEMAKER
        # 1445-02, ten micro-perforated cards on A4, 15 mm side margins, 12 mm from the top.
        BadgeLayout(
            key="a4-90x54-10up",
            label=_l("Badge inserts 90 × 54 mm, 10 per A4 sheet (Durable 1445-02)"),
            product="Durable BADGEMAKER 1445-02",
            page_width=210,
            page_height=297,
            badge_width=90,
            badge_height=54,
            columns=2,
            rows=5,
            left=15,
            top=12,
            pitch_x=90,
            pitch_y=54,
            style="wide",
            padding=4,
            qr=26,
        ),
        # One badge per label on a label printer: Dymo 99014 (54 x 101 mm), which Dymo also sells
        # as a name badge label; printed landscape.
        BadgeLayout(
            key="label-101x54",
            label=_l("Label printer, one badge per label (101 × 54 mm, e.g. Dymo 99014)"),
            product="Dymo 99014",
            page_width=101,
            page_height=54,
            badge_width=101,
            badge_height=54,
            columns=1,
            rows=1,
            left=0,
            top=0,
            pitch_x=101,
            pitch_y=54,
            style="wide",
            padding=3.5,
            qr=30,
        ),
    )
}

# Boxes of the badge's texts: (height in mm, largest pt, smallest pt, most lines), per style.
_NAME_BOX = {"tall": (34, 36, 10, 4), "wide": (20, 22, 7, 4)}
_ORG_BOX = {"tall": (12, 14, 8, 2), "wide": (8, 10, 6.5, 2)}


def badge_layout(key: str) -> BadgeLayout:
    """The layout called `key`; ValidationError (field "layout") for any other."""
    layout = BADGE_LAYOUTS.get(key) if isinstance(key, str) else None
    if layout is None:
        raise ValidationError(
            _l("There is no such badge layout."), fields={"layout": [_l("Choose one of the badge layouts.")]}
        )
    return layout


def _with_badge_details(query):
    return query.options(
        selectinload(Attendee.answers),
        selectinload(Attendee.ticket_type),
        selectinload(Attendee.order).selectinload(Order.answers),
    )


def _by_name(attendees: Iterable[Attendee]) -> list[Attendee]:
    return sorted(attendees, key=lambda a: (a.name.casefold(), a.id))


def paid_attendees(event: Event) -> list[Attendee]:
    """Everyone who gets a badge: the attendees of the event's paid orders, by name."""
    query = (
        sa.select(Attendee)
        .join(Order, Attendee.order_id == Order.id)
        .where(Attendee.event_id == event.id, Order.event_id == event.id, Order.status == OrderStatus.PAID)
        .where(Attendee.cancelled_at.is_(None))
    )
    return _by_name(db.session.scalars(_with_badge_details(query)))


def choose_badge_attendees(
    event: Event, *, ticket_type_ids: Iterable | None = None, attendee_ids: Iterable | None = None
) -> list[Attendee]:
    """The attendees of the event's paid orders to print badges for, by name: those in
    `attendee_ids` if given, else those with one of `ticket_type_ids` if given, else all.
    Raises ValidationError (field "attendees") for ids that are not attendees of a paid order of
    this event, or ticket types of another event, and when nothing is left to print."""
    eligible = paid_attendees(event)
    if attendee_ids is not None:
        wanted = _ids(attendee_ids)
        known = {a.id for a in eligible}
        if wanted is None or not wanted <= known:
            raise ValidationError(
                _l("Some of the chosen people are not attendees of a paid order of this event."),
                fields={"attendees": [_l("Choose attendees of paid orders of this event.")]},
            )
        chosen = [a for a in eligible if a.id in wanted]
    elif ticket_type_ids is not None:
        types = _ids(ticket_type_ids)
        if types is None or not types <= {t.id for t in event.ticket_types}:
            raise ValidationError(
                _l("Some of the chosen ticket types are not ticket types of this event."),
                fields={"ticket_types": [_l("Choose ticket types of this event.")]},
            )
        chosen = [a for a in eligible if a.ticket_type_id in types]
    else:
        chosen = eligible
    if not chosen:
        raise ValidationError(
            _l("There is nobody to print badges for."),
            fields={"attendees": [_l("Choose at least one attendee of a paid order.")]},
        )
    return chosen


def _ids(values: Iterable) -> set[int] | None:
    """The values as a set of ids; None if any of them is not one."""
    ids = set()
    for value in values:
        text = str(value).strip()
        if not text.isdigit() or len(text) > 12:
            return None
        ids.add(int(text))
    return ids


def badges_pdf(attendees: list[Attendee], *, layout: str, language: str, now: datetime) -> bytes:
    """A PDF of name badges for `attendees`, in their order, placed as the layout `layout` (a key
    of BADGE_LAYOUTS; ValidationError otherwise) has them: the name large (shrunk or wrapped to
    fit), organisation, country and ticket type in `language`, and the same QR as the ticket, so
    the door scanner accepts a badge. May create the event's first signing key, so the caller
    commits."""
    spec = badge_layout(layout)
    _check_language(language)
    name_h, name_max, name_min, name_lines = _NAME_BOX[spec.style]
    org_h, org_max, org_min, org_lines = _ORG_BOX[spec.style]
    badges = []
    for attendee in attendees:
        facts = badge_facts(attendee, language=language)
        badges.append(
            {
                **facts,
                "title": localized(attendee.order.event.title, language),
                "name_fit": fit_text(
                    facts["name"],
                    width_mm=spec.text_width,
                    height_mm=name_h,
                    max_pt=name_max,
                    min_pt=name_min,
                    max_lines=name_lines,
                ),
                "org_fit": fit_text(
                    facts["organisation"],
                    width_mm=spec.text_width,
                    height_mm=org_h,
                    max_pt=org_max,
                    min_pt=org_min,
                    max_lines=org_lines,
                ),
                "qr": _data_uri(qr_png(ticket_qr(attendee, now=now), box_size=4)),
            }
        )
    sheets = [badges[i : i + spec.per_page] for i in range(0, len(badges), spec.per_page)]
    with force_locale(language):
        html = render_template(
            "tickets/badges_pdf.html",
            layout=spec,
            sheets=sheets,
            positions=spec.positions(),
            boxes={"name": name_h, "org": org_h},
            language=language,
            dir=text_dir,
            fonts=FONT_STACK,
        )
    return html_to_pdf(html)
