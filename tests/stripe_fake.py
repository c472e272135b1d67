"""A local, stateful fake of the few Stripe API endpoints eventreg uses, served over real HTTP so the
app talks to it through the real `stripe` client (`base_addresses={"api": fake.base_url}`).

Faked: Checkout Sessions in `payment` mode with `price_data` line items (create, retrieve with
`expand[]=payment_intent`, expire), PaymentIntents and Charges (retrieve), Refunds (create, retrieve),
idempotency keys, Stripe's error JSON (so the client raises its own exception classes), a hosted
checkout page at /pay/<id>, and signed webhook events whose delivery the test controls (queue,
reorder, duplicate, delay, drop, deliver concurrently).

Not faked: customers, prices/products APIs, subscriptions, list endpoints, any other `expand`,
partial captures, disputes, more than one charge per PaymentIntent, automatic expiry at
`expires_at`, and webhook retries (a delivery that did not get a 2xx simply stays pending). Only the
events named in the methods are emitted; real Stripe sends more (payment_intent.succeeded,
charge.succeeded, refund.created, ...), so the app must answer 2xx to types it ignores.
"""

import copy
import hashlib
import hmac
import html
import json
import random
import re
import secrets
import string
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

API_VERSION = "2026-10-28.endive"
WEBHOOK_USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
Target = Callable[[bytes, dict[str, str]], int]
_ALNUM = string.ascii_letters + string.digits


class FakeStripeError(Exception):
    """An API error: the HTTP status and the body Stripe would send. Test controls raise it too."""

    def __init__(self, status: int, message: str, *, type="invalid_request_error", code=None, param=None):
        super().__init__(message)
        error = {"type": type, "message": message, "code": code, "param": param}
        self.status = status
        self.body = {"error": {k: v for k, v in error.items() if v is not None}}


def parse_form(query: str) -> dict[str, Any]:
    """Stripe's form encoding back into nested data: `a[b][0][c]=1` -> {"a": {"b": [{"c": "1"}]}}.
    Values stay strings, as on the wire; dicts keyed 0..n-1 become lists (except `metadata`)."""
    root: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head, *(rest[:-1].split("][") if rest else [])]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part or str(len(node)), {})
            if not isinstance(node, dict):
                raise FakeStripeError(400, f"Invalid parameter: {key}")
        node[parts[-1] or str(len(node))] = value
    return _listify(root)


def _listify(node: Any, name: str = "") -> Any:
    if not isinstance(node, dict):
        return node
    node = {k: _listify(v, k) for k, v in node.items()}
    if node and name != "metadata" and set(node) == {str(i) for i in range(len(node))}:
        return [node[str(i)] for i in range(len(node))]
    return node


def _int(value: Any, param: str, *, minimum: int | None = None) -> int:
    if value is None:
        raise FakeStripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise FakeStripeError(400, f"Invalid integer: {value}", param=param) from None
    if minimum is not None and number < minimum:
        raise FakeStripeError(400, f"This value must be greater than or equal to {minimum}.", param=param)
    return number


def _required(params: dict, key: str, param: str | None = None) -> Any:
    if params.get(key) in (None, ""):
        param = param or key
        raise FakeStripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)
    return params[key]


def _metadata(params: dict, param: str = "metadata") -> dict[str, str]:
    value = params.get(param) or {}
    if not isinstance(value, dict):
        raise FakeStripeError(400, "Invalid object", param=param)
    return {k: v for k, v in value.items() if v != ""}  # Stripe: an empty value unsets the key


