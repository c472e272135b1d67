"""Money in and out: card payments through Stripe, sales documents (invoices, receipts, credit
notes) with their gapless numbers, refunds, and the Stripe webhooks already processed."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eventreg.core.clock import now
from eventreg.core.db import Base, UTCDateTime, enum_column
from eventreg.registration.models import Order


class PaymentStatus(enum.StrEnum):
    OPEN = "open"  # a Checkout session the buyer may still pay
    PAID = "paid"
    EXPIRED = "expired"  # the session ran out unpaid


class Payment(Base):
    """One Stripe Checkout session for an order. An order may have several (the buyer came back
    after one expired); at most one of them is ever applied (the order is paid only once)."""

    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("order.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column()  # 1, 2, …: part of the Stripe idempotency key
    session_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    checkout_url: Mapped[str] = mapped_column(sa.Text)
    payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    amount_ore: Mapped[int] = mapped_column()
    status: Mapped[PaymentStatus] = mapped_column(
        enum_column(PaymentStatus, "payment_status"), default=PaymentStatus.OPEN
    )
    last_error: Mapped[str | None] = mapped_column(sa.Text)  # the card's last decline, for the organiser
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship()

    __table_args__ = (sa.UniqueConstraint("order_id", "attempt"),)


class StripeEvent(Base):
    """A webhook event already processed: a replay of the same id changes nothing."""

    __tablename__ = "stripe_event"

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(sa.String(200))  # what it did, for the organiser and logs


class DocumentKind(enum.StrEnum):
    INVOICE = "invoice"  # to be paid by bank transfer with the KID
    RECEIPT = "receipt"  # already paid by card
    CREDIT_NOTE = "credit_note"  # cancels (part of) an invoice or receipt


class DocumentStatus(enum.StrEnum):
    OPEN = "open"  # an invoice waiting for the money
    # Paid, or nothing left to pay after credit notes; receipts and credit notes are born settled.
    SETTLED = "settled"


class SalesDocument(Base):
    """An invoice, receipt or credit note as issued: every figure and both parties are copied in,
    so a document never changes after it was issued (bookkeeping law)."""

    __tablename__ = "sales_document"
    __table_args__ = (
        sa.UniqueConstraint("organiser_id", "number"),
        sa.CheckConstraint("total_ore >= 0", name="total_ore"),
        sa.Index("ix_sales_document_kid", "organiser_id", "kid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organiser_id: Mapped[int] = mapped_column(sa.ForeignKey("organiser.id", ondelete="RESTRICT"))
    number: Mapped[int] = mapped_column()  # gapless per organiser
    kind: Mapped[DocumentKind] = mapped_column(enum_column(DocumentKind, "document_kind"))
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("order.id", ondelete="RESTRICT"), index=True)
    # NO ACTION, checked at the end of a statement: one DELETE may remove a document with its credit notes.
    credits_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sales_document.id"))
    status: Mapped[DocumentStatus] = mapped_column(enum_column(DocumentStatus, "document_status"))
    language: Mapped[str] = mapped_column(sa.String(5), default="nb")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # invoices only
    kid: Mapped[str | None] = mapped_column(sa.String(25))  # invoices only: number + MOD10 digit
    # Lines as sold: [{"description", "quantity", "unit_ore", "vat_rate", "total_ore"}], gross amounts.
    lines: Mapped[list] = mapped_column(sa.JSON)
    total_ore: Mapped[int] = mapped_column()  # gross; a credit note's total is what it takes back
    seller: Mapped[dict] = mapped_column(sa.JSON)  # name, org_number, vat_registered, address, bank_account
    buyer: Mapped[dict] = mapped_column(sa.JSON)  # name, org_number, address, reference, email
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_via: Mapped[str | None] = mapped_column(sa.String(200))  # "card", "manual", "bank 2027-01-20 …"
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship()
    credits: Mapped["SalesDocument | None"] = relationship(remote_side=[id])


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # decided; the Stripe refund is still to be made (retried until it is)
    DONE = "done"
    FAILED = "failed"  # Stripe refused; the organiser must act


class Refund(Base):
    """Money given back for an order, in full or for some attendees."""

    __tablename__ = "refund"
    __table_args__ = (sa.CheckConstraint("amount_ore >= 0", name="amount_ore"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("order.id", ondelete="RESTRICT"), index=True)
    amount_ore: Mapped[int] = mapped_column()
    attendee_ids: Mapped[list] = mapped_column(sa.JSON, default=list)  # whose tickets it cancelled
    method: Mapped[str] = mapped_column(sa.String(20))  # "card", "invoice" (credit note), "free"
    status: Mapped[RefundStatus] = mapped_column(enum_column(RefundStatus, "refund_status"))
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    automatic: Mapped[bool] = mapped_column(default=False)  # e.g. a payment after the seats were gone
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment.id", ondelete="RESTRICT"))
    stripe_refund_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    credit_note_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_document.id", ondelete="RESTRICT")
    )
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship()
    payment: Mapped[Payment | None] = relationship()
    credit_note: Mapped[SalesDocument | None] = relationship()
