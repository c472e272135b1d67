"""The event builder's rules: creating and configuring an event, its ticket types, quotas,
workshops, questions, vouchers, sponsors and email texts, and copying an event as a template.

The organiser's pages and the API both call these functions, so a rule holds whichever way a
change comes in. Every function takes the acting user and the clock (`actor`, `now`), checks
every value it is given (ValidationError with a message per field, named like the parameter),
refuses changes that would break tickets already sold (Conflict), records an audit entry,
flushes and never commits. Localised texts are {"nb": ..., "en": ...}; empty languages are
dropped and names need at least one."""

import copy
import re
import secrets
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache, partial
from zoneinfo import available_timezones

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

from eventreg.accounts.models import EventRole, EventRoleKind, User
from eventreg.accounts.services import create_user, grant_event_role
from eventreg.audit.services import record, snapshot
from eventreg.checkin.models import CheckinList
from eventreg.core.errors import Conflict, FieldErrors, NotFound
from eventreg.core.i18n import LANGUAGES
from eventreg.events.choices import valid_values
from eventreg.events.models import (
    Event,
    EventSession,
    EventStatus,
    Organiser,
    Question,
    QuestionKind,
    QuestionScope,
    Quota,
    RegistrationMode,
    Sponsor,
    TicketType,
    Visibility,
)
from eventreg.extensions import db
from eventreg.registration.capacity import holds_seats
from eventreg.registration.models import (
    Attendee,
    AttendeeSession,
    Order,
    OrderStatus,
    Voucher,
    VoucherKind,
    WaitingListEntry,
    WaitlistStatus,
)

EMAIL_TEXT_KINDS = ("confirmation", "invoice", "ticket")
VAT_RATES = (0, 12, 15, 25)
MAX_EMAIL_TEXT = 2000
MAX_VOUCHERS = 1000
CHOICE_KINDS = (QuestionKind.CHOICE, QuestionKind.MULTIPLE)

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
VOUCHER_CODE = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")
# Generated voucher codes: no 0/O or 1/I/L, so a code read aloud or typed from paper is right.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12  # 31^12 ≈ 2^59 codes: not guessable, even thousands of tries per second

# What the audit log keeps of each object (the columns an organiser sets).
EVENT_FIELDS = (
    "slug",
    "title",
    "description",
    "venue",
    "starts_at",
    "ends_at",
    "timezone",
    "status",
    "organiser_id",
    "total_capacity",
    "max_attendees_per_order",
    "registration_mode",
    "members_only",
    "waitlist_enabled",
    "waitlist_offer_hours",
    "cancellation_refund_percent",
    "self_service_until",
    "retention_days",
    "hold_minutes",
    "attendee_email_required",
)
TICKET_TYPE_FIELDS = (
    "name",
    "description",
    "price_ore",
    "vat_rate",
    "visibility",
    "sales_start",
    "sales_end",
    "position",
)
QUOTA_FIELDS = ("name", "size")
WORKSHOP_FIELDS = ("name", "slot", "starts_at", "room", "capacity")
QUESTION_FIELDS = (
    "label",
    "kind",
    "scope",
    "required",
    "choices",
    "position",
    "depends_on_id",
    "depends_on_value",
)
VOUCHER_FIELDS = ("code", "kind", "value", "ticket_type_id", "max_uses", "valid_until")
SPONSOR_FIELDS = ("name", "level")

# --- reading values -------------------------------------------------------------------------


