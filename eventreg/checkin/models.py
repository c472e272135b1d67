from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eventreg.accounts.models import User
from eventreg.core.clock import now
from eventreg.core.db import Base, UTCDateTime
from eventreg.events.models import Event, EventSession, TicketType
from eventreg.registration.models import Attendee

checkin_list_ticket_type = sa.Table(
    "checkin_list_ticket_type",
    Base.metadata,
    sa.Column("list_id", sa.ForeignKey("checkin_list.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("ticket_type_id", sa.ForeignKey("ticket_type.id", ondelete="CASCADE"), primary_key=True),
)


class CheckinList(Base):
    """A door that admits some of the event's attendees: the main entrance, a workshop room, a day."""

    __tablename__ = "checkin_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("event.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # A workshop room admits only the attendees who chose that workshop.
    session_id: Mapped[int | None] = mapped_column(sa.ForeignKey("event_session.id", ondelete="CASCADE"))
    allow_reentry: Mapped[bool] = mapped_column(default=False)
    # Invoice orders are confirmed when the invoice is issued; a strict door may still refuse
    # those whose invoice is not paid yet.
    admit_unpaid_invoices: Mapped[bool] = mapped_column(default=True)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    # Empty: every ticket type.
    ticket_types: Mapped[list[TicketType]] = relationship(
        secondary=checkin_list_ticket_type, order_by=TicketType.position
    )
    session: Mapped[EventSession | None] = relationship()
    event: Mapped[Event] = relationship()


class Checkin(Base):
    """One scan that let somebody in, or that an offline gate let in although it should not have
    (a conflict, kept so the organiser sees it).

    Admissions are numbered per list and attendee (`entry_no`), and the number is unique: two
    gates that admit the same ticket at the same moment both try to write entry 1, and only one
    can. Conflicts have no number, undone admissions keep theirs (the next admission gets the
    next number)."""

    __tablename__ = "checkin"
    __table_args__ = (sa.UniqueConstraint("list_id", "attendee_id", "entry_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(sa.ForeignKey("checkin_list.id", ondelete="RESTRICT"))
    attendee_id: Mapped[int] = mapped_column(sa.ForeignKey("attendee.id", ondelete="CASCADE"), index=True)
    # Chosen by the scanner for each scan, so an upload sent twice records nothing twice.
    nonce: Mapped[str] = mapped_column(sa.String(64), unique=True)
    entry_no: Mapped[int | None] = mapped_column()
    # Why it does not count: the rules' result (already_redeemed, cancelled, ...) and its detail.
    conflict: Mapped[str | None] = mapped_column(sa.String(40))
    conflict_reason: Mapped[str] = mapped_column(sa.String(40), default="")
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the gate's clock
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    gate: Mapped[str] = mapped_column(sa.String(100), default="")
    offline: Mapped[bool] = mapped_column(default=False)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"))

    checkin_list: Mapped[CheckinList] = relationship()
    attendee: Mapped[Attendee] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])

    @property
    def counts(self) -> bool:
        return self.entry_no is not None and self.undone_at is None
