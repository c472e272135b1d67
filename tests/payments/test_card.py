"""Card payments through Stripe Checkout, against the Stripe fake: an order is paid only on
Stripe's word, once, whatever order, copies or losses the webhooks come in."""

import threading
import time
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from eventreg.core import clock
from eventreg.extensions import db
from eventreg.mail.models import OutboxMessage
from eventreg.payments import services
from eventreg.payments.invoices import order_documents
from eventreg.payments.models import DocumentKind, Payment, PaymentStatus, Refund, RefundStatus, StripeEvent
from eventreg.registration.capacity import compute_availability
from eventreg.registration.models import Order, OrderStatus
from eventreg.registration.services import create_order, expire_all_holds
from eventreg.tickets.services import check_ticket, ticket_qr
from eventreg.tickets.signing import InvalidTicket
from tests.factories import make_event, order_data
from tests.payments.conftest import WEBHOOK
from tests.stripe_fake import StripeFake


def card_order(n=1, *, seats=10, price=1250_00, slug="forum") -> Order:
    event = make_event(slug, seats=seats, prices=(price,), vat=25)
    data = order_data(event, n, payment_method="card", buyer_language="en")
    order = create_order(event, data, now=clock.now())
    db.session.commit()
    return order


def checkout(order: Order, fake) -> dict:
    """Starts the card payment (as the Pay button does) and returns the fake's session."""
    url = services.start_card_payment(order, now=clock.now())
    db.session.commit()
    return next(s for s in fake.sessions.values() if s["url"] == url)


def fresh(order: Order) -> Order:
    db.session.expire_all()
    return db.session.get(Order, order.id)


def messages(order: Order, kind: str) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(
            OutboxMessage.order_id == order.id, OutboxMessage.kind == kind
        )
    )


def completed_event(fake, session_id: str) -> dict:
    return next(
        e
        for e in fake.events
        if e["type"] == "checkout.session.completed" and e["data"]["object"]["id"] == session_id
    )


# --- starting a payment ---------------------------------------------------------------------


def test_the_checkout_session_carries_the_order_in_ore_with_an_idempotency_key(ctx, stripe_fake):
    order = card_order(2)
    session = checkout(order, stripe_fake)
    assert session["amount_total"] == 2 * 1250_00 and session["currency"] == "nok"
    assert session["client_reference_id"] == order.code
    (call,) = [c for c in stripe_fake.calls if c[0] == "POST" and c[1] == "/v1/checkout/sessions"]
    _method, _path, headers, params = call
    assert headers["Idempotency-Key"] == f"checkout-{order.code}-1"
    (item,) = params["line_items"]
    assert item["quantity"] == "2" and item["price_data"]["unit_amount"] == "125000"
    assert item["price_data"]["tax_behavior"] == "inclusive"
    assert fresh(order).status == OrderStatus.PENDING  # nothing is paid by starting


