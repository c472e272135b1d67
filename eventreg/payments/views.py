"""Payment pages: paying by card (to Stripe Checkout and back), Stripe's webhook, the buyer's
invoices and receipts, and the organiser's payments page (invoices, bank statement import,
refunds)."""

import logging

import sqlalchemy as sa
import stripe
from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from eventreg.admin.views import organised_event
from eventreg.core.clock import now
from eventreg.core.errors import Conflict, DomainError, NotFound, ValidationError
from eventreg.events.models import Event, Organiser
from eventreg.extensions import csrf, db
from eventreg.payments import invoices, services, stripe_gateway
from eventreg.payments.documents import document_filename, document_pdf
from eventreg.payments.models import Payment
from eventreg.registration.models import OrderStatus
from eventreg.registration.services import get_order, get_order_by_token
from eventreg.registration.views import download, private_page, render_order_page

bp = Blueprint("payments", __name__)
log = logging.getLogger(__name__)

MAX_STATEMENT = 512 * 1024


# --- the buyer ------------------------------------------------------------------------------


@bp.route("/orders/<code>/<token>/pay", methods=["POST"])
def pay(code: str, token: str):
    """To Stripe Checkout. A second click while a session is open goes to the same session."""
    order = get_order_by_token(code, token)
    try:
        url = services.start_card_payment(order, now=now())
    except Conflict as err:
        db.session.rollback()
        return render_order_page(order, error=err, status=409)
    except stripe_gateway.StripeUnavailable:
        db.session.rollback()
        err = DomainError(_("The card payment service did not answer. Please try again in a minute."))
        return render_order_page(order, error=err, status=503)
    db.session.commit()
    return redirect(url, 303)


@bp.route("/orders/<code>/<token>/paid")
def card_return(code: str, token: str):
    """Where Stripe sends the buyer back. Shows what Stripe says now, never a guess: paid, or
    waiting for confirmation (the page looks again by itself)."""
    order = get_order_by_token(code, token)
    session_id = request.args.get("session_id", "")[:255]
    payment = db.session.scalar(
        sa.select(Payment).where(Payment.order_id == order.id, Payment.session_id == session_id)
    )
    if payment is None:
        raise NotFound(_("No such payment for this order."))
    try:
        services.sync_checkout(session_id, now=now())
        db.session.commit()
    except stripe_gateway.StripeUnavailable:
        db.session.rollback()  # the webhook or the reconciliation job will bring the news
    services.execute_pending_refunds(now=now())
    db.session.refresh(order)
    db.session.refresh(payment)
    return private_page(
        render_template("payments/return.html", order=order, event=order.event, payment=payment)
    )


@bp.route("/orders/<code>/<token>/documents/<int:number>.pdf")
def order_document(code: str, token: str, number: int):
    """The buyer's invoice, receipt or credit note."""
    order = get_order_by_token(code, token)
    doc = next((d for d in invoices.order_documents(order) if d.number == number), None)
    if doc is None:
        raise NotFound(_("No such invoice."))
    return download(document_pdf(doc), "application/pdf", document_filename(doc))


# --- Stripe ---------------------------------------------------------------------------------


@bp.route("/payments/stripe/webhook", methods=["POST"])
@csrf.exempt
def stripe_webhook():
    """Stripe's signed notifications. 400 for anything Stripe did not sign (nothing changes),
    200 once processed or already processed, 503 while Stripe cannot confirm (it retries)."""
    try:
        outcome = services.handle_webhook(
            request.get_data(), request.headers.get("Stripe-Signature"), now=now()
        )
    except (ValueError, stripe.SignatureVerificationError) as err:
        db.session.rollback()
        log.warning("Stripe webhook refused: %s", err)
        return jsonify(error="invalid_signature", message="The signature does not match."), 400
    except stripe_gateway.NotConfigured:
        return jsonify(error="not_configured", message="Stripe is not configured here."), 503
    except stripe_gateway.StripeUnavailable as err:
        db.session.rollback()
        log.warning("Stripe webhook could not be confirmed: %s", err)
        return jsonify(error="stripe_unavailable", message="Could not confirm with Stripe; retry later."), 503
    return jsonify(outcome=outcome)


