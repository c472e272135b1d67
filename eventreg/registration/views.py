"""Registering for an event, joining its waiting list, the buyer's order page and each
attendee's own ticket page (both reached by private links)."""

import base64

from flask import Blueprint, Response, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from eventreg.core.clock import now
from eventreg.core.errors import Conflict, SoldOut, ValidationError
from eventreg.core.i18n import current_language
from eventreg.core.links import public_url
from eventreg.events.choices import choices_for
from eventreg.events.models import Event
from eventreg.events.services import (
    attendee_questions,
    get_event,
    listed_ticket_types,
    order_questions,
    slots_of,
    ticket_type_allowed,
)
from eventreg.extensions import db
from eventreg.payments import services as payments
from eventreg.registration import self_service, services
from eventreg.registration.capacity import compute_availability
from eventreg.registration.forms import (
    AttendeeDetails,
    RegistrationState,
    TransferForm,
    details_of,
    new_block,
    parse_details,
    parse_registration,
    parse_sessions,
    parse_transfer,
    sessions_of,
    shown_error_keys,
)
from eventreg.registration.models import Attendee, Order, OrderStatus
from eventreg.tickets import documents
from eventreg.tickets.services import ticket_qr

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


# --- private links: the buyer's order page and each attendee's ticket page --------------------


def private_page(page, status: int = 200) -> Response:
    """A page or file behind a private link: kept out of shared caches, and the link is not sent
    to other sites in the Referer header."""
    response = make_response(page, status)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def download(data: bytes, mimetype: str, filename: str) -> Response:
    response = private_page(data)
    response.mimetype = mimetype
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def render_order_page(order: Order, *, error=None, status: int = 200) -> Response:
    at = now()
    refusal = self_service.changes_refusal(order, now=at)
    return private_page(
        render_template(
            "registration/manage.html",
            order=order,
            event=order.event,
            refusal=refusal,
            deadline=self_service.changes_deadline(order.event),
            can_cancel=refusal is None,
            message=error.message if error else None,
            **payments.payment_facts(order, now=at),
        ),
        status,
    )


@bp.route("/orders/<code>/<token>")
def manage(code: str, token: str):
    """The buyer's private order page (the link in the confirmation email)."""
    return render_order_page(services.get_order_by_token(code, token))


@bp.route("/orders/<code>/<token>/cancel", methods=["GET", "POST"])
def cancel(code: str, token: str):
    """GET: the confirm step; POST: the buyer cancels the whole order."""
    order = services.get_order_by_token(code, token)
    if request.method == "GET":
        refusal = self_service.changes_refusal(order, now=now())
        refund = refusal is None and self_service.refund_needed(order)
        page = render_template(
            "registration/cancel.html",
            order=order,
            event=order.event,
            refusal=refusal,
            refund_needed=refund,
            refund_ore=self_service.cancel_refund_ore(order) if refund else 0,
        )
        return private_page(page, 409 if refusal else 200)
    refund = self_service.refund_needed(order)
    try:
        self_service.cancel_by_buyer(order, now=now())
    except Conflict as err:
        db.session.rollback()
        return render_order_page(order, error=err, status=409)
    db.session.commit()
    if refund:
        payments.execute_pending_refunds(now=now())
        flash(
            _("Your order is cancelled; the refund is on its way and you get an email about it."), "success"
        )
    else:
        flash(_("Your order is cancelled and the seats are free for others."), "success")
    return redirect(url_for("registration.manage", code=order.code, token=order.manage_token))


@bp.route("/orders/<code>/<token>/tickets.pdf")
def order_tickets_pdf(code: str, token: str):
    order = services.get_order_by_token(code, token)
    self_service.check_tickets_issued(order)
    data = documents.ticket_pdf(order.active_attendees, language=current_language(), now=now())
    filename = f"{order.code}.pdf"
    db.session.commit()  # the event's first ticket key may have been made for these QR codes
    return download(data, "application/pdf", filename)


@bp.route("/orders/<code>/<token>/event.ics")
def order_ics(code: str, token: str):
    order = services.get_order_by_token(code, token)
    return _calendar_file(order.event)


def _calendar_file(event: Event) -> Response:
    # The event's public page, never a private link: calendars are often shared.
    url = public_url("events.detail", slug=event.slug)
    data = documents.event_ics(event, language=current_language(), url=url)
    return download(data, "text/calendar", f"{event.slug}.ics")


