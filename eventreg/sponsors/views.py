"""The sponsor pages under /sponsor: the events a user sponsors, each event's summary (counts and
breakdowns with small groups hidden, drawn as charts) and the contact list of the attendees who
consent, also as CSV; and for the members of a sponsor company, the booth scanner and the
company's leads (with notes and ratings, exported as CSV or XLSX).

Every page needs a login (else a redirect to the login page). The event pages need the sponsor
or organiser role for the event (admins have every role), else 403; unknown events are 404. The
scanner and lead pages need a sponsor role linked to a sponsor company of the event, else 403
(see `leads.member_sponsor`); another company's lead is 404. The pages read the database on
every request and are never cached: an attendee who withdraws consent is gone from the next
load or download."""

from dataclasses import asdict
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from eventreg.core.clock import now
from eventreg.core.errors import Forbidden, NotFound, ValidationError
from eventreg.core.i18n import current_language
from eventreg.events.models import Event, Sponsor
from eventreg.events.services import list_events_by_ids
from eventreg.exports import formats
from eventreg.extensions import db
from eventreg.sponsors import leads, services
from eventreg.sponsors.forms import LeadForm

bp = Blueprint("sponsors", __name__, url_prefix="/sponsor")


@bp.app_context_processor
def _sponsor_link():
    return {"show_sponsor": services.is_sponsor(current_user)}


def _private(body, mimetype: str | None = None) -> Response:
    """Personal data: kept out of every cache, and the address is not sent to other sites."""
    response = make_response(body)
    if mimetype:
        response.mimetype = mimetype
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.route("/")
@login_required
def index():
    ids = services.sponsored_event_ids(current_user)
    if ids == []:
        raise Forbidden(_("You do not sponsor any events."))
    return render_template("sponsors/index.html", events=list_events_by_ids(ids))


@bp.route("/events/<slug>/")
@login_required
def summary(slug: str):
    event = services.get_sponsored_event(slug, actor=current_user)
    result = services.summary(event, language=current_language())
    page = render_template(
        "sponsors/summary.html",
        event=event,
        company=(company := leads.company_of(event, actor=current_user)),
        lead_count=leads.count_leads(company) if company is not None else 0,
        no_company=company is None and leads.sponsor_role(event, actor=current_user) is not None,
        summary=result,
        charts=services.chart_data(result),
        contacts=services.contacts(event),
        as_of=now(),
        fewer_than=services.FEWER_THAN_5,
        min_group=services.MIN_GROUP,
    )
    return _private(page)


@bp.route("/events/<slug>/contacts.csv")
@login_required
def contacts_csv(slug: str):
    event = services.get_sponsored_event(slug, actor=current_user)
    data = services.contacts_csv(services.contacts(event), language=current_language())
    response = _private(data, "text/csv")  # Werkzeug adds "; charset=utf-8"
    stamp = now().astimezone(ZoneInfo(event.timezone)).strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = f'attachment; filename="contacts-{event.slug}-{stamp}.csv"'
    return response


# --- the booth scanner and the leads --------------------------------------------------------

SCANNER_TEXTS = {
    "new": _l("New lead"),
    "again": _l("Already scanned"),
    "refused": _l("Not a lead"),
    "no_contact": _l("Contact details not shared: only what the badge shows."),
    "email": _l("Email"),
    "phone": _l("Phone"),
    "country": _l("Country"),
    "sector": _l("Sector"),
    "camera_error": _l("The camera is not available: {error}"),
    "login_again": _l("Your login has expired: log in again."),
    "network": _l("No answer from the server; check the network and scan again."),
    "error": _l("The scan could not be saved (error {status}); reload the page and try again."),
}
FORMATS = {"csv": formats.CSV_MIMETYPE, "xlsx": formats.XLSX_MIMETYPE}


def _member_of(slug: str) -> tuple[Event, Sponsor]:
    """The event and the current user's sponsor company at it (see `leads.member_sponsor`)."""
    event = services.get_sponsored_event(slug, actor=current_user)
    return event, leads.member_sponsor(event, actor=current_user)


