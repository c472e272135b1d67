import enum
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eventreg.core.clock import now
from eventreg.core.db import Base, UTCDateTime, enum_column


class EventRoleKind(enum.StrEnum):
    ORGANISER = "organiser"
    CHECKIN = "checkin"
    SPONSOR = "sponsor"


class User(UserMixin, Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    is_member: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str] = mapped_column(sa.String(5), default="nb")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # Part of the id kept in the signed session cookie: raising it (new password, "log out
    # everywhere") ends every session that was opened before.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    roles: Mapped[list["EventRole"]] = relationship(back_populates="user", cascade="all, delete-orphan")

    def get_id(self) -> str:
        """What Flask-Login keeps in the session (accounts.views.load_user checks it)."""
        return f"{self.id}:{self.session_epoch}"


class EventRole(Base):
    """A user's role for one event: organiser, check-in staff or sponsor member."""

    __tablename__ = "event_role"
    __table_args__ = (sa.UniqueConstraint("user_id", "event_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    role: Mapped[EventRoleKind] = mapped_column(enum_column(EventRoleKind, "event_role_kind"))
    # For sponsor members: the sponsor company they belong to (its leads are theirs).
    sponsor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sponsor.id", ondelete="CASCADE"), index=True
    )

    user: Mapped[User] = relationship(back_populates="roles")


class ApiToken(Base):
    """A staff API token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    label: Mapped[str] = mapped_column(sa.String(100), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: until revoked

    user: Mapped[User] = relationship()
