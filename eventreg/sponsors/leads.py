"""Leads: the attendees whose badge a sponsor's member scanned at the booth, with the sponsor's
note and rating.

A sponsor member is a user with the sponsor role for the event *and* a sponsor company
(`EventRole.sponsor_id`). A lead belongs to the company: all its members see and edit the same
leads, and no other sponsor (nor the organiser) ever sees them.

What a sponsor sees of a lead is decided at every read, from the attendee's consent at that
moment; nothing about the attendee is copied into the lead. Without consent: the name and the
organisation printed on the badge, which the sponsor has seen anyway. With consent: also email,
phone, country and sector. An attendee who withdraws consent loses those details from the
scanner, the leads page and the exports at once. Erasing an attendee deletes their leads
(privacy/services.py)."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from eventreg.accounts.models import EventRole, EventRoleKind, User
from eventreg.checkin.texts import REASONS
from eventreg.core.errors import Conflict, Forbidden, NotFound, ValidationError
from eventreg.core.i18n import localized
from eventreg.events.choices import choices_for
from eventreg.events.models import Event, Lead, QuestionKind, Sponsor
from eventreg.exports.services import Table
from eventreg.extensions import db
from eventreg.registration.models import Attendee, Order, OrderStatus
from eventreg.tickets.documents import answer_of
from eventreg.tickets.services import public_keys
from eventreg.tickets.signing import InvalidTicket, TicketClaim, check_version, claimed_event, read_ticket

RATINGS = range(1, 6)
NOTE_MAX = 2000  # characters
CANCELLED_ORDERS = (OrderStatus.CANCELLED, OrderStatus.REFUNDED, OrderStatus.EXPIRED)


# --- who scans for which sponsor --------------------------------------------------------------


def sponsor_role(event: Event, *, actor: User | None) -> EventRole | None:
    """The actor's own sponsor role for the event (admins and organisers have none)."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return next((r for r in actor.roles if r.event_id == event.id and r.role == EventRoleKind.SPONSOR), None)


def company_of(event: Event, *, actor: User | None) -> Sponsor | None:
    """The sponsor company `actor` is a member of at `event`, if any."""
    role = sponsor_role(event, actor=actor)
    if role is None or role.sponsor_id is None:
        return None
    sponsor = db.session.get(Sponsor, role.sponsor_id)
    return sponsor if sponsor is not None and sponsor.event_id == event.id else None


def member_sponsor(event: Event, *, actor: User | None) -> Sponsor:
    """The sponsor company `actor` collects leads for at `event`. Raises Forbidden with code
    `no_sponsor` for a sponsor member whose account is not linked to a company yet, and with
    `not_a_member` for everybody else (organisers and admins too: leads are the company's)."""
    sponsor = company_of(event, actor=actor)
    if sponsor is not None:
        return sponsor
    if sponsor_role(event, actor=actor) is None:
        raise Forbidden(
            _l("Leads belong to a sponsor company: only its members scan badges and see its leads."),
            code="not_a_member",
        )
    raise Forbidden(
        _l(
            "Your account is not linked to a sponsor company for this event yet. Please ask the "
            "organiser to add you to your company's sponsor account."
        ),
        code="no_sponsor",
    )


# --- what a sponsor sees of a lead ------------------------------------------------------------


@dataclass(frozen=True)
class LeadContact:
    """Shown only while the attendee consents to sharing their details with sponsors."""

    email: str
    phone: str
    country: str
    sector: str


@dataclass(frozen=True)
class LeadView:
    id: int
    name: str
    organisation: str
    contact: LeadContact | None  # None: the attendee does not consent (now)
    note: str
    rating: int | None
    scanned_at: datetime
    scanned_by: str  # the member who scanned it ("" when their account is gone)

    @property
    def consents(self) -> bool:
        return self.contact is not None


class _Labels:
    """Country and sector answers as names in one language, looked up once per question."""

    def __init__(self, event: Event, language: str):
        self.questions = {q.id: q for q in event.questions}
        self.language = language
        self.names: dict[int, dict[str, str]] = {}

    def __call__(self, attendee: Attendee, kind: QuestionKind) -> str:
        answer = answer_of(attendee, kind)
        if answer is None:
            return ""
        question = self.questions.get(answer.question_id)
        if question is not None and question.id not in self.names:
            self.names[question.id] = dict(choices_for(question, self.language))
        names = self.names.get(answer.question_id, {})
        return names.get(str(answer.value)) or localized(answer.display, self.language)


