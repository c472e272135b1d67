"""The organiser's check-in pages: every list (door) with checked in / expected, what offline
gates let in that they should not have (conflicts), the latest admissions with undo, and the form
that creates and changes a list.

Every page needs a login (else a redirect to the login page) and the organiser role for the event
(403 otherwise); unknown events, lists and check-ins are 404."""

from datetime import UTC, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Optional

from eventreg.admin.views import organised_event
from eventreg.checkin import services
from eventreg.checkin.models import CheckinList
from eventreg.checkin.texts import REASONS, RESULTS
from eventreg.core.clock import now
from eventreg.core.errors import Conflict, ValidationError
from eventreg.events.models import Event
from eventreg.extensions import db

bp = Blueprint("checkin_manage", __name__, url_prefix="/manage/events/<slug>/checkin")

RECENT = 20  # admissions shown under "Latest check-ins", all lists together

# What a browser's datetime-local input sends (with seconds when a step is set).
_LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def _optional_id(value) -> int | None:
    """The workshop chosen, or None for the empty choice; anything but digits cannot be read."""
    if value in (None, ""):
        return None
    if isinstance(value, int):
        return value
    if not value.isdigit() or len(value) > 12:
        raise ValueError(value)
    return int(value)


class ListForm(FlaskForm):
    """Reads the form; save_list checks the values (required name, this event's ticket types and
    workshops, closing after opening)."""

    name = StringField(_l("Name"))
    ticket_type_ids = SelectMultipleField(_l("Ticket types"), coerce=int, validate_choice=False)
    session_id = SelectField(_l("Workshop"), coerce=_optional_id, validate_choice=False)
    allow_reentry = BooleanField(_l("Allow re-entry"))
    admit_unpaid_invoices = BooleanField(_l("Admit attendees whose invoice is not paid yet"), default=True)
    opens_at = DateTimeLocalField(_l("Opens at"), format=_LOCAL_FORMATS, validators=[Optional()])
    closes_at = DateTimeLocalField(_l("Closes at"), format=_LOCAL_FORMATS, validators=[Optional()])


