"""Check-in: who may enter through which door, each admission recorded exactly once, also when
the scanner was offline.

A scan is judged in this order; the scanner's offline check (static/checkin/rules.js) follows
the same order and gives the same answers:

1. the QR is a genuine ticket of this event (format, key, signature, event)  → invalid
2. the attendee and the order are live (not cancelled, refunded or expired)  → cancelled
3. the QR is the ticket's current version (not transferred since)            → invalid (revoked)
4. the order is paid, or is an invoice and the list admits unpaid invoices   → unpaid
5. the list admits the ticket type and workshop, and is open at this moment  → not_admitted
6. the attendee is not inside already, unless the list allows re-entry       → already_redeemed
"""

import base64
import enum
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from eventreg.accounts.models import User
from eventreg.checkin.models import Checkin, CheckinList
from eventreg.core.errors import Conflict, NotFound, ValidationError
from eventreg.core.i18n import localized
from eventreg.events.models import Event, EventSession, TicketType
from eventreg.extensions import db
from eventreg.payments.models import DocumentKind, DocumentStatus, SalesDocument
from eventreg.registration.models import Attendee, AttendeeSession, Order, OrderStatus, PaymentMethod
from eventreg.tickets.services import public_keys
from eventreg.tickets.signing import InvalidTicket, TicketClaim, claimed_event, public_key_bytes, read_ticket

CLOCK_SKEW = timedelta(minutes=5)  # an offline scanner's clock may run this far ahead


class Result(enum.StrEnum):
    OK = "ok"
    ALREADY_REDEEMED = "already_redeemed"
    NOT_ADMITTED = "not_admitted"
    UNPAID = "unpaid"
    CANCELLED = "cancelled"
    INVALID = "invalid"


@dataclass
class Verdict:
    result: Result
    reason: str = ""  # the detail, for machines: bad_signature, revoked, ticket_type, closed, ...
    attendee: Attendee | None = None
    checkin: Checkin | None = None  # the admission just made, or the one that already counts


@dataclass(frozen=True)
class Standing:
    """What the rules need to know about an attendee, apart from the scan itself."""

    cancelled: bool
    order_status: OrderStatus
    invoice_open: bool  # an invoice order whose invoice is not paid yet
    ticket_type_id: int
    session_ids: frozenset[int] = field(default_factory=frozenset)


# -- the rules ---------------------------------------------------------------------------------


def refusal(lst: CheckinList, standing: Standing) -> tuple[Result, str] | None:
    """Rules 2, 4 and 5 (without the time window): why `lst` turns this attendee away, if it does."""
    if standing.cancelled or standing.order_status in (
        OrderStatus.CANCELLED,
        OrderStatus.REFUNDED,
        OrderStatus.EXPIRED,
    ):
        return Result.CANCELLED, ""
    if standing.order_status != OrderStatus.PAID:
        return Result.UNPAID, "pending"
    if standing.invoice_open and not lst.admit_unpaid_invoices:
        return Result.UNPAID, "invoice"
    if lst.ticket_types and standing.ticket_type_id not in {t.id for t in lst.ticket_types}:
        return Result.NOT_ADMITTED, "ticket_type"
    if lst.session_id is not None and lst.session_id not in standing.session_ids:
        return Result.NOT_ADMITTED, "workshop"
    return None


def outside_window(lst: CheckinList, at: datetime) -> str | None:
    if lst.opens_at is not None and at < lst.opens_at:
        return "not_open"
    if lst.closes_at is not None and at >= lst.closes_at:
        return "closed"
    return None


def _standing(lst: CheckinList, attendee: Attendee, *, invoice_open: bool | None = None) -> Standing:
    """`invoice_open` may be given by a caller that asked for many attendees at once."""
    order = attendee.order
    if invoice_open is None:
        invoice_open = bool(_orders_with_open_invoices(lst, [order]))
    return Standing(
        cancelled=attendee.cancelled_at is not None,
        order_status=order.status,
        invoice_open=invoice_open,
        ticket_type_id=attendee.ticket_type_id,
        session_ids=frozenset(s.id for s in attendee.sessions),
    )


def _open_invoice():
    return sa.exists().where(
        SalesDocument.kind == DocumentKind.INVOICE,
        SalesDocument.status == DocumentStatus.OPEN,
    )


