"""The Stripe fake, driven through the real `stripe` client; no app or database needed."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import flask
import pytest
import requests
import stripe

from tests.stripe_fake import FakeStripeError, StripeFake, parse_form

SECRET = "whsec_test_eventreg"


def session_params(**overrides):
    params = {
        "mode": "payment",
        "success_url": "http://localhost/ok?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://localhost/cancelled",
        "client_reference_id": "order-17",
        "customer_email": "kari@example.org",
        "metadata": {"order_code": "ABC123"},
        "line_items": [
            {
                "quantity": 2,
                "price_data": {
                    "currency": "nok",
                    "unit_amount": 125000,
                    "tax_behavior": "inclusive",
                    "product_data": {"name": "Konferansebillett"},
                },
            },
            {
                "quantity": 1,
                "price_data": {"currency": "nok", "unit_amount": 0, "product_data": {"name": "Middag"}},
            },
        ],
    }
    return params | overrides


@pytest.fixture(scope="module")
def server():
    fake = StripeFake(webhook_secret=SECRET).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server):
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def api(fake):
    return stripe.StripeClient(
        "sk_test_eventreg", base_addresses={"api": fake.base_url}, max_network_retries=0
    )


class Recorder:
    """A webhook target that verifies each signature like the app will, and remembers the events."""

    def __init__(self, status=200):
        self.status, self.received, self.lock = status, [], threading.Lock()

    def __call__(self, payload, headers):
        event = stripe.Webhook.construct_event(payload, headers["Stripe-Signature"], SECRET)
        with self.lock:
            self.received.append(event)
        return self.status

    @property
    def types(self):
        return [e.type for e in self.received]


def paid_session(api, fake, **overrides):
    session = api.v1.checkout.sessions.create(params=session_params(**overrides))
    fake.complete_session(session.id)
    return api.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})


def test_parse_form_builds_nested_data():
    query = "a[0][b][c]=1&a[1][b][c]=2&metadata[0]=x&expand[]=p&expand[]=q&e=&s=%5Bx%5D"
    assert parse_form(query) == {
        "a": [{"b": {"c": "1"}}, {"b": {"c": "2"}}],
        "metadata": {"0": "x"},
        "expand": ["p", "q"],
        "e": "",
        "s": "[x]",
    }


def test_create_and_retrieve_with_expand(api, fake):
    session = api.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "k1"})

    assert isinstance(session, stripe.checkout.Session)
    assert session.id.startswith("cs_test_") and len(session.id) == 32
    assert (session.status, session.payment_status, session.amount_total) == ("open", "unpaid", 250000)
    assert session.currency == "nok" and session.payment_intent is None
    assert session.url == f"{fake.base_url}/pay/{session.id}"
    assert session.metadata["order_code"] == "ABC123" and session.client_reference_id == "order-17"
    assert session.expires_at == session.created + 86400 and session.livemode is False
    method, path, headers, params = fake.calls[-1]
    assert (method, path, headers["Idempotency-Key"]) == ("POST", "/v1/checkout/sessions", "k1")
    assert params["line_items"][0]["price_data"] == {
        "currency": "nok",
        "unit_amount": "125000",  # everything arrives as a string
        "tax_behavior": "inclusive",
        "product_data": {"name": "Konferansebillett"},
    }
    assert params["metadata"] == {"order_code": "ABC123"} and params["line_items"][1]["quantity"] == "1"

    again = api.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert again.id == session.id and again.payment_intent is None
    assert fake.calls[-1][1:4:2] == (f"/v1/checkout/sessions/{session.id}", {"expand": ["payment_intent"]})


def test_idempotent_create_replays_the_first_response(api, fake):
    first = api.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "same"})
    second = api.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "same"})
    assert second.id == first.id and len(fake.sessions) == 1
    assert second.last_response.headers["Idempotent-Replayed"] == "true"

    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        api.v1.checkout.sessions.create(
            params=session_params(client_reference_id="other"), options={"idempotency_key": "same"}
        )
    # without a key the client makes up a fresh one per call, so a retry creates a second session
    api.v1.checkout.sessions.create(params=session_params())
    assert len(fake.sessions) == 2


@pytest.mark.parametrize(
    "overrides, param",
    [
        ({"mode": "subscription"}, "mode"),
        ({"success_url": None}, "success_url"),
        ({"line_items": []}, "line_items"),
        (
            {"line_items": [{"quantity": 0, "price_data": {"currency": "nok", "unit_amount": 1}}]},
            "line_items[0][quantity]",
        ),
        (
            {"line_items": [{"quantity": 1, "price_data": {"currency": "nok", "unit_amount": -1}}]},
            "line_items[0][price_data][unit_amount]",
        ),
        (
            {"line_items": [{"quantity": 1, "price_data": {"currency": "nok", "unit_amount": 1}}]},
            "line_items[0][price_data][product_data]",
        ),
        ({"expires_at": int(time.time()) + 60}, "expires_at"),
    ],
)
def test_invalid_session_is_rejected(api, fake, overrides, param):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        api.v1.checkout.sessions.create(params=session_params(**overrides))
    assert raised.value.http_status == 400 and raised.value.param == param
    assert fake.sessions == {}


def test_mixed_currencies_and_unknown_ids_are_rejected(api):
    items = session_params()["line_items"]
    items[1]["price_data"]["currency"] = "eur"
    with pytest.raises(stripe.InvalidRequestError, match="same currency"):
        api.v1.checkout.sessions.create(params=session_params(line_items=items))

    with pytest.raises(stripe.InvalidRequestError, match="No such checkout.session: 'cs_x'") as raised:
        api.v1.checkout.sessions.retrieve("cs_x")
    assert (raised.value.http_status, raised.value.code, raised.value.param) == (
        404,
        "resource_missing",
        "id",
    )
    with pytest.raises(stripe.InvalidRequestError, match="No such payment_intent"):
        api.v1.payment_intents.retrieve("pi_x")
    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        api.v1.payment_intents.retrieve("pi_x", params={"expand": ["latest_charge"]})


def test_a_wrong_key_is_an_authentication_error(fake):
    live = stripe.StripeClient("sk_live_nope", base_addresses={"api": fake.base_url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        live.v1.checkout.sessions.retrieve("cs_x")
    response = requests.get(f"{fake.base_url}/v1/charges/ch_x", timeout=5)
    assert response.status_code == 401 and response.json()["error"]["type"] == "invalid_request_error"


def test_complete_session_pays_it(api, fake):
    session = paid_session(api, fake)

    assert (session.status, session.payment_status) == ("complete", "paid")
    intent = session.payment_intent
    assert isinstance(intent, stripe.PaymentIntent) and intent.status == "succeeded"
    assert (intent.amount, intent.currency, intent.metadata["order_code"]) == (250000, "nok", "ABC123")
    assert api.v1.checkout.sessions.retrieve(session.id).payment_intent == intent.id
    assert api.v1.payment_intents.retrieve(intent.id).latest_charge == intent.latest_charge
    charge = api.v1.charges.retrieve(intent.latest_charge)
    assert isinstance(charge, stripe.Charge)
    assert (charge.amount, charge.amount_refunded, charge.refunded) == (250000, 0, False)
    [event] = fake.events
    assert event["type"] == "checkout.session.completed"
    assert event["data"]["object"]["payment_intent"] == intent.id
    with pytest.raises(FakeStripeError, match='status "complete"'):
        fake.complete_session(session.id)


def test_strict_metadata_keeps_session_metadata_off_the_intent(api, fake):
    fake.pi_metadata_from_session = False
    session = paid_session(api, fake, payment_intent_data={"metadata": {"order_code": "PI1"}})
    assert session.payment_intent.metadata.to_dict() == {"order_code": "PI1"}


def test_expire(api, fake):
    session = api.v1.checkout.sessions.create(params=session_params())
    assert api.v1.checkout.sessions.expire(session.id).status == "expired"
    with pytest.raises(stripe.InvalidRequestError, match='status "expired"'):
        api.v1.checkout.sessions.expire(session.id)
    other = api.v1.checkout.sessions.create(params=session_params())
    assert fake.expire_session(other.id)["status"] == "expired"
    assert [e["type"] for e in fake.events] == ["checkout.session.expired"] * 2


def test_failed_payment_leaves_the_session_open(api, fake):
    session = api.v1.checkout.sessions.create(params=session_params())
    intent = fake.fail_payment(session.id, message="Insufficient funds.")

    [event] = fake.events
    assert event["type"] == "payment_intent.payment_failed" and event["data"]["object"]["id"] == intent["id"]
    assert event["data"]["object"]["metadata"] == {"order_code": "ABC123"}
    assert event["data"]["object"]["last_payment_error"]["message"] == "Insufficient funds."
    after = api.v1.checkout.sessions.retrieve(session.id, params={"expand": ["payment_intent"]})
    assert (after.status, after.payment_intent.status) == ("open", "requires_payment_method")

    fake.complete_session(session.id)  # the second card works, on the same PaymentIntent
    intent = api.v1.payment_intents.retrieve(intent["id"])
    assert intent.status == "succeeded" and intent.last_payment_error is None


def test_refund_partially_then_fully(api, fake):
    intent = paid_session(api, fake).payment_intent
    refund = api.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 50000, "metadata": {"reason": "one ticket"}},
        options={"idempotency_key": "refund-1"},
    )
    assert isinstance(refund, stripe.Refund)
    assert (refund.amount, refund.status, refund.charge) == (50000, "succeeded", intent.latest_charge)
    replay = api.v1.refunds.create(
        params={"payment_intent": intent.id, "amount": 50000, "metadata": {"reason": "one ticket"}},
        options={"idempotency_key": "refund-1"},
    )
    assert replay.id == refund.id and len(fake.refunds) == 1
    charge = api.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (50000, False)

    with pytest.raises(
        stripe.InvalidRequestError, match=r"Refund amount \(200001\) is greater .* \(200000\)"
    ):
        api.v1.refunds.create(params={"payment_intent": intent.id, "amount": 200001})
    with pytest.raises(stripe.InvalidRequestError, match="positive"):
        api.v1.refunds.create(params={"payment_intent": intent.id, "amount": 0})
    rest = api.v1.refunds.create(params={"payment_intent": intent.id})  # what is left
    assert rest.amount == 200000 and api.v1.refunds.retrieve(rest.id).metadata.to_dict() == {}
    charge = api.v1.charges.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (250000, True)
    with pytest.raises(stripe.InvalidRequestError, match="already been refunded"):
        api.v1.refunds.create(params={"payment_intent": intent.id})
    refunded = [e["data"]["object"]["amount_refunded"] for e in fake.events if e["type"] == "charge.refunded"]
    assert refunded == [50000, 250000]


def test_refund_outside_and_unpaid_intent(api, fake):
    intent = paid_session(api, fake).payment_intent
    assert fake.refund_outside(intent.id, 1000)["amount"] == 1000
    assert fake.charges[intent.latest_charge]["amount_refunded"] == 1000
    session = api.v1.checkout.sessions.create(params=session_params())
    declined = fake.fail_payment(session.id)
    with pytest.raises(stripe.InvalidRequestError, match="does not have a successful charge"):
        api.v1.refunds.create(params={"payment_intent": declined["id"]})


def test_fail_next_simulates_an_outage(api, fake):
    fake.fail_next("post", "/v1/checkout/sessions", times=2)
    for _ in range(2):
        with pytest.raises(stripe.APIError) as raised:
            api.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "k"})
        assert raised.value.http_status == 500
    session = api.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "k"})
    assert session.status == "open" and len(fake.calls) == 3


def test_every_event_is_signed_and_tampering_is_detected(api, fake):
    intent = paid_session(api, fake).payment_intent
    api.v1.refunds.create(params={"payment_intent": intent.id, "amount": 100})
    fake.expire_session(api.v1.checkout.sessions.create(params=session_params()).id)
    fake.fail_payment(api.v1.checkout.sessions.create(params=session_params()).id)

    types = []
    for event in fake.events:
        payload = fake.event_payload(event)
        verified = stripe.Webhook.construct_event(payload, fake.sign(payload), SECRET)
        assert isinstance(verified, stripe.Event) and verified.id == event["id"]
        assert verified.api_version == "2026-10-28.endive" and verified.livemode is False
        types.append(verified.type)
        with pytest.raises(stripe.SignatureVerificationError):
            tampered = payload.replace(b'"livemode":false', b'"livemode":true', 1)
            stripe.Webhook.construct_event(tampered, fake.sign(payload), SECRET)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(payload, fake.sign(payload, secret="whsec_other"), SECRET)
        with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
            old = fake.sign(payload, timestamp=int(time.time()) - 301)
            stripe.Webhook.construct_event(payload, old, SECRET)
    assert types == [
        "checkout.session.completed",
        "charge.refunded",
        "checkout.session.expired",
        "payment_intent.payment_failed",
    ]
    assert fake.pending_webhooks == fake.events  # nothing delivered without a target


def test_parallel_delivery_reaches_the_target_concurrently(api, fake):
    together = threading.Barrier(5, timeout=2)  # breaks unless all five calls are inside at once
    recorder = Recorder()

    def target(payload, headers):
        together.wait()
        assert headers["User-Agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        assert headers["Content-Type"] == "application/json"
        return recorder(payload, headers)

    fake.webhook_target = target
    paid_session(api, fake)
    assert fake.deliver(fake.events[0]["id"], times=5, parallel=True) == [200] * 5
    assert recorder.types == ["checkout.session.completed"] * 5 and fake.pending_webhooks == []


def test_deliver_pending_in_reverse_with_duplicates(api, fake):
    fake.webhook_target = recorder = Recorder()
    intent = paid_session(api, fake).payment_intent
    fake.refund_outside(intent.id, 10)
    fake.refund_outside(intent.id, 20)

    assert fake.deliver_pending(order="reverse", duplicate=2) == [200] * 6
    amounts = [e.data.object.to_dict().get("amount_refunded") for e in recorder.received]
    assert amounts == [30, 10, None, 30, 10, None]
    assert fake.pending_webhooks == [] and len(fake.deliveries) == 6


def test_failed_deliveries_stay_pending_and_drop_and_later(api, fake):
    fake.webhook_target, fake.auto_deliver = Recorder(status=500), True
    session = paid_session(api, fake)  # auto-delivered at once, answered 500
    assert [e["type"] for e in fake.pending_webhooks] == ["checkout.session.completed"]

    fake.webhook_target = recorder = Recorder()
    fake.refund_outside(session.payment_intent.id)  # delivered at once, 200
    assert recorder.types == ["charge.refunded"]
    fake.auto_deliver = False
    fake.drop(fake.pending_webhooks[0])
    assert fake.pending_webhooks == []

    timer = fake.deliver_later(fake.events[0]["id"], 0.05)
    assert recorder.types == ["charge.refunded"]
    timer.join(2)
    assert recorder.types == ["charge.refunded", "checkout.session.completed"]


def test_api_calls_auto_deliver_after_answering(api, fake):
    fake.webhook_target, fake.auto_deliver = (recorder := Recorder()), True
    intent = paid_session(api, fake).payment_intent
    api.v1.refunds.create(params={"payment_intent": intent.id})
    deadline = time.monotonic() + 2
    while len(recorder.types) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.types == ["checkout.session.completed", "charge.refunded"]


def test_a_webhook_handler_may_call_the_api_back(api, fake):
    seen = []

    def target(payload, headers):  # like the app: verify, then fetch the fresh session
        event = stripe.Webhook.construct_event(payload, headers["Stripe-Signature"], SECRET)
        session = api.v1.checkout.sessions.retrieve(
            event.data.object.id, params={"expand": ["payment_intent"]}
        )
        seen.append((session.payment_status, session.payment_intent.status))
        return 200

    fake.webhook_target, fake.auto_deliver = target, True
    paid_session(api, fake)
    assert seen == [("paid", "succeeded")] and fake.pending_webhooks == []


def test_http_and_flask_targets(api, fake):
    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(stripe.Webhook.construct_event(body, self.headers["Stripe-Signature"], SECRET))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, args=(0.05,), daemon=True).start()
    try:
        fake.webhook_target = fake.http_target(f"http://127.0.0.1:{hook.server_address[1]}/stripe")
        paid_session(api, fake)
        assert fake.deliver(fake.events[0]) == [204] and received[0].type == "checkout.session.completed"
    finally:
        hook.shutdown()
        hook.server_close()

    app = flask.Flask(__name__)

    @app.post("/stripe/webhook")
    def webhook():
        signature = flask.request.headers.get("Stripe-Signature")
        event = stripe.Webhook.construct_event(flask.request.get_data(), signature, SECRET)
        assert flask.request.content_type == "application/json"
        return {"received": event.type}

    fake.webhook_target = fake.client_target(app.test_client(), "/stripe/webhook")
    assert fake.deliver(fake.events[0]) == [200]


def test_hosted_checkout_page(api, fake):
    session = api.v1.checkout.sessions.create(params=session_params())
    page = requests.get(session.url, timeout=5)
    assert page.status_code == 200 and "2500.00 NOK" in page.text and "Konferansebillett" in page.text
    assert f'action="/pay/{session.id}/complete"' in page.text

    cancel = requests.post(f"{session.url}/cancel", allow_redirects=False, timeout=5)
    assert (cancel.status_code, cancel.headers["Location"]) == (303, "http://localhost/cancelled")
    declined = requests.post(f"{session.url}/decline", allow_redirects=False, timeout=5)
    assert (declined.status_code, declined.headers["Location"]) == (303, f"/pay/{session.id}")
    paid = requests.post(f"{session.url}/complete", allow_redirects=False, timeout=5)
    assert paid.status_code == 303
    assert paid.headers["Location"] == f"http://localhost/ok?session={session.id}"
    assert api.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
    assert "is complete" in requests.get(session.url, timeout=5).text
    assert [e["type"] for e in fake.events] == ["payment_intent.payment_failed", "checkout.session.completed"]
    assert requests.get(f"{fake.base_url}/pay/cs_nope", timeout=5).status_code == 404
    assert all(path.startswith("/v1/") for _, path, _, _ in fake.calls)  # the page is not an API call
