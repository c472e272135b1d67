"""The periodic job that gives back expired holds: by CLI, and on a real Celery worker over Redis."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eventreg.core.clock import now
from eventreg.extensions import db
from eventreg.registration.models import Order, OrderStatus
from eventreg.registration.services import create_order
from eventreg.tasks import expire_holds
from tests.conftest import CELERY_QUEUE, REDIS_URL, ROOT
from tests.factories import make_event, order_data


@pytest.fixture
def stale_and_live_orders(app):
    with app.app_context():
        event = make_event(seats=5)
        create_order(event, order_data(event), now=now())
        create_order(event, order_data(event), now=now() - timedelta(hours=1))  # its hold ran out
        db.session.commit()
        db.session.remove()


def statuses(app):
    with app.app_context():
        result = sorted(db.session.scalars(sa.select(Order.status)))
        db.session.remove()
    return result


def test_the_cli_job_expires_stale_holds(app, stale_and_live_orders):
    result = app.test_cli_runner().invoke(args=["expire-holds"])
    assert result.exit_code == 0 and "1 orders expired" in result.output
    assert statuses(app) == [OrderStatus.EXPIRED, OrderStatus.PENDING]


def start_celery_worker(database_url: str, **settings) -> subprocess.Popen:
    """A real Celery worker process on Redis, on this test run's own queue."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": CELERY_QUEUE,
        "MAIL_WORKER": "manual",  # mail the job queues stays in the test database
        **{k: str(v) for k, v in settings.items()},
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app.celery_app",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_a_celery_worker_on_redis_runs_the_job(app, stale_and_live_orders, database_url):
    worker = start_celery_worker(database_url)
    try:
        with app.app_context():
            assert expire_holds.delay().get(timeout=60) == 1
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=30)
    assert statuses(app) == [OrderStatus.EXPIRED, OrderStatus.PENDING], err.decode()[-2000:]
