"""Security headers, cookies, request ids and escaping, checked on every page of the app."""

import logging
import re

import sqlalchemy as sa

from eventreg.extensions import db
from eventreg.registration.models import Attendee, Order
from tests.test_access_matrix import RULES, url_for_rule, world  # noqa: F401

HOSTILE = '<img src=x onerror="alert(1)">Ø山'
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def _log_in(client, email):
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    assert (
        client.post(
            "/login", data={"email": email, "password": "secret-pw-kaffe", "csrf_token": csrf}
        ).status_code
        == 302
    )


def test_every_page_has_the_policy_no_inline_code_and_escapes_what_people_typed(app, world):  # noqa: F811
    values, _tokens = world
    with app.app_context():
        db.session.execute(sa.update(Attendee).values(name=HOSTILE))
        db.session.execute(sa.update(Order).values(buyer_name=HOSTILE))
        db.session.commit()
    client = app.test_client()
    _log_in(client, "admin@example.org")
    checked, problems = 0, []
    for url_rule in app.url_map.iter_rules():
        if "GET" not in url_rule.methods or RULES[url_rule.endpoint].kind == "api":
            continue
        url = url_for_rule(url_rule, values)
        r = client.get(url)
        r.close()
        if r.mimetype != "text/html" or r.status_code != 200:
            continue
        html = r.get_data(as_text=True)
        checked += 1
        if "script-src 'self'" not in r.headers.get("Content-Security-Policy", ""):
            problems.append(f"{url}: no Content-Security-Policy")
        for name, pattern in (("inline script", INLINE_SCRIPT), ("inline style", INLINE_STYLE)):
            if pattern.search(html):
                problems.append(f"{url}: {name}: {pattern.search(html).group(0)}")
        # Attribute values may quote what people typed, escaped; only the markup itself counts.
        markup = re.sub(r'"[^"]*"', '""', html)
        if EVENT_HANDLER.search(markup):
            problems.append(f"{url}: event handler attribute: {EVENT_HANDLER.search(markup).group(0)[:80]}")
        if "<img src=x" in html:
            problems.append(f"{url}: a typed name is rendered as HTML")
    assert checked >= 20, f"only {checked} pages were checked"
    assert problems == [], "\n".join(problems)


def test_headers_that_every_response_carries(client):
    r = client.get("/")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "same-origin"  # private links never leak to other sites
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_plain_http_installations_get_no_https_only_flags(second_app):
    local = second_app(PUBLIC_URL="http://127.0.0.1:5000")
    r = local.test_client().get("/login")
    assert "Secure" not in r.headers["Set-Cookie"]  # else the embedded default could not log in
    assert "Strict-Transport-Security" not in r.headers


def test_behind_https_the_session_cookie_is_secure_httponly_and_samesite(client):
    r = client.get("/login")  # the test app's PUBLIC_URL is https
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_an_unexpected_error_shows_a_reference_that_is_in_the_log_never_a_traceback(second_app, caplog):
    broken = second_app()

    @broken.route("/boom")
    def boom():
        raise RuntimeError("secret detail in a traceback")

    client = broken.test_client()
    with caplog.at_level(logging.ERROR):
        r = client.get("/boom", headers={"X-Request-ID": "lb-0123456789abcdef"})
    page = r.get_data(as_text=True)
    assert r.status_code == 500
    assert r.headers["X-Request-ID"] == "lb-0123456789abcdef"
    assert "lb-0123456789abcdef" in page
    assert "secret detail" not in page and "Traceback" not in page
    logged = [rec for rec in caplog.records if rec.exc_info]
    assert logged and logged[0].request_id == "lb-0123456789abcdef"

    api = client.get("/boom", headers={"Accept": "application/json", "X-Request-ID": "bad id; with spaces"})
    assert api.status_code == 500
    assert re.fullmatch(r"[0-9a-f]{16}", api.json["request_id"])  # a malformed id is replaced
    assert api.headers["X-Request-ID"] == api.json["request_id"]
