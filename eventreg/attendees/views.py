"""The organiser's attendee pages under /manage/events/<slug>: the attendee list (search and
filters in the query string), an order with its changes, and mailings to attendees.

Every page needs a login (else a redirect to the login page) and the organiser role for the
event (403 otherwise); unknown events and orders, another event's orders and attendees of
another order are 404."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from eventreg.admin.views import organised_event
from eventreg.attendees import services
from eventreg.attendees.forms import FILTER_ARGS, MailingForm, RefundForm, ResendForm, page_number
from eventreg.core.clock import now
from eventreg.core.errors import Conflict, ValidationError
from eventreg.core.i18n import LANGUAGES, current_language
from eventreg.core.money import format_money
from eventreg.events.choices import choices_for
from eventreg.events.models import Event
from eventreg.events.services import attendee_questions, slots_of
from eventreg.extensions import db, login_manager
from eventreg.payments.services import execute_pending_refunds, payment_facts
from eventreg.registration.capacity import compute_availability
from eventreg.registration.forms import details_of, parse_details, parse_sessions, sessions_of
from eventreg.registration.models import Order
from eventreg.registration.self_service import email_required

bp = Blueprint("attendees", __name__, url_prefix="/manage/events/<slug>")


def _fix() -> str:
    return _("Please correct the marked fields.")


@bp.before_request
def _require_login():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def _messages(error) -> dict[str, list[str]]:
    return {k: [str(m) for m in v] for k, v in (error.fields if error else {}).items()}


# --- the list -------------------------------------------------------------------------------


@bp.route("/attendees/")
def index(slug: str):
    """The attendees the query string selects, 50 a page."""
    event = organised_event(slug)
    try:
        f = services.clean_filter(event, request.args)
    except ValidationError as err:
        return _render_list(event, None, None, error=err, status=422)
    page = page_number(request.args.get("page"))
    if page is None:
        error = ValidationError(_fix(), fields={"page": [_("Not a page number.")]})
        return _render_list(event, f, None, error=error, status=422)
    return _render_list(event, f, services.list_attendees(event, f, now=now(), page=page))


def _filter_choices(event: Event) -> dict:
    lang = current_language()
    return {
        "states": services.STATES,
        "questions": [(q, choices_for(q, lang)) for q in services.filter_questions(event)],
    }


def _render_list(event: Event, f, result, *, error=None, status: int = 200):
    return (
        render_template(
            "attendees/index.html",
            event=event,
            f=f,
            result=result,
            args={name: request.args.get(name, "") for name in FILTER_ARGS},
            errors=_messages(error),
            **_filter_choices(event),
        ),
        status,
    )


# --- one order ------------------------------------------------------------------------------


def _event_order(slug: str, code: str) -> tuple[Event, Order]:
    event = organised_event(slug)
    return event, services.get_event_order(event, code)


@bp.route("/orders/<code>/")
def order(slug: str, code: str):
    """Buyer, attendees, answers, workshops, payments, mail and the audit log of one order;
    `?edit=<attendee id>` opens that attendee's forms."""
    event, order = _event_order(slug, code)
    raw = request.args.get("edit", "")
    editing = None
    if raw:
        editing = services.get_order_attendee(order, int(raw) if raw.isdigit() and len(raw) < 12 else 0).id
    return _render_order(event, order, editing=editing)


