"""Organisers' ticket pages under /manage/<slug>: name badges as a PDF for the event's attendees.

Every page needs a login (else a redirect to the login page) and the organiser role for the event
(403 otherwise); unknown events are 404."""

from dataclasses import dataclass, field

from flask import Blueprint, Response, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from eventreg.admin.views import organised_event
from eventreg.core.clock import now
from eventreg.core.errors import ValidationError
from eventreg.core.i18n import LANGUAGES, current_language
from eventreg.events.models import Event
from eventreg.extensions import db, login_manager
from eventreg.registration.models import Attendee
from eventreg.tickets.documents import (
    BADGE_LAYOUTS,
    badges_pdf,
    choose_badge_attendees,
    paid_attendees,
)

bp = Blueprint("tickets", __name__, url_prefix="/manage/events/<slug>")

WHO = ("all", "ticket_types", "attendees")


@bp.before_request
def _require_login():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@dataclass
class _BadgeChoice:
    layout: str = next(iter(BADGE_LAYOUTS))
    language: str = "nb"
    who: str = "all"
    ticket_type_ids: list[str] = field(default_factory=list)
    attendee_ids: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, form) -> "_BadgeChoice":
        return cls(
            layout=form.get("layout", ""),
            language=form.get("language", ""),
            who=form.get("who", "all"),
            ticket_type_ids=form.getlist("ticket_type"),
            attendee_ids=form.getlist("attendee"),
        )

    def check(self) -> None:
        """ValidationError for choices that are not among those the form offers."""
        fields = {}
        if self.layout not in BADGE_LAYOUTS:
            fields["layout"] = [_l("Choose one of the badge layouts.")]
        if self.language not in LANGUAGES:
            fields["language"] = [_l("Choose Norwegian or English.")]
        if self.who not in WHO:
            fields["who"] = [_l("Choose whom to print badges for.")]
        if fields:
            raise ValidationError(_l("Please correct the marked fields."), fields=fields)

    def selection(self) -> dict:
        if self.who == "ticket_types":
            return {"ticket_type_ids": self.ticket_type_ids}
        if self.who == "attendees":
            return {"attendee_ids": self.attendee_ids}
        return {}


@bp.route("/badges", methods=["GET", "POST"])
def badges(slug: str):
    """GET: the form (layout, language, whom). POST: the badges as a PDF download."""
    event = organised_event(slug)
    if request.method == "GET":
        return _render_badges(event, paid_attendees(event), _BadgeChoice(language=current_language()))

    choice = _BadgeChoice.parse(request.form)
    try:
        choice.check()
        chosen = choose_badge_attendees(event, **choice.selection())
        pdf = badges_pdf(chosen, layout=choice.layout, language=choice.language, now=now())
    except ValidationError as err:
        db.session.rollback()
        return _render_badges(event, paid_attendees(event), choice, error=err, status=422)
    db.session.commit()  # printing the first tickets of an event creates its signing key
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="badges-{event.slug}.pdf"',
            "Cache-Control": "no-store",  # the QR codes on the badges are tickets
        },
    )


def _render_badges(
    event: Event, attendees: list[Attendee], choice: _BadgeChoice, *, error=None, status: int = 200
):
    errors = {k: [str(m) for m in v] for k, v in (error.fields if error else {}).items()}
    return (
        render_template(
            "tickets/badges.html",
            event=event,
            attendees=attendees,
            layouts=BADGE_LAYOUTS.values(),
            choice=choice,
            errors=errors,
            message=error.message if error else None,
        ),
        status,
    )
