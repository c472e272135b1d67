from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from eventreg.core.clock import now
from eventreg.core.db import Base, UTCDateTime


class AuditEntry(Base):
    """One change an organiser made: who, what, when, and the object before and after."""

    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_event_at", "event_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Kept when the event is deleted: the log outlives what it describes.
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("event.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(sa.String(254), default="")  # as it was at the time
    action: Mapped[str] = mapped_column(sa.String(60))  # e.g. "ticket_type.update"
    object_type: Mapped[str] = mapped_column(sa.String(40))
    object_id: Mapped[int | None] = mapped_column()
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
