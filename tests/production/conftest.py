"""Fixtures of the production tests: a fresh PostgreSQL database, the processes a test starts
(always stopped, also when the test fails), and an app in the test process for setting data up."""

import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import ADMIN_URL, BACKEND
from tests.production.stack import Process, forget_queue, make_production_env, new_queue


@pytest.fixture
def production_database():
    """A new, empty PostgreSQL database (the README's `flask db upgrade` builds the schema)."""
    if BACKEND != "postgres":
        pytest.skip("production runs on PostgreSQL; this test runs in the PostgreSQL pass")
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"eventreg_production_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def queue():
    """This test's own Celery queue, removed from Redis afterwards."""
    name = new_queue()
    yield name
    forget_queue(name)


@pytest.fixture
def processes():
    """Register each started process here: all are stopped when the test ends, however it ends."""
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()


@pytest.fixture
def production_env(production_database, smtp, queue) -> dict[str, str]:
    """The settings of README.md's Production section as environment variables, pointed at the
    fresh database, the test's SMTP server (MAIL_SERVER) and its own Celery queue."""
    return make_production_env(production_database, smtp_port=smtp.port, queue=queue)


@pytest.fixture
def local_app(production_env, second_app):
    """An app in the test process on the production database, for making events and orders.
    Nothing it queues is delivered by itself (MAIL_WORKER=manual); its Celery is the test run's."""
    return second_app(
        SQLALCHEMY_DATABASE_URI=production_env["DATABASE_URL"],
        # The servers' key: it also encrypts the events' ticket signing keys.
        SECRET_KEY=production_env["SECRET_KEY"],
        MAIL_WORKER="manual",
        PUBLIC_URL=production_env["PUBLIC_URL"],
    )
