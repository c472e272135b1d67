"""Card payments and refunds: the rules of when money changes an order.

An order becomes paid by card only on Stripe's word, and the word is always fetched from Stripe's
API (stripe_gateway) before anything changes, whoever brought the news: the buyer's return from
Checkout, a webhook (a signed trigger, nothing more) or the reconciliation job. All three then
call `apply_checkout`, which changes state under the event's sale lock: whoever comes first
applies the payment, the others find it applied and do nothing. So a payment is applied once,
and the confirmation is sent once, however the news arrive.

Refunds are decided in the caller's transaction (a Refund row in state pending, the tickets
cancelled) and paid back by Stripe after the commit (`execute_refund`), retried by the
reconciliation job until Stripe has answered; Stripe's idempotency key makes a retry safe.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from eventreg.accounts.models import User
from eventreg.core.errors import Conflict, ValidationError
from eventreg.core.i18n import current_language
from eventreg.core.links import public_url
from eventreg.events.models import Event
from eventreg.extensions import db
from eventreg.mail import services as mail
from eventreg.payments import invoices, stripe_gateway
from eventreg.payments.models import (
    DocumentKind,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    SalesDocument,
    StripeEvent,
)
from eventreg.registration import services as registration
from eventreg.registration.capacity import compute_availability, forget_count, lock_event_for_sale
from eventreg.registration.models import Attendee, Order, OrderStatus, PaymentMethod

log = logging.getLogger(__name__)

STRIPE_MIN_SESSION = timedelta(minutes=31)  # Stripe wants a session to live 30 min at least
RECONCILE_AFTER = timedelta(minutes=2)  # a webhook normally arrives within seconds


class CardNotConfigured(Conflict):
    code = "card_not_configured"


# --- paying by card -------------------------------------------------------------------------


def card_payments_available() -> bool:
    return stripe_gateway.configured()


def _line_items(order: Order) -> list[dict]:
    return [
        {
            "name": f"{line['description']} – {order.event.name}",
            "quantity": line["quantity"],
            "unit_ore": line["unit_ore"],
        }
        for line in invoices.document_lines(order.active_attendees, current_language())
    ]


def open_payment(order: Order, *, now: datetime) -> Payment | None:
    return db.session.scalar(
        sa.select(Payment)
        .where(Payment.order_id == order.id, Payment.status == PaymentStatus.OPEN, Payment.expires_at > now)
        .order_by(Payment.attempt.desc())
    )


def start_card_payment(order: Order, *, now: datetime) -> str:
    """The Stripe Checkout address where the buyer pays this order. A second click while a
    session is open gets the same one. Raises CardNotConfigured, Conflict (not payable now) or
    StripeUnavailable."""
    if not card_payments_available():
        raise CardNotConfigured(
            _l(
                "Card payments are not configured for this site. "
                "Please choose invoice, or contact the organiser."
            )
        )
    if order.status != OrderStatus.PENDING or order.payment_method != PaymentMethod.CARD:
        raise Conflict(_l("This order is not waiting for a card payment."), code="not_payable")
    if order.expires_at <= now:
        raise Conflict(_l("The reservation has expired; please register again."), code="hold_expired")
    if existing := open_payment(order, now=now):
        return existing.checkout_url
    attempt = (
        db.session.scalar(sa.select(sa.func.max(Payment.attempt)).where(Payment.order_id == order.id)) or 0
    ) + 1
    manage = public_url("registration.manage", code=order.code, token=order.manage_token)
    state = stripe_gateway.create_checkout_session(
        order_code=order.code,
        attempt=attempt,
        line_items=_line_items(order),
        currency=order.event.currency,
        customer_email=order.buyer_email,
        locale="nb" if order.buyer_language == "nb" else "en",
        success_url=public_url("payments.card_return", code=order.code, token=order.manage_token)
        + "?session_id={CHECKOUT_SESSION_ID}",
        cancel_url=manage,
        expires_at=max(order.expires_at, now + STRIPE_MIN_SESSION),
    )
    payment = Payment(
        order_id=order.id,
        attempt=attempt,
        session_id=state.session_id,
        checkout_url=state.url,
        amount_ore=state.amount_ore,
        created_at=now,
        expires_at=state.expires_at,
    )
    try:
        with db.session.begin_nested():  # a double click inserts the same attempt: keep the first
            db.session.add(payment)
    except IntegrityError:
        payment = db.session.scalar(sa.select(Payment).where(Payment.session_id == state.session_id))
        if payment is None:
            raise
    return payment.checkout_url


def apply_checkout(state: stripe_gateway.CheckoutState, *, now: datetime) -> str:
    """Brings our state in line with what Stripe said about a Checkout session, and returns what
    it did (for logs and the webhook table). Must be given a state just fetched from Stripe."""
    payment = db.session.scalar(sa.select(Payment).where(Payment.session_id == state.session_id))
    if payment is None:
        log.warning("Stripe session %s (order %s) is not ours; ignored", state.session_id, state.order_code)
        return "unknown session"
    if not state.paid:
        if state.status == "expired" or state.last_error:
            lock_event_for_sale(payment.order.event)  # first write: a consistent view on SQLite too
            db.session.refresh(payment)
            if state.status == "expired" and payment.status == PaymentStatus.OPEN:
                payment.status = PaymentStatus.EXPIRED
            if state.last_error:
                payment.last_error = state.last_error
        return f"not paid ({state.status})"
    order = payment.order
    lock_event_for_sale(order.event)
    db.session.refresh(payment)
    db.session.refresh(order)
    if payment.status == PaymentStatus.PAID:
        return "already applied"
    if state.amount_ore != payment.amount_ore:
        log.error(
            "Stripe session %s paid %s øre, expected %s",
            state.session_id,
            state.amount_ore,
            payment.amount_ore,
        )
    payment.status = PaymentStatus.PAID
    payment.paid_at = now
    payment.payment_intent_id = state.payment_intent_id
    if order.status == OrderStatus.PENDING:
        registration.mark_paid(order, now=now)
        invoices.issue_receipt(order, now=now)
        return "paid"
    if order.status == OrderStatus.EXPIRED and _seats_free_for(order, now=now):
        registration.revive_late_payment(order, now=now)
        invoices.issue_receipt(order, now=now)
        return "paid after the hold expired; seats taken back"
    reason = {
        OrderStatus.PAID: _l("The order was already paid; this second payment is given back."),
        OrderStatus.EXPIRED: _l("The payment came after the reservation expired, and the seats were gone."),
    }.get(order.status, _l("The payment came after the order was closed."))
    with force_locale(order.buyer_language):  # the refund email quotes it to the buyer
        reason = str(reason)
    refund = _decide_refund(order, payment, payment.amount_ore, [], reason=reason, automatic=True, now=now)
    mail.queue_refund_notice(refund, now=now)
    return "refunded automatically: " + reason


def _seats_free_for(order: Order, *, now: datetime) -> bool:
    """Under the sale lock: whether an expired order's seats (and workshops) are still free."""
    wanted: dict[int, int] = {}
    for a in order.active_attendees:
        wanted[a.ticket_type_id] = wanted.get(a.ticket_type_id, 0) + 1
    av = compute_availability(order.event, now=now)
    if not av.fits(wanted):
        return False
    sessions: dict[int, int] = {}
    for a in order.active_attendees:
        for choice in a.session_choices:
            sessions[choice.session_id] = sessions.get(choice.session_id, 0) + 1
    return all(av.sessions.get(s) is None or av.sessions[s] >= n for s, n in sessions.items())


