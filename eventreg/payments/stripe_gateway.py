"""Every call to Stripe goes through here, so the checkout, the webhooks, the return page and the
reconciliation job see Stripe the same way (and tests point it at a local fake).

Nothing here touches the database or holds a lock: callers ask Stripe first and change state after.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import stripe
from flask import current_app


class StripeUnavailable(Exception):
    """Stripe could not be reached or answered with an error; nothing was decided."""


class UnknownObject(StripeUnavailable):
    """Stripe does not know the id asked about."""


class NotConfigured(Exception):
    """No STRIPE_SECRET_KEY: card payments are switched off."""


def configured() -> bool:
    return bool(current_app.config["STRIPE_SECRET_KEY"])


def _client() -> stripe.StripeClient:
    if not configured():
        raise NotConfigured()
    cfg = current_app.config
    base = {"api": cfg["STRIPE_API_BASE"]} if cfg["STRIPE_API_BASE"] else None
    return stripe.StripeClient(
        cfg["STRIPE_SECRET_KEY"],
        base_addresses=base,
        max_network_retries=cfg["STRIPE_MAX_RETRIES"],
        http_client=stripe.RequestsClient(timeout=cfg["STRIPE_TIMEOUT"]),
    )


def _call(fn, *args, **kwargs) -> dict:
    """Calls the Stripe client; the answer as plain dicts (Stripe's objects are not dicts)."""
    try:
        return fn(*args, **kwargs).to_dict()
    except stripe.InvalidRequestError as err:
        if err.http_status == 404:
            raise UnknownObject(str(err.user_message or err)) from err
        raise StripeUnavailable(str(err.user_message or err)) from err
    except stripe.StripeError as err:
        raise StripeUnavailable(str(err.user_message or err)) from err


@dataclass(frozen=True)
class CheckoutState:
    """What Stripe says about one Checkout session, reduced to what our rules need."""

    session_id: str
    status: str  # "open", "complete" or "expired"
    paid: bool
    amount_ore: int
    currency: str
    order_code: str | None
    payment_intent_id: str | None
    url: str | None
    expires_at: datetime
    last_error: str | None = None


def _state(session) -> CheckoutState:
    intent = session.get("payment_intent")
    intent_id = intent if isinstance(intent, str) or intent is None else intent["id"]
    error = None
    if intent is not None and not isinstance(intent, str) and intent.get("last_payment_error"):
        error = intent["last_payment_error"].get("message")
    return CheckoutState(
        session_id=session["id"],
        status=session["status"],
        paid=session["payment_status"] == "paid",
        amount_ore=session["amount_total"],
        currency=session["currency"],
        order_code=session.get("client_reference_id"),
        payment_intent_id=intent_id,
        url=session.get("url"),
        expires_at=datetime.fromtimestamp(session["expires_at"], UTC),
        last_error=error,
    )


def create_checkout_session(
    *,
    order_code: str,
    attempt: int,
    line_items: list[dict],
    currency: str,
    customer_email: str | None,
    locale: str,
    success_url: str,
    cancel_url: str,
    expires_at: datetime,
) -> CheckoutState:
    """A Checkout session for an order. The idempotency key is the order and the attempt number,
    so a double click (or a retry after a timeout) gets the same session, never a second one."""
    params = {
        "mode": "payment",
        "client_reference_id": order_code,
        "metadata": {"order_code": order_code},
        "payment_intent_data": {"metadata": {"order_code": order_code}},
        "line_items": [
            {
                "quantity": item["quantity"],
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": item["unit_ore"],
                    "tax_behavior": "inclusive",
                    "product_data": {"name": item["name"]},
                },
            }
            for item in line_items
        ],
        "locale": locale,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int(expires_at.timestamp()),
    }
    if customer_email:
        params["customer_email"] = customer_email
    session = _call(
        _client().v1.checkout.sessions.create,
        params=params,
        options={"idempotency_key": f"checkout-{order_code}-{attempt}"},
    )
    return _state(session)


def get_checkout_session(session_id: str) -> CheckoutState:
    session = _call(
        _client().v1.checkout.sessions.retrieve, session_id, params={"expand": ["payment_intent"]}
    )
    return _state(session)


def expire_checkout_session(session_id: str) -> None:
    """Closes an open session so it can no longer be paid (Stripe refuses if it is not open)."""
    _call(_client().v1.checkout.sessions.expire, session_id)


def create_refund(*, payment_intent_id: str, amount_ore: int, refund_key: str, order_code: str) -> str:
    """Refunds `amount_ore` of a payment and returns Stripe's refund id. `refund_key` is ours and
    stable, so retrying a refund whose answer was lost never pays back twice."""
    refund = _call(
        _client().v1.refunds.create,
        params={
            "payment_intent": payment_intent_id,
            "amount": amount_ore,
            "metadata": {"order_code": order_code, "refund": refund_key},
        },
        options={"idempotency_key": f"refund-{refund_key}"},
    )
    return refund["id"]


def refunded_amount(payment_intent_id: str) -> int:
    """How much of a payment Stripe has refunded in all (also refunds made in its dashboard)."""
    client = _client()
    intent = _call(client.v1.payment_intents.retrieve, payment_intent_id)
    if not intent.get("latest_charge"):
        return 0
    charge = _call(client.v1.charges.retrieve, intent["latest_charge"])
    return charge["amount_refunded"]


def payment_problem(payment_intent_id: str) -> tuple[str | None, str | None]:
    """(our order code, why the last attempt failed or None) for a payment intent."""
    intent = _call(_client().v1.payment_intents.retrieve, payment_intent_id)
    error = intent.get("last_payment_error")
    return (intent.get("metadata") or {}).get("order_code"), (error or {}).get("message") if error else None


def verify_webhook(payload: bytes, signature: str | None) -> dict:
    """Raises ValueError or stripe.SignatureVerificationError unless the body is exactly what
    Stripe signed with our endpoint secret in the last 5 minutes."""
    secret = current_app.config["STRIPE_WEBHOOK_SECRET"]
    if not secret:
        raise NotConfigured()
    return stripe.Webhook.construct_event(payload, signature or "", secret).to_dict()