def _orders_with_open_invoices(lst: CheckinList, orders) -> set[int]:
    """Only asked when the list refuses unpaid invoices."""
    ids = {o.id for o in orders if o.payment_method == PaymentMethod.INVOICE}
    if lst.admit_unpaid_invoices or not ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(SalesDocument.order_id)
            .where(SalesDocument.order_id.in_(ids), SalesDocument.kind == DocumentKind.INVOICE)
            .where(SalesDocument.status == DocumentStatus.OPEN)
        )
    )


def _judge(
    lst: CheckinList,
    attendee: Attendee,
    version: int | None,
    at: datetime,
    *,
    invoice_open: bool | None = None,
) -> tuple[Result, str] | None:
    """Rules 2 to 5 for one attendee; `version` is the QR's (None: found by name, no QR)."""
    refused = refusal(lst, _standing(lst, attendee, invoice_open=invoice_open))
    if refused and refused[0] == Result.CANCELLED:
        return refused
    if version is not None and version != attendee.ticket_version:
        return Result.INVALID, "revoked"
    if refused:
        return refused
    reason = outside_window(lst, at)
    return (Result.NOT_ADMITTED, reason) if reason else None


# -- redeeming at a gate -----------------------------------------------------------------------


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def get_list(event: Event, list_id: int) -> CheckinList:
    lst = find_list(event.slug, list_id)
    if lst is None:
        raise NotFound(_l("No such check-in list."))
    return lst


# The statements a gate runs with every scan are built once (building one costs about as much
# as running it); the values come as bound parameters.
_FIND_LIST = (
    sa.select(CheckinList)
    .join(CheckinList.event)
    .where(CheckinList.id == sa.bindparam("list_id"), Event.slug == sa.bindparam("slug"))
    .options(contains_eager(CheckinList.event), joinedload(CheckinList.ticket_types))
)


def find_list(slug: str, list_id: int) -> CheckinList | None:
    """The list of the event with this slug, with its event and rules, in one query."""
    return db.session.scalars(_FIND_LIST, {"list_id": list_id, "slug": slug}).unique().one_or_none()


def _claim(event: Event, qr: str) -> tuple[TicketClaim | None, str]:
    """The claim of a genuine QR of this event, or why not. A key this process has not seen
    yet (rotated a moment ago) sends it back to the database once."""
    try:
        return read_ticket(qr, public_keys(event, cached=True), event_id=event.id), ""
    except InvalidTicket as bad:
        if bad.reason == "unknown_key":
            try:
                return read_ticket(qr, public_keys(event), event_id=event.id), ""
            except InvalidTicket as again:
                bad = again
        return None, _refined(bad.reason, qr, event.id)


def _refined(reason: str, qr: str, event_id: int) -> str:
    """Each event signs with its own keys, so another event's genuine ticket fails the signature
    check here; saying "another event" helps the person at the gate (it is refused either way)."""
    if reason in ("bad_signature", "unknown_key") and claimed_event(qr) not in (None, event_id):
        return "other_event"
    return reason


def locked_attendees(event_id: int, attendee_ids) -> dict[int, Attendee]:
    """The event's attendees with these ids, locked and read after the lock, with what the rules
    and the answer need (order, ticket type, workshops). Scans of one ticket take turns; other
    tickets do not wait. On PostgreSQL a row lock per attendee, taken in id order so that two
    batches cannot deadlock; on SQLite a first write takes the database's write lock before
    anything is read."""
    ids = sorted(set(attendee_ids))
    if not ids:
        return {}
    query = _LOCKED_ATTENDEES
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Attendee)
    else:
        db.session.execute(_TAKE_WRITE_LOCK, {"ids": ids})
    found = db.session.scalars(query, {"ids": ids, "event_id": event_id}).unique()
    return {a.id: a for a in found}