def sync_checkout(session_id: str, *, now: datetime) -> str:
    """Asks Stripe about one session and applies the answer; the caller commits."""
    return apply_checkout(stripe_gateway.get_checkout_session(session_id), now=now)


# --- webhooks -------------------------------------------------------------------------------

HANDLED = {
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.expired",
    "payment_intent.payment_failed",
    "charge.refunded",
}


def handle_webhook(payload: bytes, signature: str | None, *, now: datetime) -> str:
    """Processes one verified Stripe event exactly once. Raises ValueError or
    stripe.SignatureVerificationError for a body Stripe did not sign (the view answers 400),
    StripeUnavailable when Stripe cannot confirm (the view answers 503: Stripe retries). Commits."""
    event = stripe_gateway.verify_webhook(payload, signature)
    event_id, event_type = event["id"], event["type"]
    if event_type not in HANDLED:
        return "ignored"
    if db.session.get(StripeEvent, event_id) is not None:
        db.session.rollback()
        return "duplicate"
    obj = event["data"]["object"]
    # Confirm with Stripe before changing anything: the event is a trigger, not the truth.
    try:
        work = _confirmed_work(event_type, obj, now=now)
    except stripe_gateway.UnknownObject:
        work = lambda: "unknown to Stripe; ignored"  # noqa: E731
    db.session.rollback()  # end the reads: the insert below must be the transaction's first write
    try:
        db.session.add(StripeEvent(id=event_id, type=event_type, received_at=now, outcome="…"))
        db.session.flush()  # a parallel copy of this event waits here, then fails on the key
    except IntegrityError:
        db.session.rollback()
        return "duplicate"
    outcome = work()
    db.session.get(StripeEvent, event_id).outcome = outcome[:200]
    db.session.commit()
    execute_pending_refunds(now=now)
    log.info("Stripe event %s (%s): %s", event_id, event_type, outcome)
    return outcome


