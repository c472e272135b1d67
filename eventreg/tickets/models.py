from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from eventreg.core.clock import now
from eventreg.core.db import Base, UTCDateTime


class TicketKey(Base):
    """One of an event's signing keys. The newest signs new tickets; older ones still verify the
    tickets they signed until they are retired. The private key is stored encrypted."""

    __tablename__ = "ticket_key"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "key_id"),
        sa.CheckConstraint("key_id >= 1 AND key_id <= 255", name="key_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[int]  # the number in the QR payload
    private_key: Mapped[bytes] = mapped_column(sa.LargeBinary)  # Fernet-encrypted raw key
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