_LOCKED_ATTENDEES = (
    sa.select(Attendee)
    .where(
        Attendee.id.in_(sa.bindparam("ids", expanding=True)), Attendee.event_id == sa.bindparam("event_id")
    )
    .options(
        joinedload(Attendee.order, innerjoin=True),
        joinedload(Attendee.ticket_type, innerjoin=True),
        joinedload(Attendee.sessions),
    )
    .order_by(Attendee.id)
    .execution_options(populate_existing=True)  # what another gate committed before our lock
)
_TAKE_WRITE_LOCK = (
    sa.update(Attendee.__table__)
    .where(Attendee.__table__.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(ticket_version=Attendee.__table__.c.ticket_version)
)


@dataclass
class Admissions:
    """A ticket's admissions on a list, read together with a scan's nonce: two gates that race
    anyway both write the same next number, and the unique constraint lets only one succeed."""

    rows: list[Checkin]  # with an entry number, the latest first
    earlier: Checkin | None = None  # the scan with this nonce, if it was recorded before

    @property
    def current(self) -> Checkin | None:
        """The admission that counts now (the latest, on a re-entry list)."""
        return next((c for c in self.rows if c.undone_at is None), None)

    @property
    def next_entry_no(self) -> int:
        return self.rows[0].entry_no + 1 if self.rows else 1


_ADMISSIONS = (
    sa.select(Checkin)
    .where(
        sa.or_(
            sa.and_(
                Checkin.list_id == sa.bindparam("list_id"),
                Checkin.attendee_id == sa.bindparam("attendee_id"),
                Checkin.entry_no.is_not(None),
            ),
            Checkin.nonce == sa.bindparam("nonce"),  # NULL: matches nothing
        )
    )
    .order_by(Checkin.entry_no.desc())
)


def admissions(lst: CheckinList, attendee_id: int, nonce: str | None = None) -> Admissions:
    params = {"list_id": lst.id, "attendee_id": attendee_id, "nonce": nonce}
    found = db.session.scalars(_ADMISSIONS, params).all()
    rows = [
        c for c in found if c.entry_no is not None and c.list_id == lst.id and c.attendee_id == attendee_id
    ]
    return Admissions(rows, next((c for c in found if c.nonce == nonce), None))


def counting_admission(lst: CheckinList, attendee_id: int) -> Checkin | None:
    return admissions(lst, attendee_id).current


def redeem(
    lst: CheckinList,
    *,
    qr: str | None = None,
    attendee_id: int | None = None,
    gate: str = "",
    user: User | None,
    now: datetime,
    nonce: str | None = None,
) -> Verdict:
    """Judges one scan (a QR, or an attendee found by name) and records the admission. The same
    `nonce` sent again (a retry after a lost answer) gives the same admission back. The caller commits."""
    if (qr is None) == (attendee_id is None):
        raise ValidationError(_l("Send either a QR code or an attendee."))
    nonce = nonce or new_nonce()
    version = None
    if qr is not None:
        claim, reason = _claim(lst.event, qr)
        if claim is None:
            return Verdict(Result.INVALID, reason)
        attendee_id, version = claim.attendee_id, claim.version
    attendee = locked_attendees(lst.event_id, [attendee_id]).get(attendee_id)
    if attendee is None:
        if qr is None:
            raise NotFound(_l("No such attendee."))
        return Verdict(Result.INVALID, "revoked")  # signed by us, but the attendee is gone
    state = admissions(lst, attendee.id, nonce)
    if state.earlier is not None:
        if state.earlier.list_id != lst.id or state.earlier.attendee_id != attendee.id:
            raise Conflict(_l("This scan was recorded for another ticket."), code="nonce_reused")
        result = Result.OK if state.earlier.counts else Result.ALREADY_REDEEMED
        return Verdict(result, "", attendee, state.earlier)
    refused = _judge(lst, attendee, version, now)
    if refused:
        return Verdict(refused[0], refused[1], attendee)
    if state.current is not None and not lst.allow_reentry:
        return Verdict(Result.ALREADY_REDEEMED, "", attendee, state.current)
    checkin = Checkin(
        list_id=lst.id,
        attendee_id=attendee.id,
        nonce=nonce,
        entry_no=state.next_entry_no,
        scanned_at=now,
        recorded_at=now,
        gate=gate[:100],
        user=user,
    )
    db.session.add(checkin)
    _flush_or_busy()
    return Verdict(Result.OK, "", attendee, checkin)


def _flush_or_busy() -> None:
    """Under the ticket's lock only a scan sent twice at the very same moment can collide here."""
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("Too many scans of this ticket at once; please scan again."), code="busy") from None


def get_checkin(event: Event, checkin_id: int) -> Checkin:
    checkin = db.session.get(Checkin, checkin_id)
    if checkin is None or checkin.checkin_list.event_id != event.id:
        raise NotFound(_l("No such check-in."))
    return checkin