def _confirmed_work(type_: str, obj, *, now: datetime):
    """Asks Stripe for the current state of the event's object; returns the change to make."""
    if type_.startswith("checkout.session."):
        state = stripe_gateway.get_checkout_session(obj["id"])
        work = lambda: apply_checkout(state, now=now)  # noqa: E731
    elif type_ == "payment_intent.payment_failed":
        order_code, problem = stripe_gateway.payment_problem(obj["id"])
        work = lambda: _record_decline(order_code, problem)  # noqa: E731
    else:  # charge.refunded
        intent_id = obj.get("payment_intent")
        refunded = stripe_gateway.refunded_amount(intent_id) if intent_id else 0
        work = lambda: _record_outside_refund(intent_id, refunded, now=now)  # noqa: E731
    return work


def _record_decline(order_code: str | None, problem: str | None) -> str:
    """The card was declined: the buyer may try again in Checkout; the organiser sees why."""
    payment = db.session.scalar(
        sa.select(Payment)
        .join(Order, Payment.order_id == Order.id)
        .where(Order.code == (order_code or ""), Payment.status == PaymentStatus.OPEN)
        .order_by(Payment.attempt.desc())
    )
    if payment is None or problem is None:
        return "payment failure of no open payment"
    lock_event_for_sale(payment.order.event)
    payment.last_error = problem[:500]
    return "payment failed; the buyer may try again"


def _record_outside_refund(intent_id: str | None, refunded_ore: int, *, now: datetime) -> str:
    """A refund Stripe reports: ours (already recorded) or one made in Stripe's dashboard."""
    payment = (
        db.session.scalar(sa.select(Payment).where(Payment.payment_intent_id == intent_id))
        if intent_id
        else None
    )
    if payment is None:
        return "refund of an unknown payment"
    order = payment.order
    lock_event_for_sale(order.event)
    ours = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Refund.amount_ore), 0)).where(
            Refund.payment_id == payment.id, Refund.status != RefundStatus.FAILED
        )
    )
    missing = refunded_ore - ours
    if missing <= 0:
        return "refund already recorded"
    db.session.refresh(order)
    attendees = []
    if refunded_ore >= payment.amount_ore and order.status == OrderStatus.PAID:
        attendees = order.active_attendees  # refunded in full: the tickets go too
    refund = Refund(
        order=order,
        amount_ore=missing,
        method="card",
        status=RefundStatus.DONE,
        reason=str(_l("Refunded in Stripe's dashboard.")),
        payment=payment,
        created_at=now,
        done_at=now,
    )
    db.session.add(refund)
    if attendees:
        _cancel_tickets(order, attendees, refund, now=now)
    return f"outside refund of {missing} øre recorded"


def reconcile(*, now: datetime) -> dict:
    """The safety net for lost webhooks: asks Stripe about every open session older than a
    couple of minutes, and retries refunds Stripe has not confirmed. Commits per session."""
    ids = list(
        db.session.scalars(
            sa.select(Payment.session_id).where(
                Payment.status == PaymentStatus.OPEN, Payment.created_at <= now - RECONCILE_AFTER
            )
        )
    )
    db.session.rollback()
    report = {"checked": 0, "applied": 0, "errors": 0}
    for session_id in ids:
        try:
            outcome = sync_checkout(session_id, now=now)
            db.session.commit()
        except stripe_gateway.StripeUnavailable as err:
            db.session.rollback()
            log.warning("reconcile %s: %s", session_id, err)
            report["errors"] += 1
            continue
        report["checked"] += 1
        report["applied"] += outcome.startswith(("paid", "refunded"))
    report["refunds"] = execute_pending_refunds(now=now)
    return report


