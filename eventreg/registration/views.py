"""Registering for an event, joining its waiting list, and the buyer's order page."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from eventreg.core.clock import now
from eventreg.core.errors import Conflict, SoldOut, ValidationError
from eventreg.core.i18n import current_language
from eventreg.events.choices import choices_for
from eventreg.events.models import Event
from eventreg.events.services import (
    get_event,
    listed_ticket_types,
    order_questions,
    slots_of,
    ticket_type_allowed,
)
from eventreg.extensions import db
from eventreg.registration import services
from eventreg.registration.capacity import compute_availability
from eventreg.registration.forms import (
    RegistrationState,
    new_block,
    parse_registration,
    shown_error_keys,
)

bp = Blueprint("registration", __name__)


def _actor():
    return current_user if current_user.is_authenticated else None


def _quantity(raw: str | None) -> int:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 4 else 0


def _initial_state(event: Event, args) -> RegistrationState:
    """Blocks from the event page's quantities (`?tt_<id>=2`); types this visitor may not buy are
    left out here, and the services check everything again on POST."""
    actor = _actor()
    code = args.get("voucher_code", "").strip()[:64]
    voucher = services.find_voucher(event, code)
    lang = current_language()
    blocks = []
    for tt in event.ticket_types:
        n = _quantity(args.get(f"tt_{tt.id}"))
        if not n or not ticket_type_allowed(tt, actor=actor, on_behalf=False, voucher=voucher):
            continue
        for _i in range(min(n, event.max_attendees_per_order - len(blocks))):
            blocks.append(new_block(event, len(blocks), tt, language=lang))
    if not blocks:
        listed = listed_ticket_types(event, actor=actor)
        if len(listed) == 1:  # nothing to choose: one ticket of the only kind
            blocks.append(new_block(event, 0, listed[0], language=lang))
    state = RegistrationState(attendees=blocks, buyer_language=lang, voucher_code=code if voucher else "")
    if actor is not None:
        state.buyer_name, state.buyer_email = actor.name, actor.email
    return state


def _render(event: Event, state: RegistrationState, *, error=None, status=200, offer=None, waitlist_for=None):
    lang = current_language()
    errors = {k: [str(m) for m in v] for k, v in (error.fields if error else {}).items()}
    shown = shown_error_keys(event, state)
    general = [m for k, msgs in errors.items() if k not in shown for m in msgs]
    waitlist_values = {
        "name": state.buyer_name,
        "email": state.buyer_email,
        "language": state.buyer_language,
        "seats": len(state.attendees),
    }
    return (
        render_template(
            "registration/register.html",
            event=event,
            state=state,
            slots=slots_of(event),
            sessions_left=compute_availability(event, now=now()).sessions,
            order_questions=order_questions(event),
            choices=lambda q: choices_for(q, lang),
            email_required=event.attendee_email_required,
            needs_payment=any(b.ticket_type and b.ticket_type.price_ore > 0 for b in state.attendees),
            errors=errors,
            general=general,
            message=error.message if error else None,
            offer=offer,
            waitlist_for=waitlist_for,
            waitlist_values=waitlist_values,
        ),
        status,
    )


@bp.route("/events/<slug>/register", methods=["GET", "POST"])
def register(slug: str):
    actor = _actor()
    event = get_event(slug, actor=actor)
    if request.method == "GET":
        refusal = services.registration_refusal(event, actor=actor)
        if refusal is not None:
            if refusal.code == "members_only" and actor is None:
                flash(str(refusal.message), "info")
                return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
            raise refusal
        state = _initial_state(event, request.args)
        if not state.attendees:
            flash(_("Choose how many tickets you want."), "info")
            return redirect(url_for("events.detail", slug=event.slug))
        return _render(event, state)

    state = parse_registration(event, request.form)
    try:
        order = services.create_order(event, state.to_order_data(event), now=now(), actor=actor)
    except ValidationError as err:
        db.session.rollback()
        return _render(event, state, error=err, status=422)
    except SoldOut as err:
        db.session.rollback()
        waitlist_for = None
        if err.code == "sold_out" and event.waitlist_enabled and not state.waitlist_token:
            waitlist_for = next((b.ticket_type for b in state.attendees if b.ticket_type), None)
        return _render(event, state, error=err, status=409, waitlist_for=waitlist_for)
    except Conflict as err:
        db.session.rollback()
        return _render(event, state, error=err, status=409)
    db.session.commit()
    flash(_("Thank you! Your registration is saved."), "success")
    return redirect(url_for("registration.manage", code=order.code, token=order.manage_token))


@bp.route("/events/<slug>/offer/<token>")
def offer(slug: str, token: str):
    """The link in a waiting-list offer email: the form for the offered seats."""
    event = get_event(slug, actor=_actor())
    entry = services.get_offer(event, token, now=now())
    blocks = [new_block(event, i, entry.ticket_type, language=entry.language) for i in range(entry.seats)]
    blocks[0].name, blocks[0].email = entry.name, entry.email
    state = RegistrationState(
        attendees=blocks,
        buyer_name=entry.name,
        buyer_email=entry.email,
        buyer_language=entry.language,
        waitlist_token=token,
    )
    return _render(event, state, offer=entry)


@bp.route("/events/<slug>/waitlist", methods=["POST"])
def join_waitlist(slug: str):
    actor = _actor()
    event = get_event(slug, actor=actor)
    form = request.form
    values = {k: form.get(k, "") for k in ("ticket_type_id", "seats", "name", "email", "language")}
    try:
        entry = services.join_waitlist(event, now=now(), actor=actor, **values)
    except (ValidationError, Conflict) as err:
        db.session.rollback()
        ticket_type = next((tt for tt in event.ticket_types if str(tt.id) == values["ticket_type_id"]), None)
        errors = {k: [str(m) for m in v] for k, v in err.fields.items()}
        status = 422 if isinstance(err, ValidationError) else 409
        return (
            render_template(
                "registration/waitlist.html",
                event=event,
                ticket_type=ticket_type,
                values=values,
                errors=errors,
                message=err.message,
            ),
            status,
        )
    position = services.waitlist_position(entry)
    db.session.commit()
    flash(
        _(
            "You are on the waiting list as number %(num)d. We will email you if seats become free.",
            num=position,
        ),
        "success",
    )
    return redirect(url_for("events.detail", slug=event.slug))


@bp.route("/orders/<code>/<token>")
def manage(code: str, token: str):
    """The buyer's private order page (the link in the confirmation email)."""
    order = services.get_order_by_token(code, token)
    return render_template("registration/manage.html", order=order, event=order.event)
