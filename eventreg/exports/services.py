"""What the organiser's exports contain: a header and rows for attendees, orders, answers (long
format, for pivot tables) and check-ins of one event.

Each export reads the event in a fixed handful of queries, however many attendees it has: every
query selects by event and returns plain columns (no relationship loading, no per-attendee
query, no IN list that SQLAlchemy would split into chunks of 500). Rows hold typed values for the
writers in `formats.py`: kroner as `Decimal` made exactly from øre, times as naive datetimes in
the event's timezone, and yes/no, statuses and answers as text in the export language.

Every order is exported whatever its status (pending, expired and cancelled ones too): the
status and the cancelled column say which ones stand."""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from eventreg.accounts.models import User
from eventreg.checkin.models import Checkin, CheckinList
from eventreg.checkin.texts import REASONS, RESULTS
from eventreg.core.i18n import localized
from eventreg.core.money import vat_included
from eventreg.events.models import Event, EventSession, Question, QuestionScope, TicketType
from eventreg.exports import formats
from eventreg.extensions import db
from eventreg.payments.models import DocumentKind, Refund, RefundStatus, SalesDocument
from eventreg.registration.models import Answer, Attendee, AttendeeSession, Order, OrderStatus

ORDER_STATUSES = {
    OrderStatus.PENDING: _l("Pending"),
    OrderStatus.PAID: _l("Paid"),
    OrderStatus.EXPIRED: _l("Expired"),
    OrderStatus.CANCELLED: _l("Cancelled"),
    OrderStatus.REFUNDED: _l("Refunded"),
}
PAYMENT_METHODS = {"card": _l("Card"), "invoice": _l("Invoice"), "free": _l("Free")}
YES, NO = _l("Yes"), _l("No")


@dataclass
class Table:
    """One export: the column titles and the rows, ready for `formats.to_csv` / `to_xlsx`."""

    title: str  # the sheet's name
    header: list[str]
    rows: list[list]


def kroner(ore: int) -> Decimal:
    """Øre as exact kroner with two decimals (1234,50), never through a float."""
    return Decimal(ore).scaleb(-2)


