"""Settings, the schema built by migrations, and the demo data."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from eventreg.config import ConfigError, load_settings
from eventreg.demo import seed_demo
from eventreg.events.models import Event
from eventreg.extensions import db


def test_settings_come_from_the_environment_with_embedded_defaults(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert load_settings()["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://db/eventreg")
    monkeypatch.setenv("MAIL_PORT", "2525")
    settings = load_settings()
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db/eventreg"
    assert settings["MAIL_PORT"] == 2525


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MAIL_PORT", "twenty-five", "MAIL_PORT must be an integer"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL must be"),
        ("DEFAULT_TIMEZONE", "Europe/Atlantis", "not a known timezone"),
    ],
)
def test_malformed_settings_stop_the_start_with_a_clear_message(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_production_refuses_the_development_secret_key(monkeypatch):
    monkeypatch.setenv("EVENTREG_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings()


def test_the_migrations_build_exactly_the_schema_of_the_models(app):
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_seeding_the_demo_twice_adds_nothing(ctx):
    logins = seed_demo()
    db.session.commit()
    count = db.session.scalar(sa.select(sa.func.count(Event.id)))
    assert seed_demo() == logins
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == count == 4
    conference = db.session.scalar(sa.select(Event).where(Event.slug == "esbf-2027"))
    assert [tt.label for tt in conference.ticket_types][:4] == [
        "Tidlig påmelding",
        "Ordinær",
        "Medlem",
        "Student",
    ]
    assert {q.name for q in conference.quotas} == {"All conference seats", "Speakers and press"}
    assert len({s.slot for s in conference.sessions}) == 2 and len(conference.sessions) == 3
    assert {email for email, _ in logins} >= {"admin@demo.example.org", "organiser@demo.example.org"}
