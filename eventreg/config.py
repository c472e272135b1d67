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


def load_settings(overrides: dict | None = None) -> dict:
    env = os.environ.get
    settings = {
        "SECRET_KEY": env("SECRET_KEY", "dev-only-not-secret"),
        "SQLALCHEMY_DATABASE_URI": env("DATABASE_URL", f"sqlite:///{INSTANCE / 'eventreg.sqlite'}"),
        "REDIS_URL": env("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "DEFAULT_TIMEZONE": env("DEFAULT_TIMEZONE", "Europe/Oslo"),
        "PUBLIC_URL": env("PUBLIC_URL", "http://127.0.0.1:5000"),
        "MAIL_SERVER": env("MAIL_SERVER", ""),  # empty: mail goes to the outbox folder
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_DEFAULT_SENDER": env("MAIL_DEFAULT_SENDER", "eventreg@localhost"),
        "OUTBOX_DIR": env("OUTBOX_DIR", str(INSTANCE / "outbox")),
        "STRIPE_SECRET_KEY": env("STRIPE_SECRET_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": env("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": env("STRIPE_API_BASE", ""),
        "DB_POOL_SIZE": _int("DB_POOL_SIZE", 10),
    }
    settings.update(overrides or {})
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
    if s["SECRET_KEY"] == "dev-only-not-secret" and os.environ.get("EVENTREG_ENV") == "production":
        raise ConfigError("SECRET_KEY must be set in production")