def undo(lst: CheckinList, checkin_id: int, *, user: User | None, now: datetime) -> Checkin:
    """Takes back a mistaken admission; the attendee can then be admitted again."""
    checkin = db.session.get(Checkin, checkin_id)
    if checkin is None or checkin.list_id != lst.id:
        raise NotFound(_l("No such check-in."))
    if not checkin.counts:
        raise Conflict(_l("This check-in does not count; there is nothing to undo."), code="not_admitted")
    checkin.undone_at = now
    checkin.undone_by_id = user.id if user else None
    return checkin


# -- offline scanners --------------------------------------------------------------------------


@dataclass(frozen=True)
class OfflineScan:
    """An admission an offline scanner made on its own: from a QR, or after a search by name."""

    nonce: str
    scanned_at: datetime
    qr: str | None = None
    attendee_id: int | None = None
    gate: str = ""


def upload_scans(
    lst: CheckinList, scans: list[OfflineScan], *, user: User | None, now: datetime
) -> list[dict]:
    """Records what offline gates let in, all or nothing. Idempotent: a scan (by its nonce) is kept
    once, and sent again gets the same answer. A scan the rules refuse now, or of a ticket that
    was admitted before, is kept as a conflict for the organiser; the first scan wins, so a later
    admission that was uploaded earlier becomes the conflict.

    Answers per scan: {"nonce", "outcome": "admitted" | "conflict" | "invalid" (not recorded),
    "result" and "reason": what the rules say about it, as redeem would}.

    A handful of statements per batch, whatever its size: the attendees are locked and read in
    one query, their admissions and the batch's known nonces in one each, and the new rows are
    written in one flush."""
    claims = {}  # QR → (claim, reason), each QR checked once
    for scan in scans:
        if scan.qr is not None and scan.qr not in claims:
            claims[scan.qr] = _claim(lst.event, scan.qr)

    def attendee_id_of(scan: OfflineScan) -> int | None:
        if scan.qr is None:
            return scan.attendee_id
        claim = claims[scan.qr][0]
        return claim.attendee_id if claim else None

    attendees = locked_attendees(lst.event_id, filter(None, map(attendee_id_of, scans)))
    known = {
        c.nonce: c
        for c in db.session.scalars(sa.select(Checkin).where(Checkin.nonce.in_({s.nonce for s in scans})))
    }
    history = defaultdict(list)  # attendee → their admissions on this list, the latest first
    for c in db.session.scalars(
        sa.select(Checkin)
        .where(Checkin.list_id == lst.id, Checkin.attendee_id.in_(attendees), Checkin.entry_no.is_not(None))
        .order_by(Checkin.entry_no.desc())
    ):
        history[c.attendee_id].append(c)
    unpaid = _orders_with_open_invoices(lst, [a.order for a in attendees.values()])

    answers = {}
    for scan in sorted(scans, key=lambda s: s.scanned_at):  # first scan wins within the batch, too
        if scan.nonce in known:
            answers[scan.nonce] = _answer(scan, known[scan.nonce])
            continue
        attendee = attendees.get(attendee_id_of(scan))
        if attendee is None:
            # Unknown id, or signed by us but the attendee is gone.
            reason = "unknown" if scan.qr is None else claims[scan.qr][1] or "revoked"
            answers[scan.nonce] = {
                "nonce": scan.nonce,
                "outcome": "invalid",
                "result": "invalid",
                "reason": reason,
            }
            continue
        version = claims[scan.qr][0].version if scan.qr is not None else None
        at = min(scan.scanned_at, now + CLOCK_SKEW)
        checkin = Checkin(
            list_id=lst.id,
            attendee_id=attendee.id,
            nonce=scan.nonce,
            scanned_at=at,
            recorded_at=now,
            gate=scan.gate[:100],
            offline=True,
            user=user,
        )
        refused = _judge(lst, attendee, version, at, invoice_open=attendee.order_id in unpaid)
        if refused:
            checkin.conflict, checkin.conflict_reason = refused[0].value, refused[1]
        else:
            _admit_first_scan_wins(lst, checkin, Admissions(history[attendee.id]))
            if checkin.entry_no is not None:
                history[attendee.id].insert(0, checkin)
        db.session.add(checkin)
        known[scan.nonce] = checkin
        answers[scan.nonce] = _answer(scan, checkin)
    _flush_or_busy()
    return [answers[s.nonce] for s in scans]