def _render_order(
    event: Event,
    order: Order,
    *,
    editing: int | None = None,
    failed: str | None = None,
    error=None,
    status: int = 200,
    details=None,
    sessions: list[str] | None = None,
):
    """The order page; after a failed change of attendee `editing`, the form named `failed`
    ("details" or "workshops") is open with what was typed and the error."""
    at = now()
    lang = current_language()
    slots = slots_of(event)
    attendees = order.attendees
    return (
        render_template(
            "attendees/order.html",
            event=event,
            order=order,
            states=services.STATES,
            state_of=services.attendee_states(order, now=at),
            checked_in=services.checked_in_ids(order),
            refusals={a.id: services.edit_refusal(a, now=at) for a in attendees},
            seat_refusals={a.id: services.edit_refusal(a, now=at, seat=True) for a in attendees},
            details={a.id: details if a.id == editing and details else details_of(a) for a in attendees},
            chosen={
                a.id: sessions if a.id == editing and sessions else sessions_of(event, a) for a in attendees
            },
            questions={a.id: attendee_questions(event, a.ticket_type) for a in attendees},
            email_required={a.id: email_required(a) for a in attendees},
            choices=lambda q: choices_for(q, lang),
            slots=slots,
            sessions_left=compute_availability(event, now=at, sessions=True).sessions if slots else {},
            messages=services.order_messages(order),
            audit=[(entry, _audit_changes(entry, event)) for entry in services.order_audit(order)],
            editing=editing,
            failed=failed,
            errors=_messages(error),
            message=error.message if error else None,
            **payment_facts(order, now=at),
        ),
        status,
    )


def _audit_changes(entry, event: Event) -> list[tuple[str, str, str]]:
    """(what, before, after) of an audit entry, in words."""
    lang = current_language()
    questions = {str(q.id): q for q in event.questions}
    workshops = {s.id: s.label for s in event.sessions}
    labels = {
        "name": _("Name"),
        "email": _("Email"),
        "language": _("Language"),
        "answers": _("Answers"),
        "workshops": _("Workshops"),
        "status": _("Status"),
        "valid_tickets": _("Valid tickets"),
        "amount_ore": _("Refunded"),
        "refund_id": _("Refund"),
        "messages": _("Messages"),
    }

    def answer(question_id: str, value) -> str:
        question = questions.get(question_id)
        if question is None:
            return _plain(value)
        options = dict(choices_for(question, lang))
        if isinstance(value, bool):
            value = "yes" if value else "no"
        shown = [options.get(v, v) for v in value] if isinstance(value, list) else options.get(value, value)
        return f"{question.text}: {_plain(shown)}"

    def words(key: str, value) -> str:
        if value is None or value == "" or value == [] or value == {}:
            return "–"
        if key == "answers":
            return "; ".join(answer(k, v) for k, v in value.items())
        if key == "workshops":
            return ", ".join(workshops.get(i, str(i)) for i in value)
        if key == "amount_ore":
            return format_money(value, lang, event.currency)
        if key == "messages":
            return ", ".join(f"{m['kind']} #{m['id']}" for m in value)
        return _plain(value)

    before, after = entry.before or {}, entry.after or {}
    return [
        (labels.get(key, key), words(key, before.get(key)), words(key, after.get(key)))
        for key in sorted(before.keys() | after.keys())
    ]


