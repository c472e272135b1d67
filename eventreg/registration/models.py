import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eventreg.core.clock import now
from eventreg.core.db import Base, UTCDateTime, enum_column
from eventreg.core.money import vat_included
from eventreg.events.models import Event, EventSession, TicketType


def new_token() -> str:
    """An unguessable token for a private link (256 bits)."""
    return secrets.token_urlsafe(32)


class OrderStatus(enum.StrEnum):
    PENDING = "pending"  # seats held until expires_at
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    INVOICE = "invoice"
    FREE = "free"


class VoucherKind(enum.StrEnum):
    FIXED = "fixed"  # value_ore off each ticket it applies to
    PERCENT = "percent"  # value percent off each ticket it applies to
    UNLOCK = "unlock"  # no discount; unlocks a voucher-only ticket type


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"  # seats held for the entry until offer_expires_at
    ACCEPTED = "accepted"
    EXPIRED = "expired"  # the offer ran out; seats passed on


class Voucher(Base):
    __tablename__ = "voucher"
    __table_args__ = (
        sa.CheckConstraint("value >= 0", name="value"),
        sa.CheckConstraint("max_uses >= 1", name="max_uses"),
        sa.UniqueConstraint("event_id", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(sa.String(64))  # stored upper case
    kind: Mapped[VoucherKind] = mapped_column(enum_column(VoucherKind, "voucher_kind"))
    value: Mapped[int] = mapped_column(default=0)
    # None: valid for every ticket type it may apply to (not for voucher-only types of other vouchers).
    ticket_type_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket_type.id", ondelete="CASCADE"))
    max_uses: Mapped[int] = mapped_column(default=1)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket_type: Mapped[TicketType | None] = relationship()


class Order(Base):
    __tablename__ = "order"
    __table_args__ = (
        sa.CheckConstraint("total_ore >= 0", name="total_ore"),
        sa.Index("ix_order_event_status", "event_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="RESTRICT"))
    status: Mapped[OrderStatus] = mapped_column(enum_column(OrderStatus, "order_status"))
    payment_method: Mapped[PaymentMethod] = mapped_column(enum_column(PaymentMethod, "payment_method"))
    buyer_name: Mapped[str] = mapped_column(sa.String(200))
    buyer_email: Mapped[str | None] = mapped_column(sa.String(254))
    buyer_language: Mapped[str] = mapped_column(sa.String(5), default="nb")
    total_ore: Mapped[int] = mapped_column()
    voucher_id: Mapped[int | None] = mapped_column(sa.ForeignKey("voucher.id", ondelete="RESTRICT"))
    manage_token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # expired, cancelled or refunded
    # When the buyer's personal data was anonymised (privacy/services.py); the amounts stay.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[Event] = relationship()
    voucher: Mapped[Voucher | None] = relationship()
    attendees: Mapped[list["Attendee"]] = relationship(
        back_populates="order",
        order_by="Attendee.position",
        cascade="all, delete-orphan",
    )
    answers: Mapped[list["Answer"]] = relationship(
        primaryjoin="and_(Answer.order_id == Order.id, Answer.attendee_id.is_(None))",
        viewonly=True,
    )

    @property
    def vat_ore(self) -> int:
        return sum(vat_included(a.price_ore, a.vat_rate) for a in self.attendees)

    @property
    def active_attendees(self) -> list["Attendee"]:
        """The attendees whose tickets stand (not refunded on their own)."""
        return [a for a in self.attendees if a.cancelled_at is None]


class Attendee(Base):
    """One person with one ticket in an order."""

    __tablename__ = "attendee"
    __table_args__ = (sa.CheckConstraint("price_ore >= 0", name="price_ore"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("order.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="RESTRICT"), index=True)
    ticket_type_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket_type.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    language: Mapped[str] = mapped_column(sa.String(5), default="nb")
    price_ore: Mapped[int] = mapped_column()
    vat_rate: Mapped[int] = mapped_column(default=0)  # copied from the ticket type at purchase
    voucher_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("voucher.id", ondelete="RESTRICT"), index=True
    )
    # Bumped when the ticket is transferred or cancelled: QR codes of older versions stop working.
    ticket_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # The attendee's own private link (their ticket, details, consent); replaced on transfer.
    manage_token: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_token)
    # Set when this one ticket was refunded or cancelled while the rest of its order stands.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # May sponsors see this attendee's contact details? Only an explicit yes counts; see ConsentRecord.
    sponsor_consent: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # When the attendee's personal data was anonymised (privacy/services.py); the ticket stays.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship(back_populates="attendees")
    ticket_type: Mapped[TicketType] = relationship()
    session_choices: Mapped[list["AttendeeSession"]] = relationship(cascade="all, delete-orphan")
    sessions: Mapped[list[EventSession]] = relationship(
        secondary="attendee_session", order_by="EventSession.slot", viewonly=True
    )
    answers: Mapped[list["Answer"]] = relationship(back_populates="attendee", cascade="all, delete-orphan")


class ConsentRecord(Base):
    """Every change of an attendee's sponsor consent: who said yes or no, and when."""

    __tablename__ = "consent_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    attendee_id: Mapped[int] = mapped_column(sa.ForeignKey("attendee.id", ondelete="CASCADE"), index=True)
    given: Mapped[bool] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    via: Mapped[str] = mapped_column(sa.String(20))  # "attendee", "buyer" or "staff"


class AttendeeSession(Base):
    """An attendee's workshop choice. The unique slot makes "one workshop per time slot" a database rule."""

    __tablename__ = "attendee_session"
    __table_args__ = (sa.UniqueConstraint("attendee_id", "slot"),)

    attendee_id: Mapped[int] = mapped_column(
        sa.ForeignKey("attendee.id", ondelete="CASCADE"), primary_key=True
    )
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("event_session.id", ondelete="RESTRICT"),
        primary_key=True,
        index=True,
    )
    slot: Mapped[str] = mapped_column(sa.String(100))


class Answer(Base):
    """An answer, kept as given: the question's label and the value are copied, so editing the
    question later never rewrites what people answered."""

    __tablename__ = "answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("order.id", ondelete="CASCADE"), index=True)
    attendee_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("attendee.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("question.id", ondelete="SET NULL"), index=True
    )
    question_label: Mapped[dict] = mapped_column(sa.JSON)
    value: Mapped[str | list | bool] = mapped_column(sa.JSON)
    display: Mapped[dict] = mapped_column(sa.JSON)  # {"nb": ..., "en": ...} as the attendee saw it

    order: Mapped[Order] = relationship()
    attendee: Mapped[Attendee | None] = relationship(back_populates="answers")


class WaitingListEntry(Base):
    __tablename__ = "waiting_list_entry"
    __table_args__ = (
        sa.CheckConstraint("seats >= 1", name="seats"),
        sa.Index("ix_waiting_list_entry_event_status", "event_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"))
    ticket_type_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket_type.id", ondelete="CASCADE"))
    seats: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(254))
    language: Mapped[str] = mapped_column(sa.String(5), default="nb")
    status: Mapped[WaitlistStatus] = mapped_column(
        enum_column(WaitlistStatus, "waitlist_status"), default=WaitlistStatus.WAITING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    offer_token: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("order.id", ondelete="SET NULL"))

    ticket_type: Mapped[TicketType] = relationship()