def _text(value, key: str, errors: FieldErrors, *, max_len: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(key, _l("Must be text."))
        return ""
    text = value.strip()
    if required and not text:
        errors.add(key, _l("This field is required."))
    elif len(text) > max_len:
        errors.add(key, _l("At most %(n)d characters.", n=max_len))
    return text


def _texts(value, key: str, errors: FieldErrors, *, max_len: int, required: bool = False) -> dict:
    """A text in nb and en ({"nb": ..., "en": ...}); empty languages are left out. Errors are
    reported as "<key>.<lang>" for a bad language and "<key>" when none is given."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        errors.add(key, _l("Give the text in Norwegian and/or English."))
        return {}
    out = {}
    for lang, text in value.items():
        if lang not in LANGUAGES:
            errors.add(f"{key}.{lang}", _l("Only Norwegian (nb) and English (en) are supported."))
            continue
        if text is None:
            continue
        if not isinstance(text, str):
            errors.add(f"{key}.{lang}", _l("Must be text."))
            continue
        text = text.replace("\r\n", "\n").strip()
        if len(text) > max_len:
            errors.add(f"{key}.{lang}", _l("At most %(n)d characters.", n=max_len))
        elif text:
            out[lang] = text
    if required and not out and not any(k.startswith(f"{key}.") for k in errors.fields):
        errors.add(key, _l("Give it in Norwegian or English (or both)."))
    return {lang: out[lang] for lang in LANGUAGES if lang in out}


def _int(
    value, key: str, errors: FieldErrors, *, low: int | None = None, high: int | None = None
) -> int | None:
    """A whole number in [low, high]; None (with an error) when it is not one."""
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(key, _l("Must be a whole number."))
        return None
    if low is not None and value < low:
        if high is not None:
            errors.add(key, _l("Must be between %(low)d and %(high)d.", low=low, high=high))
        else:
            errors.add(key, _l("Must be at least %(n)d.", n=low))
        return None
    if high is not None and value > high:
        if low is not None:
            errors.add(key, _l("Must be between %(low)d and %(high)d.", low=low, high=high))
        else:
            errors.add(key, _l("Must be at most %(n)d.", n=high))
        return None
    return value


def _bool(value, key: str, errors: FieldErrors) -> bool:
    if not isinstance(value, bool):
        errors.add(key, _l("Must be true or false."))
        return False
    return value


def _time(value, key: str, errors: FieldErrors, *, required: bool = False) -> datetime | None:
    """A moment with its timezone; forms convert the event's local time before calling."""
    if value is None:
        if required:
            errors.add(key, _l("This field is required."))
        return None
    if not isinstance(value, datetime):
        errors.add(key, _l("Not a valid date and time."))
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        errors.add(key, _l("The time needs a timezone."))
        return None
    return value.astimezone(UTC)


def _choice(value, enum_type, key: str, errors: FieldErrors):
    """A member of `enum_type` (or its value as text)."""
    try:
        return enum_type(value)
    except (TypeError, ValueError):
        errors.add(key, _l("Not a valid choice."))
        return None


def _ids(value, key: str, errors: FieldErrors, allowed: dict, message) -> list:
    """The objects of `allowed` ({id: object}) with the ids given, in id order."""
    ids = set()
    for i in value or ():
        if isinstance(i, str) and i.strip().isdigit() and len(i.strip()) < 12:
            i = int(i)
        if isinstance(i, bool) or not isinstance(i, int) or i not in allowed:
            errors.add(key, message)
            return []
        ids.add(i)
    return [allowed[i] for i in sorted(ids)]


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _timezone(value, key: str, errors: FieldErrors) -> str:
    if not isinstance(value, str) or value not in _timezones():
        errors.add(key, _l("Not a known timezone; use a name like Europe/Oslo."))
        return ""
    return value


def _slug(value, key: str, errors: FieldErrors) -> str:
    slug = value.strip() if isinstance(value, str) else ""
    if not slug:
        errors.add(key, _l("This field is required."))
    elif len(slug) > 80 or not SLUG.fullmatch(slug):
        errors.add(
            key,
            _l(
                "Use at most 80 lowercase letters a–z, digits and single hyphens between them, "
                "e.g. forum-2027."
            ),
        )
    elif db.session.scalar(sa.select(Event.id).where(Event.slug == slug)) is not None:
        errors.add(key, _l("Another event already has this address."))
    return slug


# --- what is sold ---------------------------------------------------------------------------


def seats_taken(event: Event, *, now: datetime, ticket_type_ids: Iterable[int] | None = None) -> int:
    """Seats of the event (or of these ticket types) that paid orders, live holds and live
    waiting-list offers occupy at `now`: what a capacity may not go below."""
    sold = (
        sa.select(sa.func.count())
        .select_from(Attendee)
        .join(Order, Attendee.order_id == Order.id)
        .where(Attendee.event_id == event.id, holds_seats(now))
    )
    offered = sa.select(sa.func.coalesce(sa.func.sum(WaitingListEntry.seats), 0)).where(
        WaitingListEntry.event_id == event.id,
        WaitingListEntry.status == WaitlistStatus.OFFERED,
        WaitingListEntry.offer_expires_at > now,
    )
    if ticket_type_ids is not None:
        ids = list(ticket_type_ids)
        sold = sold.where(Attendee.ticket_type_id.in_(ids))
        offered = offered.where(WaitingListEntry.ticket_type_id.in_(ids))
    return int(db.session.scalar(sold) or 0) + int(db.session.scalar(offered) or 0)


def _has_sold(ticket_type: TicketType) -> bool:
    """Whether anybody holds a ticket of this type (paid, or pending payment)."""
    return bool(
        db.session.scalar(
            sa.select(
                sa.exists()
                .where(Attendee.ticket_type_id == ticket_type.id)
                .where(Attendee.order_id == Order.id)
                .where(Order.status.in_((OrderStatus.PAID, OrderStatus.PENDING)))
            )
        )
    )


def _workshop_choices(workshop: EventSession, *, now: datetime | None = None) -> int:
    """Attendees who chose the workshop; with `now`, only those whose tickets hold a seat."""
    query = (
        sa.select(sa.func.count())
        .select_from(AttendeeSession)
        .join(Attendee, AttendeeSession.attendee_id == Attendee.id)
        .join(Order, Attendee.order_id == Order.id)
        .where(AttendeeSession.session_id == workshop.id)
    )
    if now is not None:
        query = query.where(holds_seats(now))
    return int(db.session.scalar(query) or 0)


def _neighbour(items: list, item, up: bool):
    """The item that `item` swaps places with when it moves one place (None at either end).
    Positions are made 0, 1, 2, ... first, so that equal positions left by older data move too."""
    ordered = sorted(items, key=lambda x: (x.position, x.id))
    for i, x in enumerate(ordered):
        x.position = i
    other = ordered.index(item) + (-1 if up else 1)
    return ordered[other] if 0 <= other < len(ordered) else None


def _record_change(
    action: str, obj, *, actor: User, event_id: int, before: dict | None, after: dict, now: datetime
) -> None:
    """An audit entry for a creation, or for an update unless nothing changed."""
    if before != after:
        record(action, obj, actor=actor, event_id=event_id, before=before, after=after, now=now)


@contextmanager
def _saving(
    kind: str, obj, new: Callable, snapshot_of: Callable, *, actor: User, event_id: int, now: datetime
):
    """Yields `obj`, or a `new()` one added to the session, for the caller to fill in; then
    flushes and records `<kind>.create` or `<kind>.update` (an update only if something changed)."""
    before = snapshot_of(obj) if obj is not None else None
    if obj is None:
        obj = new()
        db.session.add(obj)
    yield obj
    db.session.flush()
    action = f"{kind}.create" if before is None else f"{kind}.update"
    _record_change(
        action, obj, actor=actor, event_id=event_id, before=before, after=snapshot_of(obj), now=now
    )


# --- events ---------------------------------------------------------------------------------


def can_create_events(user: User | None) -> bool:
    """Admins, and anybody who organises an event, may create new ones."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return user.is_admin or any(r.role == EventRoleKind.ORGANISER for r in user.roles)


def create_event(
    *,
    actor: User,
    now: datetime,
    slug: str,
    title: dict,
    starts_at: datetime,
    ends_at: datetime,
    timezone: str = "Europe/Oslo",
    venue: str = "",
    description: dict | None = None,
    organiser_id: int | None = None,
) -> Event:
    """A new draft event, organised by `actor`. Raises ValidationError for a slug that is
    malformed or taken, a missing title, an end before the start, an unknown timezone or
    organiser (or none at all)."""
    errors = FieldErrors()
    slug = _slug(slug, "slug", errors)
    title = _texts(title, "title", errors, max_len=200, required=True)
    description = _texts(description, "description", errors, max_len=10_000)
    venue = _text(venue, "venue", errors, max_len=300)
    starts_at = _time(starts_at, "starts_at", errors, required=True)
    ends_at = _time(ends_at, "ends_at", errors, required=True)
    if starts_at and ends_at and ends_at <= starts_at:
        errors.add("ends_at", _l("The event must end after it starts."))
    timezone = _timezone(timezone, "timezone", errors)
    organiser = _organiser(organiser_id, errors)
    errors.raise_if_any()

    event = Event(
        slug=slug,
        title=title,
        description=description,
        venue=venue,
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=timezone,
        status=EventStatus.DRAFT,
        organiser_id=organiser.id,
        email_texts={},
    )
    db.session.add(event)
    db.session.flush()
    grant_event_role(actor, event.id, EventRoleKind.ORGANISER)
    record(
        "event.create", event, actor=actor, event_id=event.id, after=snapshot(event, EVENT_FIELDS), now=now
    )
    db.session.flush()
    return event


def _organiser(organiser_id, errors: FieldErrors) -> Organiser | None:
    """The seller: the one asked for, else the first one."""
    if organiser_id is not None:
        organiser = db.session.get(Organiser, organiser_id) if isinstance(organiser_id, int) else None
        if organiser is None:
            errors.add("organiser_id", _l("No such organiser."))
        return organiser
    organiser = db.session.scalar(sa.select(Organiser).order_by(Organiser.id).limit(1))
    if organiser is None:
        errors.add(
            "organiser_id",
            _l("No organiser (the seller on invoices) is set up yet; an administrator must add one first."),
        )
    return organiser


# How update_event reads each setting it may change.
def _event_setting(key: str, value, errors: FieldErrors):
    match key:
        case "title":
            return _texts(value, key, errors, max_len=200, required=True)
        case "description":
            return _texts(value, key, errors, max_len=10_000)
        case "venue":
            return _text(value, key, errors, max_len=300)
        case "starts_at" | "ends_at":
            return _time(value, key, errors, required=True)
        case "timezone":
            return _timezone(value, key, errors)
        case "total_capacity":
            return None if value is None else _int(value, key, errors, low=0, high=1_000_000)
        case "max_attendees_per_order":
            return _int(value, key, errors, low=1, high=500)
        case "registration_mode":
            return _choice(value, RegistrationMode, key, errors)
        case "members_only" | "waitlist_enabled" | "attendee_email_required":
            return _bool(value, key, errors)
        case "waitlist_offer_hours":
            return _int(value, key, errors, low=1, high=720)
        case "cancellation_refund_percent":
            return _int(value, key, errors, low=0, high=100)
        case "self_service_until":
            return _time(value, key, errors)
        case "retention_days":
            return _int(value, key, errors, low=0, high=36_500)
        case "hold_minutes":
            return _int(value, key, errors, low=5, high=1440)
    errors.add(key, _l("Unknown field."))
    return None


UPDATABLE_EVENT_FIELDS = (
    "title",
    "description",
    "venue",
    "starts_at",
    "ends_at",
    "timezone",
    "total_capacity",
    "max_attendees_per_order",
    "registration_mode",
    "members_only",
    "waitlist_enabled",
    "waitlist_offer_hours",
    "cancellation_refund_percent",
    "self_service_until",
    "retention_days",
    "hold_minutes",
    "attendee_email_required",
)


def update_event(event: Event, *, actor: User, now: datetime, **changes) -> Event:
    """Changes the event's details and settings (the keys of UPDATABLE_EVENT_FIELDS; status has
    set_status). Raises ValidationError for unknown keys and bad values, Conflict when the total
    capacity would go below the seats already taken."""
    errors = FieldErrors()
    values = {}
    for key, value in changes.items():
        if key not in UPDATABLE_EVENT_FIELDS:
            errors.add(key, _l("Unknown field."))
            continue
        values[key] = _event_setting(key, value, errors)
    starts_at = values.get("starts_at", event.starts_at)
    ends_at = values.get("ends_at", event.ends_at)
    if "starts_at" not in errors and "ends_at" not in errors and ends_at <= starts_at:
        errors.add("ends_at", _l("The event must end after it starts."))
    errors.raise_if_any()

    capacity = values.get("total_capacity")
    if capacity is not None and capacity != event.total_capacity:
        taken = seats_taken(event, now=now)
        if capacity < taken:
            message = _l("%(n)d seats are already sold or reserved; the capacity cannot be lower.", n=taken)
            raise Conflict(message, code="below_sold", fields={"total_capacity": [message]})

    before = snapshot(event, EVENT_FIELDS)
    for key, value in values.items():
        setattr(event, key, value)
    db.session.flush()
    _record_change(
        "event.update",
        event,
        actor=actor,
        event_id=event.id,
        before=before,
        after=snapshot(event, EVENT_FIELDS),
        now=now,
    )
    return event


# The status changes an organiser may make; →draft only while nobody has ordered.
TRANSITIONS = {
    (EventStatus.DRAFT, EventStatus.PUBLISHED),
    (EventStatus.PUBLISHED, EventStatus.CLOSED),
    (EventStatus.CLOSED, EventStatus.PUBLISHED),
    (EventStatus.PUBLISHED, EventStatus.DRAFT),
    (EventStatus.CLOSED, EventStatus.DRAFT),
}


def set_status(event: Event, status: EventStatus, *, actor: User, now: datetime) -> Event:
    """Publishes, closes, reopens or takes the event back to draft. Setting the status it has is
    a no-op. Raises ValidationError for an unknown status, Conflict for a change that is not
    allowed: publishing without a ticket type, draft → closed, and back to draft once somebody
    has ordered."""
    errors = FieldErrors()
    status = _choice(status, EventStatus, "status", errors)
    errors.raise_if_any()
    if status == event.status:
        return event
    if (event.status, status) not in TRANSITIONS:
        raise Conflict(
            _l("A draft must be published before it can be closed."),
            code="bad_transition",
            fields={"status": [_l("A draft must be published before it can be closed.")]},
        )
    if status == EventStatus.PUBLISHED and not event.ticket_types:
        message = _l("Add at least one ticket type before publishing the event.")
        raise Conflict(message, code="no_ticket_types", fields={"status": [message]})
    if status == EventStatus.DRAFT and db.session.scalar(
        sa.select(sa.exists().where(Order.event_id == event.id))
    ):
        message = _l("People have ordered tickets, so the event cannot go back to draft; close it instead.")
        raise Conflict(message, code="has_orders", fields={"status": [message]})
    before = snapshot(event, ("status",))
    event.status = status
    db.session.flush()
    _record_change(
        "event.status",
        event,
        actor=actor,
        event_id=event.id,
        before=before,
        after=snapshot(event, ("status",)),
        now=now,
    )
    return event


# --- ticket types and quotas ----------------------------------------------------------------


def _ticket_type_snapshot(ticket_type: TicketType) -> dict:
    return {
        **snapshot(ticket_type, TICKET_TYPE_FIELDS),
        "quota_ids": sorted(q.id for q in ticket_type.quotas),
    }


def save_ticket_type(
    event: Event,
    *,
    actor: User,
    now: datetime,
    ticket_type: TicketType | None = None,
    name: dict,
    price_ore: int,
    vat_rate: int,
    visibility: Visibility = Visibility.PUBLIC,
    sales_start: datetime | None = None,
    sales_end: datetime | None = None,
    quota_ids: Iterable[int] = (),
    description: dict | None = None,
) -> TicketType:
    """Creates a ticket type (or changes `ticket_type`). Raises ValidationError for a missing
    name, a negative price, a VAT rate other than 0, 12, 15 or 25 %, a sales window that ends
    before it starts and quotas of other events; Conflict when the price of a ticket type that
    has been sold would change, or when a quota added to it is already smaller than its sales."""
    errors = FieldErrors()
    name = _texts(name, "name", errors, max_len=200, required=True)
    description = _texts(description, "description", errors, max_len=2000)
    price_ore = _int(price_ore, "price_ore", errors, low=0, high=100_000_000)
    if isinstance(vat_rate, str) and vat_rate.strip().isdigit():
        vat_rate = int(vat_rate)
    if isinstance(vat_rate, bool) or vat_rate not in VAT_RATES:
        errors.add("vat_rate", _l("VAT must be 0, 12, 15 or 25 %."))
    visibility = _choice(visibility, Visibility, "visibility", errors)
    sales_start = _time(sales_start, "sales_start", errors)
    sales_end = _time(sales_end, "sales_end", errors)
    if sales_start and sales_end and sales_end <= sales_start:
        errors.add("sales_end", _l("Sales must end after they start."))
    quotas = _ids(
        quota_ids, "quota_ids", errors, {q.id: q for q in event.quotas}, _l("Choose quotas of this event.")
    )
    errors.raise_if_any()

    if ticket_type is not None and price_ore != ticket_type.price_ore and _has_sold(ticket_type):
        message = _l(
            "Tickets of this type have been sold, so its price cannot change; make a new ticket type "
            "with the new price instead."
        )
        raise Conflict(message, code="price_locked", fields={"price_ore": [message]})
    if ticket_type is not None:
        added = [q for q in quotas if q not in ticket_type.quotas]
        mine = seats_taken(event, now=now, ticket_type_ids=[ticket_type.id]) if added else 0
        for quota in added:
            taken = seats_taken(event, now=now, ticket_type_ids=[t.id for t in quota.ticket_types]) + mine
            if taken > quota.size:
                message = _l(
                    "The quota %(quota)s has %(size)d seats, fewer than would be taken with this "
                    "ticket type.",
                    quota=quota.name,
                    size=quota.size,
                )
                raise Conflict(message, code="below_sold", fields={"quota_ids": [message]})

    last = max((t.position for t in event.ticket_types), default=-1)
    new = partial(TicketType, event=event, position=last + 1)
    audit = {"actor": actor, "event_id": event.id, "now": now}
    with _saving("ticket_type", ticket_type, new, _ticket_type_snapshot, **audit) as ticket_type:
        ticket_type.name = name
        ticket_type.description = description
        ticket_type.price_ore = price_ore
        ticket_type.vat_rate = vat_rate
        ticket_type.visibility = visibility
        ticket_type.sales_start, ticket_type.sales_end = sales_start, sales_end
        ticket_type.quotas = quotas
    return ticket_type


def delete_ticket_type(ticket_type: TicketType, *, actor: User, now: datetime) -> None:
    """Removes a ticket type nobody has ever had (its vouchers and waiting list go with it).
    Raises Conflict when any attendee, whatever became of their order, has or had it, or when
    one of its vouchers was used."""
    used = db.session.scalar(sa.select(sa.exists().where(Attendee.ticket_type_id == ticket_type.id)))
    voucher_used = db.session.scalar(
        sa.select(
            sa.exists()
            .where(Voucher.ticket_type_id == ticket_type.id)
            .where(sa.or_(Order.voucher_id == Voucher.id, Attendee.voucher_id == Voucher.id))
        )
    )
    if used or voucher_used:
        raise Conflict(
            _l(
                "Tickets of this type have been ordered, so it cannot be deleted; hide it or end its "
                "sales instead."
            ),
            code="in_use",
        )
    event = ticket_type.event
    before = _ticket_type_snapshot(ticket_type)
    record("ticket_type.delete", ticket_type, actor=actor, event_id=event.id, before=before, now=now)
    event.ticket_types.remove(ticket_type)
    db.session.delete(ticket_type)
    db.session.flush()


def move_ticket_type(ticket_type: TicketType, *, actor: User, now: datetime, up: bool) -> None:
    """Moves the ticket type one place up or down in the event's list (at either end: nothing)."""
    event = ticket_type.event
    other = _neighbour(event.ticket_types, ticket_type, up)
    if other is not None:
        before = ticket_type.position
        ticket_type.position, other.position = other.position, ticket_type.position
        record(
            "ticket_type.move",
            ticket_type,
            actor=actor,
            event_id=event.id,
            before={"position": before},
            after={"position": ticket_type.position},
            now=now,
        )
    db.session.flush()
    db.session.expire(event, ["ticket_types"])  # read again in the new order


