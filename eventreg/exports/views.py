"""The organiser's exports page and the downloads it links to.

Every route needs a login (else a redirect to the login page) and the organiser role for the
event (403 otherwise); unknown events are 404, and so are unknown exports and formats."""

from zoneinfo import ZoneInfo

from flask import Blueprint, Response, render_template
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from eventreg.admin.views import organised_event
from eventreg.core.clock import now
from eventreg.core.errors import NotFound
from eventreg.core.i18n import current_language
from eventreg.exports import formats
from eventreg.exports.services import EXPORTS, count_rows

bp = Blueprint("exports", __name__, url_prefix="/manage/events/<slug>/exports")

# What the page says of each export, in the order it lists them.
DESCRIPTIONS = {
    "attendees": (
        _l("Attendees"),
        _l(
            "One row per ticket: order and its status, name, email, language, ticket type, price "
            "and VAT, workshops, every question as a column of its own, sponsor consent, check-in "
            "lists and first check-in, when they registered, and whether the ticket was cancelled "
            "or refunded."
        ),
    ),
    "orders": (
        _l("Orders"),
        _l(
            "One row per order: status, payment method, buyer, total, VAT, refunded amount, when it "
            "was created and paid, the invoice number and whether the invoice is paid, and the "
            "number of attendees."
        ),
    ),
    "answers": (
        _l("Answers"),
        _l(
            "One row per answer (attendee, order, question, answer): the long format pivot tables "
            "want. Questions asked once per order have no attendee."
        ),
    ),
    "checkins": (
        _l("Check-ins"),
        _l(
            "One row per scan: list, attendee, order, gate, staff member, when it was scanned, "
            "whether offline, when it was undone, and the conflicts offline gates produced."
        ),
    ),
}
MIMETYPES = {"csv": formats.CSV_MIMETYPE, "xlsx": formats.XLSX_MIMETYPE}


@bp.route("/")
@login_required
def index(slug: str):
    event = organised_event(slug)
    return render_template(
        "exports/index.html",
        event=event,
        exports=[(kind, title, text) for kind, (title, text) in DESCRIPTIONS.items()],
        sizes=count_rows(event),
        timezone=event.timezone,
    )


@bp.route("/<kind>.<fmt>")
@login_required
def download(slug: str, kind: str, fmt: str):
    """The export as a file named after the event, the export and today's date at the event."""
    event = organised_event(slug)
    if kind not in EXPORTS or fmt not in MIMETYPES:
        raise NotFound(_l("No such export."))
    table = EXPORTS[kind](event, lang=current_language())
    if fmt == "csv":
        data = formats.to_csv(table.header, table.rows)
    else:
        data = formats.to_xlsx(table.header, table.rows, table.title)
    today = now().astimezone(ZoneInfo(event.timezone)).date().isoformat()
    response = Response(data, mimetype=MIMETYPES[fmt])
    response.headers.set("Content-Disposition", "attachment", filename=f"{event.slug}-{kind}-{today}.{fmt}")
    # Personal data: kept out of shared caches and off other sites' Referer headers.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response
