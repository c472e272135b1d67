"""Two app servers on one PostgreSQL and one Redis, started as README.md's Production section says,
share a registration rush: no seat is sold twice and no request fails with a 5xx."""

import http.client
import json
import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from eventreg.extensions import db
from eventreg.registration.models import Attendee, Order
from tests.factories import make_event
from tests.production.stack import (
    ClientAddresses,
    only_on_postgres,
    proxy_headers,
    run_migrations,
    start_app_servers,
)

pytestmark = [only_on_postgres, pytest.mark.slow]

SEATS = 40  # one quota shared by both ticket types
ATTEMPTS = 300
CLIENTS = 12
API_CREATE_PER_MINUTE = 20  # eventreg/core/ratelimits.py: "api.create"


def order_body(i: int, type_ids: list[int]) -> str:
    email = f"buyer{i}@example.org"
    return json.dumps(
        {
            "buyer": {"name": f"Buyer {i}", "email": email, "language": "nb" if i % 2 else "en"},
            "attendees": [{"name": f"Buyer {i}", "email": email, "ticket_type_id": type_ids[i % 2]}],
            "payment_method": "card",
        }
    )


def post_order(port: int, slug: str, body: str, address: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Content-Type": "application/json", "Host": "events.example.org", **proxy_headers(address)}
        conn.request("POST", f"/api/v1/events/{slug}/orders", body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = {"body": raw[:300].decode(errors="replace")}
        return response.status, answer
    finally:
        conn.close()


def rush(ports: list[int], slug: str, type_ids: list[int], addresses: ClientAddresses) -> list[tuple]:
    """ATTEMPTS orders by CLIENTS threads at once, attempt i on server i % 2, each attempt a buyer
    with an address of their own. Returns (port, status, answer) per attempt."""
    bodies = [(ports[i % len(ports)], order_body(i, type_ids), addresses.take()) for i in range(ATTEMPTS)]
    results: list[tuple | None] = [None] * ATTEMPTS
    next_attempt = iter(range(ATTEMPTS))
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client():
        start.wait()
        while True:
            with lock:
                i = next(next_attempt, None)
            if i is None:
                return
            port, body, address = bodies[i]
            try:
                results[i] = (port, *post_order(port, slug, body, address))
            except OSError as error:  # a refused or dropped connection counts as a failure
                results[i] = (port, 0, {"error": repr(error)})

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "the rush did not finish in 2 minutes"
    return results


def test_two_app_servers_share_a_rush_without_overselling(
    production_env, local_app, processes, queue, smtp, tmp_path
):
    env = production_env
    run_migrations(env, tmp_path)
    with local_app.app_context():
        event = make_event("rush-2027", seats=SEATS, prices=(1950_00, 2950_00))
        event_id, slug, type_ids = event.id, event.slug, [tt.id for tt in event.ticket_types]
        db.session.commit()
        db.session.remove()

    servers = start_app_servers(env, tmp_path, processes)
    ports = [port for _, port in servers]
    logs = lambda: "\n".join(s.output() for s, _ in servers)  # noqa: E731

    addresses = ClientAddresses()
    results = rush(ports, slug, type_ids, addresses)

    with local_app.app_context():
        orders = db.session.scalar(sa.select(sa.func.count(Order.id)).where(Order.event_id == event_id))
        seats_taken = db.session.scalar(
            sa.select(sa.func.count(Attendee.id)).where(Attendee.event_id == event_id)
        )
        db.session.remove()
    statuses = Counter(status for _, status, _ in results)
    created = [r for r in results if r[1] == 201]
    refused = [r for r in results if r[1] == 409]
    failures = [r for r in results if r[1] not in (201, 409)]
    summary = f"statuses {dict(statuses)}, {orders} orders in the database"
    assert failures == [], f"{summary}; not 201 or 409: {failures[:5]}\n{logs()}"
    assert orders == seats_taken == SEATS, f"oversold or undersold: {summary}"
    assert len(created) == orders, summary
    assert {answer.get("error") for _, _, answer in refused} == {"sold_out"}, summary
    sold_by = Counter(port for port, _, _ in created)
    assert all(sold_by[port] > 0 for port in ports), f"one server sold nothing: {dict(sold_by)}"

    # The rate limits are on and both servers count in Redis together: one address gets
    # API_CREATE_PER_MINUTE answers from the two servers, then 429 from either.
    address = addresses.take()
    answers = [
        post_order(ports[i % 2], slug, order_body(i, type_ids), address)[0]
        for i in range(API_CREATE_PER_MINUTE + 2)
    ]
    assert answers == [409] * API_CREATE_PER_MINUTE + [429, 429], f"{answers}\n{logs()}"