def _quota_snapshot(quota: Quota) -> dict:
    return {**snapshot(quota, QUOTA_FIELDS), "ticket_type_ids": sorted(t.id for t in quota.ticket_types)}


def save_quota(
    event: Event,
    *,
    actor: User,
    now: datetime,
    quota: Quota | None = None,
    name: str,
    size: int,
    ticket_type_ids: Iterable[int] = (),
) -> Quota:
    """Creates a quota (or changes `quota`): `size` seats shared by the ticket types given.
    Raises ValidationError for a missing name, a negative size or ticket types of other events;
    Conflict when the size would be below the seats its ticket types already took."""
    errors = FieldErrors()
    name = _text(name, "name", errors, max_len=200, required=True)
    size = _int(size, "size", errors, low=0, high=1_000_000)
    types = _ids(
        ticket_type_ids,
        "ticket_type_ids",
        errors,
        {t.id: t for t in event.ticket_types},
        _l("Choose ticket types of this event."),
    )
    errors.raise_if_any()
    taken = seats_taken(event, now=now, ticket_type_ids=[t.id for t in types]) if types else 0
    if size < taken:
        message = _l("%(n)d seats are already sold or reserved; the quota cannot be smaller.", n=taken)
        raise Conflict(message, code="below_sold", fields={"size": [message]})

    audit = {"actor": actor, "event_id": event.id, "now": now}
    with _saving("quota", quota, partial(Quota, event=event), _quota_snapshot, **audit) as quota:
        quota.name, quota.size, quota.ticket_types = name, size, types
    return quota