def _view(lead: Lead, attendee: Attendee, scanned_by: str | None, labels: _Labels) -> LeadView:
    organisation = answer_of(attendee, QuestionKind.ORGANISATION)
    contact = None
    if attendee.sponsor_consent and attendee.erased_at is None:
        phone = answer_of(attendee, QuestionKind.PHONE)
        contact = LeadContact(
            email=attendee.email or "",
            phone=str(phone.value) if phone is not None else "",
            country=labels(attendee, QuestionKind.COUNTRY),
            sector=labels(attendee, QuestionKind.SECTOR),
        )
    return LeadView(
        id=lead.id,
        name=attendee.name,
        organisation=str(organisation.value) if organisation is not None else "",
        contact=contact,
        note=lead.note,
        rating=lead.rating,
        scanned_at=lead.scanned_at,
        scanned_by=scanned_by or "",
    )


def _leads_query(sponsor: Sponsor) -> sa.Select:
    """The sponsor's leads with their attendees (and what `answer_of` reads) and the scanning
    member's name: three queries however many leads. Rows are read again, so a consent withdrawn
    a moment ago counts even if this session loaded the attendee before."""
    return (
        sa.select(Lead, Attendee, User.name)
        .join(Attendee, Lead.attendee_id == Attendee.id)
        .outerjoin(User, Lead.scanned_by_id == User.id)
        .where(Lead.sponsor_id == sponsor.id)
        .options(
            selectinload(Attendee.answers),
            selectinload(Attendee.order).selectinload(Order.answers),
        )
        .execution_options(populate_existing=True)
    )


def leads_of(sponsor: Sponsor, *, language: str) -> list[LeadView]:
    """The sponsor's leads, the latest scan first, as the sponsor may see them now."""
    labels = _Labels(sponsor.event, language)
    rows = db.session.execute(_leads_query(sponsor).order_by(Lead.scanned_at.desc(), Lead.id.desc()))
    return [_view(lead, attendee, name, labels) for lead, attendee, name in rows]


def lead_view(sponsor: Sponsor, lead: Lead, *, language: str) -> LeadView:
    """One lead of the sponsor as the sponsor may see it now."""
    lead_, attendee, name = db.session.execute(_leads_query(sponsor).where(Lead.id == lead.id)).one()
    return _view(lead_, attendee, name, _Labels(sponsor.event, language))


def count_leads(sponsor: Sponsor) -> int:
    return db.session.scalar(sa.select(sa.func.count(Lead.id)).where(Lead.sponsor_id == sponsor.id))


def get_lead(sponsor: Sponsor, lead_id: int) -> Lead:
    """The sponsor's lead with this id. Raises NotFound for unknown ids and for other sponsors'
    leads alike: a sponsor may not learn whom another one scanned."""
    lead = db.session.get(Lead, lead_id)
    if lead is None or lead.sponsor_id != sponsor.id:
        raise NotFound(_l("No such lead."))
    return lead


# --- scanning a badge -------------------------------------------------------------------------


def _claim(event: Event, qr: str) -> TicketClaim:
    """The claim of a genuine ticket of this event, checked as the check-in checks it; a key
    rotated a moment ago sends it back to the database once. Raises InvalidTicket."""
    try:
        return read_ticket(qr, public_keys(event, cached=True), event_id=event.id)
    except InvalidTicket as bad:
        if bad.reason != "unknown_key":
            raise
    return read_ticket(qr, public_keys(event), event_id=event.id)


def _invalid(reason: str) -> ValidationError:
    message = REASONS.get(reason) or REASONS["malformed"]
    return ValidationError(message, code="invalid_ticket", fields={"qr": [message]}, reason=reason)


