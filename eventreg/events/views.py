"""Public pages: the list of events, one event with its tickets, and the language switch."""

from dataclasses import dataclass

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from eventreg.core.clock import now
from eventreg.core.i18n import LANGUAGES
from eventreg.core.money import vat_included
from eventreg.core.safe_url import safe_next
from eventreg.events.models import Event, TicketType, Visibility
from eventreg.events.services import (
    get_event,
    list_published_events,
    listed_ticket_types,
    sales_state,
    slots_of,
    ticket_type_allowed,
)
from eventreg.registration.capacity import Availability, compute_availability
from eventreg.registration.services import find_voucher, registration_refusal

bp = Blueprint("events", __name__)


def actor():
    return current_user if current_user.is_authenticated else None


@dataclass
class TicketRow:
    ticket_type: TicketType
    vat_ore: int
    left: int | None  # None: no limit
    sales: str  # "open", "not_started", "ended"
    max_pick: int


def ticket_rows(event: Event, av: Availability, *, voucher, at) -> list[TicketRow]:
    """The ticket types this visitor may see (plus those the voucher unlocks), with seats left."""
    user = actor()
    shown = listed_ticket_types(event, actor=user)
    shown += [
        tt
        for tt in event.ticket_types
        if tt.visibility == Visibility.VOUCHER
        and tt not in shown
        and ticket_type_allowed(tt, actor=user, on_behalf=False, voucher=voucher)
    ]
    rows = []
    for tt in shown:
        left = av.ticket_type_left(tt.id)
        cap = event.max_attendees_per_order if left is None else min(left, event.max_attendees_per_order)
        rows.append(TicketRow(tt, vat_included(tt.price_ore, tt.vat_rate), left, sales_state(tt, at), cap))
    return rows


@bp.route("/")
def index():
    return render_template("events/index.html", events=list_published_events())


@bp.route("/events/<slug>")
def detail(slug: str):
    event = get_event(slug, actor=actor())
    code = request.args.get("voucher_code", "").strip()[:64]
    voucher = find_voucher(event, code)
    voucher_error = _("Unknown voucher code.") if code and voucher is None else None
    at = now()
    av = compute_availability(event, now=at)
    return render_template(
        "events/detail.html",
        event=event,
        rows=ticket_rows(event, av, voucher=voucher, at=at),
        sessions_left=av.sessions,
        slots=slots_of(event),
        refusal=registration_refusal(event, actor=actor()),
        voucher_code=code if voucher else "",
        voucher_error=voucher_error,
        languages=LANGUAGES,
    )


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    return redirect(safe_next(request.form.get("next") or request.args.get("next"), url_for("events.index")))
