import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from eventreg.core.clock import now
from eventreg.core.db import Base, UTCDateTime, enum_column


class MessageStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for (another) delivery attempt at next_attempt_at
    SENT = "sent"  # the SMTP server accepted it (or its .eml file was written)
    FAILED = "failed"  # gave up after MAX_ATTEMPTS; the organiser may resend it
    # Not sent: what it was about changed before delivery (a ticket transferred, an offer taken).
    SUPERSEDED = "superseded"


class Mailing(Base):
    """A message an organiser wrote to all or some attendees of an event: one outbox message per
    recipient, each in the recipient's language."""

    __tablename__ = "mailing"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    subject: Mapped[dict] = mapped_column(sa.JSON)  # {"nb": ..., "en": ...}
    body: Mapped[dict] = mapped_column(sa.JSON)  # plain text per language
    recipient_filter: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # the filter as chosen
    recipients: Mapped[int] = mapped_column(default=0)


class OutboxMessage(Base):
    """One email to one person. It keeps what the message is about, not its rendered bytes:
    the worker composes it at each attempt, the same way every time, under the same Message-ID."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.Index("ix_outbox_message_due", "status", "next_attempt_at"),
        sa.CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(40))  # one of compose.KINDS
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("order.id", ondelete="SET NULL"), index=True)
    attendee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("attendee.id", ondelete="SET NULL"))
    waitlist_entry_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("waiting_list_entry.id", ondelete="SET NULL")
    )
    mailing_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("mailing.id", ondelete="SET NULL"), index=True
    )
    recipient_name: Mapped[str] = mapped_column(sa.String(200))
    recipient_email: Mapped[str] = mapped_column(sa.String(254))
    language: Mapped[str] = mapped_column(sa.String(5))
    subject: Mapped[str] = mapped_column(sa.String(300))
    context: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # facts that may change later
    status: Mapped[MessageStatus] = mapped_column(
        enum_column(MessageStatus, "message_status"), default=MessageStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # SQLite: a worker owns the message until then; a worker that died loses it to the next one.
    # PostgreSQL: informational; a worker owns it while it holds its advisory lock (services.py).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