def delete_quota(quota: Quota, *, actor: User, now: datetime) -> None:
    """Removes a quota; its ticket types keep selling within their other limits."""
    event = quota.event
    record("quota.delete", quota, actor=actor, event_id=event.id, before=_quota_snapshot(quota), now=now)
    event.quotas.remove(quota)
    db.session.delete(quota)
    db.session.flush()


# --- workshops ------------------------------------------------------------------------------


def save_workshop(
    event: Event,
    *,
    actor: User,
    now: datetime,
    workshop: EventSession | None = None,
    name: dict,
    slot: str,
    starts_at: datetime | None = None,
    room: str = "",
    capacity: int | None = None,
) -> EventSession:
    """Creates a workshop (or changes `workshop`). Workshops in the same `slot` run at the same
    time; attendees choose one per slot. Raises ValidationError for a missing name or slot or a
    negative capacity; Conflict when the capacity would be below the attendees who chose it, or
    when the slot of a workshop somebody chose would change."""
    errors = FieldErrors()
    name = _texts(name, "name", errors, max_len=200, required=True)
    slot = _text(slot, "slot", errors, max_len=100, required=True)
    starts_at = _time(starts_at, "starts_at", errors)
    room = _text(room, "room", errors, max_len=200)
    capacity = None if capacity is None else _int(capacity, "capacity", errors, low=0, high=1_000_000)
    errors.raise_if_any()

    if workshop is not None:
        if capacity is not None and capacity != workshop.capacity:
            chosen = _workshop_choices(workshop, now=now)
            if capacity < chosen:
                message = _l(
                    "%(n)d attendees have chosen this workshop; the capacity cannot be lower.", n=chosen
                )
                raise Conflict(message, code="below_sold", fields={"capacity": [message]})
        if slot != workshop.slot and _workshop_choices(workshop):
            message = _l("Attendees have chosen this workshop, so its time slot cannot change.")
            raise Conflict(message, code="in_use", fields={"slot": [message]})

    audit = {"actor": actor, "event_id": event.id, "now": now}
    fields = partial(snapshot, fields=WORKSHOP_FIELDS)
    with _saving("workshop", workshop, partial(EventSession, event=event), fields, **audit) as workshop:
        workshop.name, workshop.slot, workshop.starts_at = name, slot, starts_at
        workshop.room, workshop.capacity = room, capacity
    return workshop


