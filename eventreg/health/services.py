"""What the load balancer asks: can this app server serve requests, and is background work keeping up?

An app server is healthy when it reaches the database and, where background work goes through
Celery, Redis. A slow queue makes the answer "degraded" but still 200: taking app servers out of
rotation would not make the workers faster."""

import time
from dataclasses import dataclass, field
from datetime import datetime

import redis
import sqlalchemy as sa

from eventreg.extensions import db
from eventreg.mail.models import MessageStatus, OutboxMessage

MAX_QUEUE_LAG_SECONDS = 300  # mail due longer than this means the workers are behind


@dataclass
class Health:
    checks: dict = field(default_factory=dict)

    @property
    def serving(self) -> bool:
        return all(c.get("ok", True) for name, c in self.checks.items() if name != "queue")

    @property
    def status(self) -> str:
        if not self.serving:
            return "fail"
        return "ok" if self.checks.get("queue", {}).get("ok", True) else "degraded"


def _timed(check) -> dict:
    """Runs `check`; a failure is reported by its kind only (messages may hold URLs with secrets)."""
    started = time.perf_counter()
    try:
        extra = check() or {}
    except Exception as err:  # noqa: BLE001 - any failure means "not reachable"
        return {"ok": False, "error": type(err).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **extra}


def mail_lag_seconds(now: datetime) -> float:
    """How long the oldest message that is due has been waiting (0 when none is due)."""
    oldest = db.session.scalar(
        sa.select(sa.func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == MessageStatus.QUEUED, OutboxMessage.next_attempt_at <= now
        )
    )
    return 0.0 if oldest is None else round((now - oldest).total_seconds(), 1)


def check_health(config: dict, *, now: datetime) -> Health:
    health = Health()
    health.checks["database"] = _timed(lambda: db.session.execute(sa.text("SELECT 1")).close())
    pending = None
    if config["MAIL_WORKER"] == "celery":
        client = redis.Redis.from_url(config["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)

        def ping_redis():
            nonlocal pending
            client.ping()
            pending = client.llen(config["CELERY_QUEUE"])  # tasks waiting for a worker

        health.checks["redis"] = _timed(ping_redis)
    else:
        health.checks["redis"] = {"used": False}
    if health.checks["database"]["ok"]:
        lag = mail_lag_seconds(now)
        health.checks["queue"] = {
            "ok": lag <= MAX_QUEUE_LAG_SECONDS,
            "mail_lag_seconds": lag,
            "celery_pending": pending,
        }
    return health
