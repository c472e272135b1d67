"""The load balancer's health check: what it reports and when it says 503."""

from datetime import timedelta

import pytest

from eventreg.core.clock import now
from eventreg.extensions import db
from eventreg.mail.models import OutboxMessage
from eventreg.mail.services import queue_order_confirmation
from eventreg.registration.services import create_order
from tests.factories import make_event, order_data


@pytest.fixture
def celery_mode(app):
    """The production setting: background work goes through Celery on Redis."""
    saved = dict(app.config)
    app.config["MAIL_WORKER"] = "celery"
    yield app.config
    app.config.update(saved)


def test_healthy_without_login_and_never_cached(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json["status"] == "ok"
    assert r.json["checks"]["database"]["ok"] is True
    assert r.json["checks"]["redis"] == {"used": False}  # the embedded default needs no Redis
    assert r.json["checks"]["queue"]["mail_lag_seconds"] == 0
    assert r.headers["Cache-Control"] == "no-store"


def test_reaches_redis_and_counts_waiting_tasks_in_production_mode(client, celery_mode):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json["checks"]["redis"]["ok"] is True
    assert isinstance(r.json["checks"]["queue"]["celery_pending"], int)


def test_unreachable_redis_takes_the_server_out_of_rotation_without_leaking_the_url(client, celery_mode):
    celery_mode["REDIS_URL"] = "redis://:hunter2@127.0.0.1:1/0"  # nothing listens on port 1
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json["status"] == "fail"
    assert r.json["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert "hunter2" not in r.get_data(as_text=True)


def test_unreachable_database_is_503(second_app):
    broken = second_app(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:1/none")
    r = broken.test_client().get("/healthz")
    assert r.status_code == 503
    assert r.json["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert "queue" not in r.json["checks"]


def test_mail_waiting_too_long_is_degraded_but_still_serving(app, client, ctx):
    event = make_event()
    order = create_order(event, order_data(event), now=now())
    queue_order_confirmation(order, now=now())
    for message in db.session.query(OutboxMessage):
        message.next_attempt_at = now() - timedelta(minutes=10)
    db.session.commit()
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json["status"] == "degraded"
    assert r.json["checks"]["queue"]["ok"] is False
    assert r.json["checks"]["queue"]["mail_lag_seconds"] >= 600