def delete_workshop(workshop: EventSession, *, actor: User, now: datetime) -> None:
    """Removes a workshop nobody chose (its check-in list goes with it). Raises Conflict when
    anybody chose it."""
    if db.session.scalar(sa.select(sa.exists().where(AttendeeSession.session_id == workshop.id))):
        raise Conflict(_l("Attendees have chosen this workshop, so it cannot be deleted."), code="in_use")
    event = workshop.event
    record(
        "workshop.delete",
        workshop,
        actor=actor,
        event_id=event.id,
        before=snapshot(workshop, WORKSHOP_FIELDS),
        now=now,
    )
    event.sessions.remove(workshop)
    db.session.delete(workshop)
    db.session.flush()


# --- questions ------------------------------------------------------------------------------


def _question_snapshot(question: Question) -> dict:
    return {
        **snapshot(question, QUESTION_FIELDS),
        "ticket_type_ids": sorted(t.id for t in question.ticket_types),
    }


def _choices(value, kind: QuestionKind | None, errors: FieldErrors) -> list[dict]:
    """The options of a choice question: [{"value", "nb", "en"}], at least two, values unique."""
    if kind not in CHOICE_KINDS:
        return []
    if not isinstance(value, list | tuple) or len(value) < 2:
        errors.add("choices", _l("Give at least two options."))
        return []
    out, seen = [], set()
    for i, choice in enumerate(value):
        key = f"choices.{i}"
        if not isinstance(choice, dict):
            errors.add(key, _l("Each option needs a value and a text."))
            continue
        v = _text(choice.get("value"), f"{key}.value", errors, max_len=100, required=True)
        labels = _texts(
            {lang: choice.get(lang) for lang in LANGUAGES}, key, errors, max_len=200, required=True
        )
        unknown = set(choice) - {"value", *LANGUAGES}
        if unknown:
            errors.add(key, _l("Each option has only a value and its texts in nb and en."))
        if v in seen:
            errors.add(f"{key}.value", _l("Each option needs its own value."))
        seen.add(v)
        out.append({"value": v, **labels})
    return out


def save_question(
    event: Event,
    *,
    actor: User,
    now: datetime,
    question: Question | None = None,
    label: dict,
    kind: QuestionKind,
    scope: QuestionScope = QuestionScope.ATTENDEE,
    required: bool = False,
    choices: Iterable[dict] = (),
    ticket_type_ids: Iterable[int] = (),
    depends_on_id: int | None = None,
    depends_on_value: str | None = None,
) -> Question:
    """Creates a question (or changes `question`), asked of each attendee or once per order,
    for every ticket type or the ones given. Choice and multiple-choice questions need at least
    two options with distinct values. A question can be shown only when an earlier question of
    the event was answered `depends_on_value` (for yes/no questions "yes" or "no"). Raises
    ValidationError for any of these that does not hold."""
    errors = FieldErrors()
    label = _texts(label, "label", errors, max_len=500, required=True)
    kind = _choice(kind, QuestionKind, "kind", errors)
    scope = _choice(scope, QuestionScope, "scope", errors)
    required = _bool(required, "required", errors)
    if choices is not None and not isinstance(choices, str | dict | list | tuple):
        choices = list(choices)  # any iterable of options
    choices = _choices(choices, kind, errors)
    types = _ids(
        ticket_type_ids,
        "ticket_type_ids",
        errors,
        {t.id: t for t in event.ticket_types},
        _l("Choose ticket types of this event."),
    )
    depends_on = None
    if depends_on_id is not None:
        earlier = {
            q.id: q
            for q in event.questions
            if question is None or (q.position, q.id) < (question.position, question.id)
        }
        depends_on = earlier.get(depends_on_id) if isinstance(depends_on_id, int) else None
        if depends_on is None:
            errors.add("depends_on_id", _l("Choose an earlier question of this event."))
        value = _text(depends_on_value, "depends_on_value", errors, max_len=200, required=True)
        if depends_on is not None and value and "depends_on_value" not in errors:
            allowed = valid_values(depends_on)
            if depends_on.kind == QuestionKind.YESNO:
                allowed = frozenset({"yes", "no"})
            if allowed and value not in allowed:
                errors.add("depends_on_value", _l("Choose one of the answers that question offers."))
        depends_on_value = value
    elif depends_on_value not in (None, ""):
        errors.add("depends_on_id", _l("Choose the question this one depends on."))
    errors.raise_if_any()

    last = max((q.position for q in event.questions), default=-1)
    new = partial(Question, event=event, position=last + 1)
    audit = {"actor": actor, "event_id": event.id, "now": now}
    with _saving("question", question, new, _question_snapshot, **audit) as question:
        question.label, question.kind, question.scope, question.required = label, kind, scope, required
        question.choices = choices
        question.ticket_types = types
        question.depends_on = depends_on
        question.depends_on_value = depends_on_value if depends_on is not None else None
    return question


