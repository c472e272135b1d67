"""The one settings module: embedded defaults, overridden by environment variables.

Every setting the app reads is listed here; a malformed value stops the start with a clear message.
"""

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"


class ConfigError(RuntimeError):
    pass


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def load_settings(overrides: dict | None = None) -> dict:
    env = os.environ.get
    settings = {
        "SECRET_KEY": env("SECRET_KEY", "dev-only-not-secret"),
        "SQLALCHEMY_DATABASE_URI": env("DATABASE_URL", f"sqlite:///{INSTANCE / 'eventreg.sqlite'}"),
        "REDIS_URL": env("REDIS_URL", "redis://127.0.0.1:6379/0"),
        # The Celery queue this installation's tasks go to (several installations may share a Redis).
        "CELERY_QUEUE": env("CELERY_QUEUE", "eventreg"),
        "DEFAULT_TIMEZONE": env("DEFAULT_TIMEZONE", "Europe/Oslo"),
        "PUBLIC_URL": env("PUBLIC_URL", "http://127.0.0.1:5000"),
        "MAIL_SERVER": env("MAIL_SERVER", ""),  # empty: mail goes to the outbox folder
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS", False),  # STARTTLS
        "MAIL_USE_SSL": _bool("MAIL_USE_SSL", False),
        "MAIL_USERNAME": env("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": env("MAIL_DEFAULT_SENDER", "eventreg@localhost"),
        "MAIL_SUPPRESS_SEND": False,  # MAIL_WORKER decides what is sent, not TESTING
        "MAIL_TIMEOUT": _int("MAIL_TIMEOUT", 30),  # seconds an SMTP server may take to answer
        "OUTBOX_DIR": env("OUTBOX_DIR", str(INSTANCE / "outbox")),
        # Who delivers the outbox: "thread" (inside the app process; the embedded default),
        # "celery" (a Celery worker on Redis; production) or "manual" (`flask deliver-mail`, tests).
        "MAIL_WORKER": env("MAIL_WORKER", "thread"),
        # Who makes the exports prepared in the background: the same choices; empty means the same
        # as MAIL_WORKER, so an installation that runs Celery for mail runs exports there too.
        "EXPORT_WORKER": env("EXPORT_WORKER", ""),
        "STRIPE_SECRET_KEY": env("STRIPE_SECRET_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": env("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": env("STRIPE_API_BASE", ""),  # tests only: a local fake of the API
        "STRIPE_MAX_RETRIES": _int("STRIPE_MAX_RETRIES", 2),
        "STRIPE_TIMEOUT": _int("STRIPE_TIMEOUT", 20),  # seconds
        "DB_POOL_SIZE": _int("DB_POOL_SIZE", 10),
        # Where rate-limit counters live: memory:// (one process) or redis://... (every app server).
        "RATELIMIT_STORAGE_URI": env("RATE_LIMIT_STORAGE", "memory://"),
        "RATELIMIT_ENABLED": _bool("RATE_LIMITS", True),
        # How many reverse proxies stand in front (nginx: 1); their X-Forwarded-* headers are trusted.
        "PROXY_COUNT": _int("PROXY_COUNT", 0),
    }
    settings.update(overrides or {})
    settings["EXPORT_WORKER"] = settings["EXPORT_WORKER"] or settings["MAIL_WORKER"]
    _validate(settings)
    return settings


def _validate(s: dict) -> None:
    uri = s["SQLALCHEMY_DATABASE_URI"]
    if not uri.startswith(("sqlite://", "postgresql")):
        raise ConfigError(f"DATABASE_URL must be a sqlite:// or postgresql:// URL, got {uri!r}")
    try:
        ZoneInfo(s["DEFAULT_TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"DEFAULT_TIMEZONE {s['DEFAULT_TIMEZONE']!r} is not a known timezone") from None
    if not s["RATELIMIT_STORAGE_URI"].startswith(("memory://", "redis://", "rediss://")):
        raise ConfigError(
            f"RATE_LIMIT_STORAGE must be memory:// or a redis:// URL, got {s['RATELIMIT_STORAGE_URI']!r}"
        )
    if s["PROXY_COUNT"] < 0:
        raise ConfigError("PROXY_COUNT must be 0 or more")
    if s["MAIL_WORKER"] not in ("thread", "celery", "manual"):
        raise ConfigError(f"MAIL_WORKER must be thread, celery or manual, got {s['MAIL_WORKER']!r}")
    if s["EXPORT_WORKER"] not in ("thread", "celery", "manual"):
        raise ConfigError(f"EXPORT_WORKER must be thread, celery or manual, got {s['EXPORT_WORKER']!r}")
    if s["SECRET_KEY"] == "dev-only-not-secret" and os.environ.get("EVENTREG_ENV") == "production":
        raise ConfigError("SECRET_KEY must be set in production")