def _admit_first_scan_wins(lst: CheckinList, checkin: Checkin, state: Admissions) -> None:
    """Gives `checkin` an entry number, or makes it a conflict when the attendee is inside already.
    An admission scanned later than this one yields its number (and becomes the conflict)."""
    current = state.current
    if current is None or lst.allow_reentry:
        checkin.entry_no = state.next_entry_no
    elif current.scanned_at > checkin.scanned_at:
        checkin.entry_no, current.entry_no = current.entry_no, None
        current.conflict, current.conflict_reason = Result.ALREADY_REDEEMED.value, "earlier_scan"
        state.rows.remove(current)
    else:
        checkin.conflict, checkin.conflict_reason = Result.ALREADY_REDEEMED.value, "earlier_scan"


def _answer(scan: OfflineScan, checkin: Checkin) -> dict:
    if checkin.counts:
        return {"nonce": scan.nonce, "outcome": "admitted", "result": Result.OK.value, "reason": ""}
    return {
        "nonce": scan.nonce,
        "outcome": "conflict",
        "result": checkin.conflict,
        "reason": checkin.conflict_reason,
    }


# -- what an offline scanner downloads ---------------------------------------------------------


def attendee_rows(lst: CheckinList) -> list[dict]:
    """Every attendee of the event as the list sees them, in a handful of queries: the rules'
    verdict apart from the scan itself (`refused`: [result, reason] or null) and the admission
    that counts (`inside`)."""
    event_id = lst.event_id
    invoice_open = _open_invoice().where(SalesDocument.order_id == Order.id)
    rows = db.session.execute(
        sa.select(
            Attendee.id,
            Attendee.name,
            Attendee.ticket_version,
            Attendee.ticket_type_id,
            Attendee.cancelled_at,
            Order.code,
            Order.status,
            sa.and_(Order.payment_method == PaymentMethod.INVOICE, invoice_open).label("invoice_open"),
        )
        .join(Order, Attendee.order_id == Order.id)
        .where(Attendee.event_id == event_id, Order.status != OrderStatus.EXPIRED)
        .order_by(Attendee.id)
    ).all()
    sessions = defaultdict(list)
    for attendee_id, session_id, name in db.session.execute(
        sa.select(AttendeeSession.attendee_id, EventSession.id, EventSession.name)
        .join(EventSession, AttendeeSession.session_id == EventSession.id)
        .where(EventSession.event_id == event_id)
    ):
        sessions[attendee_id].append((session_id, name))
    types = {
        t.id: t.label
        for t in db.session.scalars(sa.select(TicketType).where(TicketType.event_id == event_id))
    }
    inside = admissions_inside(lst)
    out = []
    for r in rows:
        standing = Standing(
            cancelled=r.cancelled_at is not None,
            order_status=r.status,
            invoice_open=bool(r.invoice_open),
            ticket_type_id=r.ticket_type_id,
            session_ids=frozenset(s for s, _ in sessions[r.id]),
        )
        refused = refusal(lst, standing)
        out.append(
            {
                "id": r.id,
                "name": r.name,
                "order": r.code,
                "version": r.ticket_version,
                "ticket_type_id": r.ticket_type_id,
                "ticket_type": types.get(r.ticket_type_id, ""),
                "workshops": [localized(n) for _, n in sessions[r.id]],
                "refused": [refused[0].value, refused[1]] if refused else None,
                "inside": inside.get(r.id),
            }
        )
    return out


def admissions_inside(lst: CheckinList) -> dict[int, dict]:
    """The counting admission per attendee (the latest on a re-entry list): when, where, by whom."""
    rows = db.session.execute(
        sa.select(Checkin.id, Checkin.attendee_id, Checkin.scanned_at, Checkin.gate, User.name)
        .outerjoin(User, Checkin.user_id == User.id)
        .where(Checkin.list_id == lst.id, Checkin.entry_no.is_not(None), Checkin.undone_at.is_(None))
        .order_by(Checkin.entry_no)
    )
    return {
        r.attendee_id: {"checkin": r.id, "at": r.scanned_at.isoformat(), "gate": r.gate, "by": r.name or ""}
        for r in rows
    }


def offline_package(lst: CheckinList, *, now: datetime) -> dict:
    """All a scanner needs to judge this list's scans without a network."""
    return {
        "generated_at": now.isoformat(),
        "event": {"id": lst.event_id, "slug": lst.event.slug, "name": lst.event.name},
        "keys": {
            str(key_id): base64.b64encode(public_key_bytes(key)).decode()
            for key_id, key in public_keys(lst.event).items()
        },
        "list": list_out(lst),
        "attendees": attendee_rows(lst),
    }