def badge_holder(event: Event, qr: str) -> Attendee:
    """The registered attendee whose current badge or ticket `qr` is. Raises ValidationError
    (code `invalid_ticket`, with the `reason` malformed, bad_signature, unknown_key, other_event
    or revoked) for a QR that is not a current ticket of this event, Conflict `cancelled` for a
    cancelled or refunded ticket and Conflict `unpaid` for an order that was never paid."""
    qr = (qr or "").strip()
    if not qr:
        message = _l("Scan a badge, or type or paste its code.")
        raise ValidationError(message, code="missing", fields={"qr": [message]})
    try:
        claim = _claim(event, qr)
    except InvalidTicket as bad:
        reason = bad.reason
        # Each event signs with its own keys: another event's ticket fails the signature here.
        if reason in ("bad_signature", "unknown_key") and claimed_event(qr) not in (None, event.id):
            reason = "other_event"
        raise _invalid(reason) from None
    attendee = db.session.scalar(
        sa.select(Attendee)
        .where(Attendee.id == claim.attendee_id, Attendee.event_id == event.id)
        .options(selectinload(Attendee.order))
    )
    if attendee is None:
        raise _invalid("revoked")  # signed by us, but the attendee is gone
    if attendee.cancelled_at is not None or attendee.order.status in CANCELLED_ORDERS:
        raise Conflict(
            _l("This ticket was cancelled or refunded: it is not a lead."),
            code="cancelled",
            reason="cancelled",
        )
    try:
        check_version(claim, attendee.ticket_version)
    except InvalidTicket:
        raise _invalid("revoked") from None
    if attendee.order.status != OrderStatus.PAID:
        raise Conflict(
            _l("This registration was never paid: it is not a lead."), code="unpaid", reason="unpaid"
        )
    return attendee


def scan_badge(event: Event, sponsor: Sponsor, qr: str, *, actor: User, now: datetime) -> tuple[Lead, bool]:
    """Records the holder of the badge `qr` as a lead of `sponsor`, and returns it with whether
    it is new. Scanning the same badge again (by any member of the company, or twice at the same
    moment) gives the same lead back. Raises what `badge_holder` raises. Only flushes."""
    attendee = badge_holder(event, qr)
    find = sa.select(Lead).where(Lead.sponsor_id == sponsor.id, Lead.attendee_id == attendee.id)
    lead = db.session.scalar(find)
    if lead is not None:
        return lead, False
    lead = Lead(sponsor_id=sponsor.id, attendee_id=attendee.id, scanned_by_id=actor.id, scanned_at=now)
    try:
        with db.session.begin_nested():  # another member scanned the same badge a moment ago
            db.session.add(lead)
    except IntegrityError:
        lead = db.session.scalar(find)
        if lead is None:
            raise
        return lead, False
    return lead, True


# --- the sponsor's note and rating ------------------------------------------------------------


def update_lead(lead: Lead, *, note: str | None, rating: int | None, actor: User, now: datetime) -> Lead:
    """Saves the sponsor's note (plain text, at most NOTE_MAX characters) and rating (1 to 5,
    or None for none). Raises ValidationError with the fields `note` and `rating`. Only flushes.
    Not in the event's audit log: the organiser has no business reading sponsors' notes."""
    errors = {}
    note = (note or "").replace("\r\n", "\n").strip()
    if len(note) > NOTE_MAX:
        errors["note"] = [_l("At most %(n)d characters, please.", n=NOTE_MAX)]
    if rating is not None and (
        isinstance(rating, bool) or not isinstance(rating, int) or rating not in RATINGS
    ):
        errors["rating"] = [_l("Choose a rating from 1 to 5, or none.")]
    if errors:
        raise ValidationError(fields=errors)
    lead.note = note
    lead.rating = rating
    db.session.flush()
    return lead


# --- the export -------------------------------------------------------------------------------


def leads_table(event: Event, sponsor: Sponsor, *, language: str) -> Table:
    """The sponsor's leads for `formats.to_csv` / `to_xlsx`, under the same consent rule as the
    page: contact columns are empty for attendees who do not consent now. Times are in the
    event's timezone."""
    tz = ZoneInfo(event.timezone)
    with force_locale(language):
        yes, no = str(_l("Yes")), str(_l("No"))
        header = [
            str(h)
            for h in (
                _l("Name"),
                _l("Organisation"),
                _l("Shares contact details"),
                _l("Email"),
                _l("Phone"),
                _l("Country"),
                _l("Sector"),
                _l("Rating"),
                _l("Note"),
                _l("Scanned at"),
                _l("Scanned by"),
            )
        ]
        title = str(_l("Leads"))
    rows = []
    for lead in leads_of(sponsor, language=language):
        contact = lead.contact or LeadContact("", "", "", "")
        rows.append(
            [
                lead.name,
                lead.organisation,
                yes if lead.consents else no,
                contact.email,
                contact.phone,
                contact.country,
                contact.sector,
                lead.rating,
                lead.note,
                lead.scanned_at.astimezone(tz).replace(tzinfo=None),
                lead.scanned_by,
            ]
        )
    return Table(title=title, header=header, rows=rows)