class StripeFake:
    def __init__(self, webhook_secret: str = "whsec_test_eventreg"):
        self.webhook_secret = webhook_secret
        self.clock: Callable[[], float] = time.time  # `created`/`expires_at`; webhooks sign with real time
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.reset()

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> "StripeFake":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = self._thread = None

    def reset(self) -> None:
        """Forget everything: objects, calls, events, queued webhooks, failures, target and flags."""
        with self._lock:
            for timer in getattr(self, "_timers", []):
                timer.cancel()
            self.sessions: dict[str, dict] = {}
            self.payment_intents: dict[str, dict] = {}
            self.charges: dict[str, dict] = {}
            self.refunds: dict[str, dict] = {}
            self.events: list[dict] = []
            self.pending_webhooks: list[dict] = []
            self.deliveries: list[tuple[str, int]] = []  # (event id, status) per attempt
            self.calls: list[tuple[str, str, dict, dict]] = []
            self.webhook_target: Target | None = None
            self.auto_deliver = False
            # Real Stripe puts only payment_intent_data[metadata] on the PaymentIntent; False = strict.
            self.pi_metadata_from_session = True
            self._failures: list[list] = []
            self._idempotency: dict[str, tuple[tuple, bytes]] = {}
            self._line_items: dict[str, list[dict]] = {}
            self._pi_metadata: dict[str, dict] = {}
            self._timers: list[threading.Timer] = []

    # ---- test controls ---------------------------------------------------------------------
    def complete_session(self, session_id: str) -> dict:
        """The customer paid: PaymentIntent succeeded + charge; emits checkout.session.completed."""
        return self._control(self._complete, session_id)

    def fail_payment(self, session_id: str, message: str = "Your card was declined.") -> dict:
        """A declined card: the session stays open; emits payment_intent.payment_failed. Returns the PI."""
        return self._control(self._fail, session_id, message)

    def expire_session(self, session_id: str) -> dict:
        return self._control(self._expire, session_id)

    def refund_outside(self, payment_intent_id: str, amount: int | None = None) -> dict:
        """A refund made in the Stripe dashboard."""
        return self._control(self._refund, {"payment_intent": payment_intent_id, "amount": amount})

    def fail_next(self, method: str, path_prefix: str, status: int = 500, times: int = 1) -> None:
        with self._lock:
            self._failures.append([method.upper(), path_prefix, status, times])

    # ---- webhooks --------------------------------------------------------------------------
    def sign(self, payload: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
        t = int(time.time()) if timestamp is None else timestamp
        key = (secret or self.webhook_secret).encode()
        return f"t={t},v1={hmac.new(key, f'{t}.'.encode() + payload, hashlib.sha256).hexdigest()}"

    @staticmethod
    def event_payload(event: dict) -> bytes:
        return json.dumps(event, separators=(",", ":")).encode()

    def deliver(self, event_or_id: dict | str, times: int = 1, parallel: bool = False) -> list[int]:
        """POST the event `times` times (signed afresh each time) and return the status codes. It
        leaves pending_webhooks once an attempt got a 2xx."""
        event, target = self._event(event_or_id), self.webhook_target
        if target is None:
            raise RuntimeError("set fake.webhook_target before delivering webhooks")

        def attempt() -> int:
            payload = self.event_payload(event)
            headers = {
                "Stripe-Signature": self.sign(payload),
                "Content-Type": "application/json",
                "User-Agent": WEBHOOK_USER_AGENT,
            }
            return target(payload, headers)

        if parallel:
            barrier, results, errors = threading.Barrier(times), [0] * times, []

            def run(i: int) -> None:
                barrier.wait()
                try:
                    results[i] = attempt()
                except BaseException as exc:  # re-raised in the caller's thread
                    errors.append(exc)

            threads = [threading.Thread(target=run, args=(i,)) for i in range(times)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
        else:
            results = [attempt() for _ in range(times)]
        with self._lock:
            self.deliveries.extend((event["id"], status) for status in results)
            if any(200 <= status < 300 for status in results):
                self.pending_webhooks[:] = [e for e in self.pending_webhooks if e["id"] != event["id"]]
        return results

    def deliver_pending(self, order: str = "fifo", duplicate: int = 1) -> list[int]:
        """Deliver every queued event, one at a time; `duplicate=2` sends the whole batch twice."""
        with self._lock:
            batch = list(self.pending_webhooks)
        if order == "reverse":
            batch.reverse()
        elif order not in ("fifo", "shuffle"):
            raise ValueError(f"unknown order {order!r}")
        batch *= duplicate
        if order == "shuffle":
            random.shuffle(batch)
        return [self.deliver(event)[0] for event in batch]

    def drop(self, event_or_id: dict | str) -> None:
        event_id = self._event(event_or_id)["id"]
        with self._lock:
            self.pending_webhooks[:] = [e for e in self.pending_webhooks if e["id"] != event_id]

    def deliver_later(self, event_or_id: dict | str, seconds: float) -> threading.Timer:
        """Leaves the queue now, arrives after `seconds` (join the returned timer to wait for it)."""
        event = self._event(event_or_id)
        self.drop(event)
        timer = threading.Timer(seconds, self.deliver, args=(event,))
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()
        return timer

    @staticmethod
    def http_target(url: str) -> Target:
        def post(payload: bytes, headers: dict[str, str]) -> int:
            return requests.post(url, data=payload, headers=headers, timeout=10).status_code

        return post

    @staticmethod
    def client_target(flask_test_client, path: str) -> Target:
        def post(payload: bytes, headers: dict[str, str]) -> int:
            headers = {k: v for k, v in headers.items() if k != "Content-Type"}
            response = flask_test_client.post(
                path, data=payload, headers=headers, content_type="application/json"
            )
            return response.status_code

        return post

    # ---- state changes (called with the lock held) -------------------------------------------
    def _control(self, change: Callable, *args) -> dict:
        result, new_events = self._locked(change, *args)
        self._dispatch(new_events)
        return result

    def _locked(self, change: Callable, *args) -> tuple[Any, list[dict]]:
        with self._lock:
            start = len(self.events)
            result = change(*args)
            return copy.deepcopy(result), self.events[start:]

    def _dispatch(self, new_events: list[dict]) -> None:
        if self.auto_deliver and self.webhook_target is not None:
            for event in new_events:
                self.deliver(event)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_test_{''.join(secrets.choice(_ALNUM) for _ in range(24))}"

    def _new(self, store: dict, prefix: str, name: str, **fields) -> dict:
        obj = {"id": self._new_id(prefix), "object": name, "created": int(self.clock()), "livemode": False}
        obj.update(fields)
        store[obj["id"]] = obj
        return obj

    def _emit(self, type: str, obj: dict) -> None:
        event = {
            "id": self._new_id("evt"),
            "object": "event",
            "type": type,
            "created": int(self.clock()),
            "api_version": API_VERSION,
            "livemode": False,
            "data": {"object": copy.deepcopy(obj)},
        }
        self.events.append(event)
        self.pending_webhooks.append(event)

    def _get(self, store: dict, name: str, object_id: str, param: str = "id") -> dict:
        if object_id not in store:
            message = f"No such {name}: '{object_id}'"
            raise FakeStripeError(404, message, code="resource_missing", param=param)
        return store[object_id]

    def _create_session(self, p: dict) -> dict:
        if _required(p, "mode") != "payment":
            raise FakeStripeError(400, "This fake supports only mode=payment.", param="mode")
        items = p.get("line_items")
        if not isinstance(items, list) or not items:
            raise FakeStripeError(400, "You must specify `line_items` in `payment` mode.", param="line_items")
        total, currencies = 0, set()
        for i, item in enumerate(items):
            at = f"line_items[{i}]"
            quantity = _int(item.get("quantity"), f"{at}[quantity]", minimum=1)
            price = _required(item, "price_data", f"{at}[price_data]")
            currency = str(_required(price, "currency", f"{at}[price_data][currency]")).lower()
            if not re.fullmatch("[a-z]{3}", currency):
                raise FakeStripeError(
                    400, f"Invalid currency: {currency}", param=f"{at}[price_data][currency]"
                )
            unit = _int(price.get("unit_amount"), f"{at}[price_data][unit_amount]", minimum=0)
            product = _required(price, "product_data", f"{at}[price_data][product_data]")
            _required(product, "name", f"{at}[price_data][product_data][name]")
            if price.get("tax_behavior", "unspecified") not in ("inclusive", "exclusive", "unspecified"):
                raise FakeStripeError(400, "Invalid tax_behavior", param=f"{at}[price_data][tax_behavior]")
            total, currencies = total + unit * quantity, currencies | {currency}
        if len(currencies) > 1:
            raise FakeStripeError(400, "All line items must have the same currency.", param="line_items")
        success_url, cancel_url = _required(p, "success_url"), _required(p, "cancel_url")
        expires_at = (now := int(self.clock())) + 86400
        if p.get("expires_at") is not None:
            expires_at = _int(p["expires_at"], "expires_at")
            if not now + 1800 <= expires_at <= now + 86400:
                message = "The `expires_at` timestamp must be between 30 minutes and 24 hours from now."
                raise FakeStripeError(400, message, param="expires_at")
        pi_data = p.get("payment_intent_data") or {}
        pi_metadata = _metadata(pi_data) if isinstance(pi_data, dict) else {}
        session = self._new(
            self.sessions,
            "cs",
            "checkout.session",
            mode="payment",
            status="open",
            payment_status="unpaid",
            amount_total=total,
            currency=currencies.pop(),
            client_reference_id=p.get("client_reference_id"),
            customer_email=p.get("customer_email"),
            metadata=_metadata(p),
            success_url=success_url,
            cancel_url=cancel_url,
            payment_intent=None,
            expires_at=expires_at,
        )
        session["url"] = f"{self.base_url}/pay/{session['id']}"
        self._line_items[session["id"]], self._pi_metadata[session["id"]] = items, pi_metadata
        return session

    def _intent_for(self, session: dict) -> dict:
        if session["payment_intent"]:
            return self.payment_intents[session["payment_intent"]]
        metadata = dict(self._pi_metadata.get(session["id"], {}))
        if self.pi_metadata_from_session:
            metadata = {**session["metadata"], **metadata}
        pi = self._new(
            self.payment_intents,
            "pi",
            "payment_intent",
            amount=session["amount_total"],
            currency=session["currency"],
            status="requires_payment_method",
            latest_charge=None,
            last_payment_error=None,
            metadata=metadata,
        )
        session["payment_intent"] = pi["id"]  # set once a payment was attempted, as Stripe does
        return pi

    def _open_session(self, session_id: str) -> dict:
        session = self._get(self.sessions, "checkout.session", session_id)
        if session["status"] != "open":
            message = (
                'Only Checkout Sessions with a status in ["open"] can be expired or paid. '
                f'This Checkout Session has status "{session["status"]}".'
            )
            raise FakeStripeError(400, message, code="checkout_session_not_open")
        return session

    def _complete(self, session_id: str) -> dict:
        session = self._open_session(session_id)
        pi = self._intent_for(session)
        charge = self._new(
            self.charges,
            "ch",
            "charge",
            amount=pi["amount"],
            amount_refunded=0,
            refunded=False,
            paid=True,
            status="succeeded",
            payment_intent=pi["id"],
            currency=pi["currency"],
        )
        pi.update(status="succeeded", latest_charge=charge["id"], last_payment_error=None)
        session.update(status="complete", payment_status="paid")
        self._emit("checkout.session.completed", session)
        return session

    def _fail(self, session_id: str, message: str) -> dict:
        pi = self._intent_for(self._open_session(session_id))
        error = {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline"}
        pi.update(status="requires_payment_method", last_payment_error={"message": message, **error})
        self._emit("payment_intent.payment_failed", pi)
        return pi

    def _expire(self, session_id: str) -> dict:
        session = self._open_session(session_id)
        session["status"] = "expired"
        self._emit("checkout.session.expired", session)
        return session

    def _refund(self, p: dict) -> dict:
        pi_id = _required(p, "payment_intent")
        pi = self._get(self.payment_intents, "payment_intent", pi_id, "payment_intent")
        if pi["status"] != "succeeded":
            message = f"This PaymentIntent ({pi_id}) does not have a successful charge to refund."
            raise FakeStripeError(400, message, code="charge_not_refundable", param="payment_intent")
        charge = self.charges[pi["latest_charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        if left == 0:
            message = f"Charge {charge['id']} has already been refunded."
            raise FakeStripeError(400, message, code="charge_already_refunded")
        amount = left if p.get("amount") is None else _int(p["amount"], "amount")
        if amount <= 0:
            raise FakeStripeError(400, "Invalid positive integer", param="amount")
        if amount > left:
            message = f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
            raise FakeStripeError(400, message, code="amount_too_large", param="amount")
        refund = self._new(
            self.refunds,
            "re",
            "refund",
            amount=amount,
            status="succeeded",
            payment_intent=pi_id,
            charge=charge["id"],
            metadata=_metadata(p),
            currency=charge["currency"],
        )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._emit("charge.refunded", charge)
        return refund

    # ---- HTTP ------------------------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        url = urllib.parse.urlsplit(req.path)
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0)).decode()
        new_events: list[dict] = []
        headers = {"Request-Id": self._new_id("req")}
        try:
            params = parse_form(url.query if method == "GET" else body)
            if url.path.startswith("/pay/"):
                status, content_type, payload, new_events = self._hosted(method, url.path, headers)
            else:
                content_type = "application/json"
                status, payload, new_events = self._api(method, url.path, req, params, headers)
        except FakeStripeError as exc:
            status, content_type, payload = exc.status, "application/json", json.dumps(exc.body).encode()
        except Exception as exc:  # a bug in the fake: answer instead of hanging the client
            error = FakeStripeError(500, f"StripeFake crashed: {exc!r}", type="api_error")
            status, content_type, payload = 500, "application/json", json.dumps(error.body).encode()
        req.send_response(status)
        for name, value in {**headers, "Content-Type": content_type}.items():
            req.send_header(name, value)
        req.send_header("Content-Length", str(len(payload)))
        req.end_headers()
        req.wfile.write(payload)
        req.wfile.flush()
        self._dispatch(new_events)  # after the response, as Stripe sends webhooks asynchronously

    def _api(self, method, path, req, params, headers) -> tuple[int, bytes, list[dict]]:
        with self._lock:
            self.calls.append((method, path, dict(req.headers), params))
            for failure in self._failures:
                if failure[0] == method and path.startswith(failure[1]) and failure[3] > 0:
                    failure[3] -= 1
                    message = "An unknown error occurred (injected by StripeFake.fail_next)."
                    raise FakeStripeError(failure[2], message, type="api_error")
            if not (req.headers.get("Authorization") or "").startswith("Bearer sk_test_"):
                raise FakeStripeError(401, "Invalid API Key provided (the fake wants Bearer sk_test_...).")
            key = req.headers.get("Idempotency-Key") if method == "POST" else None
            fingerprint = (method, path, params)
            if key in self._idempotency:
                if self._idempotency[key][0] != fingerprint:
                    message = (
                        "Keys for idempotent requests can only be used with the same parameters they "
                        f"were first used with. Try using a key other than '{key}' if you meant to "
                        "execute a different request."
                    )
                    raise FakeStripeError(400, message, type="idempotency_error")
                headers.update({"Idempotency-Key": key, "Idempotent-Replayed": "true"})
                return 200, self._idempotency[key][1], []
            start = len(self.events)
            payload = json.dumps(self._route(method, path, params)).encode()
            if key:  # only completed requests are saved, as on Stripe: a 4xx may be retried with the key
                self._idempotency[key] = (fingerprint, payload)
                headers["Idempotency-Key"] = key
            return 200, payload, self.events[start:]

    def _route(self, method: str, path: str, params: dict) -> dict:
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        expand = params.get("expand") or []
        for field in expand:
            if parts[:3] != ["v1", "checkout", "sessions"] or field != "payment_intent":
                raise FakeStripeError(400, f"This property cannot be expanded ({field}).", param="expand")
        match method, parts:
            case "POST", ["v1", "checkout", "sessions"]:
                return self._create_session(params)
            case "GET", ["v1", "checkout", "sessions", sid]:
                session = copy.deepcopy(self._get(self.sessions, "checkout.session", sid))
                if expand and session["payment_intent"]:
                    session["payment_intent"] = self.payment_intents[session["payment_intent"]]
                return session
            case "POST", ["v1", "checkout", "sessions", sid, "expire"]:
                return self._expire(sid)
            case "POST", ["v1", "refunds"]:
                return self._refund(params)
            case "GET", ["v1", "payment_intents" | "charges" | "refunds" as kind, object_id]:
                store = getattr(self, kind)
                return self._get(store, kind.removesuffix("s"), object_id)
        raise FakeStripeError(404, f"Unrecognized request URL ({method}: {path}).")

    def _hosted(self, method: str, path: str, headers: dict) -> tuple[int, str, bytes, list[dict]]:
        """The checkout page a customer would see (no auth; forms post back here)."""
        sid, _, action = path.removeprefix("/pay/").partition("/")
        with self._lock:
            session = copy.deepcopy(self.sessions.get(sid))
        if session is None:
            return 404, "text/html", b"<h1>No such checkout session</h1>", []
        new_events: list[dict] = []
        if method == "POST" and action == "complete":
            _, new_events = self._locked(self._complete, sid)
            location = session["success_url"].replace("{CHECKOUT_SESSION_ID}", sid)
        elif method == "POST" and action == "decline":
            _, new_events = self._locked(self._fail, sid, "Your card was declined.")
            location = f"/pay/{sid}"
        elif method == "POST" and action == "cancel":
            location = session["cancel_url"]
        elif method == "GET" and not action:
            return 200, "text/html; charset=utf-8", self._page(session).encode(), []
        else:
            return 404, "text/html", b"<h1>Not found</h1>", []
        headers["Location"] = location
        return 303, "text/html", b"", new_events

    def _page(self, session: dict) -> str:
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        with self._lock:
            items = self._line_items.get(session["id"], [])
        rows = "".join(
            f"<li>{html.escape(i['price_data']['product_data']['name'])} &times; {i['quantity']}</li>"
            for i in items
        )
        if session["status"] == "open":
            actions = (("complete", "Pay"), ("decline", "Pay with a declined card"), ("cancel", "Cancel"))
            buttons = "".join(
                f'<form method="post" action="/pay/{session["id"]}/{action}"><button>{label}</button></form>'
                for action, label in actions
            )
        else:
            buttons = f"<p>This checkout session is {session['status']}.</p>"
        return (
            '<!doctype html><html lang="en"><meta charset="utf-8"><title>Test checkout</title>'
            f'<h1>Test checkout</h1><ul>{rows}</ul><p class="amount">Total: {amount}</p>{buttons}</html>'
        )

    def _event(self, event_or_id: dict | str) -> dict:
        if isinstance(event_or_id, dict):
            return event_or_id
        with self._lock:
            for event in self.events:
                if event["id"] == event_or_id:
                    return event
        raise KeyError(f"no event {event_or_id!r}")