def delete_question(question: Question, *, actor: User, now: datetime) -> None:
    """Removes a question. Answers given keep their copy of its label; questions that were shown
    only after a given answer to it are shown always from now on."""
    event = question.event
    record(
        "question.delete",
        question,
        actor=actor,
        event_id=event.id,
        before=_question_snapshot(question),
        now=now,
    )
    for q in event.questions:
        if q.depends_on_id == question.id:
            q.depends_on, q.depends_on_value = None, None
    event.questions.remove(question)
    db.session.delete(question)
    db.session.flush()


def move_question(question: Question, *, actor: User, now: datetime, up: bool) -> None:
    """Moves the question one place up or down (at either end: nothing). Raises Conflict when it
    would come before the question it depends on, or after one that depends on it."""
    event = question.event
    other = _neighbour(event.questions, question, up)
    if other is None:
        db.session.flush()
        return
    first, second = (other, question) if up else (question, other)
    if second.depends_on_id == first.id:
        raise Conflict(_l("A question must come after the question it depends on."), code="depends_on")
    before = question.position
    question.position, other.position = other.position, question.position
    record(
        "question.move",
        question,
        actor=actor,
        event_id=event.id,
        before={"position": before},
        after={"position": question.position},
        now=now,
    )
    db.session.flush()
    db.session.expire(event, ["questions"])


# --- vouchers -------------------------------------------------------------------------------


def _voucher_terms(
    event: Event, errors: FieldErrors, *, kind, value, ticket_type_id, max_uses, valid_until
) -> tuple:
    kind = _choice(kind, VoucherKind, "kind", errors)
    if kind == VoucherKind.PERCENT:
        value = _int(value, "value", errors, low=1, high=100)
    elif kind == VoucherKind.FIXED:
        value = _int(value, "value", errors, low=1, high=100_000_000)
    elif kind == VoucherKind.UNLOCK:
        value = 0  # unlocks a ticket type; no discount
    if ticket_type_id is not None and ticket_type_id not in {t.id for t in event.ticket_types}:
        errors.add("ticket_type_id", _l("Choose a ticket type of this event."))
    max_uses = _int(max_uses, "max_uses", errors, low=1, high=100_000)
    valid_until = _time(valid_until, "valid_until", errors)
    return kind, value, ticket_type_id, max_uses, valid_until


def voucher_uses(event: Event, *, now: datetime) -> dict[int, int]:
    """Tickets bought with each voucher that still hold their seats (what max_uses counts)."""
    rows = db.session.execute(
        sa.select(Attendee.voucher_id, sa.func.count())
        .join(Order, Order.id == Attendee.order_id)
        .where(Attendee.event_id == event.id, Attendee.voucher_id.is_not(None), holds_seats(now))
        .group_by(Attendee.voucher_id)
    )
    return dict(rows.all())


def _code_taken(event: Event, code: str) -> bool:
    return (
        db.session.scalar(sa.select(Voucher.id).where(Voucher.event_id == event.id, Voucher.code == code))
        is not None
    )


def create_voucher(
    event: Event,
    *,
    actor: User,
    now: datetime,
    code: str,
    kind: VoucherKind,
    value: int = 0,
    ticket_type_id: int | None = None,
    max_uses: int = 1,
    valid_until: datetime | None = None,
) -> Voucher:
    """A voucher with the code given (stored in capitals): `value` percent (1-100) or øre (> 0)
    off each ticket, or unlocking a voucher-only ticket type, for `max_uses` tickets until
    `valid_until`. Raises ValidationError for a malformed or taken code and bad terms."""
    errors = FieldErrors()
    code = code.strip().upper() if isinstance(code, str) else ""
    if not code:
        errors.add("code", _l("This field is required."))
    elif len(code) > 64 or not VOUCHER_CODE.fullmatch(code):
        errors.add("code", _l("Use at most 64 letters A–Z, digits and single hyphens between them."))
    elif _code_taken(event, code):
        errors.add("code", _l("This event already has a voucher with this code."))
    terms = _voucher_terms(
        event,
        errors,
        kind=kind,
        value=value,
        ticket_type_id=ticket_type_id,
        max_uses=max_uses,
        valid_until=valid_until,
    )
    errors.raise_if_any()
    kind, value, ticket_type_id, max_uses, valid_until = terms
    voucher = Voucher(
        event_id=event.id,
        code=code,
        kind=kind,
        value=value,
        ticket_type_id=ticket_type_id,
        max_uses=max_uses,
        valid_until=valid_until,
    )
    db.session.add(voucher)
    db.session.flush()
    record(
        "voucher.create",
        voucher,
        actor=actor,
        event_id=event.id,
        after=snapshot(voucher, VOUCHER_FIELDS),
        now=now,
    )
    return voucher