def test_a_double_click_on_pay_gives_one_checkout_session(app, ctx, stripe_fake):
    order = card_order()
    client = app.test_client()
    page = client.get(f"/orders/{order.code}/{order.manage_token}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    r1 = client.post(f"/orders/{order.code}/{order.manage_token}/pay", data={"csrf_token": token})
    r2 = client.post(f"/orders/{order.code}/{order.manage_token}/pay", data={"csrf_token": token})
    assert r1.status_code == r2.status_code == 303
    assert r1.headers["Location"] == r2.headers["Location"]
    assert r1.headers["Location"].startswith(stripe_fake.base_url + "/pay/")
    assert len(stripe_fake.sessions) == 1
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 1


def test_without_a_stripe_key_card_payment_says_so_and_nothing_breaks(app, ctx):
    app.config["STRIPE_SECRET_KEY"], old = "", app.config["STRIPE_SECRET_KEY"]
    try:
        order = card_order()
        client = app.test_client()
        page = client.get(f"/orders/{order.code}/{order.manage_token}").get_data(as_text=True)
        assert "Card payments are not configured" in page or "Kortbetaling er ikke satt opp" in page
        with pytest.raises(services.CardNotConfigured):
            services.start_card_payment(order, now=clock.now())
    finally:
        app.config["STRIPE_SECRET_KEY"] = old


# --- the webhook ----------------------------------------------------------------------------


def test_a_paid_session_makes_the_order_paid_with_one_confirmation_and_a_receipt(ctx, stripe_fake):
    order = card_order()
    session = checkout(order, stripe_fake)
    stripe_fake.complete_session(session["id"])
    assert stripe_fake.deliver_pending() == [200]
    order = fresh(order)
    assert order.status == OrderStatus.PAID
    assert messages(order, "confirmation") == 1
    (receipt,) = order_documents(order)
    assert (
        receipt.kind == DocumentKind.RECEIPT
        and receipt.total_ore == order.total_ore
        and receipt.paid_via == "card"
    )
    assert db.session.get(StripeEvent, completed_event(stripe_fake, session["id"])["id"]).outcome == "paid"


def test_the_same_webhook_five_times_in_parallel_pays_once_and_confirms_once(
    app, ctx, stripe_fake, live_server
):
    stripe_fake.webhook_target = StripeFake.http_target(live_server + WEBHOOK)
    order = card_order()
    session = checkout(order, stripe_fake)
    stripe_fake.complete_session(session["id"])
    event = completed_event(stripe_fake, session["id"])
    statuses = stripe_fake.deliver(event, times=5, parallel=True)
    assert statuses == [200] * 5
    order = fresh(order)
    assert order.status == OrderStatus.PAID
    assert messages(order, "confirmation") == 1
    assert len(order_documents(order)) == 1
    assert db.session.scalar(sa.select(sa.func.count(StripeEvent.id))) == 1


def test_the_buyers_return_racing_the_webhook_gives_one_confirmation(app, ctx, stripe_fake, live_server):
    stripe_fake.webhook_target = StripeFake.http_target(live_server + WEBHOOK)
    order = card_order()
    session = checkout(order, stripe_fake)
    stripe_fake.complete_session(session["id"])
    event = completed_event(stripe_fake, session["id"])
    back = f"{live_server}/orders/{order.code}/{order.manage_token}/paid?session_id={session['id']}"
    barrier, pages = threading.Barrier(3), []

    def return_page():
        barrier.wait()
        pages.append(requests.get(back, timeout=30))

    threads = [threading.Thread(target=return_page) for _ in range(2)]
    for t in threads:
        t.start()
    barrier.wait()
    assert stripe_fake.deliver(event) == [200]
    for t in threads:
        t.join()
    assert all(p.status_code == 200 for p in pages)
    order = fresh(order)
    assert order.status == OrderStatus.PAID
    assert messages(order, "confirmation") == 1
    assert len(order_documents(order)) == 1


@pytest.mark.parametrize("forgery", ["wrong secret", "old timestamp", "tampered body", "no signature"])
def test_a_webhook_stripe_did_not_sign_gets_400_and_changes_nothing(app, ctx, stripe_fake, forgery):
    order = card_order()
    session = checkout(order, stripe_fake)
    stripe_fake.complete_session(session["id"])
    event = completed_event(stripe_fake, session["id"])
    payload = StripeFake.event_payload(event)
    headers = {"Stripe-Signature": stripe_fake.sign(payload)}
    if forgery == "wrong secret":
        headers["Stripe-Signature"] = stripe_fake.sign(payload, secret="whsec_someone_else")
    elif forgery == "old timestamp":
        headers["Stripe-Signature"] = stripe_fake.sign(payload, timestamp=int(time.time()) - 301)
    elif forgery == "tampered body":
        payload = payload.replace(b'"livemode":false', b'"livemode":true ')
    else:
        headers = {}
    r = app.test_client().post(WEBHOOK, data=payload, headers=headers, content_type="application/json")
    assert r.status_code == 400
    assert fresh(order).status == OrderStatus.PENDING
    assert db.session.scalar(sa.select(sa.func.count(StripeEvent.id))) == 0
    assert messages(order, "confirmation") == 0


def test_a_lost_webhook_is_recovered_by_reconciliation(ctx, stripe_fake):
    order = card_order()
    session = checkout(order, stripe_fake)
    stripe_fake.complete_session(session["id"])
    stripe_fake.drop(completed_event(stripe_fake, session["id"]))
    assert services.reconcile(now=clock.now())["applied"] == 0  # too fresh: the webhook may still come
    report = services.reconcile(now=clock.now() + timedelta(minutes=3))
    assert report["applied"] == 1
    order = fresh(order)
    assert order.status == OrderStatus.PAID and messages(order, "confirmation") == 1
    assert services.reconcile(now=clock.now() + timedelta(minutes=6))["checked"] == 0  # nothing open


def test_a_webhook_for_a_session_that_is_not_ours_is_answered_200_without_side_effects(app, ctx, stripe_fake):
    import stripe

    client = stripe.StripeClient(
        "sk_test_other", base_addresses={"api": stripe_fake.base_url}, max_network_retries=0
    )
    foreign = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "success_url": "https://shop.example/ok",
            "cancel_url": "https://shop.example/no",
            "client_reference_id": "NOTOURS1",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {"currency": "nok", "unit_amount": 100, "product_data": {"name": "x"}},
                }
            ],
        }
    )
    stripe_fake.complete_session(foreign.id)
    assert stripe_fake.deliver_pending() == [200]
    (row,) = db.session.scalars(sa.select(StripeEvent))
    assert row.outcome == "unknown session"
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0