# --- the organiser --------------------------------------------------------------------------


def _render_payments(event: Event, *, result=None, status: int = 200):
    docs = invoices.list_documents(event)
    at = now()
    return (
        render_template(
            "payments/manage.html",
            event=event,
            summary=services.money_summary(event, now=at),
            documents=docs,
            due=invoices.amounts_due(docs),
            overdue={d.id for d in docs if d.due_at is not None and d.due_at < at},
            refunds=services.list_refunds(event),
            result=result,
            card_enabled=services.card_payments_available(),
        ),
        status,
    )


@bp.route("/manage/events/<slug>/payments")
@login_required
def manage_payments(slug: str):
    return _render_payments(organised_event(slug))


@bp.route("/manage/events/<slug>/documents/<int:number>.pdf")
@login_required
def event_document(slug: str, number: int):
    event = organised_event(slug)
    doc = invoices.get_document(event, number)
    return download(document_pdf(doc), "application/pdf", document_filename(doc))


@bp.route("/manage/events/<slug>/invoices/<int:number>/paid", methods=["POST"])
@login_required
def mark_paid(slug: str, number: int):
    event = organised_event(slug)
    doc = invoices.get_document(event, number)
    invoices.mark_invoice_paid(doc, now=now(), via=f"manual ({current_user.email})")
    db.session.commit()
    flash(_("Invoice %(n)d is marked paid.", n=number), "success")
    return redirect(url_for("payments.manage_payments", slug=slug))


@bp.route("/manage/events/<slug>/bank-statement", methods=["POST"])
@login_required
def import_statement(slug: str):
    """A bank statement (CSV) is matched on KID against the organiser's open invoices."""
    event = organised_event(slug)
    upload = request.files.get("statement")
    data = upload.read(MAX_STATEMENT + 1) if upload else b""
    if not data:
        flash(_("Choose the bank statement file (CSV) first."), "error")
        return _render_payments(event, status=422)
    if len(data) > MAX_STATEMENT:
        flash(_("The file is too large for a bank statement."), "error")
        return _render_payments(event, status=422)
    try:
        result = invoices.import_bank_statement(
            db.session.get(Organiser, event.organiser_id), data, now=now()
        )
    except ValueError as err:
        db.session.rollback()
        flash(_("This file could not be read as a bank statement: %(why)s", why=str(err)), "error")
        return _render_payments(event, status=422)
    db.session.commit()
    return _render_payments(event, result=result)


@bp.route("/manage/events/<slug>/orders/<code>/refund", methods=["GET", "POST"])
@login_required
def refund(slug: str, code: str):
    """The organiser refunds an order in full or for chosen attendees."""
    event = organised_event(slug)
    order = get_order(code)
    if order.event_id != event.id:
        raise NotFound(_("No such order."))
    error = None
    if request.method == "POST":
        ids = [int(v) for v in request.form.getlist("attendee") if v.isdigit() and len(v) < 12]
        reason = request.form.get("reason", "").strip()[:500]
        try:
            services.refund_order(order, attendee_ids=ids, now=now(), reason=reason, actor=current_user)
        except (ValidationError, Conflict) as err:
            db.session.rollback()
            error = err
        else:
            db.session.commit()
            services.execute_pending_refunds(now=now())
            flash(
                _("The refund for order %(code)s is recorded; the buyer gets an email.", code=code), "success"
            )
            return redirect(url_for("payments.manage_payments", slug=slug))
    return (
        render_template(
            "payments/refund.html",
            event=event,
            order=order,
            active=order.active_attendees,
            refundable=order.status == OrderStatus.PAID,
            error=error,
        ),
        409 if error and isinstance(error, Conflict) else (422 if error else 200),
    )