def generate_vouchers(
    event: Event,
    *,
    actor: User,
    now: datetime,
    count: int,
    prefix: str = "",
    kind: VoucherKind,
    value: int = 0,
    ticket_type_id: int | None = None,
    max_uses: int = 1,
    valid_until: datetime | None = None,
) -> list[Voucher]:
    """`count` (1-1000) vouchers with the same terms and unguessable codes ("<PREFIX>-" and 12
    random letters and digits), recorded in the audit log as one entry. Raises ValidationError
    for a bad count, prefix or terms."""
    errors = FieldErrors()
    count = _int(count, "count", errors, low=1, high=MAX_VOUCHERS)
    prefix = prefix.strip().upper().rstrip("-") if isinstance(prefix, str) else None
    if prefix is None or len(prefix) > 20 or (prefix and not VOUCHER_CODE.fullmatch(prefix)):
        errors.add("prefix", _l("Use at most 20 letters A–Z, digits and hyphens."))
    terms = _voucher_terms(
        event,
        errors,
        kind=kind,
        value=value,
        ticket_type_id=ticket_type_id,
        max_uses=max_uses,
        valid_until=valid_until,
    )
    errors.raise_if_any()
    kind, value, ticket_type_id, max_uses, valid_until = terms

    start = f"{prefix}-" if prefix else ""
    existing = set(db.session.scalars(sa.select(Voucher.code).where(Voucher.event_id == event.id)))
    codes: list[str] = []
    while len(codes) < count:
        code = start + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if code not in existing:  # a repeat is astronomically unlikely, but never a clash
            existing.add(code)
            codes.append(code)
    vouchers = [
        Voucher(
            event_id=event.id,
            code=code,
            kind=kind,
            value=value,
            ticket_type_id=ticket_type_id,
            max_uses=max_uses,
            valid_until=valid_until,
        )
        for code in codes
    ]
    db.session.add_all(vouchers)
    db.session.flush()
    terms = {k: v for k, v in snapshot(vouchers[0], VOUCHER_FIELDS).items() if k != "code"}
    record(
        "voucher.generate",
        None,
        actor=actor,
        event_id=event.id,
        after={"count": count, "prefix": prefix, **terms},
        now=now,
    )
    return vouchers


def delete_voucher(voucher: Voucher, *, actor: User, now: datetime) -> None:
    """Removes a voucher nobody used. Raises Conflict when an order or ticket used it."""
    used = db.session.scalar(
        sa.select(
            sa.or_(
                sa.exists().where(Order.voucher_id == voucher.id),
                sa.exists().where(Attendee.voucher_id == voucher.id),
            )
        )
    )
    if used:
        raise Conflict(_l("This voucher has been used, so it cannot be deleted."), code="in_use")
    record(
        "voucher.delete",
        voucher,
        actor=actor,
        event_id=voucher.event_id,
        before=snapshot(voucher, VOUCHER_FIELDS),
        now=now,
    )
    db.session.delete(voucher)
    db.session.flush()


# --- sponsors -------------------------------------------------------------------------------


def save_sponsor(
    event: Event, *, actor: User, now: datetime, sponsor: Sponsor | None = None, name: str, level: str = ""
) -> Sponsor:
    """Creates a sponsor (or changes `sponsor`). Raises ValidationError for a missing name."""
    errors = FieldErrors()
    name = _text(name, "name", errors, max_len=200, required=True)
    level = _text(level, "level", errors, max_len=50)
    errors.raise_if_any()
    audit = {"actor": actor, "event_id": event.id, "now": now}
    fields = partial(snapshot, fields=SPONSOR_FIELDS)
    with _saving("sponsor", sponsor, partial(Sponsor, event=event), fields, **audit) as sponsor:
        sponsor.name, sponsor.level = name, level
    return sponsor


def delete_sponsor(sponsor: Sponsor, *, actor: User, now: datetime) -> None:
    """Removes a sponsor with its leads; its members lose their access to the event."""
    event = sponsor.event
    record(
        "sponsor.delete",
        sponsor,
        actor=actor,
        event_id=event.id,
        before=snapshot(sponsor, SPONSOR_FIELDS),
        now=now,
    )
    db.session.execute(sa.delete(EventRole).where(EventRole.sponsor_id == sponsor.id))
    event.sponsors.remove(sponsor)
    db.session.delete(sponsor)
    db.session.flush()


def sponsor_members(sponsor: Sponsor) -> list[User]:
    """The users who act for the sponsor, by email."""
    return list(
        db.session.scalars(
            sa.select(User)
            .join(EventRole, EventRole.user_id == User.id)
            .where(EventRole.sponsor_id == sponsor.id, EventRole.role == EventRoleKind.SPONSOR)
            .order_by(User.email)
        )
    )


def add_sponsor_member(
    sponsor: Sponsor, *, actor: User, now: datetime, email: str, name: str = ""
) -> tuple[User, str | None]:
    """Lets the person with this email act for the sponsor: an existing account (found whatever
    the case of the address), else a new one whose generated password is returned, once (None
    for an existing account). A member of another sponsor of the same event moves to this one.
    Raises ValidationError for a bad email or name."""
    errors = FieldErrors()
    address = None
    if not isinstance(email, str) or not email.strip():
        errors.add("email", _l("This field is required."))
    else:
        try:
            address = validate_email(email.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            errors.add("email", _l("Not a valid email address."))
        if address is not None and len(address) > 254:
            errors.add("email", _l("Not a valid email address."))
    name = _text(name, "name", errors, max_len=200)
    errors.raise_if_any()

    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == address))
    password = None
    if user is None:
        password = secrets.token_urlsafe(12)
        user = create_user(address, name or address.split("@")[0], password)
    role = db.session.scalar(
        sa.select(EventRole).where(
            EventRole.user_id == user.id,
            EventRole.event_id == sponsor.event_id,
            EventRole.role == EventRoleKind.SPONSOR,
        )
    )
    before = {"sponsor_id": role.sponsor_id} if role is not None else None
    if role is None:
        role = EventRole(user=user, event_id=sponsor.event_id, role=EventRoleKind.SPONSOR)
        db.session.add(role)
    role.sponsor_id = sponsor.id
    db.session.flush()
    record(
        "sponsor.member_add",
        sponsor,
        actor=actor,
        event_id=sponsor.event_id,
        before=before,
        after={
            "user_id": user.id,
            "email": user.email,
            "sponsor_id": sponsor.id,
            "new_account": password is not None,
        },
        now=now,
    )
    return user, password


