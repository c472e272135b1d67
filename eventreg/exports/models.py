import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from eventreg.core.clock import now
from eventreg.core.db import Base, UTCDateTime, enum_column


class ExportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ExportJob(Base):
    """An export made in the background. The file is kept in the database, so any app server
    behind the load balancer can hand it out; old ones are deleted."""

    __tablename__ = "export_job"
    __table_args__ = (sa.CheckConstraint("done >= 0", name="done"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)  # the download link's secret
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(20))  # attendees, orders, answers, checkins
    fmt: Mapped[str] = mapped_column(sa.String(10))  # csv, xlsx
    language: Mapped[str] = mapped_column(sa.String(5), default="nb")
    status: Mapped[ExportStatus] = mapped_column(
        enum_column(ExportStatus, "export_status"), default=ExportStatus.QUEUED
    )
    done: Mapped[int] = mapped_column(default=0)  # rows written so far
    total: Mapped[int | None] = mapped_column()
    content: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # When it ended; while it is running, when its worker last reported progress (see jobs.py).
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