# --- refunds --------------------------------------------------------------------------------


def _cancel_tickets(order: Order, attendees: list[Attendee], refund: Refund, *, now: datetime) -> None:
    """The attendees' tickets stop working (a new version makes old QR codes invalid) and their
    seats go back; when no ticket is left the whole order is refunded."""
    for a in attendees:
        a.cancelled_at = now
        a.ticket_version += 1
    refund.attendee_ids = sorted({*(refund.attendee_ids or []), *(a.id for a in attendees)})
    if not order.active_attendees:
        registration.mark_refunded(order, now=now)
    else:
        forget_count(order.event_id)
    db.session.flush()
    registration.offer_freed_seats(order.event, now=now)


def _decide_refund(
    order: Order,
    payment: Payment | None,
    amount_ore: int,
    attendees: list[Attendee],
    *,
    reason: str,
    automatic: bool = False,
    actor: User | None = None,
    now: datetime,
) -> Refund:
    method = order.payment_method.value
    refund = Refund(
        order=order,
        amount_ore=amount_ore,
        method=method,
        status=RefundStatus.PENDING if method == "card" and amount_ore > 0 else RefundStatus.DONE,
        reason=reason[:500],
        automatic=automatic,
        payment=payment,
        created_at=now,
        created_by_id=actor.id if actor else None,
        attendee_ids=[],
    )
    if refund.status == RefundStatus.DONE:
        refund.done_at = now
    db.session.add(refund)
    if method == "invoice" and amount_ore > 0:
        original = invoices.main_document(order)
        lines = invoices.document_lines(attendees, order.buyer_language) if attendees else []
        if sum(line["total_ore"] for line in lines) != amount_ore:  # a share of the price (event rule)
            lines = [
                {
                    "description": str(_l("Refund for order %(code)s", code=order.code)),
                    "quantity": 1,
                    "unit_ore": amount_ore,
                    "vat_rate": 0 if not attendees else attendees[0].vat_rate,
                    "total_ore": amount_ore,
                }
            ]
        refund.credit_note = invoices.issue_credit_note(original, lines, now=now)
    if attendees:
        _cancel_tickets(order, attendees, refund, now=now)
    db.session.flush()
    return refund


@dataclass
class RefundPlan:
    attendees: list[Attendee]
    amount_ore: int


