"""CSRF: every form and every JSON call of the pages needs the session's token; only the API
(bearer tokens, never cookies) and Stripe's webhook (its own signature) are exempt."""

import sqlalchemy as sa

from eventreg.extensions import db
from eventreg.registration.models import Order, OrderStatus
from tests.test_access_matrix import RULES, url_for_rule, world  # noqa: F401 (fixture)
from tests.web.conftest import csrf_from

SIGNED_ELSEWHERE = {"payments.stripe_webhook"}  # Stripe signs it; tests/payments check that


def logged_in_as_admin(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    r = client.post(
        "/login",
        data={"email": "admin@example.org", "password": "secret-pw-kaffe", "csrf_token": csrf_from(page)},
    )
    assert r.status_code == 302
    return client


def test_every_post_of_the_pages_without_the_sessions_token_is_refused(app, world):  # noqa: F811
    values, _tokens = world
    client = logged_in_as_admin(app)
    stranger = app.test_client()  # a token from somebody else's session is no better
    foreign = csrf_from(stranger.get("/login").get_data(as_text=True))
    checked, problems = 0, []
    for url_rule in app.url_map.iter_rules():
        if "POST" not in url_rule.methods or url_rule.endpoint in SIGNED_ELSEWHERE:
            continue
        if url_rule.rule.startswith("/api/"):  # bearer tokens only, never cookies: nothing to forge
            continue
        url = url_for_rule(url_rule, values)
        for data in (None, {"csrf_token": foreign}, {"csrf_token": "forged"}):
            r = client.post(url, data=data)
            if r.status_code != 400:
                problems.append(f"POST {url} with {data}: {r.status_code}")
        checked += 1
    assert checked >= 40, f"only {checked} routes were checked"
    assert problems == [], "\n".join(problems)


def test_a_forged_request_changes_nothing(app, world):  # noqa: F811
    values, _tokens = world
    client = logged_in_as_admin(app)
    r = client.post(f"/manage/events/forum/orders/{values['spare_code']}/cancel")  # free: cancellable
    assert r.status_code == 400
    r = client.post("/logout")
    assert r.status_code == 400
    assert client.get("/account/").status_code == 200  # still logged in
    with app.app_context():
        status = db.session.scalar(sa.select(Order.status).where(Order.code == values["spare_code"]))
    assert status == OrderStatus.PAID  # not cancelled