def _render_ticket(
    attendee: Attendee,
    *,
    failed: str | None = None,
    error=None,
    status: int = 200,
    details: AttendeeDetails | None = None,
    sessions: list[str] | None = None,
    transfer: TransferForm | None = None,
) -> Response:
    """The attendee's page; after a failed POST, `failed` names the form whose `error` is shown."""
    order = attendee.order
    event = order.event
    at = now()
    lang = current_language()
    qr_image = None
    if order.status == OrderStatus.PAID:
        png = documents.qr_png(ticket_qr(attendee, now=at))
        qr_image = "data:image/png;base64," + base64.b64encode(png).decode()
        db.session.commit()  # the event's first ticket key may have been made just now
    refusal = self_service.changes_refusal(order, now=at)
    slots = slots_of(event)
    page = render_template(
        "registration/ticket.html",
        attendee=attendee,
        order=order,
        event=event,
        qr_image=qr_image,
        order_status_word=services.ORDER_STATUS_WORDS[order.status],
        refusal=refusal,
        deadline=self_service.changes_deadline(event),
        details=details or details_of(attendee),
        questions=attendee_questions(event, attendee.ticket_type),
        missing=self_service.missing_answers(attendee),
        email_required=self_service.email_required(attendee),
        choices=lambda q: choices_for(q, lang),
        slots=slots,
        chosen=sessions or sessions_of(event, attendee),
        sessions_left=compute_availability(event, now=at).sessions if slots else {},
        transfer=transfer or TransferForm(language=lang),
        show_consent=bool(event.sponsors) or attendee.sponsor_consent,
        failed=failed,
        errors={k: [str(m) for m in v] for k, v in (error.fields if error else {}).items()},
        message=error.message if error else None,
    )
    return private_page(page, status)


def _try(attendee: Attendee, failed: str, action, **shown) -> Response | None:
    """Runs `action`; on a domain error rolls back and returns the page again with the error."""
    try:
        action()
    except ValidationError as err:
        db.session.rollback()
        return _render_ticket(attendee, failed=failed, error=err, status=422, **shown)
    except Conflict as err:  # changes closed, workshop full
        db.session.rollback()
        return _render_ticket(attendee, failed=failed, error=err, status=409, **shown)
    return None


@bp.route("/tickets/<token>")
def ticket(token: str):
    """An attendee's own page (the link in their ticket email; the buyer reaches it from the order
    page): the ticket, their details and answers, workshops, transfer, sponsor consent."""
    return _render_ticket(self_service.get_attendee_by_token(token))


@bp.route("/tickets/<token>/details", methods=["POST"])
def update_details(token: str):
    attendee = self_service.get_attendee_by_token(token)
    details = parse_details(attendee.order.event, request.form)

    def action():
        self_service.update_attendee(
            attendee,
            name=details.name,
            email=details.email or None,
            language=details.language,
            answers=details.answers_for_service(),
            now=now(),
        )

    if (page := _try(attendee, "details", action, details=details)) is not None:
        return page
    db.session.commit()
    flash(_("Your details are saved."), "success")
    return redirect(url_for("registration.ticket", token=token))


@bp.route("/tickets/<token>/workshops", methods=["POST"])
def change_workshops(token: str):
    attendee = self_service.get_attendee_by_token(token)
    chosen = parse_sessions(attendee.order.event, request.form)

    def action():
        self_service.change_sessions(attendee, [sid for sid in chosen if sid], now=now())

    if (page := _try(attendee, "workshops", action, sessions=chosen)) is not None:
        return page
    db.session.commit()
    flash(_("Your workshops are saved."), "success")
    return redirect(url_for("registration.ticket", token=token))


@bp.route("/tickets/<token>/transfer", methods=["POST"])
def transfer(token: str):
    attendee = self_service.get_attendee_by_token(token)
    form = parse_transfer(request.form)
    if not form.confirm:
        error = ValidationError(
            _("Please correct the marked fields."),
            fields={"confirm": [_("Tick the box to confirm that the ticket goes to this person.")]},
        )
        return _render_ticket(attendee, failed="transfer", error=error, status=422, transfer=form)

    def action():
        self_service.transfer_ticket(
            attendee, name=form.name, email=form.email or None, language=form.language, now=now()
        )

    if (page := _try(attendee, "transfer", action, transfer=form)) is not None:
        return page
    new_name, slug = attendee.name, attendee.order.event.slug
    db.session.commit()
    # Not to the ticket page: its new link belongs to the new holder alone.
    flash(
        _(
            "The ticket now belongs to %(name)s. We have emailed them the ticket and their own link; "
            "the link you used no longer works.",
            name=new_name,
        ),
        "success",
    )
    return redirect(url_for("events.detail", slug=slug))


@bp.route("/tickets/<token>/consent", methods=["POST"])
def sponsor_consent(token: str):
    attendee = self_service.get_attendee_by_token(token)
    given = request.form.get("sponsor_consent") == "yes"

    def action():
        self_service.set_sponsor_consent(attendee, given, now=now(), via="attendee")

    if (page := _try(attendee, "consent", action)) is not None:
        return page
    db.session.commit()
    if given:
        flash(_("Thank you. The sponsors may see your contact details."), "success")
    else:
        flash(_("The sponsors will not see your contact details."), "success")
    return redirect(url_for("registration.ticket", token=token))


@bp.route("/tickets/<token>/ticket.pdf")
def ticket_pdf(token: str):
    attendee = self_service.get_attendee_by_token(token)
    self_service.check_tickets_issued(attendee.order, attendee)
    data = documents.ticket_pdf([attendee], language=current_language(), now=now())
    filename = f"ticket-{attendee.order.code}-{attendee.position + 1}.pdf"
    db.session.commit()  # the event's first ticket key may have been made for this QR code
    return download(data, "application/pdf", filename)


@bp.route("/tickets/<token>/event.ics")
def ticket_ics(token: str):
    return _calendar_file(self_service.get_attendee_by_token(token).order.event)
