"""The sponsor pages under /sponsor: the events a user sponsors, each event's summary (counts and
breakdowns with small groups hidden, drawn as charts) and the contact list of the attendees who
consent, also as CSV.

Every page needs a login (else a redirect to the login page). The event pages need the sponsor
or organiser role for the event (admins have every role), else 403; unknown events are 404. The
pages read the database on every request and are never cached: an attendee who withdraws consent
is gone from the next load or download."""

from zoneinfo import ZoneInfo

from flask import Blueprint, Response, make_response, render_template
from flask_babel import gettext as _
from flask_login import current_user, login_required

from eventreg.core.clock import now
from eventreg.core.errors import Forbidden
from eventreg.core.i18n import current_language
from eventreg.events.services import list_events_by_ids
from eventreg.sponsors import services

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
