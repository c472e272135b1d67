"""Helpers for the page tests: seeding, logging in, and reading the CSRF token out of a form."""

import re

import pytest
import sqlalchemy as sa

from eventreg.demo import seed_demo
from eventreg.extensions import db
from eventreg.registration.models import Order

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def text(response) -> str:
    """The page as text, with non-breaking spaces made plain (Babel puts them in money)."""
    return response.get_data(as_text=True).replace("\xa0", " ").replace("\u202f", " ")


@pytest.fixture
def demo(app):
    with app.app_context():
        seed_demo()
        db.session.commit()


@pytest.fixture
def count_orders(app):
    def count() -> int:
        with app.app_context():
            return db.session.scalar(sa.select(sa.func.count(Order.id)))

    return count


@pytest.fixture
def login(client):
    def do(email: str, password: str = "secret-pw-kaffe"):
        page = client.get("/login")
        return client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_from(page.get_data(as_text=True))},
        )

    return do


@pytest.fixture
def english(client):
    """Switches the test client's session to English."""
    page = client.get("/")
    client.post("/lang/en", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "next": "/"})
    return client
