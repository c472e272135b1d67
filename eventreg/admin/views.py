"""Organisers' pages under /manage: their events, the orders, registering on someone's behalf.

Every page needs a login (else a redirect to the login page) and the organiser role for the event
(403 otherwise); unknown events and orders are 404."""

from dataclasses import dataclass, field

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from eventreg.accounts.models import EventRoleKind
from eventreg.accounts.services import require_event_role, staff_events
from eventreg.attendees.services import cancel_order_as_organiser
from eventreg.core.clock import now
from eventreg.core.errors import Conflict, Forbidden, ValidationError
from eventreg.events.models import Event
from eventreg.events.services import get_event, list_events_by_ids
from eventreg.extensions import db, login_manager
from eventreg.mail import services as mail
from eventreg.mail.models import MessageStatus
from eventreg.payments.invoices import InvoiceDetails
from eventreg.registration.capacity import compute_availability
from eventreg.registration.forms import INVOICE_FIELDS, parse_invoice_details
from eventreg.registration.services import (
    AttendeeData,
    IllegalTransition,
    OrderData,
    create_order,
    get_order,
    list_orders,
)

bp = Blueprint("admin", __name__, url_prefix="/manage")

DEFAULT_ROWS = 5


@bp.before_request
def _require_login():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@bp.app_context_processor
def _manage_link():
    user = current_user
    if not getattr(user, "is_authenticated", False):
        return {"show_manage": False}
    ids = staff_events(user)
    return {"show_manage": ids is None or bool(ids)}


def organised_event(slug: str) -> Event:
    """The event, if the current user organises it. NotFound for unknown slugs, else Forbidden."""
    event = get_event(slug, actor=current_user)
    require_event_role(current_user, event.id, EventRoleKind.ORGANISER)
    return event


@bp.route("/")
def index():
    ids = staff_events(current_user)
    if ids == []:
        raise Forbidden(_("You do not organise any events."))
    return render_template("admin/index.html", events=list_events_by_ids(ids))


@bp.route("/events/<slug>/")
def event_orders(slug: str):
    event = organised_event(slug)
    return render_template(
        "admin/event.html",
        event=event,
        orders=list_orders(event),
        av=compute_availability(event, now=now()),
    )


@dataclass
class _Row:
    name: str = ""
    email: str = ""


@dataclass
class _OnBehalf:
    ticket_type_id: str = ""
    language: str = "nb"
    payment_method: str = "invoice"
    rows: list[_Row] = field(default_factory=list)
    invoice: InvoiceDetails = field(default_factory=InvoiceDetails)


def _parse_on_behalf(form, n_rows: int) -> _OnBehalf:
    rows = [_Row(form.get(f"p-{i}-name", ""), form.get(f"p-{i}-email", "")) for i in range(n_rows)]
    return _OnBehalf(
        ticket_type_id=form.get("ticket_type_id", ""),
        language=form.get("language", "nb"),
        payment_method=form.get("payment_method", "invoice"),
        rows=[r for r in rows if r.name.strip() or r.email.strip()],  # blank rows are unused rows
        invoice=parse_invoice_details(form),
    )


@bp.route("/events/<slug>/register", methods=["GET", "POST"])
def register_on_behalf(slug: str):
    """Organisers register participants by name (email optional, hidden ticket types allowed)."""
    event = organised_event(slug)
    limit = event.max_attendees_per_order
    if request.method == "GET":
        raw = request.args.get("rows", "")
        n = min(int(raw), limit) if raw.isdigit() and len(raw) < 4 and int(raw) > 0 else DEFAULT_ROWS
        first = event.ticket_types[0] if event.ticket_types else None
        state = _OnBehalf(ticket_type_id=str(first.id) if first else "", rows=[_Row() for _ in range(n)])
        return _render_on_behalf(event, state)

    state = _parse_on_behalf(request.form, limit + 1)
    data = OrderData(
        buyer_name=current_user.name,
        # The staff member is recorded as created_by; no confirmation mail is needed for the group.
        buyer_email=None,
        buyer_language=state.language,
        attendees=[
            AttendeeData(
                name=r.name,
                email=r.email or None,
                language=state.language,
                ticket_type_id=state.ticket_type_id,
            )
            for r in state.rows
        ],
        payment_method=state.payment_method,
        invoice=state.invoice if state.payment_method == "invoice" else None,
    )
    try:
        order = create_order(event, data, now=now(), actor=current_user, on_behalf=True)
    except ValidationError as err:
        db.session.rollback()
        return _render_on_behalf(event, state, error=err, status=422)
    except Conflict as err:
        db.session.rollback()
        return _render_on_behalf(event, state, error=err, status=409)
    db.session.commit()
    flash(
        ngettext(
            "Registered %(num)d participant (order %(code)s).",
            "Registered %(num)d participants (order %(code)s).",
            len(order.attendees),
            code=order.code,
        ),
        "success",
    )
    return redirect(url_for("attendees.order", slug=event.slug, code=order.code))  # tickets to print


def _render_on_behalf(event: Event, state: _OnBehalf, *, error=None, status=200):
    while len(state.rows) < min(DEFAULT_ROWS, event.max_attendees_per_order):
        state.rows.append(_Row())
    errors = {k: [str(m) for m in v] for k, v in (error.fields if error else {}).items()}
    shown = (
        {"payment_method", "attendees"}
        | {f"invoice.{f}" for f in INVOICE_FIELDS}
        | {f"attendees.{i}.{f}" for i in range(len(state.rows)) for f in ("name", "email")}
    )
    return (
        render_template(
            "admin/register.html",
            event=event,
            state=state,
            errors=errors,
            general=[m for k, msgs in errors.items() if k not in shown for m in msgs],
            message=error.message if error else None,
            needs_payment=any(tt.price_ore > 0 for tt in event.ticket_types),
        ),
        status,
    )


@bp.route("/orders/<code>/cancel", methods=["POST"])
def cancel(code: str):
    order = get_order(code)
    require_event_role(current_user, order.event_id, EventRoleKind.ORGANISER)
    slug = order.event.slug
    try:
        cancel_order_as_organiser(order, actor=current_user, now=now())  # recorded in the audit log
    except IllegalTransition as err:
        db.session.rollback()
        return render_template(
            "error.html",
            status=409,
            message=_("Order %(code)s was not cancelled: %(reason)s", code=code, reason=err.message),
        ), 409
    db.session.commit()
    flash(_("Order %(code)s is cancelled and its seats are free again.", code=code), "success")
    return redirect(url_for("admin.event_orders", slug=slug))


@bp.route("/events/<slug>/mail")
def mail_log(slug: str):
    """The event's outgoing mail: what was sent, what waits for a retry, and what failed."""
    event = organised_event(slug)
    raw = request.args.get("status", "")
    status = MessageStatus(raw) if raw in set(MessageStatus) else None
    counts = mail.count_messages(event)
    return render_template(
        "admin/mail.html",
        event=event,
        messages=mail.list_messages(event, status=status),
        counts=counts,
        failed=counts[MessageStatus.FAILED],
        status=status,
        statuses=list(MessageStatus),
    )


@bp.route("/events/<slug>/mail/<int:message_id>/resend", methods=["POST"])
def resend_mail(slug: str, message_id: int):
    event = organised_event(slug)
    message = mail.get_message(event, message_id)
    mail.resend_message(message, now=now(), actor=current_user)
    db.session.commit()
    flash(_("The message to %(email)s is queued again.", email=message.recipient_email), "success")
    return redirect(url_for("admin.mail_log", slug=slug, status="failed"))
