"""The production set-up of README.md ("Production"), started the way the README says: the settings
as environment variables, `flask --app app db upgrade`, gunicorn app servers and Celery workers as
processes of their own, one PostgreSQL database and one Redis.

Each test gets a fresh PostgreSQL database, its own Celery queue and its own client addresses, so
tests running at the same time (pytest-xdist, other checkouts) never see each other's work."""

import contextlib
import http.client
import ipaddress
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.conftest import BACKEND, ROOT
from tests.smtp_server import free_port

BIN = Path(sys.executable).parent  # .venv/bin, as in the README
# Celery tests use db 15 (tests/conftest.py); these tests use db 14, on a queue of their own.
REDIS_URL = os.environ.get("TEST_PRODUCTION_REDIS_URL", "redis://127.0.0.1:6379/14")
PUBLIC_URL = "https://events.example.org"

only_on_postgres = pytest.mark.skipif(
    BACKEND != "postgres", reason="production runs on PostgreSQL; this test runs in the PostgreSQL pass"
)

# Every setting of README.md's table: none may leak in from the environment the tests run in.
SETTINGS = (
    "DATABASE_URL",
    "SECRET_KEY",
    "REDIS_URL",
    "CELERY_QUEUE",
    "DEFAULT_TIMEZONE",
    "PUBLIC_URL",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_TIMEOUT",
    "MAIL_DEFAULT_SENDER",
    "OUTBOX_DIR",
    "MAIL_WORKER",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_MAX_RETRIES",
    "STRIPE_TIMEOUT",
    "STRIPE_API_BASE",
    "DB_POOL_SIZE",
    "EXPORT_WORKER",
    "RATE_LIMIT_STORAGE",
    "RATE_LIMITS",
    "PROXY_COUNT",
    "EVENTREG_ENV",
)


def make_production_env(database_url: str, *, smtp_port: int, queue: str) -> dict[str, str]:
    """The environment of README.md's `export` line, pointed at this machine's services."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(
        EVENTREG_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(32),
        PUBLIC_URL=PUBLIC_URL,
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        MAIL_WORKER="celery",
        RATE_LIMIT_STORAGE=REDIS_URL,
        PROXY_COUNT="1",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp_port),
        MAIL_USE_TLS="false",  # the test's SMTP server speaks plain SMTP
        # Not in the README's line: installations sharing one Redis need a queue each (Settings).
        CELERY_QUEUE=queue,
    )
    return env


def new_queue() -> str:
    return f"eventreg-production-test-{uuid.uuid4().hex[:10]}"


def forget_queue(queue: str) -> None:
    """Removes this test's queue from Redis (what a killed worker left in it, and its binding)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        # Tasks a killed worker had fetched but not acknowledged wait in the shared "unacked" hash.
        for tag, raw in client.hscan_iter("unacked"):
            try:
                routing_key = json.loads(raw)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing_key == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return ""


def run_migrations(env: dict, log_dir: Path) -> None:
    """`.venv/bin/flask --app app db upgrade`, once, as a release would."""
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (log_dir / "db-upgrade.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"flask db upgrade failed:\n{result.stderr[-3000:]}"


class Process:
    """A server process in its own process group, its output in a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict, log_dir: Path):
        self.name = name
        self.cmd = cmd
        self.log = log_dir / f"{name}.log"
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return f"--- {self.name}: {' '.join(self.cmd)} (exit {self.popen.poll()})\n{tail(self.log)}"

    def kill(self) -> None:
        """SIGKILL to the whole group (a Celery worker's main process and its pool children)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the main process (gunicorn and Celery shut down warmly), then SIGKILL to
        whatever is left of the group after `timeout`."""
        if self.alive():
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        self.kill()  # also any child that outlived its parent


def start_gunicorn(env: dict, log_dir: Path, name: str) -> tuple[Process, int]:
    """`.venv/bin/gunicorn -w 2 -b 127.0.0.1:<port> app:app` (the README's line with 2 workers,
    for a 2-core machine)."""
    port = free_port()
    cmd = [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "app:app"]
    return Process(name, cmd, env, log_dir), port


def start_app_servers(env: dict, log_dir: Path, processes: list, n: int = 2) -> list[tuple[Process, int]]:
    """`n` gunicorn servers (`start_gunicorn`), registered in `processes`, each answering
    /healthz; returns (process, port) of each."""
    servers = []
    for i in range(n):
        server, port = start_gunicorn(env, log_dir, f"app-server-{'abcdefgh'[i]}")
        processes.append(server)
        servers.append((server, port))
    for server, port in servers:
        wait_for(
            lambda port=port: healthy(port), timeout=60, what=f"{server.name} /healthz", processes=[server]
        )
    return servers


def start_celery_worker(env: dict, log_dir: Path, name: str) -> Process:
    """`.venv/bin/celery -A app.celery_app worker`, exactly as the README has it."""
    return Process(name, [str(BIN / "celery"), "-A", "app.celery_app", "worker"], env, log_dir)


def wait_for(
    condition: Callable[[], object], *, timeout: float, what: str | Callable[[], str], processes=(), step=0.1
):
    """Polls `condition` until it is true; fails with the processes' output when a process died or
    the time ran out (`what` may be a function, to describe the state at that moment)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        dead = [p for p in processes if not p.alive()]
        if dead or time.monotonic() > deadline:
            reason = "a process exited" if dead else f"not within {timeout:.0f} s"
            logs = "\n".join(p.output() for p in processes)
            pytest.fail(f"waiting for {what() if callable(what) else what}: {reason}\n{logs}")
        time.sleep(step)


def healthy(port: int) -> bool:
    """GET /healthz answers 200 (PostgreSQL and Redis reachable)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


class ClientAddresses:
    """Addresses the reverse proxy reports in X-Forwarded-For, a fresh block per test run: each
    simulated buyer has one of their own, as real buyers do."""

    def __init__(self):
        self._base = int(ipaddress.IPv4Address("10.0.0.0")) + secrets.randbelow(2**23) * 2
        self._next = 0

    def take(self) -> str:
        self._next += 1
        return str(ipaddress.IPv4Address(self._base + self._next))


def proxy_headers(address: str) -> dict[str, str]:
    """What nginx (deploy/nginx.conf) adds in front of gunicorn."""
    return {
        "X-Forwarded-For": address,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "events.example.org",
    }
