"""Rate limits and the login lockout, each shown by requests that would get through without them."""

import re
import uuid

import pytest

from tests.conftest import REDIS_URL
from tests.factories import make_event, make_user

ADDRESS_A = {"REMOTE_ADDR": "198.51.100.7"}
ADDRESS_B = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.fixture
def limited_app(second_app):
    """Makes a second app server on the test database, with the limits switched on."""
    return lambda **settings: second_app(RATELIMIT_ENABLED=True, **settings)


@pytest.fixture
def server(limited_app):
    return limited_app()


@pytest.fixture
def people(app):
    with app.app_context():
        from eventreg.extensions import db

        make_user("ola@example.org")
        make_user("kari@example.org")
        make_event("forum", prices=(0,))
        db.session.commit()


def log_in(client, email, password, environ):
    page = client.get("/login", environ_base=environ).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf}, environ_base=environ
    )


def test_ten_wrong_passwords_lock_the_account_from_any_address_but_not_others(server, people):
    client = server.test_client()
    for _ in range(10):
        assert log_in(client, "ola@example.org", "guess", ADDRESS_A).status_code == 401
    locked = log_in(client, "ola@example.org", "secret-pw-kaffe", ADDRESS_A)  # even the right password
    assert locked.status_code == 429
    assert "For mange mislykkede innlogginger for denne kontoen" in locked.get_data(as_text=True)
    assert "Retry-After" in locked.headers
    other_client = server.test_client()
    assert log_in(other_client, "OLA@example.org ", "secret-pw-kaffe", ADDRESS_B).status_code == 429
    assert log_in(other_client, "kari@example.org", "secret-pw-kaffe", ADDRESS_A).status_code == 302


def test_logging_in_right_does_not_count_towards_the_lockout(server, people):
    client = server.test_client()
    for _ in range(12):
        assert log_in(client, "ola@example.org", "secret-pw-kaffe", ADDRESS_A).status_code == 302


def test_a_session_left_open_cannot_be_used_to_guess_the_password(server, people):
    client = server.test_client()
    log_in(client, "ola@example.org", "secret-pw-kaffe", ADDRESS_A)
    page = client.get("/account/", environ_base=ADDRESS_A).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    guess = {"current_password": "guess", "new_password": "tre-troll-i-tåka-2027", "csrf_token": csrf}
    guess["repeat_password"] = guess["new_password"]
    for i in range(10):  # from a new address each time: the limit is the account's
        r = client.post("/account/password", data=guess, environ_base={"REMOTE_ADDR": f"192.0.2.{i}"})
        assert r.status_code == 422
    right = {**guess, "current_password": "secret-pw-kaffe"}
    assert client.post("/account/password", data=right, environ_base=ADDRESS_B).status_code == 429


def test_an_address_that_guesses_private_links_is_stopped(server, people):
    client = server.test_client()
    for i in range(60):
        assert client.get(f"/tickets/guess-{i}", environ_base=ADDRESS_A).status_code == 404
    assert client.get("/tickets/guess-61", environ_base=ADDRESS_A).status_code == 429
    assert client.get("/", environ_base=ADDRESS_A).status_code == 429  # stopped, whatever it tries
    assert client.get("/tickets/guess-62", environ_base=ADDRESS_B).status_code == 404
    assert client.get("/", environ_base=ADDRESS_B).status_code == 200


def test_guessing_voucher_codes_is_limited_but_browsing_is_not(server, people):
    client = server.test_client()
    for i in range(30):
        assert (
            client.get(f"/events/forum/register?voucher_code=G{i}", environ_base=ADDRESS_A).status_code == 200
        )
    assert client.get("/events/forum/register?voucher_code=G31", environ_base=ADDRESS_A).status_code == 429
    assert client.get("/events/forum/register", environ_base=ADDRESS_A).status_code == 200


def test_the_public_api_answers_429_in_json(server, people):
    client = server.test_client()
    for _ in range(20):
        assert client.post("/api/v1/events/forum/orders", json={}, environ_base=ADDRESS_A).status_code == 422
    r = client.post("/api/v1/events/forum/orders", json={}, environ_base=ADDRESS_A)
    assert r.status_code == 429
    assert r.json["error"] == "too_many_requests"
    assert int(r.headers["Retry-After"]) > 0


def test_app_servers_sharing_redis_count_together(limited_app, people):
    shared = {"RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": uuid.uuid4().hex}
    first, second = limited_app(**shared).test_client(), limited_app(**shared).test_client()
    for client in (first, second) * 5:
        assert log_in(client, "ola@example.org", "guess", ADDRESS_A).status_code == 401
    assert log_in(first, "ola@example.org", "secret-pw-kaffe", ADDRESS_B).status_code == 429


def test_behind_a_proxy_the_client_address_is_the_one_the_proxy_saw(limited_app, people):
    client = limited_app(PROXY_COUNT=1).test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for i in range(60):
        client.get(f"/tickets/guess-{i}", environ_base=proxy, headers={"X-Forwarded-For": "198.51.100.7"})
    stopped = client.get("/tickets/x", environ_base=proxy, headers={"X-Forwarded-For": "198.51.100.7"})
    other = client.get("/tickets/x", environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.9"})
    assert (stopped.status_code, other.status_code) == (429, 404)