def plan_refund(order: Order, attendee_ids: list[int] | None, *, percent: int = 100) -> RefundPlan:
    """Which tickets a refund cancels and how much it gives back. Raises ValidationError."""
    active = {a.id: a for a in order.active_attendees}
    if attendee_ids is None:
        chosen = list(active.values())
    else:
        unknown = [i for i in attendee_ids if i not in active]
        if unknown or not attendee_ids:
            raise ValidationError(
                _l("Choose at least one ticket of this order that is still valid."),
                fields={"attendees": [_l("Choose at least one valid ticket.")]},
            )
        chosen = [active[i] for i in attendee_ids]
    gross = sum(a.price_ore for a in chosen)
    return RefundPlan(chosen, gross * percent // 100)


def refund_order(
    order: Order,
    *,
    attendee_ids: list[int] | None,
    now: datetime,
    reason: str = "",
    actor: User | None = None,
    percent: int = 100,
) -> Refund:
    """The organiser (or the buyer under the event's rule) refunds a paid order fully or for some
    attendees: their tickets stop working at once, the money goes back by Stripe refund (card)
    or credit note (invoice), and the buyer is told. The caller commits, then calls
    `execute_pending_refunds`. Raises Conflict unless the order is paid."""
    lock_event_for_sale(order.event)
    db.session.refresh(order)
    if order.status != OrderStatus.PAID:
        raise Conflict(_l("Only paid orders can be refunded."), code="not_paid")
    plan = plan_refund(order, attendee_ids, percent=percent)
    payment = None
    if order.payment_method == PaymentMethod.CARD and plan.amount_ore > 0:
        payment = db.session.scalar(
            sa.select(Payment).where(Payment.order_id == order.id, Payment.status == PaymentStatus.PAID)
        )
        if payment is None:
            raise Conflict(_l("No card payment is recorded for this order."), code="no_payment")
    refund = _decide_refund(
        order, payment, plan.amount_ore, plan.attendees, reason=reason, actor=actor, now=now
    )
    mail.queue_refund_notice(refund, now=now)
    return refund


def execute_pending_refunds(*, now: datetime) -> int:
    """Pays back every decided card refund Stripe has not confirmed yet. Each runs in its own
    transaction after the decision was committed; returns how many are done now."""
    ids = list(db.session.scalars(sa.select(Refund.id).where(Refund.status == RefundStatus.PENDING)))
    db.session.rollback()
    done = 0
    for refund_id in ids:
        refund = db.session.get(Refund, refund_id)
        try:
            stripe_id = stripe_gateway.create_refund(
                payment_intent_id=refund.payment.payment_intent_id,
                amount_ore=refund.amount_ore,
                refund_key=str(refund.id),
                order_code=refund.order.code,
            )
        except stripe_gateway.StripeUnavailable as err:
            db.session.rollback()
            # Still pending: the next run tries again with the same key.
            db.session.execute(
                sa.update(Refund).where(Refund.id == refund_id).values(last_error=str(err)[:500])
            )
            db.session.commit()
            continue
        db.session.execute(
            sa.update(Refund)
            .where(Refund.id == refund_id, Refund.status == RefundStatus.PENDING)
            .values(status=RefundStatus.DONE, stripe_refund_id=stripe_id, done_at=now, last_error=None)
        )
        db.session.commit()
        done += 1
    return done


# --- what the organiser sees ----------------------------------------------------------------


@dataclass
class MoneySummary:
    paid_ore: int  # card payments and paid invoices, minus refunds
    invoiced_unpaid_ore: int
    pending_ore: int  # held orders waiting for a card payment
    refunded_ore: int


def money_summary(event: Event, *, now: datetime) -> MoneySummary:
    order_ids = sa.select(Order.id).where(Order.event_id == event.id)
    refunded = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Refund.amount_ore), 0)).where(
            Refund.order_id.in_(order_ids), Refund.status != RefundStatus.FAILED
        )
    )
    card = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount_ore), 0)).where(
            Payment.order_id.in_(order_ids), Payment.status == PaymentStatus.PAID
        )
    )
    # Only the columns amounts_due() reads, as rows: whole documents would parse every invoice's
    # lines, seller and buyer (JSON) on each refresh of the dashboard, only to add up totals.
    docs = db.session.execute(
        sa.select(SalesDocument.id, SalesDocument.kind, SalesDocument.paid_at, SalesDocument.total_ore).where(
            SalesDocument.order_id.in_(order_ids), SalesDocument.kind == DocumentKind.INVOICE
        )
    ).all()
    invoiced_paid = sum(d.total_ore for d in docs if d.paid_at is not None)
    unpaid = sum(invoices.amounts_due(docs).values())
    pending = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Order.total_ore), 0)).where(
            Order.event_id == event.id, Order.status == OrderStatus.PENDING, Order.expires_at > now
        )
    )
    return MoneySummary(
        paid_ore=card + invoiced_paid - refunded,
        invoiced_unpaid_ore=unpaid,
        pending_ore=pending,
        refunded_ore=refunded,
    )


def payment_facts(order: Order, *, now: datetime) -> dict:
    """What the buyer's order page shows about paying: whether a card payment can be started,
    and the order's invoices, receipts and credit notes with what is left to pay."""
    documents = invoices.order_documents(order)
    return {
        "documents": documents,
        "amount_due": invoices.amounts_due(documents),
        "can_pay_by_card": order.status == OrderStatus.PENDING
        and order.payment_method == PaymentMethod.CARD
        and order.expires_at > now,
        "card_enabled": card_payments_available(),
        "refunds": list(
            db.session.scalars(sa.select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
        ),
    }


def list_refunds(event: Event) -> list[Refund]:
    return list(
        db.session.scalars(
            sa.select(Refund)
            .join(Order, Refund.order_id == Order.id)
            .where(Order.event_id == event.id)
            .order_by(Refund.created_at.desc(), Refund.id.desc())
        )
    )
