"""The README's backup and restore, run as written: `pg_dump -Fc` of a database in use, then
`createdb` + `pg_restore` + `flask db upgrade`, and the restored copy serves the same event."""

import os
import subprocess
import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import ADMIN_URL, ROOT
from tests.production.stack import BIN, only_on_postgres, run_migrations

pytestmark = [only_on_postgres, pytest.mark.slow]


def pg_env(env: dict) -> dict:
    """libpq's variables for the test's PostgreSQL (the README's commands name only the database)."""
    url = sa.make_url(ADMIN_URL)
    return {**env, "PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432), "PGUSER": url.username}


def run(cmd: str, env: dict, cwd) -> None:
    result = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


def facts(url: str) -> tuple:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return (
                conn.scalar(sa.text('SELECT count(*) FROM "order"')),
                conn.scalar(sa.text("SELECT count(*) FROM attendee")),
                conn.scalar(sa.text("SELECT string_agg(name, ',' ORDER BY id) FROM attendee")),
                conn.scalar(sa.text("SELECT version_num FROM alembic_version")),
            )
    finally:
        engine.dispose()


def test_a_backup_restores_into_a_working_database(production_env, tmp_path):
    env = pg_env(production_env)
    source = production_env["DATABASE_URL"]
    run_migrations(env, tmp_path)
    run(f"{BIN}/flask --app app seed-demo", env, ROOT)
    before = facts(source)
    assert before[0] > 0 and before[1] > 0

    name = sa.make_url(source).database
    restored = f"eventreg_restored_{uuid.uuid4().hex[:10]}"
    try:
        # The README's commands, with our database names.
        run(f"pg_dump -Fc {name} > backup.dump", env, tmp_path)
        run(f"createdb {restored} && pg_restore -d {restored} backup.dump", env, tmp_path)
        restored_url = sa.make_url(source).set(database=restored).render_as_string(hide_password=False)
        run_migrations({**env, "DATABASE_URL": restored_url}, tmp_path)
        assert facts(restored_url) == before

        # The app on the copy: the event page, and a staff login (the same SECRET_KEY decrypts the
        # events' ticket keys, so the restored tickets still verify).
        script = (
            "from app import app\n"
            "c = app.test_client()\n"
            "assert c.get('/events/esbf-2027', base_url='https://events.example.org').status_code == 200\n"
            "from eventreg.tickets.services import check_ticket, ticket_qr\n"
            "from eventreg.events.models import Event\n"
            "from eventreg.registration.models import Attendee, Order, OrderStatus\n"
            "from eventreg.extensions import db\n"
            "import sqlalchemy as sa\n"
            "from eventreg.core.clock import now\n"
            "with app.app_context():\n"
            "    a = db.session.scalars(sa.select(Attendee).join(Order)"
            ".where(Order.status == OrderStatus.PAID)).first()\n"
            "    assert check_ticket(db.session.get(Event, a.event_id), ticket_qr(a, now=now())) is a\n"
            "print('ok')\n"
        )
        result = subprocess.run(
            [str(BIN / "python"), "-c", script],
            cwd=ROOT,
            env={**env, "DATABASE_URL": restored_url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.stdout.strip().endswith("ok"), result.stderr[-3000:]
    finally:
        subprocess.run(
            ["dropdb", "--if-exists", "--force", restored], env=env, capture_output=True, timeout=60
        )
        if os.path.exists(tmp_path / "backup.dump"):
            os.remove(tmp_path / "backup.dump")