def test_webhooks_in_any_order_and_repeated_end_in_one_payment(ctx, stripe_fake):
    order = card_order()
    session = checkout(order, stripe_fake)
    stripe_fake.fail_payment(session["id"], message="Your card has insufficient funds.")
    stripe_fake.complete_session(session["id"])
    statuses = stripe_fake.deliver_pending(order="reverse", duplicate=3)
    assert set(statuses) == {200}
    order = fresh(order)
    assert order.status == OrderStatus.PAID and messages(order, "confirmation") == 1
    assert db.session.scalar(sa.select(sa.func.count(StripeEvent.id))) == 2


def test_a_declined_card_is_shown_to_the_organiser_and_the_order_waits(ctx, stripe_fake):
    order = card_order()
    session = checkout(order, stripe_fake)
    stripe_fake.fail_payment(session["id"], message="Your card has insufficient funds.")
    assert stripe_fake.deliver_pending() == [200]
    payment = db.session.scalar(sa.select(Payment))
    db.session.refresh(payment)
    assert payment.status == PaymentStatus.OPEN and payment.last_error == "Your card has insufficient funds."
    assert fresh(order).status == OrderStatus.PENDING


def test_stripe_down_while_confirming_answers_503_so_stripe_retries(app, ctx, stripe_fake):
    order = card_order()
    session = checkout(order, stripe_fake)
    stripe_fake.complete_session(session["id"])
    stripe_fake.fail_next("GET", "/v1/checkout/sessions", status=500)
    assert stripe_fake.deliver_pending() == [503]
    assert fresh(order).status == OrderStatus.PENDING
    assert stripe_fake.deliver_pending() == [200]  # Stripe's retry
    assert fresh(order).status == OrderStatus.PAID


# --- payment after the hold expired ---------------------------------------------------------


def test_a_payment_after_the_hold_expired_takes_the_seats_back_when_they_are_free(ctx, stripe_fake):
    order = card_order(seats=1)
    session = checkout(order, stripe_fake)
    assert expire_all_holds(now=clock.now() + timedelta(hours=1)) == 1
    assert fresh(order).status == OrderStatus.EXPIRED
    stripe_fake.complete_session(session["id"])
    assert stripe_fake.deliver_pending() == [200]
    order = fresh(order)
    assert order.status == OrderStatus.PAID and messages(order, "confirmation") == 1
    assert (
        compute_availability(order.event, now=clock.now()).ticket_type_left(order.event.ticket_types[0].id)
        == 0
    )


def test_a_payment_after_the_seats_were_sold_again_is_refunded_and_the_organiser_sees_why(ctx, stripe_fake):
    order = card_order(seats=1)
    session = checkout(order, stripe_fake)
    expire_all_holds(now=clock.now() + timedelta(hours=1))
    event = fresh(order).event
    other = create_order(event, order_data(event, payment_method="invoice"), now=clock.now())
    db.session.commit()
    assert other.status == OrderStatus.PAID  # the last seat went to someone else
    stripe_fake.complete_session(session["id"])
    assert stripe_fake.deliver_pending() == [200]
    order = fresh(order)
    assert order.status == OrderStatus.EXPIRED and messages(order, "confirmation") == 0
    (refund,) = db.session.scalars(sa.select(Refund))
    assert refund.automatic and refund.status == RefundStatus.DONE and refund.amount_ore == 1250_00
    assert "seats were gone" in refund.reason
    (stripe_refund,) = stripe_fake.refunds.values()
    assert stripe_refund["amount"] == 1250_00 and refund.stripe_refund_id == stripe_refund["id"]
    assert messages(order, "refund") == 1