def list_out(lst: CheckinList) -> dict:
    return {
        "id": lst.id,
        "name": lst.name,
        "allow_reentry": lst.allow_reentry,
        "admit_unpaid_invoices": lst.admit_unpaid_invoices,
        "opens_at": lst.opens_at.isoformat() if lst.opens_at else None,
        "closes_at": lst.closes_at.isoformat() if lst.closes_at else None,
        "ticket_types": [t.label for t in lst.ticket_types],
        "workshop": lst.session.label if lst.session else None,
    }


# -- the organiser's view ----------------------------------------------------------------------


@dataclass
class TypeProgress:
    ticket_type: TicketType
    inside: int = 0
    expected: int = 0


@dataclass
class ListProgress:
    checkin_list: CheckinList
    by_type: list[TypeProgress]  # the ticket types the list admits, in the event's order

    @property
    def inside(self) -> int:
        return sum(t.inside for t in self.by_type)

    @property
    def expected(self) -> int:
        return sum(t.expected for t in self.by_type)


def progress(event: Event) -> list[ListProgress]:
    """Checked in / expected per list and ticket type. Expected: those the list would admit now
    (paid, or an unpaid invoice where the list allows it; right ticket type and workshop), and
    anybody it has admitted.

    Three queries, whatever the number of attendees and lists: the database sorts the attendees
    into groups by the facts `refusal` reads (ticket type, cancelled, order status, open invoice,
    in each list's workshop) and by the lists that admitted them, and counts each group; the
    rules are then applied once per group and list, not once per attendee."""
    lists = list(
        db.session.scalars(
            sa.select(CheckinList)
            .where(CheckinList.event_id == event.id)
            .options(selectinload(CheckinList.ticket_types))
            .order_by(CheckinList.id)
        )
    )
    if not lists:
        return []
    workshops = sorted({lst.session_id for lst in lists if lst.session_id is not None})
    # Each fact as a left join to the ids it holds for, not as EXISTS: PostgreSQL prices a
    # subquery per attendee so high that it compiles the query (JIT, ~100 ms) before running it.
    open_invoices = _ids(
        SalesDocument.order_id,
        SalesDocument.kind == DocumentKind.INVOICE,
        SalesDocument.status == DocumentStatus.OPEN,
        SalesDocument.order_id.in_(sa.select(Order.id).where(Order.event_id == event.id)),
    )
    in_workshop = [_ids(AttendeeSession.attendee_id, AttendeeSession.session_id == s) for s in workshops]
    admitted = [
        _ids(
            Checkin.attendee_id,
            Checkin.list_id == lst.id,
            Checkin.entry_no.is_not(None),
            Checkin.undone_at.is_(None),
        )
        for lst in lists
    ]
    facts = (
        sa.select(
            Attendee.ticket_type_id.label("type_id"),
            Attendee.cancelled_at.is_not(None).label("cancelled"),
            Order.status.label("status"),
            sa.and_(Order.payment_method == PaymentMethod.INVOICE, open_invoices.c.id.is_not(None)).label(
                "invoice_open"
            ),
            *(ids.c.id.is_not(None).label(f"w{i}") for i, ids in enumerate(in_workshop)),
            *(ids.c.id.is_not(None).label(f"in{i}") for i, ids in enumerate(admitted)),
        )
        .join(Order, Attendee.order_id == Order.id)
        .outerjoin(open_invoices, open_invoices.c.id == Order.id)
    )
    for ids in in_workshop + admitted:
        facts = facts.outerjoin(ids, ids.c.id == Attendee.id)
    facts = facts.where(Attendee.event_id == event.id, Order.status != OrderStatus.EXPIRED).subquery()
    counted = sa.select(*facts.c, sa.func.count().label("n")).group_by(*facts.c)
    groups = db.session.execute(counted).mappings().all()
    out = []
    for i, lst in enumerate(lists):
        types = {t.id: TypeProgress(t) for t in (lst.ticket_types or event.ticket_types)}
        for g in groups:
            standing = Standing(
                cancelled=bool(g["cancelled"]),
                order_status=OrderStatus(g["status"]),
                invoice_open=bool(g["invoice_open"]),
                ticket_type_id=g["type_id"],
                session_ids=frozenset(s for j, s in enumerate(workshops) if g[f"w{j}"]),
            )
            counts, inside = types.get(g["type_id"]), bool(g[f"in{i}"])
            if counts is None or (not inside and refusal(lst, standing) is not None):
                continue
            counts.expected += g["n"]
            counts.inside += g["n"] if inside else 0
        out.append(ListProgress(lst, sorted(types.values(), key=lambda t: t.ticket_type.position)))
    return out