def _local(at: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A stored UTC time as the wall-clock time at the event, without tzinfo (what Excel keeps)."""
    return at.astimezone(tz).replace(tzinfo=None) if at else None


def _yes_no(flag: bool) -> str:
    return str(YES if flag else NO)


def _cancelled_marker(order_status: OrderStatus, attendee_cancelled: bool) -> str:
    """Empty while the ticket stands; else whether the order or this one ticket was cancelled."""
    if order_status == OrderStatus.CANCELLED:
        return str(_l("Order cancelled"))
    if order_status == OrderStatus.REFUNDED:
        return str(_l("Order refunded"))
    if attendee_cancelled:
        return str(_l("Ticket cancelled or refunded"))
    return ""


# --- attendees ----------------------------------------------------------------------------------


def export_attendees(event: Event, *, lang: str) -> Table:
    """One row per attendee (ticket), every question of the event a column of its own (questions
    asked once per order repeat the order's answer on each of its attendees)."""
    tz = ZoneInfo(event.timezone)
    with force_locale(lang):
        questions = db.session.execute(
            sa.select(Question.id, Question.label, Question.scope)
            .where(Question.event_id == event.id)
            .order_by(Question.position, Question.id)
        ).all()
        ticket_types = dict(
            db.session.execute(
                sa.select(TicketType.id, TicketType.name).where(TicketType.event_id == event.id)
            ).all()
        )
        workshops: dict[int, list[str]] = defaultdict(list)
        for attendee_id, name in db.session.execute(
            sa.select(AttendeeSession.attendee_id, EventSession.name)
            .join(EventSession, AttendeeSession.session_id == EventSession.id)
            .where(EventSession.event_id == event.id)
            .order_by(EventSession.slot, EventSession.id)
        ):
            workshops[attendee_id].append(localized(name, lang))
        # (order id, attendee id or None for order-level answers, question id) → the answer shown
        answers: dict[tuple[int, int | None, int], str] = {}
        for order_id, attendee_id, question_id, display in db.session.execute(
            sa.select(Answer.order_id, Answer.attendee_id, Answer.question_id, Answer.display)
            .join(Order, Answer.order_id == Order.id)
            .where(Order.event_id == event.id, Answer.question_id.is_not(None))
        ):
            answers[(order_id, attendee_id, question_id)] = localized(display, lang)
        lists_in: dict[int, list[str]] = defaultdict(list)
        first_in: dict[int, datetime] = {}
        for attendee_id, list_name, at in db.session.execute(
            sa.select(Checkin.attendee_id, CheckinList.name, sa.func.min(Checkin.scanned_at))
            .join(CheckinList, Checkin.list_id == CheckinList.id)
            .where(
                CheckinList.event_id == event.id,
                Checkin.entry_no.is_not(None),  # admissions, not conflicts
                Checkin.undone_at.is_(None),
            )
            .group_by(Checkin.attendee_id, CheckinList.id, CheckinList.name)
            .order_by(CheckinList.name, CheckinList.id)
        ):
            lists_in[attendee_id].append(list_name)
            if attendee_id not in first_in or at < first_in[attendee_id]:
                first_in[attendee_id] = at

        header = [
            str(_l("Order")),
            str(_l("Order status")),
            str(_l("Name")),
            str(_l("Email")),
            str(_l("Language")),
            str(_l("Ticket type")),
            str(_l("Price paid (kr)")),
            str(_l("VAT (kr)")),
            str(_l("Workshops")),
            *(localized(label, lang) for _qid, label, _scope in questions),
            str(_l("Sponsor consent")),
            str(_l("Checked in (lists)")),
            str(_l("First check-in")),
            str(_l("Registered at")),
            str(_l("Cancelled or refunded")),
        ]
        rows = []
        for a in db.session.execute(
            sa.select(
                Attendee.id,
                Attendee.order_id,
                Attendee.name,
                Attendee.email,
                Attendee.language,
                Attendee.ticket_type_id,
                Attendee.price_ore,
                Attendee.vat_rate,
                Attendee.sponsor_consent,
                Attendee.cancelled_at,
                Order.code,
                Order.status,
                Order.created_at,
            )
            .join(Order, Attendee.order_id == Order.id)
            .where(Attendee.event_id == event.id)
            .order_by(Order.created_at, Order.id, Attendee.position, Attendee.id)
        ):
            rows.append(
                [
                    a.code,
                    str(ORDER_STATUSES[a.status]),
                    a.name,
                    a.email or "",
                    a.language,
                    localized(ticket_types.get(a.ticket_type_id), lang),
                    kroner(a.price_ore),
                    kroner(vat_included(a.price_ore, a.vat_rate)),
                    ", ".join(workshops.get(a.id, ())),
                    *(
                        answers.get((a.order_id, None if scope == QuestionScope.ORDER else a.id, qid), "")
                        for qid, _label, scope in questions
                    ),
                    _yes_no(a.sponsor_consent),
                    ", ".join(lists_in.get(a.id, ())),
                    _local(first_in.get(a.id), tz),
                    _local(a.created_at, tz),
                    _cancelled_marker(a.status, a.cancelled_at is not None),
                ]
            )
        return Table(str(_l("Attendees")), header, rows)


# --- orders -------------------------------------------------------------------------------------


def export_orders(event: Event, *, lang: str) -> Table:
    """One row per order: who bought, how, what it cost (VAT, refunds) and its invoice."""
    tz = ZoneInfo(event.timezone)
    with force_locale(lang):
        vat: dict[int, int] = defaultdict(int)
        attendees: dict[int, int] = defaultdict(int)
        for order_id, price_ore, vat_rate in db.session.execute(
            sa.select(Attendee.order_id, Attendee.price_ore, Attendee.vat_rate).where(
                Attendee.event_id == event.id
            )
        ):
            vat[order_id] += vat_included(price_ore, vat_rate)  # as Order.vat_ore counts it
            attendees[order_id] += 1
        # The order's latest invoice, as payments.invoices.main_document picks it.
        invoices: dict[int, tuple[int, datetime | None]] = {}
        for order_id, number, paid_at in db.session.execute(
            sa.select(SalesDocument.order_id, SalesDocument.number, SalesDocument.paid_at)
            .join(Order, SalesDocument.order_id == Order.id)
            .where(Order.event_id == event.id, SalesDocument.kind == DocumentKind.INVOICE)
            .order_by(SalesDocument.id)
        ):
            invoices[order_id] = (number, paid_at)
        refunded = dict(
            db.session.execute(
                sa.select(Refund.order_id, sa.func.sum(Refund.amount_ore))
                .join(Order, Refund.order_id == Order.id)
                .where(Order.event_id == event.id, Refund.status != RefundStatus.FAILED)
                .group_by(Refund.order_id)
            ).all()
        )

        header = [
            str(_l("Order")),
            str(_l("Order status")),
            str(_l("Payment method")),
            str(_l("Buyer")),
            str(_l("Buyer's email")),
            str(_l("Total (kr)")),
            str(_l("VAT (kr)")),
            str(_l("Refunded (kr)")),
            str(_l("Created at")),
            str(_l("Paid at")),
            str(_l("Invoice number")),
            str(_l("Invoice paid")),
            str(_l("Attendees")),
        ]
        rows = []
        for o in db.session.execute(
            sa.select(
                Order.id,
                Order.code,
                Order.status,
                Order.payment_method,
                Order.buyer_name,
                Order.buyer_email,
                Order.total_ore,
                Order.created_at,
                Order.paid_at,
            )
            .where(Order.event_id == event.id)
            .order_by(Order.created_at, Order.id)
        ):
            invoice = invoices.get(o.id)
            rows.append(
                [
                    o.code,
                    str(ORDER_STATUSES[o.status]),
                    str(PAYMENT_METHODS[o.payment_method]),
                    o.buyer_name,
                    o.buyer_email or "",
                    kroner(o.total_ore),
                    kroner(vat[o.id]),
                    kroner(int(refunded.get(o.id) or 0)),
                    _local(o.created_at, tz),
                    _local(o.paid_at, tz),
                    invoice[0] if invoice else None,
                    _yes_no(invoice[1] is not None) if invoice else "",
                    attendees[o.id],
                ]
            )
        return Table(str(_l("Orders")), header, rows)


# --- answers (long format) ------------------------------------------------------------------------


def export_answers(event: Event, *, lang: str) -> Table:
    """One row per answer: attendee, order, question and answer, as pivot tables want them.
    Answers to questions asked once per order have no attendee; answers to questions deleted
    since keep the question's text as it was asked."""
    with force_locale(lang):
        header = [
            str(_l("Attendee")),
            str(_l("Order")),
            str(_l("Order status")),
            str(_l("Question")),
            str(_l("Answer")),
        ]
        rows = [
            [
                name or "",
                code,
                str(ORDER_STATUSES[status]),
                localized(label, lang),
                localized(display, lang),
            ]
            for name, code, status, label, display in db.session.execute(
                sa.select(
                    Attendee.name,
                    Order.code,
                    Order.status,
                    Answer.question_label,
                    Answer.display,
                )
                .join(Order, Answer.order_id == Order.id)
                .outerjoin(Attendee, Answer.attendee_id == Attendee.id)
                .outerjoin(Question, Answer.question_id == Question.id)
                .where(Order.event_id == event.id)
                .order_by(
                    Order.created_at,
                    Order.id,
                    sa.case((Answer.attendee_id.is_(None), 0), else_=1),  # the order's own first
                    Attendee.position,
                    Attendee.id,
                    sa.case((Question.position.is_(None), 1), else_=0),  # deleted questions last
                    Question.position,
                    Answer.id,
                )
            )
        ]
        return Table(str(_l("Answers")), header, rows)


# --- check-ins ----------------------------------------------------------------------------------


def _conflict_text(conflict: str | None, reason: str) -> str:
    if not conflict:
        return ""
    text = str(RESULTS.get(conflict, conflict))
    return f"{text}: {REASONS[reason]}" if reason in REASONS else text


def export_checkins(event: Event, *, lang: str) -> Table:
    """One row per scan recorded: admissions (undone ones too) and the conflicts offline gates
    produced, in the order they were scanned."""
    tz = ZoneInfo(event.timezone)
    with force_locale(lang):
        header = [
            str(_l("Check-in list")),
            str(_l("Attendee")),
            str(_l("Order")),
            str(_l("Gate")),
            str(_l("Staff")),
            str(_l("Scanned at")),
            str(_l("Offline")),
            str(_l("Undone at")),
            str(_l("Conflict")),
        ]
        rows = [
            [
                c.list_name,
                c.attendee_name,
                c.code,
                c.gate,
                c.staff or "",
                _local(c.scanned_at, tz),
                _yes_no(c.offline),
                _local(c.undone_at, tz),
                _conflict_text(c.conflict, c.conflict_reason),
            ]
            for c in db.session.execute(
                sa.select(
                    CheckinList.name.label("list_name"),
                    Attendee.name.label("attendee_name"),
                    Order.code,
                    Checkin.gate,
                    User.name.label("staff"),
                    Checkin.scanned_at,
                    Checkin.offline,
                    Checkin.undone_at,
                    Checkin.conflict,
                    Checkin.conflict_reason,
                )
                .join(CheckinList, Checkin.list_id == CheckinList.id)
                .join(Attendee, Checkin.attendee_id == Attendee.id)
                .join(Order, Attendee.order_id == Order.id)
                .outerjoin(User, Checkin.user_id == User.id)
                .where(CheckinList.event_id == event.id)
                .order_by(Checkin.scanned_at, Checkin.id)
            )
        ]
        return Table(str(_l("Check-ins")), header, rows)


def count_rows(event: Event) -> dict[str, int]:
    """How many rows each export has now, in one query."""
    counts = db.session.execute(
        sa.select(
            sa.select(sa.func.count(Attendee.id)).where(Attendee.event_id == event.id).scalar_subquery(),
            sa.select(sa.func.count(Order.id)).where(Order.event_id == event.id).scalar_subquery(),
            sa.select(sa.func.count(Answer.id))
            .join(Order, Answer.order_id == Order.id)
            .where(Order.event_id == event.id)
            .scalar_subquery(),
            sa.select(sa.func.count(Checkin.id))
            .join(CheckinList, Checkin.list_id == CheckinList.id)
            .where(CheckinList.event_id == event.id)
            .scalar_subquery(),
        )
    ).one()
    return dict(zip(("attendees", "orders", "answers", "checkins"), counts, strict=True))


def export_file(
    table: Table, fmt: str, *, progress: formats.Progress | None = None, every: int = 500
) -> bytes:
    """The table as a CSV or XLSX file; `progress` is told the rows written every `every` rows."""
    if fmt == "csv":
        return formats.to_csv(table.header, table.rows, progress=progress, every=every)
    return formats.to_xlsx(table.header, table.rows, table.title, progress=progress, every=every)


def export_filename(event: Event, kind: str, fmt: str, *, now: datetime) -> str:
    """The event, the export and the date at the event: forum-attendees-2027-05-27.csv."""
    return f"{event.slug}-{kind}-{now.astimezone(ZoneInfo(event.timezone)).date().isoformat()}.{fmt}"


EXPORTS: dict[str, Callable[..., Table]] = {
    "attendees": export_attendees,
    "orders": export_orders,
    "answers": export_answers,
    "checkins": export_checkins,
}
