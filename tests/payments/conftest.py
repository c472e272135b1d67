"""Payments tests run the app against a local Stripe fake (tests/stripe_fake.py) with Stripe's
own webhook signing; the times are real, because the fake checks session lifetimes by its clock."""

import pytest

from tests.stripe_fake import StripeFake

WEBHOOK = "/payments/stripe/webhook"


@pytest.fixture(scope="session")
def stripe_server():
    fake = StripeFake().start()
    yield fake
    fake.stop()


@pytest.fixture
def stripe_fake(app, stripe_server, monkeypatch):
    """The fake, empty, with the app pointed at it; webhooks go to the app through its test client
    (tests that need real parallel HTTP point `webhook_target` at the live server)."""
    stripe_server.reset()
    for key, value in {
        "STRIPE_SECRET_KEY": "sk_test_eventreg",
        "STRIPE_WEBHOOK_SECRET": stripe_server.webhook_secret,
        "STRIPE_API_BASE": stripe_server.base_url,
        "STRIPE_MAX_RETRIES": 0,
        "STRIPE_TIMEOUT": 10,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    stripe_server.webhook_target = StripeFake.client_target(app.test_client(), WEBHOOK)
    yield stripe_server
    stripe_server.reset()