def remove_sponsor_member(sponsor: Sponsor, user: User, *, actor: User, now: datetime) -> None:
    """Takes away the user's access as a member of the sponsor (the account stays). Raises
    NotFound when the user is not a member of it."""
    role = db.session.scalar(
        sa.select(EventRole).where(
            EventRole.user_id == user.id,
            EventRole.sponsor_id == sponsor.id,
            EventRole.role == EventRoleKind.SPONSOR,
        )
    )
    if role is None:
        raise NotFound(_l("This person is not a member of the sponsor."))
    db.session.delete(role)
    db.session.flush()
    db.session.expire(user, ["roles"])
    record(
        "sponsor.member_remove",
        sponsor,
        actor=actor,
        event_id=sponsor.event_id,
        before={"user_id": user.id, "email": user.email, "sponsor_id": sponsor.id},
        now=now,
    )


# --- email texts ----------------------------------------------------------------------------


def set_email_texts(event: Event, *, actor: User, now: datetime, texts: dict) -> Event:
    """Sets the organiser's own words in the confirmation, invoice and ticket emails: texts =
    {kind: {"nb": ..., "en": ...}}, plain text of at most 2000 characters each. Empty texts are
    dropped; kinds left out have none. Raises ValidationError ("<kind>.<lang>" for a bad text)."""
    errors = FieldErrors()
    out = {}
    if not isinstance(texts, dict):
        errors.add("texts", _l("Give the texts per kind of email."))
        texts = {}
    for kind, value in texts.items():
        if kind not in EMAIL_TEXT_KINDS:
            errors.add(str(kind), _l("Unknown kind of email."))
            continue
        cleaned = _texts(value, kind, errors, max_len=MAX_EMAIL_TEXT)
        if cleaned:
            out[kind] = cleaned
    errors.raise_if_any()
    before = {"email_texts": copy.deepcopy(event.email_texts or {})}
    event.email_texts = {kind: out[kind] for kind in EMAIL_TEXT_KINDS if kind in out}
    db.session.flush()
    _record_change(
        "event.email_texts",
        event,
        actor=actor,
        event_id=event.id,
        before=before,
        after={"email_texts": event.email_texts},
        now=now,
    )
    return event


# --- copying --------------------------------------------------------------------------------


# Copied as they are; times are shifted.
_EVENT_SETTINGS = (
    "venue",
    "timezone",
    "currency",
    "registration_mode",
    "members_only",
    "attendee_email_required",
    "total_capacity",
    "max_attendees_per_order",
    "hold_minutes",
    "organiser_id",
    "cancellation_refund_percent",
    "waitlist_enabled",
    "waitlist_offer_hours",
    "retention_days",
)


def copy_event(
    event: Event, *, actor: User, now: datetime, slug: str, starts_at: datetime, title: dict | None = None
) -> Event:
    """A draft copy of the event to start the next one from: its details, settings, quotas,
    ticket types, workshops, questions (conditions pointing at the copied questions), email
    texts, sponsors (without members) and check-in lists. Every time moves by as much as the
    start does. No orders, vouchers or roles are copied; `actor` organises the copy. Raises
    ValidationError for a malformed or taken slug, a start without timezone or a bad title."""
    errors = FieldErrors()
    slug = _slug(slug, "slug", errors)
    starts_at = _time(starts_at, "starts_at", errors, required=True)
    title = _texts(title, "title", errors, max_len=200, required=True) if title is not None else None
    errors.raise_if_any()
    shift = starts_at - event.starts_at

    def moved(at: datetime | None) -> datetime | None:
        return at + shift if at is not None else None

    new = Event(
        slug=slug,
        title=title or copy.deepcopy(event.title),
        description=copy.deepcopy(event.description or {}),
        starts_at=starts_at,
        ends_at=event.ends_at + shift,
        status=EventStatus.DRAFT,
        languages=list(event.languages),
        self_service_until=moved(event.self_service_until),
        email_texts=copy.deepcopy(event.email_texts or {}),
        **{name: getattr(event, name) for name in _EVENT_SETTINGS},
    )
    quotas = {q.id: Quota(name=q.name, size=q.size) for q in event.quotas}
    new.quotas = list(quotas.values())
    types = {
        t.id: TicketType(
            name=copy.deepcopy(t.name),
            description=copy.deepcopy(t.description or {}),
            price_ore=t.price_ore,
            vat_rate=t.vat_rate,
            visibility=t.visibility,
            sales_start=moved(t.sales_start),
            sales_end=moved(t.sales_end),
            position=t.position,
            quotas=[quotas[q.id] for q in t.quotas],
        )
        for t in event.ticket_types
    }
    new.ticket_types = list(types.values())
    workshops = {
        s.id: EventSession(
            name=copy.deepcopy(s.name),
            slot=s.slot,
            starts_at=moved(s.starts_at),
            room=s.room,
            capacity=s.capacity,
        )
        for s in event.sessions
    }
    new.sessions = list(workshops.values())
    questions = {}
    for q in sorted(event.questions, key=lambda q: (q.position, q.id)):
        questions[q.id] = Question(
            label=copy.deepcopy(q.label),
            kind=q.kind,
            scope=q.scope,
            required=q.required,
            choices=copy.deepcopy(q.choices or []),
            position=q.position,
            ticket_types=[types[t.id] for t in q.ticket_types],
            depends_on=questions.get(q.depends_on_id),
            depends_on_value=q.depends_on_value if q.depends_on_id in questions else None,
        )
    new.questions = list(questions.values())
    new.sponsors = [Sponsor(name=s.name, level=s.level) for s in event.sponsors]
    db.session.add(new)
    db.session.flush()

    for lst in db.session.scalars(
        sa.select(CheckinList).where(CheckinList.event_id == event.id).order_by(CheckinList.id)
    ):
        db.session.add(
            CheckinList(
                event_id=new.id,
                name=lst.name,
                session=workshops.get(lst.session_id),
                allow_reentry=lst.allow_reentry,
                admit_unpaid_invoices=lst.admit_unpaid_invoices,
                opens_at=moved(lst.opens_at),
                closes_at=moved(lst.closes_at),
                ticket_types=[types[t.id] for t in lst.ticket_types],
            )
        )
    grant_event_role(actor, new.id, EventRoleKind.ORGANISER)
    record(
        "event.copy",
        new,
        actor=actor,
        event_id=new.id,
        after={"copied_from": event.slug, "copied_from_id": event.id, **snapshot(new, EVENT_FIELDS)},
        now=now,
    )
    db.session.flush()
    return new
