"""Fixtures shared by every test: one database per test session (SQLite or PostgreSQL, chosen by
EVENTREG_TEST_DB), built by running the migrations, and emptied after each test."""

import os
import threading
import uuid
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from celery import _state as celery_state
from werkzeug.serving import make_server

from eventreg import create_app
from eventreg.extensions import db
from eventreg.registration import capacity
from eventreg.tickets import services as ticket_services
from tests.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parent.parent
BACKEND = os.environ.get("EVENTREG_TEST_DB", "sqlite")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Our own queue: a Celery worker left over from another run must never take this run's tasks.
CELERY_QUEUE = f"eventreg-test-{uuid.uuid4().hex[:8]}"
ADMIN_URL = os.environ.get("DATABASE_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
        return
    if BACKEND != "postgres":
        raise pytest.UsageError("EVENTREG_TEST_DB must be sqlite or postgres")
    # No skip: a missing PostgreSQL must fail the run, not hide half the suite.
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"eventreg_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def smtp_server():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server):
    """The SMTP server the app sends to, running and empty."""
    smtp_server.reset()
    yield smtp_server
    smtp_server.reset()


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory, smtp_server):
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DB_POOL_SIZE": 40,
            "REDIS_URL": REDIS_URL,
            "CELERY_QUEUE": CELERY_QUEUE,
            "OUTBOX_DIR": str(tmp_path_factory.mktemp("outbox")),
            "MAIL_WORKER": "manual",  # tests deliver the outbox by calling the worker
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp_server.port,
            "MAIL_TIMEOUT": 5,
            "MAIL_DEFAULT_SENDER": "Påmelding <noreply@eventreg.test>",
            "PUBLIC_URL": "https://events.example.org",
            # Tests send far more requests from one address than a person would; the limits
            # themselves are tested with apps of their own (tests/test_rate_limits.py).
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def second_app(app):
    """Makes another app server on the test database (its database, outbox, mail worker, key,
    broker and queue, with the given settings on top). Its connections are closed after the test:
    a pool left to the garbage collector warns in whichever test happens to be running then."""
    made = []
    keep = {
        k: app.config[k]
        for k in (
            "SQLALCHEMY_DATABASE_URI",
            "OUTBOX_DIR",
            "MAIL_WORKER",
            "SECRET_KEY",
            "REDIS_URL",
            "CELERY_QUEUE",
        )
    }

    def make(**settings):
        made.append(create_app({**keep, "TESTING": True, **settings}))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
    # Creating an app makes its Celery the process's default, which a task called later (as a
    # worker would run it) runs in: the test app's is the default again.
    celery = app.extensions["celery"]
    celery.set_current()
    celery.set_default()


@pytest.fixture(autouse=True)
def _celery_default_stays(request):
    """A test that leaves another app's Celery as the default fails here, not later: the next
    tests' tasks would run in that app, on connections it had closed and then opened anew, which
    the garbage collector finds open in some unrelated test."""
    if "app" in request.fixturenames:
        request.getfixturevalue("app")  # the session's app first: creating it makes it the default
    current = celery_state.get_current_app()  # with no app yet, this makes Celery's fallback one
    before = celery_state.default_app, current
    yield
    after = celery_state.default_app, celery_state.get_current_app()
    assert after[0] is before[0] and after[1] is before[1], "another app's Celery was left the default"


@pytest.fixture(autouse=True)
def _forget_seat_counts():
    """Event ids come back after the database is emptied; a count or key remembered from the
    last test must not speak for a new event."""
    yield
    capacity._last_count.clear()
    ticket_services._key_cache.clear()


@pytest.fixture(autouse=True)
def _empty_database(request):
    """Every test starts from an empty schema (threads and processes see the same rows, so the
    tests cannot hide inside a rolled-back transaction)."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:  # DELETE beats TRUNCATE on tables this small
            for t in tables:
                conn.execute(sa.text(f'DELETE FROM "{t}"'))


@pytest.fixture
def ctx(app):
    """An app and request context, for calling services directly."""
    with app.test_request_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Debian's chromium; Playwright must never download a browser of its own.
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}