def _lead_out(view: leads.LeadView, event: Event) -> dict:
    """A lead as the scanner shows it: the contact details only while the attendee consents."""
    out = {
        "id": view.id,
        "name": view.name,
        "organisation": view.organisation,
        "consents": view.consents,
        "note": view.note,
        "rating": view.rating,
        "scanned_at": view.scanned_at.isoformat(),
        "url": url_for(".leads_page", slug=event.slug) + f"#lead-{view.id}",
    }
    if view.contact is not None:
        out["contact"] = asdict(view.contact)
    return out


@bp.route("/events/<slug>/scan")
@login_required
def scanner(slug: str):
    event, sponsor = _member_of(slug)
    config = {
        "scanUrl": url_for(".scan_lead", slug=event.slug),
        "csrf": generate_csrf(),
        "texts": {k: str(v) for k, v in SCANNER_TEXTS.items()},
    }
    page = render_template("sponsors/scanner.html", event=event, sponsor=sponsor, config=config)
    return _private(page)


@bp.route("/events/<slug>/leads", methods=["POST"])
@login_required
def scan_lead(slug: str):
    """A scanned badge (JSON {"qr": ...} with the X-CSRFToken header, or a form field "qr"):
    201 with the new lead, 200 with the lead scanned before; 422 for a QR that is not a current
    ticket of this event, 409 for a cancelled or refunded ticket."""
    event, sponsor = _member_of(slug)
    body = request.get_json(silent=True)
    qr = body.get("qr") if isinstance(body, dict) else request.form.get("qr")
    if not isinstance(qr, str):
        qr = ""  # refused by scan_badge with its message
    lead, created = leads.scan_badge(event, sponsor, qr, actor=current_user, now=now())
    db.session.commit()
    view = leads.lead_view(sponsor, lead, language=current_language())
    response = jsonify(
        created=created,
        message=str(SCANNER_TEXTS["new"] if created else SCANNER_TEXTS["again"]),
        lead=_lead_out(view, event),
    )
    response.status_code = 201 if created else 200
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _leads_page(event: Event, sponsor: Sponsor, *, failed: tuple[int, LeadForm] | None = None, status=200):
    page = render_template(
        "sponsors/leads.html",
        event=event,
        sponsor=sponsor,
        leads=leads.leads_of(sponsor, language=current_language()),
        ratings=leads.RATINGS,
        note_max=leads.NOTE_MAX,
        failed_id=failed[0] if failed else None,
        failed_form=failed[1] if failed else None,
    )
    return _private(page), status


@bp.route("/events/<slug>/leads")
@login_required
def leads_page(slug: str):
    event, sponsor = _member_of(slug)
    return _leads_page(event, sponsor)


@bp.route("/events/<slug>/leads/<int:lead_id>", methods=["POST"])
@login_required
def save_lead(slug: str, lead_id: int):
    event, sponsor = _member_of(slug)
    lead = leads.get_lead(sponsor, lead_id)
    form = LeadForm()
    if form.validate_on_submit():
        try:
            leads.update_lead(
                lead, note=form.note.data, rating=form.rating.data, actor=current_user, now=now()
            )
        except ValidationError as err:
            db.session.rollback()
            for key, messages in err.fields.items():
                form[key].errors = list(form[key].errors) + [str(m) for m in messages]
        else:
            db.session.commit()
            flash(_("The note and rating are saved."), "success")
            return redirect(url_for(".leads_page", slug=event.slug) + f"#lead-{lead.id}")
    return _leads_page(event, sponsor, failed=(lead.id, form), status=422)


@bp.route("/events/<slug>/leads.<fmt>")
@login_required
def leads_export(slug: str, fmt: str):
    """The sponsor's leads as CSV or XLSX, under the page's consent rule."""
    event, sponsor = _member_of(slug)
    if fmt not in FORMATS:
        raise NotFound(_l("No such export."))
    table = leads.leads_table(event, sponsor, language=current_language())
    if fmt == "csv":
        data = formats.to_csv(table.header, table.rows)
    else:
        data = formats.to_xlsx(table.header, table.rows, table.title)
    response = _private(data, FORMATS[fmt])
    stamp = now().astimezone(ZoneInfo(event.timezone)).strftime("%Y%m%d-%H%M")
    response.headers.set("Content-Disposition", "attachment", filename=f"leads-{event.slug}-{stamp}.{fmt}")
    return response