def _plain(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _order_url(event: Event, order: Order, attendee_id: int | None = None) -> str:
    url = url_for(".order", slug=event.slug, code=order.code)
    return url + (f"#attendee-{attendee_id}" if attendee_id else "")


@bp.route("/orders/<code>/attendees/<int:attendee_id>/details", methods=["POST"])
def update_details(slug: str, code: str, attendee_id: int):
    event, order = _event_order(slug, code)
    attendee = services.get_order_attendee(order, attendee_id)
    details = parse_details(event, request.form)
    try:
        services.update_attendee_details(
            attendee,
            name=details.name,
            email=details.email or None,
            language=details.language,
            answers=details.answers_for_service(),
            actor=current_user,
            now=now(),
        )
    except ValidationError as err:
        db.session.rollback()
        return _render_order(
            event, order, editing=attendee_id, failed="details", error=err, status=422, details=details
        )
    except Conflict as err:
        db.session.rollback()
        return _render_order(
            event, order, editing=attendee_id, failed="details", error=err, status=409, details=details
        )
    db.session.commit()
    flash(_("The details of %(name)s are saved.", name=attendee.name), "success")
    return redirect(_order_url(event, order, attendee_id))


@bp.route("/orders/<code>/attendees/<int:attendee_id>/workshops", methods=["POST"])
def change_workshops(slug: str, code: str, attendee_id: int):
    event, order = _event_order(slug, code)
    attendee = services.get_order_attendee(order, attendee_id)
    chosen = parse_sessions(event, request.form)
    try:
        services.change_attendee_workshops(
            attendee, [sid for sid in chosen if sid], actor=current_user, now=now()
        )
    except ValidationError as err:
        db.session.rollback()
        return _render_order(
            event, order, editing=attendee_id, failed="workshops", error=err, status=422, sessions=chosen
        )
    except Conflict as err:  # changes closed, workshop full
        db.session.rollback()
        return _render_order(
            event, order, editing=attendee_id, failed="workshops", error=err, status=409, sessions=chosen
        )
    db.session.commit()
    flash(_("The workshops of %(name)s are saved.", name=attendee.name), "success")
    return redirect(_order_url(event, order, attendee_id))


@bp.route("/orders/<code>/resend", methods=["POST"])
def resend(slug: str, code: str):
    """The confirmation again, or one attendee's ticket (the form's `attendee`)."""
    event, order = _event_order(slug, code)
    form = ResendForm()
    raw = form.attendee.data or ""
    attendee = None
    if raw:
        if not raw.isdigit() or len(raw) > 12:
            error = ValidationError(_fix(), fields={"attendee": [_("No such attendee in this order.")]})
            return _render_order(event, order, error=error, status=422)
        attendee = services.get_order_attendee(order, int(raw))
    try:
        queued = services.resend_order_mail(order, attendee=attendee, actor=current_user, now=now())
    except Conflict as err:
        db.session.rollback()
        return _render_order(event, order, error=err, status=409)
    addresses = ", ".join(m.recipient_email for m in queued)
    db.session.commit()
    flash(_("Sent again to %(addresses)s.", addresses=addresses), "success")
    return redirect(_order_url(event, order) + "#mail-heading")


@bp.route("/orders/<code>/links", methods=["POST"])
def replace_links(slug: str, code: str):
    event, order = _event_order(slug, code)
    queued = services.replace_private_links(order, actor=current_user, now=now())
    db.session.commit()
    if queued:
        addresses = ", ".join(m.recipient_email for m in queued)
        flash(
            _(
                "The old links and QR codes no longer work. New ones were sent to %(addresses)s.",
                addresses=addresses,
            ),
            "success",
        )
    else:
        flash(
            _(
                "The old links and QR codes no longer work. Nothing was sent: the order is not paid "
                "or has no email address."
            ),
            "info",
        )
    return redirect(_order_url(event, order))


@bp.route("/orders/<code>/cancel", methods=["POST"])
def cancel(slug: str, code: str):
    event, order = _event_order(slug, code)
    try:
        services.cancel_order_as_organiser(order, actor=current_user, now=now())
    except Conflict as err:
        db.session.rollback()
        return _render_order(event, order, error=err, status=409)
    db.session.commit()
    flash(_("Order %(code)s is cancelled and its seats are free again.", code=order.code), "success")
    return redirect(_order_url(event, order))


@bp.route("/orders/<code>/refunds", methods=["POST"])
def refund(slug: str, code: str):
    """Refunds the chosen tickets through the payments area's refund."""
    event, order = _event_order(slug, code)
    form = RefundForm()
    if not form.validate():
        error = ValidationError(_fix(), fields={"attendees": [_("Choose at least one valid ticket.")]})
        return _render_order(event, order, error=error, status=422)
    try:
        services.refund_tickets(
            order,
            form.attendee.data or [],
            reason=(form.reason.data or "").strip()[:500],
            actor=current_user,
            now=now(),
        )
    except ValidationError as err:
        db.session.rollback()
        return _render_order(event, order, error=err, status=422)
    except Conflict as err:
        db.session.rollback()
        return _render_order(event, order, error=err, status=409)
    db.session.commit()
    execute_pending_refunds(now=now())
    flash(
        _("The refund for order %(code)s is recorded; the buyer gets an email.", code=order.code), "success"
    )
    return redirect(_order_url(event, order))


# --- mailings -------------------------------------------------------------------------------


@bp.route("/attendees/email", methods=["GET", "POST"])
def email(slug: str):
    """GET: write the message for the attendees the query string selects. POST: the preview
    (exact count, the message in both languages, some recipients), or back to writing."""
    event = organised_event(slug)
    try:  # the filter of the list: in the query string, then in the form's hidden fields
        f = services.clean_filter(event, request.form if request.method == "POST" else request.args)
    except ValidationError as err:
        return _render_list(event, None, None, error=err, status=422)
    form = MailingForm()
    at = now()
    recipients = services.find_recipients(event, f, now=at)
    if request.method == "GET" or request.form.get("action") == "edit":
        return _render_compose(event, f, form, recipients)
    try:
        texts = services.clean_mailing_texts(**form.texts())
    except ValidationError as err:
        return _render_compose(event, f, form, recipients, error=err, status=422)
    return _render_preview(event, f, form, texts, recipients)


def _render_compose(event, f, form, recipients, *, error=None, status: int = 200):
    return (
        render_template(
            "attendees/email.html",
            event=event,
            f=f,
            form=form,
            recipients=recipients,
            errors=_messages(error),
            message=error.message if error else None,
            **_filter_choices(event),
        ),
        status,
    )


def _render_preview(event, f, form, texts, recipients, *, error=None, status: int = 200):
    names = [r.name for r in recipients.to[: services.SHOWN_RECIPIENTS]]
    shown = names[0] if names else _("(name)")
    form.token.data = services.preview_token(event, f, texts, recipients)
    return (
        render_template(
            "attendees/preview.html",
            event=event,
            f=f,
            form=form,
            recipients=recipients,
            names=names,
            previews=[
                services.render_preview(event, texts, language=lang, recipient_name=shown)
                for lang in LANGUAGES
            ],
            message=error.message if error else None,
            **_filter_choices(event),
        ),
        status,
    )


@bp.route("/attendees/email/send", methods=["POST"])
def send_email(slug: str):
    """The preview's confirmation: one mailing and one outbox message per recipient, once."""
    event = organised_event(slug)
    try:
        f = services.clean_filter(event, request.form)
    except ValidationError as err:
        return _render_list(event, None, None, error=err, status=422)
    form = MailingForm()
    at = now()
    try:
        texts = services.clean_mailing_texts(**form.texts())
    except ValidationError as err:
        return _render_compose(
            event, f, form, services.find_recipients(event, f, now=at), error=err, status=422
        )
    try:
        mailing = services.send_mailing(
            event, f, texts, token=form.token.data or "", actor=current_user, now=at
        )
    except Conflict as err:
        db.session.rollback()
        if err.code == "already_sent":  # a double click or a replayed form: nothing more to do
            flash(str(err.message), "info")
            return redirect(url_for(".mailings", slug=event.slug), 303)
        recipients = services.find_recipients(event, f, now=at)
        if err.code == "no_recipients":
            return _render_compose(event, f, form, recipients, error=err, status=409)
        return _render_preview(event, f, form, texts, recipients, error=err, status=409)
    count = mailing.recipients
    db.session.commit()
    flash(
        ngettext(
            "The message is on its way to %(num)d attendee.",
            "The message is on its way to %(num)d attendees.",
            count,
        ),
        "success",
    )
    return redirect(url_for(".mailings", slug=event.slug), 303)


@bp.route("/mailings/")
def mailings(slug: str):
    """Past mailings: who sent what when, to how many, and how delivery went."""
    event = organised_event(slug)
    return render_template("attendees/mailings.html", event=event, rows=services.list_mailings(event))
