"""The audit log: every change an organiser makes is recorded by the service that makes it."""

from datetime import date, datetime

import sqlalchemy as sa

from eventreg.audit.models import AuditEntry
from eventreg.core.clock import now as clock_now
from eventreg.extensions import db


def _plain(value):
    """A column value as JSON: times as ISO text, enums as their value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, int | str | bool):
        return value.value
    return value


def snapshot(obj, fields: tuple[str, ...] | None = None) -> dict:
    """The object's columns (or just `fields`) as a JSON-able dict, for before/after."""
    names = fields or tuple(c.key for c in sa.inspect(type(obj)).column_attrs)
    return {name: _plain(getattr(obj, name)) for name in names}


def record(
    action: str,
    obj=None,
    *,
    actor,
    event_id: int | None,
    before: dict | None = None,
    after: dict | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Adds one audit entry (flushed with the change it describes, never committed here).
    Only the fields that changed are kept when both `before` and `after` are given."""
    if before is not None and after is not None:
        changed = [k for k in after.keys() | before.keys() if before.get(k) != after.get(k)]
        before = {k: before.get(k) for k in sorted(changed)}
        after = {k: after.get(k) for k in sorted(changed)}
    entry = AuditEntry(
        event_id=event_id,
        user_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "email", "") or "",
        action=action,
        object_type=type(obj).__tablename__ if obj is not None else "",
        object_id=getattr(obj, "id", None),
        before=before,
        after=after,
        at=now or clock_now(),
    )
    db.session.add(entry)
    return entry


def entries_of(event_id: int, *, limit: int = 200) -> list[AuditEntry]:
    """The event's audit log, newest first."""
    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.event_id == event_id)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(limit)
        )
    )