def _ids(column, *conditions) -> sa.Subquery:
    """The distinct values of `column` in the rows that meet `conditions`, to left-join."""
    return sa.select(column.label("id")).where(*conditions).distinct().subquery()


def conflicts(event: Event) -> list[Checkin]:
    return list(
        db.session.scalars(
            sa.select(Checkin)
            .join(CheckinList, Checkin.list_id == CheckinList.id)
            .where(CheckinList.event_id == event.id, Checkin.conflict.is_not(None))
            .order_by(Checkin.scanned_at.desc())
        )
    )


def recent_checkins(lst: CheckinList, limit: int = 20) -> list[Checkin]:
    return list(
        db.session.scalars(
            sa.select(Checkin)
            .where(Checkin.list_id == lst.id)
            .order_by(Checkin.recorded_at.desc())
            .limit(limit)
        )
    )


def lists_of(event: Event) -> list[CheckinList]:
    return list(
        db.session.scalars(
            sa.select(CheckinList).where(CheckinList.event_id == event.id).order_by(CheckinList.id)
        )
    )


# -- building lists ----------------------------------------------------------------------------


@dataclass
class ListData:
    name: str
    ticket_type_ids: list[int] = field(default_factory=list)  # empty: every ticket type
    session_id: int | None = None
    allow_reentry: bool = False
    admit_unpaid_invoices: bool = True
    opens_at: datetime | None = None
    closes_at: datetime | None = None


def save_list(event: Event, data: ListData, lst: CheckinList | None = None) -> CheckinList:
    """Creates (or changes) a check-in list after checking every field."""
    errors: dict[str, list] = {}
    name = data.name.strip()
    if not name:
        errors["name"] = [_l("Give the list a name, for example “Main entrance”.")]
    elif len(name) > 200:
        errors["name"] = [_l("At most 200 characters.")]
    types = {t.id: t for t in event.ticket_types}
    if any(i not in types for i in data.ticket_type_ids):
        errors["ticket_type_ids"] = [_l("Choose ticket types of this event.")]
    sessions = {s.id: s for s in event.sessions}
    if data.session_id is not None and data.session_id not in sessions:
        errors["session_id"] = [_l("Choose a workshop of this event.")]
    if data.opens_at and data.closes_at and data.closes_at <= data.opens_at:
        errors["closes_at"] = [_l("The list must close after it opens.")]
    if errors:
        raise ValidationError(fields=errors)
    if lst is None:
        lst = CheckinList(event_id=event.id)
        db.session.add(lst)
    lst.name = name
    lst.ticket_types = [types[i] for i in sorted(set(data.ticket_type_ids))]
    lst.session_id = data.session_id
    lst.allow_reentry = data.allow_reentry
    lst.admit_unpaid_invoices = data.admit_unpaid_invoices
    lst.opens_at, lst.closes_at = data.opens_at, data.closes_at
    db.session.flush()
    return lst


def delete_list(lst: CheckinList) -> None:
    """A list that has admitted somebody keeps its record; only an unused list can go."""
    if db.session.scalar(sa.select(sa.exists().where(Checkin.list_id == lst.id))):
        raise Conflict(
            _l("People have been checked in on this list, so it cannot be deleted."), code="in_use"
        )
    db.session.delete(lst)


def attendee_summary(attendee: Attendee, admission: Checkin | None = None) -> dict:
    """What the gate shows about an attendee."""
    out = {
        "id": attendee.id,
        "name": attendee.name,
        "order": attendee.order.code,
        "ticket_type": attendee.ticket_type.label,
        "workshops": [s.label for s in attendee.sessions],
    }
    if admission is not None:
        out["checkin"] = {
            "id": admission.id,
            "at": admission.scanned_at.isoformat(),
            "gate": admission.gate,
            "by": admission.user.name if admission.user else "",
        }
    return out
