"""The one place the app asks what time it is; services take `now=` so tests control time."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
