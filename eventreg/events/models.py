import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eventreg.core.clock import now
from eventreg.core.db import Base, UTCDateTime, enum_column
from eventreg.core.i18n import localized


class EventStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"


class RegistrationMode(enum.StrEnum):
    PUBLIC = "public"  # anyone (or any member, for members-only events) registers online
    STAFF = "staff"  # only staff register participants, on their behalf


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    MEMBERS = "members"  # only logged-in members may buy it
    VOUCHER = "voucher"  # only with a voucher that unlocks it
    HIDDEN = "hidden"  # only staff registering on someone's behalf


class QuestionKind(enum.StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    MULTIPLE = "multiple"
    YESNO = "yesno"
    COUNTRY = "country"
    ORGANISATION = "organisation"  # free text, printed on badges
    ORG_TYPE = "org_type"
    SECTOR = "sector"
    PHONE = "phone"  # a phone number; sponsors see it only with consent


TEXT_KINDS = (QuestionKind.TEXT, QuestionKind.ORGANISATION)


class QuestionScope(enum.StrEnum):
    ATTENDEE = "attendee"  # asked of each attendee
    ORDER = "order"  # asked once per order (e.g. the caseworker's organisation)


class Organiser(Base):
    """The seller: the organisation that issues invoices and receipts for its events. Its sales
    documents share one gapless number series, kept in `next_document_number`."""

    __tablename__ = "organiser"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    org_number: Mapped[str] = mapped_column(sa.String(9), default="")
    vat_registered: Mapped[bool] = mapped_column(default=False)  # "Foretaksregisteret MVA"
    address: Mapped[str] = mapped_column(sa.Text, default="")  # several lines
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    bank_account: Mapped[str] = mapped_column(sa.String(11), default="")  # 11 digits
    invoice_due_days: Mapped[int] = mapped_column(default=14)
    next_document_number: Mapped[int] = mapped_column(default=1)


class Event(Base):
    __tablename__ = "event"
    __table_args__ = (
        sa.CheckConstraint("total_capacity >= 0", name="total_capacity"),
        sa.CheckConstraint(
            "cancellation_refund_percent BETWEEN 0 AND 100", name="cancellation_refund_percent"
        ),
        sa.CheckConstraint("retention_days >= 0", name="retention_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    title: Mapped[dict] = mapped_column(sa.JSON)  # {"nb": ..., "en": ...}
    description: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    venue: Mapped[str] = mapped_column(sa.String(300), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Oslo")
    currency: Mapped[str] = mapped_column(sa.String(3), default="NOK")
    languages: Mapped[list] = mapped_column(sa.JSON, default=lambda: ["nb", "en"])
    status: Mapped[EventStatus] = mapped_column(
        enum_column(EventStatus, "event_status"), default=EventStatus.DRAFT
    )
    registration_mode: Mapped[RegistrationMode] = mapped_column(
        enum_column(RegistrationMode, "registration_mode"),
        default=RegistrationMode.PUBLIC,
    )
    members_only: Mapped[bool] = mapped_column(default=False)
    attendee_email_required: Mapped[bool] = mapped_column(default=True)
    total_capacity: Mapped[int | None] = mapped_column()
    max_attendees_per_order: Mapped[int] = mapped_column(default=20)
    hold_minutes: Mapped[int] = mapped_column(default=30)
    # Who sells the tickets: the seller on invoices and receipts.
    organiser_id: Mapped[int] = mapped_column(sa.ForeignKey("organiser.id", ondelete="RESTRICT"), index=True)
    # The event's cancellation rule: the share of the price given back when a buyer cancels a paid
    # order themselves before the self-service deadline (0: no refund; they may still cancel).
    cancellation_refund_percent: Mapped[int] = mapped_column(default=100, server_default="100")
    waitlist_enabled: Mapped[bool] = mapped_column(default=True)
    waitlist_offer_hours: Mapped[int] = mapped_column(default=24)
    # Attendees may change their details, workshops and transfer tickets until then (None: the start).
    self_service_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Attendees' and buyers' personal data is erased this many days after the event ends.
    retention_days: Mapped[int] = mapped_column(default=365, server_default="365")
    # The organiser's own words added to the emails: {"confirmation": {"nb": ..., "en": ...}, ...}.
    email_texts: Mapped[dict] = mapped_column(sa.JSON, default=dict, server_default="{}")
    # Bumped by every transaction that sells seats: the row lock that serialises them (see capacity.py).
    sale_lock: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    ticket_types: Mapped[list["TicketType"]] = relationship(
        back_populates="event",
        order_by="TicketType.position",
        cascade="all, delete-orphan",
    )
    quotas: Mapped[list["Quota"]] = relationship(back_populates="event", cascade="all, delete-orphan")
    sessions: Mapped[list["EventSession"]] = relationship(
        back_populates="event",
        order_by="(EventSession.slot, EventSession.id)",
        cascade="all, delete-orphan",
    )
    questions: Mapped[list["Question"]] = relationship(
        back_populates="event",
        order_by="Question.position",
        cascade="all, delete-orphan",
    )
    sponsors: Mapped[list["Sponsor"]] = relationship(back_populates="event", cascade="all, delete-orphan")
    organiser: Mapped[Organiser] = relationship()

    @property
    def name(self) -> str:
        return localized(self.title)

    @property
    def is_free(self) -> bool:
        return all(t.price_ore == 0 for t in self.ticket_types)


ticket_type_quota = sa.Table(
    "ticket_type_quota",
    Base.metadata,
    sa.Column(
        "ticket_type_id",
        sa.ForeignKey("ticket_type.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("quota_id", sa.ForeignKey("quota.id", ondelete="CASCADE"), primary_key=True),
)


class Quota(Base):
    """A pool of seats that one or more ticket types draw on (e.g. "all conference seats: 550")."""

    __tablename__ = "quota"
    __table_args__ = (sa.CheckConstraint("size >= 0", name="size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    size: Mapped[int] = mapped_column()

    event: Mapped[Event] = relationship(back_populates="quotas")
    ticket_types: Mapped[list["TicketType"]] = relationship(
        secondary=ticket_type_quota, back_populates="quotas"
    )


class TicketType(Base):
    __tablename__ = "ticket_type"
    __table_args__ = (
        sa.CheckConstraint("price_ore >= 0", name="price_ore"),
        sa.CheckConstraint("vat_rate >= 0 AND vat_rate <= 100", name="vat_rate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    name: Mapped[dict] = mapped_column(sa.JSON)
    description: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    price_ore: Mapped[int] = mapped_column()
    vat_rate: Mapped[int] = mapped_column(default=0)  # percent
    visibility: Mapped[Visibility] = mapped_column(
        enum_column(Visibility, "visibility"), default=Visibility.PUBLIC
    )
    sales_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sales_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    position: Mapped[int] = mapped_column(default=0)

    event: Mapped[Event] = relationship(back_populates="ticket_types")
    quotas: Mapped[list[Quota]] = relationship(secondary=ticket_type_quota, back_populates="ticket_types")

    @property
    def label(self) -> str:
        return localized(self.name)


class EventSession(Base):
    """A workshop or talk with its own capacity; attendees pick at most one per time slot."""

    __tablename__ = "event_session"
    __table_args__ = (sa.CheckConstraint("capacity >= 0", name="capacity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    name: Mapped[dict] = mapped_column(sa.JSON)
    slot: Mapped[str] = mapped_column(sa.String(100))  # e.g. "Day 1, 10:00"; same slot = same time
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    room: Mapped[str] = mapped_column(sa.String(200), default="")
    capacity: Mapped[int | None] = mapped_column()

    event: Mapped[Event] = relationship(back_populates="sessions")

    @property
    def label(self) -> str:
        return localized(self.name)


question_ticket_type = sa.Table(
    "question_ticket_type",
    Base.metadata,
    sa.Column(
        "question_id",
        sa.ForeignKey("question.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "ticket_type_id",
        sa.ForeignKey("ticket_type.id", ondelete="CASCADE"),
        primary_key=True,
    ),
)


class Question(Base):
    __tablename__ = "question"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    label: Mapped[dict] = mapped_column(sa.JSON)
    kind: Mapped[QuestionKind] = mapped_column(enum_column(QuestionKind, "question_kind"))
    scope: Mapped[QuestionScope] = mapped_column(
        enum_column(QuestionScope, "question_scope"), default=QuestionScope.ATTENDEE
    )
    required: Mapped[bool] = mapped_column(default=False)
    # For choice/multiple: [{"value": "vegan", "nb": "Vegansk", "en": "Vegan"}, ...]
    choices: Mapped[list] = mapped_column(sa.JSON, default=list)
    position: Mapped[int] = mapped_column(default=0)
    # Shown (and required) only when the earlier question `depends_on_id` was answered `depends_on_value`.
    depends_on_id: Mapped[int | None] = mapped_column(sa.ForeignKey("question.id", ondelete="SET NULL"))
    depends_on_value: Mapped[str | None] = mapped_column(sa.String(200))

    event: Mapped[Event] = relationship(back_populates="questions")
    # Empty: asked for every ticket type.
    ticket_types: Mapped[list[TicketType]] = relationship(secondary=question_ticket_type, lazy="selectin")
    depends_on: Mapped["Question | None"] = relationship(remote_side=[id])

    @property
    def text(self) -> str:
        return localized(self.label)


class Sponsor(Base):
    __tablename__ = "sponsor"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    level: Mapped[str] = mapped_column(sa.String(50), default="")

    event: Mapped[Event] = relationship(back_populates="sponsors")


class Lead(Base):
    """An attendee whose badge a sponsor scanned at its booth, with the sponsor's note and rating.
    What the sponsor sees of the attendee is decided when it is read (consent may be withdrawn)."""

    __tablename__ = "lead"
    __table_args__ = (
        sa.UniqueConstraint("sponsor_id", "attendee_id"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sponsor_id: Mapped[int] = mapped_column(sa.ForeignKey("sponsor.id", ondelete="CASCADE"), index=True)
    attendee_id: Mapped[int] = mapped_column(sa.ForeignKey("attendee.id", ondelete="CASCADE"), index=True)
    scanned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    note: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    rating: Mapped[int | None] = mapped_column()

    sponsor: Mapped[Sponsor] = relationship()