# --- refunds --------------------------------------------------------------------------------


def paid_card_order(stripe_fake, n=2) -> Order:
    order = card_order(n)
    session = checkout(order, stripe_fake)
    stripe_fake.complete_session(session["id"])
    stripe_fake.deliver_pending()
    return fresh(order)


def test_a_partial_refund_cancels_that_ticket_only_and_refunds_its_price(ctx, stripe_fake):
    order = paid_card_order(stripe_fake)
    first, second = order.attendees
    qr = ticket_qr(first, now=clock.now())
    services.refund_order(order, attendee_ids=[first.id], now=clock.now(), reason="ill")
    db.session.commit()
    assert services.execute_pending_refunds(now=clock.now()) == 1
    order = fresh(order)
    assert order.status == OrderStatus.PAID and [a.name for a in order.active_attendees] == [second.name]
    with pytest.raises(InvalidTicket):
        check_ticket(order.event, qr)
    (stripe_refund,) = stripe_fake.refunds.values()
    assert stripe_refund["amount"] == 1250_00
    assert (
        compute_availability(order.event, now=clock.now()).ticket_type_left(order.event.ticket_types[0].id)
        == 9
    )
    summary = services.money_summary(order.event, now=clock.now())
    assert (summary.paid_ore, summary.refunded_ore) == (1250_00, 1250_00)
    assert stripe_fake.deliver_pending() == [200]  # Stripe's charge.refunded: already recorded
    assert db.session.scalar(sa.select(sa.func.count(Refund.id))) == 1


def test_refunding_every_ticket_refunds_the_order(ctx, stripe_fake):
    order = paid_card_order(stripe_fake)
    services.refund_order(order, attendee_ids=None, now=clock.now())
    db.session.commit()
    services.execute_pending_refunds(now=clock.now())
    order = fresh(order)
    assert order.status == OrderStatus.REFUNDED
    assert sum(r["amount"] for r in stripe_fake.refunds.values()) == 2 * 1250_00
    assert messages(order, "refund") == 1


def test_a_refund_while_stripe_is_down_is_retried_and_paid_back_once(ctx, stripe_fake):
    order = paid_card_order(stripe_fake)
    services.refund_order(order, attendee_ids=None, now=clock.now())
    db.session.commit()
    stripe_fake.fail_next("POST", "/v1/refunds", status=500)
    assert services.execute_pending_refunds(now=clock.now()) == 0
    (refund,) = db.session.scalars(sa.select(Refund))
    assert refund.status == RefundStatus.PENDING and refund.last_error
    assert services.reconcile(now=clock.now())["refunds"] == 1
    assert services.execute_pending_refunds(now=clock.now()) == 0
    assert len(stripe_fake.refunds) == 1


def test_a_refund_made_in_stripes_dashboard_invalidates_the_tickets(ctx, stripe_fake):
    order = paid_card_order(stripe_fake, n=1)
    qr = ticket_qr(order.attendees[0], now=clock.now())
    payment = db.session.scalar(sa.select(Payment))
    stripe_fake.refund_outside(payment.payment_intent_id)
    assert stripe_fake.deliver_pending(duplicate=2) == [200, 200]
    order = fresh(order)
    assert order.status == OrderStatus.REFUNDED
    with pytest.raises(InvalidTicket):
        check_ticket(order.event, qr)
    (refund,) = db.session.scalars(sa.select(Refund))
    assert refund.amount_ore == 1250_00 and refund.status == RefundStatus.DONE


def test_two_clicks_racing_each_other_share_one_session_and_one_payment_row(app, ctx, stripe_fake):
    order = card_order()
    order_id, barrier, urls, errors = order.id, threading.Barrier(2), [], []

    def click():
        with app.test_request_context():
            try:
                barrier.wait(timeout=10)
                urls.append(services.start_card_payment(db.session.get(Order, order_id), now=clock.now()))
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(urls) == 2 and urls[0] == urls[1]
    assert len(stripe_fake.sessions) == 1
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 1