def _to_utc(local: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A time typed in the event's timezone, as stored."""
    return local.replace(tzinfo=tz).astimezone(UTC) if local else None


def _to_local(at: datetime | None, tz: ZoneInfo) -> datetime | None:
    return at.astimezone(tz).replace(tzinfo=None) if at else None


def _scanner_url(event: Event, lst: CheckinList) -> str:
    # The scanner's blueprint is being built alongside; its endpoint does not exist yet.
    return f"/checkin/{quote(event.slug)}/?list={lst.id}"


# --- the overview ---------------------------------------------------------------------------


def _figures(event: Event) -> list[dict]:
    """progress() per list: what the page and the JSON show."""
    return [
        {
            "id": p.checkin_list.id,
            "name": p.checkin_list.name,
            "inside": p.inside,
            "expected": p.expected,
            "ticket_types": [
                {
                    "id": t.ticket_type.id,
                    "name": t.ticket_type.label,
                    "inside": t.inside,
                    "expected": t.expected,
                }
                for t in p.by_type
            ],
        }
        for p in services.progress(event)
    ]


@bp.route("/")
@login_required
def overview(slug: str):
    event = organised_event(slug)
    figures = _figures(event)
    lists = {lst.id: lst for lst in services.lists_of(event)}
    conflicts = services.conflicts(event)
    recent = sorted(
        (c for lst in lists.values() for c in services.recent_checkins(lst, RECENT)),
        key=lambda c: c.recorded_at,
        reverse=True,
    )[:RECENT]
    return render_template(
        "checkin/manage.html",
        event=event,
        cards=[(lists[f["id"]], f) for f in figures],
        scanner_urls={i: _scanner_url(event, lst) for i, lst in lists.items()},
        conflicts=conflicts,
        instead={c.id: services.counting_admission(c.checkin_list, c.attendee_id) for c in conflicts},
        results=RESULTS,
        reasons=REASONS,
        recent=recent,
    )


@bp.route("/progress.json")
@login_required
def progress_json(slug: str):
    """The overview's figures, for the page to refresh itself."""
    event = organised_event(slug)
    response = jsonify(lists=_figures(event), conflicts=len(services.conflicts(event)))
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- the list form --------------------------------------------------------------------------


@bp.route("/lists/new", methods=["GET", "POST"])
@login_required
def new_list(slug: str):
    return _list_form(organised_event(slug), None)


@bp.route("/lists/<int:list_id>/edit", methods=["GET", "POST"])
@login_required
def edit_list(slug: str, list_id: int):
    event = organised_event(slug)
    return _list_form(event, services.get_list(event, list_id))


def _initial(lst: CheckinList, tz: ZoneInfo) -> dict:
    return {
        "name": lst.name,
        "ticket_type_ids": [t.id for t in lst.ticket_types],
        "session_id": lst.session_id,
        "allow_reentry": lst.allow_reentry,
        "admit_unpaid_invoices": lst.admit_unpaid_invoices,
        "opens_at": _to_local(lst.opens_at, tz),
        "closes_at": _to_local(lst.closes_at, tz),
    }


def _list_form(event: Event, lst: CheckinList | None):
    tz = ZoneInfo(event.timezone)
    form = ListForm(data=_initial(lst, tz) if lst is not None and request.method == "GET" else None)
    form.session_id.choices = [("", _("No workshop (everyone the list admits)"))] + [
        (str(s.id), s.label) for s in event.sessions
    ]
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            data = services.ListData(
                name=form.name.data or "",
                ticket_type_ids=form.ticket_type_ids.data or [],
                session_id=form.session_id.data,
                allow_reentry=form.allow_reentry.data,
                admit_unpaid_invoices=form.admit_unpaid_invoices.data,
                opens_at=_to_utc(form.opens_at.data, tz),
                closes_at=_to_utc(form.closes_at.data, tz),
            )
            try:
                saved = services.save_list(event, data, lst)
            except ValidationError as err:
                db.session.rollback()
                for key, messages in err.fields.items():
                    field = form._fields.get(key)
                    errors = field.errors if field is not None else form.form_errors
                    errors.extend(str(m) for m in messages)
            else:
                db.session.commit()
                flash(_("The check-in list “%(name)s” is saved.", name=saved.name), "success")
                return redirect(url_for(".overview", slug=event.slug))
    return (
        render_template("checkin/manage_list.html", event=event, lst=lst, form=form, timezone=event.timezone),
        status,
    )


@bp.route("/lists/<int:list_id>/delete", methods=["POST"])
@login_required
def delete_list(slug: str, list_id: int):
    event = organised_event(slug)
    lst = services.get_list(event, list_id)
    name = lst.name
    try:
        services.delete_list(lst)
        db.session.commit()
    except Conflict as err:
        db.session.rollback()
        flash(str(err.message), "error")
        return redirect(url_for(".edit_list", slug=event.slug, list_id=list_id))
    flash(_("The check-in list “%(name)s” is deleted.", name=name), "success")
    return redirect(url_for(".overview", slug=event.slug))


# --- undo -----------------------------------------------------------------------------------


@bp.route("/checkins/<int:checkin_id>/undo", methods=["POST"])
@login_required
def undo(slug: str, checkin_id: int):
    """Takes back a mistaken admission; the attendee can then be admitted again."""
    event = organised_event(slug)
    checkin = services.get_checkin(event, checkin_id)
    lst = checkin.checkin_list
    name = checkin.attendee.name
    try:
        services.undo(lst, checkin_id, user=current_user, now=now())
    except Conflict as err:
        db.session.rollback()
        flash(str(err.message), "error")
    else:
        db.session.commit()
        flash(
            _(
                "The check-in of %(name)s on “%(list)s” is undone; they can be admitted again.",
                name=name,
                list=lst.name,
            ),
            "success",
        )
    return redirect(url_for(".overview", slug=event.slug) + "#recent-heading")
