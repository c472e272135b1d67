"""Orders, holds, vouchers and the waiting list: the rules of selling seats.

Services only flush; the caller (a view, the API, a job) owns the transaction and commits once.
Every function that takes or frees seats first calls `lock_event_for_sale` (see capacity.py).
"""

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from sqlalchemy.orm import selectinload

from eventreg.accounts.models import EventRoleKind, User
from eventreg.accounts.services import has_event_role, require_event_role
from eventreg.core.errors import (
    FIX_FIELDS,
    Conflict,
    DomainError,
    FieldErrors,
    Forbidden,
    NotFound,
    SoldOut,
    ValidationError,
)
from eventreg.core.i18n import LANGUAGES
from eventreg.core.money import percent_of
from eventreg.events.choices import choices_for, valid_values
from eventreg.events.models import (
    TEXT_KINDS,
    Event,
    EventSession,
    EventStatus,
    Question,
    QuestionKind,
    RegistrationMode,
    TicketType,
)
from eventreg.events.services import attendee_questions, order_questions, sales_state, ticket_type_allowed
from eventreg.extensions import db
from eventreg.mail import services as mail
from eventreg.payments import invoices
from eventreg.registration.capacity import (
    Availability,
    compute_availability,
    forget_count,
    holds_seats,
    lock_event_for_sale,
    recent_count,
    remember_count,
)
from eventreg.registration.models import (
    Answer,
    Attendee,
    AttendeeSession,
    Order,
    OrderStatus,
    PaymentMethod,
    Voucher,
    VoucherKind,
    WaitingListEntry,
    WaitlistStatus,
    new_token,
)

MAX_NAME = 200
MAX_TEXT_ANSWER = 2000
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud at the door


@dataclass
class AttendeeData:
    name: str
    ticket_type_id: Any
    email: str | None = None
    language: str = "nb"
    answers: dict = field(default_factory=dict)
    session_ids: list = field(default_factory=list)


@dataclass
class OrderData:
    buyer_name: str
    buyer_email: str | None
    attendees: list[AttendeeData]
    buyer_language: str = "nb"
    answers: dict = field(default_factory=dict)  # order-level questions
    voucher_code: str | None = None
    payment_method: str = "card"
    waitlist_token: str | None = None
    invoice: Any = None  # payments.invoices.InvoiceDetails when paying by invoice


# --- validation helpers ---------------------------------------------------------------------


def clean_name(value, key: str, errors: FieldErrors, *, required=True) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        errors.add(key, _l("Must be text."))
    elif not text and required:
        errors.add(key, _l("This field is required."))
    elif len(text) > MAX_NAME:
        errors.add(key, _l("At most %(n)d characters.", n=MAX_NAME))
    return text


def clean_email(value, key: str, errors: FieldErrors, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(key, _l("This field is required."))
        return None
    if not isinstance(value, str) or len(value) > 254:
        errors.add(key, _l("Not a valid email address."))
        return None
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        errors.add(key, _l("Not a valid email address."))
        return None


def clean_language(value, key: str, errors: FieldErrors) -> str:
    if value in LANGUAGES:
        return value
    errors.add(key, _l("Choose Norwegian (nb) or English (en)."))
    return "nb"


def _as_id(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 12:
        return int(value)
    return None


def _answer_display(question: Question, value) -> dict:
    """The answer as people read it, in every language, frozen at the time of answering."""

    def text(lang: str) -> str:
        if question.kind in TEXT_KINDS or question.kind == QuestionKind.PHONE:
            return value
        labels = dict(choices_for(question, lang))
        if question.kind == QuestionKind.YESNO:
            return labels["yes" if value else "no"]
        if question.kind == QuestionKind.MULTIPLE:
            return ", ".join(labels.get(v, v) for v in value)
        return labels.get(value, value)

    return {lang: text(lang) for lang in LANGUAGES}


# A phone number as people type it: digits with single spaces or hyphens between them, after an
# optional + or 00 and the country code ("+47 912 34 567", "912 34 567", "0044 20-7946-0958").
_PHONE_DIGITS = re.compile(r"[0-9](?:[ -]?[0-9])*")


def normalise_phone(raw) -> str | None:
    """The number in international form ("+4791234567"), or None when it is not a phone number
    (8-15 digits). Eight digits without + or 00 are a Norwegian number (+47); a longer number
    without them is taken to start with its country code."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    text = raw.strip()
    international = text.startswith(("+", "00"))
    if text.startswith("+"):
        text = text[1:].lstrip()
    elif international:
        text = text[2:].lstrip(" -")
    if not _PHONE_DIGITS.fullmatch(text):
        return None
    digits = text.replace(" ", "").replace("-", "")
    if not 8 <= len(digits) <= 15:
        return None
    if not international and len(digits) == 8:
        digits = "47" + digits
    return "+" + digits


def _clean_answer(question: Question, raw, key: str, errors: FieldErrors):
    """The answer in its stored form, or None when it is empty. Adds an error when it is invalid."""
    kind = question.kind
    if raw is None or raw == "" or raw == []:
        return None
    if kind in TEXT_KINDS:
        if not isinstance(raw, str):
            errors.add(key, _l("Must be text."))
        elif len(raw) > MAX_TEXT_ANSWER:
            errors.add(key, _l("At most %(n)d characters.", n=MAX_TEXT_ANSWER))
        else:
            return raw.strip() or None
        return None
    if kind == QuestionKind.PHONE:
        if isinstance(raw, str) and not raw.strip():
            return None
        phone = normalise_phone(raw)
        if phone is None:
            errors.add(
                key,
                _l(
                    "Not a phone number: give 8 to 15 digits, and + with the country code for a "
                    "number outside Norway."
                ),
            )
        return phone
    if kind == QuestionKind.YESNO:
        if raw in (True, "yes", "true", "1"):
            return True
        if raw in (False, "no", "false", "0"):
            return False
        errors.add(key, _l("Answer yes or no."))
        return None
    allowed = valid_values(question)
    if kind == QuestionKind.MULTIPLE:
        values = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(v, str) and v in allowed for v in values):
            errors.add(key, _l("Not a valid choice."))
            return None
        return list(dict.fromkeys(values))  # drop repeats, keep the order given
    if not isinstance(raw, str) or raw not in allowed:
        errors.add(key, _l("Not a valid choice."))
        return None
    return raw


def _condition_met(question: Question, given: dict[int, Any]) -> bool:
    if question.depends_on_id is None:
        return True
    answer = given.get(question.depends_on_id)
    if isinstance(answer, bool):
        answer = "yes" if answer else "no"
    if isinstance(answer, list):
        return question.depends_on_value in answer
    return answer == question.depends_on_value


def clean_answers(
    questions: list[Question],
    raw: dict,
    prefix: str,
    errors: FieldErrors,
    *,
    known_ids: set[int],
) -> list[Answer]:
    """Validates answers to `questions` (already filtered to the ones that apply) and returns
    unsaved Answer rows. Answers to questions hidden by their condition are dropped."""
    if not isinstance(raw, dict):
        errors.add(prefix.rstrip("."), _l("Answers must be an object of question id to value."))
        return []
    by_key: dict[int, Any] = {}
    for key, value in raw.items():
        qid = _as_id(key)
        if qid is None or qid not in known_ids:
            errors.add(f"{prefix}{key}", _l("Unknown question."))
        else:
            by_key[qid] = value
    applicable = {q.id for q in questions}
    for qid in by_key:
        if qid in known_ids and qid not in applicable:
            errors.add(f"{prefix}{qid}", _l("This question is not asked for this ticket."))

    cleaned: dict[int, Any] = {}
    answers = []
    for q in sorted(questions, key=lambda q: q.position):  # conditions refer to earlier questions
        key = f"{prefix}{q.id}"
        if not _condition_met(q, cleaned):
            continue
        value = _clean_answer(q, by_key.get(q.id), key, errors)
        if value is None:
            if q.required and key not in errors.fields:
                errors.add(key, _l("This field is required."))
            continue
        cleaned[q.id] = value
        answers.append(
            Answer(
                question_id=q.id,
                question_label=dict(q.label),
                value=value,
                display=_answer_display(q, value),
            )
        )
    return answers


# --- orders ---------------------------------------------------------------------------------


def find_voucher(event: Event, code: str | None) -> Voucher | None:
    if not code or not isinstance(code, str) or not code.strip():
        return None
    return db.session.scalar(
        sa.select(Voucher).where(Voucher.event_id == event.id, Voucher.code == code.strip().upper()[:64])
    )


def _price(ticket_type: TicketType, voucher: Voucher | None) -> tuple[int, bool]:
    """(price in øre, whether the voucher was used for this ticket)."""
    if voucher is None or (voucher.ticket_type_id is not None and voucher.ticket_type_id != ticket_type.id):
        return ticket_type.price_ore, False
    match voucher.kind:
        case VoucherKind.FIXED:
            return max(0, ticket_type.price_ore - voucher.value), True
        case VoucherKind.PERCENT:
            return ticket_type.price_ore - percent_of(ticket_type.price_ore, min(voucher.value, 100)), True
    return ticket_type.price_ore, True


def new_order_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


def check_registration_access(event: Event, *, actor: User | None, on_behalf: bool) -> None:
    """Raises Forbidden (members_only, staff_only, wrong role) or Conflict (registration_closed)."""
    if on_behalf:
        require_event_role(actor, event.id, EventRoleKind.ORGANISER)
        return
    if event.status == EventStatus.CLOSED:
        raise Conflict(_l("Registration for this event is closed."), code="registration_closed")
    if event.status != EventStatus.PUBLISHED:
        raise Conflict(_l("Registration for this event is not open."), code="registration_closed")
    if event.registration_mode == RegistrationMode.STAFF:
        raise Forbidden(
            _l("Participants of this event are registered by the organisers."),
            code="staff_only",
        )
    if event.members_only and not (
        getattr(actor, "is_member", False) or has_event_role(actor, event.id, EventRoleKind.ORGANISER)
    ):
        raise Forbidden(
            _l("This event is for members only. Please log in as a member."),
            code="members_only",
        )


def registration_refusal(event: Event, *, actor: User | None) -> DomainError | None:
    """The error a public registration would meet before its details are looked at, or None;
    pages use it to show "members only" or "registered by the organisers" instead of a form."""
    try:
        check_registration_access(event, actor=actor, on_behalf=False)
    except (Forbidden, Conflict) as err:
        return err
    return None


def create_order(
    event: Event,
    data: OrderData,
    *,
    now: datetime,
    actor: User | None = None,
    on_behalf: bool = False,
) -> Order:
    """Registers the attendees of `data` and holds their seats.

    A free order is paid at once; others stay pending until the hold expires. `on_behalf` is for
    organisers registering other people: it allows hidden ticket types and names without email.

    Raises ValidationError (422, per-field messages), Forbidden (403: members only, staff only,
    wrong role), Conflict (409: registration closed, voucher used up) or SoldOut (409)."""
    check_registration_access(event, actor=actor, on_behalf=on_behalf)
    _check_attendee_count(event, data.attendees)
    if not data.waitlist_token:  # an offer holds its own seats
        _refuse_early_if_sold_out(event, data.attendees, now=now)
    errors = FieldErrors()

    buyer_name = clean_name(data.buyer_name, "buyer.name", errors)
    buyer_email = clean_email(data.buyer_email, "buyer.email", errors, required=not on_behalf)
    buyer_language = clean_language(data.buyer_language, "buyer.language", errors)

    voucher = find_voucher(event, data.voucher_code)
    if data.voucher_code and voucher is None:
        errors.add("voucher_code", _l("Unknown voucher code."))
    elif voucher and voucher.valid_until and now >= voucher.valid_until:
        errors.add("voucher_code", _l("This voucher code has expired."))
        voucher = None

    entry = None
    if data.waitlist_token:
        entry = _offered_entry(event, data.waitlist_token, now=now)

    types_by_id = {tt.id: tt for tt in event.ticket_types}
    chose_sessions = any(isinstance(raw, AttendeeData) and raw.session_ids for raw in data.attendees)
    sessions_by_id = {s.id: s for s in event.sessions} if chose_sessions else {}
    question_ids = {q.id for q in event.questions}
    email_required = event.attendee_email_required and not on_behalf

    attendees: list[Attendee] = []
    voucher_uses = 0
    for i, raw in enumerate(data.attendees):
        p = f"attendees.{i}."
        if not isinstance(raw, AttendeeData):
            errors.add(p.rstrip("."), _l("Each attendee must be an object."))
            continue
        ticket_type = types_by_id.get(_as_id(raw.ticket_type_id))
        if problem := _ticket_type_problem(
            ticket_type, actor=actor, on_behalf=on_behalf, voucher=voucher, entry=entry, now=now
        ):
            errors.add(p + "ticket_type_id", problem)

        name = clean_name(raw.name, p + "name", errors)
        email = clean_email(raw.email, p + "email", errors, required=email_required)
        language = clean_language(raw.language, p + "language", errors)

        sessions = clean_sessions(raw.session_ids, sessions_by_id, p + "session_ids", errors)
        answers = []
        if ticket_type is not None:
            answers = clean_answers(
                attendee_questions(event, ticket_type),
                raw.answers,
                p + "answers.",
                errors,
                known_ids=question_ids,
            )
        price, used_voucher = _price(ticket_type, voucher) if ticket_type else (0, False)
        voucher_uses += used_voucher
        attendees.append(
            Attendee(
                event_id=event.id,
                ticket_type=ticket_type,
                ticket_type_id=ticket_type.id if ticket_type else None,
                position=i,
                name=name,
                email=email,
                language=language,
                price_ore=price,
                vat_rate=ticket_type.vat_rate if ticket_type else 0,
                voucher_id=voucher.id if used_voucher else None,
                session_choices=[AttendeeSession(session_id=s.id, slot=s.slot) for s in sessions],
                answers=answers,
            )
        )

    order_answers = clean_answers(
        order_questions(event),
        data.answers,
        "answers.",
        errors,
        known_ids=question_ids,
    )
    if voucher and voucher_uses == 0 and "voucher_code" not in errors.fields:
        errors.add(
            "voucher_code",
            _l("This voucher code does not apply to the chosen tickets."),
        )
    if entry and len(data.attendees) > entry.seats:
        errors.add(
            "attendees",
            lazy_ngettext(
                "Your waiting-list offer is for %(num)d seat.",
                "Your waiting-list offer is for %(num)d seats.",
                entry.seats,
            ),
        )

    total = sum(a.price_ore for a in attendees)
    method = data.payment_method
    invoice_details = None
    if total == 0:
        method = PaymentMethod.FREE
    elif method not in (PaymentMethod.CARD, PaymentMethod.INVOICE):
        errors.add("payment_method", _l("Choose card or invoice."))
    elif method == PaymentMethod.INVOICE:
        invoice_details = invoices.clean_invoice_details(data.invoice, errors.add)
    errors.raise_if_any()

    # Everything above only read; from here on the event is locked until the caller commits.
    lock_event_for_sale(event)
    expire_holds(event, now=now)
    if entry:
        db.session.refresh(entry)  # a second click on the same link may have won the lock first
        if entry.status != WaitlistStatus.OFFERED:
            raise Conflict(
                _l("This waiting-list offer has expired or was already used."), code="offer_expired"
            )
        entry.status = WaitlistStatus.ACCEPTED  # its held seats now go to this order
    _claim_seats(event, attendees, voucher, voucher_uses, now=now, entry=entry)

    order = Order(
        code=new_order_code(),
        event_id=event.id,
        status=OrderStatus.PENDING,
        payment_method=PaymentMethod(method),
        buyer_name=buyer_name,
        buyer_email=buyer_email,
        buyer_language=buyer_language,
        total_ore=total,
        voucher_id=voucher.id if voucher_uses else None,
        manage_token=new_token(),
        created_by_id=actor.id if on_behalf else None,
        created_at=now,
        attendees=attendees,
    )
    order.expires_at = now + timedelta(minutes=event.hold_minutes)
    for answer in order_answers + [a for attendee in attendees for a in attendee.answers]:
        answer.order = order
    db.session.add(order)
    db.session.add_all(order_answers)
    if total == 0:
        mark_paid(order, now=now)
    elif invoice_details is not None:
        # A registration paid by invoice is binding: the seats are the buyer's at once and the
        # invoice (due in the organiser's payment term) is the claim on the money.
        db.session.flush()
        invoices.issue_invoice(order, invoice_details, now=now)
        mark_paid(order, now=now)
    db.session.flush()
    if entry:
        entry.order_id = order.id
    return order


def _ticket_type_problem(ticket_type: TicketType | None, *, actor, on_behalf, voucher, entry, now):
    """Why this buyer cannot have this ticket type now, or None."""
    if ticket_type is None:
        return _l("Unknown ticket type for this event.")
    if not ticket_type_allowed(ticket_type, actor=actor, on_behalf=on_behalf, voucher=voucher):
        return _l("This ticket type is not available to you.")
    state = "open" if on_behalf else sales_state(ticket_type, now)  # staff may register any time
    if state == "not_started":
        return _l("Sales for this ticket type have not started yet.")
    if state == "ended":
        return _l("Sales for this ticket type have ended.")
    if entry and ticket_type.id != entry.ticket_type_id:
        return _l("Your waiting-list offer is for another ticket type.")
    return None


def clean_sessions(
    raw, sessions_by_id: dict[int, EventSession], key: str, errors: FieldErrors
) -> list[EventSession]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        errors.add(key, _l("Must be a list of workshop ids."))
        return []
    chosen: list[EventSession] = []
    for value in raw:
        session = sessions_by_id.get(_as_id(value))
        if session is None:
            errors.add(key, _l("Unknown workshop for this event."))
            return []
        if any(c.slot == session.slot for c in chosen):
            errors.add(key, _l("Choose at most one workshop per time slot."))
            return []
        chosen.append(session)
    return chosen


def _check_attendee_count(event: Event, attendees) -> None:
    if not isinstance(attendees, list) or not attendees:
        raise ValidationError(FIX_FIELDS, fields={"attendees": [_l("Register at least one attendee.")]})
    if len(attendees) > event.max_attendees_per_order:
        message = _l("At most %(n)d attendees per order.", n=event.max_attendees_per_order)
        raise ValidationError(FIX_FIELDS, fields={"attendees": [message]})


def _refuse_early_if_sold_out(event: Event, attendees: list, *, now: datetime) -> None:
    """A cheap first look without the lock: most attempts of a sold-out rush end here. Refusing
    on this count is safe (seats come back only by commits or by time, and a sale always counts
    again under the lock), and it spares the queue at the lock."""
    wanted = _seats_wanted(a.ticket_type_id for a in attendees if isinstance(a, AttendeeData))
    av = recent_count(event, now)
    if av is None or av.fits(wanted):  # a remembered count may refuse, never admit
        av = compute_availability(event, now=now, sessions=False)
        remember_count(event, now, av)
    _refuse_unless_fits(event, av, wanted)


def _seats_wanted(ticket_type_ids) -> dict[int, int]:
    wanted: dict[int, int] = {}
    for raw_id in ticket_type_ids:
        if (type_id := _as_id(raw_id)) is not None:
            wanted[type_id] = wanted.get(type_id, 0) + 1
    return wanted


def _refuse_unless_fits(event: Event, av: Availability, wanted: dict[int, int]) -> None:
    if not av.fits(wanted):
        raise SoldOut(
            _l("Sorry, there are not enough seats left for your order."),
            available={str(t): av.ticket_types[t] for t in wanted if t in av.ticket_types},
            waitlist=event.waitlist_enabled,
        )


def _claim_seats(
    event: Event,
    attendees: list[Attendee],
    voucher: Voucher | None,
    voucher_uses: int,
    *,
    now,
    entry,
) -> None:
    """Raises SoldOut unless every ticket type, quota, workshop and the voucher has room.
    Must run under the event's sale lock."""
    chose_sessions = any(a.session_choices for a in attendees)
    av = compute_availability(
        event, now=now, exclude_entry_id=entry.id if entry else None, sessions=chose_sessions
    )
    remember_count(event, now, av)
    _refuse_unless_fits(event, av, _seats_wanted(a.ticket_type_id for a in attendees))
    session_wanted: dict[int, int] = {}
    for a in attendees:
        for choice in a.session_choices:
            session_wanted[choice.session_id] = session_wanted.get(choice.session_id, 0) + 1
    full = [sid for sid, n in session_wanted.items() if av.sessions[sid] is not None and av.sessions[sid] < n]
    if full:
        raise SoldOut(
            _l("A workshop you chose is full. Please choose another."),
            code="session_full",
            sessions=full,
        )
    if voucher and voucher_uses:
        used = db.session.scalar(
            sa.select(sa.func.count(Attendee.id))
            .join(Order, Attendee.order_id == Order.id)
            .where(Attendee.voucher_id == voucher.id, holds_seats(now))
        )
        if used + voucher_uses > voucher.max_uses:
            raise Conflict(_l("This voucher code has been used up."), code="voucher_used_up")


# --- state machine --------------------------------------------------------------------------

ORDER_STATUS_WORDS = {
    OrderStatus.PENDING: _l("awaiting payment"),
    OrderStatus.PAID: _l("paid"),
    OrderStatus.EXPIRED: _l("expired"),
    OrderStatus.CANCELLED: _l("cancelled"),
    OrderStatus.REFUNDED: _l("refunded"),
}

_TRANSITIONS = {
    OrderStatus.PENDING: {OrderStatus.PAID, OrderStatus.EXPIRED, OrderStatus.CANCELLED},
    OrderStatus.PAID: {OrderStatus.REFUNDED, OrderStatus.CANCELLED},
}


class IllegalTransition(Conflict):
    code = "illegal_transition"


def _transition(order: Order, to: OrderStatus, *, now: datetime) -> None:
    if to not in _TRANSITIONS.get(order.status, set()):
        raise IllegalTransition(
            _l(
                "This order is %(state)s and cannot become %(to)s.",
                state=ORDER_STATUS_WORDS[order.status],
                to=ORDER_STATUS_WORDS[to],
            )
        )
    order.status = to
    if to in (OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.REFUNDED):
        forget_count(order.event_id)  # its seats are free again
    if to == OrderStatus.PAID:
        order.paid_at = now
        order.expires_at = None
    else:
        order.closed_at = now


def mark_paid(order: Order, *, now: datetime) -> None:
    """pending → paid, and the confirmation with the tickets goes into the outbox in the same
    transaction. Raises IllegalTransition for any other state."""
    _transition(order, OrderStatus.PAID, now=now)
    mail.queue_order_confirmation(order, now=now)


def revive_late_payment(order: Order, *, now: datetime) -> None:
    """expired → paid, for a card payment that arrived after the hold ran out. The caller has
    checked under the sale lock that the seats are still free."""
    if order.status != OrderStatus.EXPIRED:
        raise IllegalTransition(_l("Only an expired order can be revived by a late payment."))
    order.status = OrderStatus.PAID
    order.paid_at, order.closed_at, order.expires_at = now, None, None
    forget_count(order.event_id)
    mail.queue_order_confirmation(order, now=now)


def mark_refunded(order: Order, *, now: datetime) -> None:
    """paid → refunded; the money itself is moved by the payments area."""
    _transition(order, OrderStatus.REFUNDED, now=now)


def cancel_order(order: Order, *, now: datetime, actor: User | None = None) -> None:
    """Cancels a pending order, or a paid order that cost nothing (paid orders with money are
    refunded instead). Frees the seats and offers them to the waiting list."""
    event = order.event
    lock_event_for_sale(event)
    db.session.refresh(order)  # another transaction may have changed it before we got the lock
    if order.status == OrderStatus.PAID and order.total_ore > 0:
        raise IllegalTransition(_l("A paid order is refunded, not cancelled."))
    _transition(order, OrderStatus.CANCELLED, now=now)
    mail.queue_order_cancelled(order, now=now)
    db.session.flush()
    offer_freed_seats(event, now=now)


def _stale_query():
    """Pending orders and waiting-list offers of an event whose deadline passed, as (kind, id).
    Built once: every sale asks it, and nearly always gets nothing back."""
    now, event_id = sa.bindparam("now"), sa.bindparam("event_id")
    orders = sa.select(sa.literal("order"), Order.id).where(
        Order.event_id == event_id, Order.status == OrderStatus.PENDING, Order.expires_at <= now
    )
    offers = sa.select(sa.literal("offer"), WaitingListEntry.id).where(
        WaitingListEntry.event_id == event_id,
        WaitingListEntry.status == WaitlistStatus.OFFERED,
        WaitingListEntry.offer_expires_at <= now,
    )
    return sa.union_all(orders, offers)


_STALE = _stale_query()


def expire_holds(event: Event, *, now: datetime) -> int:
    """Marks pending orders and waiting-list offers whose deadline passed as expired and offers
    the freed seats to the waiting list. Must run under the event's sale lock. Returns how many
    orders expired."""
    stale = db.session.execute(_STALE, {"event_id": event.id, "now": now}).all()
    if not stale:
        return 0
    order_ids = [id_ for kind, id_ in stale if kind == "order"]
    offer_ids = [id_ for kind, id_ in stale if kind == "offer"]
    for order in db.session.scalars(sa.select(Order).where(Order.id.in_(order_ids))):
        _transition(order, OrderStatus.EXPIRED, now=now)
        mail.queue_hold_expired(order, now=now)
    for entry in db.session.scalars(sa.select(WaitingListEntry).where(WaitingListEntry.id.in_(offer_ids))):
        entry.status = WaitlistStatus.EXPIRED
        forget_count(event.id)
    db.session.flush()
    offer_freed_seats(event, now=now)
    return len(order_ids)


def expire_all_holds(*, now: datetime) -> int:
    """The periodic job: expires holds of every event that has some, one locked transaction per
    event so no sale waits long. Commits. Returns how many orders expired."""
    pending_orders = sa.select(Order.event_id).where(
        Order.status == OrderStatus.PENDING, Order.expires_at <= now
    )
    pending_offers = sa.select(WaitingListEntry.event_id).where(
        WaitingListEntry.status == WaitlistStatus.OFFERED,
        WaitingListEntry.offer_expires_at <= now,
    )
    event_ids = set(db.session.scalars(pending_orders.union(pending_offers)))
    expired = 0
    for event_id in sorted(event_ids):
        event = db.session.get(Event, event_id)
        lock_event_for_sale(event)
        expired += expire_holds(event, now=now)
        db.session.commit()
    return expired


# --- waiting list ---------------------------------------------------------------------------


def join_waitlist(
    event: Event,
    *,
    ticket_type_id,
    seats,
    name,
    email,
    language,
    now: datetime,
    actor: User | None = None,
) -> WaitingListEntry:
    """Puts a person (for one seat or a group's several) on the waiting list of a ticket type.

    Raises ValidationError for bad input, and Conflict when there is no waiting list or when
    there are seats to buy right now."""
    check_registration_access(event, actor=actor, on_behalf=False)
    if not event.waitlist_enabled:
        raise Conflict(_l("This event has no waiting list."), code="no_waitlist")
    errors = FieldErrors()
    ticket_type = {tt.id: tt for tt in event.ticket_types}.get(_as_id(ticket_type_id))
    if ticket_type is None or not ticket_type_allowed(ticket_type, actor=actor, on_behalf=False):
        errors.add("ticket_type_id", _l("Unknown ticket type for this event."))
    n = _as_id(seats)
    if n is None or not 1 <= n <= event.max_attendees_per_order:
        errors.add(
            "seats",
            _l("Choose between 1 and %(n)d seats.", n=event.max_attendees_per_order),
        )
    name = clean_name(name, "name", errors)
    email = clean_email(email, "email", errors, required=True)
    language = clean_language(language, "language", errors)
    errors.raise_if_any()

    lock_event_for_sale(event)
    expire_holds(event, now=now)
    av = compute_availability(event, now=now, sessions=False)
    if av.fits({ticket_type.id: n}) and not _waiting(event, ticket_type.id):
        raise Conflict(
            _l("There are seats available: please register instead."),
            code="seats_available",
        )
    entry = WaitingListEntry(
        event_id=event.id,
        ticket_type_id=ticket_type.id,
        seats=n,
        name=name,
        email=email,
        language=language,
        created_at=now,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def _waiting(event: Event, ticket_type_id: int | None = None) -> list[WaitingListEntry]:
    q = (
        sa.select(WaitingListEntry)
        .where(
            WaitingListEntry.event_id == event.id,
            WaitingListEntry.status == WaitlistStatus.WAITING,
        )
        .order_by(WaitingListEntry.created_at, WaitingListEntry.id)
    )
    if ticket_type_id is not None:
        q = q.where(WaitingListEntry.ticket_type_id == ticket_type_id)
    return list(db.session.scalars(q))


def offer_freed_seats(event: Event, *, now: datetime) -> list[WaitingListEntry]:
    """Offers free seats to the waiting list, first come first served: each entry whose whole
    group fits gets an offer holding its seats for `waitlist_offer_hours`; an entry that does not
    fit keeps its place while later, smaller ones may be served. Must run under the sale lock."""
    if not event.waitlist_enabled:
        return []
    offered = []
    for entry in _waiting(event):
        av = compute_availability(event, now=now, sessions=False)
        if not av.fits({entry.ticket_type_id: entry.seats}):
            continue
        entry.status = WaitlistStatus.OFFERED
        entry.offered_at = now
        entry.offer_expires_at = now + timedelta(hours=event.waitlist_offer_hours)
        entry.offer_token = secrets.token_urlsafe(24)
        db.session.flush()
        mail.queue_waitlist_offer(entry, now=now)
        offered.append(entry)
    return offered


def _offered_entry(event: Event, token: str, *, now: datetime) -> WaitingListEntry:
    entry = db.session.scalar(
        sa.select(WaitingListEntry).where(
            WaitingListEntry.event_id == event.id,
            WaitingListEntry.offer_token == str(token)[:64],
        )
    )
    if entry is None:
        # Like any private link with a wrong token.
        raise NotFound(_l("This waiting-list link is not valid."), code="invalid_offer")
    if entry.status != WaitlistStatus.OFFERED or entry.offer_expires_at <= now:
        raise Conflict(
            _l("This waiting-list offer has expired or was already used."),
            code="offer_expired",
        )
    return entry


def get_offer(event: Event, token: str, *, now: datetime) -> WaitingListEntry:
    """The live offer behind a waiting-list link. Raises NotFound or Conflict when it is not."""
    return _offered_entry(event, token, now=now)


# --- reading orders -------------------------------------------------------------------------


def get_order_by_token(code: str, token: str) -> Order:
    """The order for a private manage link; NotFound unless both the code and the token match."""
    order = db.session.scalar(
        sa.select(Order)
        .where(Order.code == code)
        .options(selectinload(Order.attendees).selectinload(Attendee.answers))
    )
    # Bytes: compare_digest refuses non-ASCII str, and a link may carry anything.
    if order is None or not secrets.compare_digest(order.manage_token.encode(), str(token).encode()):
        raise NotFound(_l("No such order."))
    return order


def get_order(code: str) -> Order:
    """The order with this code; NotFound otherwise (callers check the role for its event)."""
    order = db.session.scalar(sa.select(Order).where(Order.code == str(code)[:16]))
    if order is None:
        raise NotFound(_l("No such order."))
    return order


def list_orders(event: Event, *, status: OrderStatus | None = None) -> list[Order]:
    q = (
        sa.select(Order)
        .where(Order.event_id == event.id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .options(selectinload(Order.attendees).selectinload(Attendee.ticket_type))
    )
    if status:
        q = q.where(Order.status == status)
    return list(db.session.scalars(q))


def waitlist_position(entry: WaitingListEntry) -> int:
    """1 for the first person still waiting for this event."""
    ahead = db.session.scalar(
        sa.select(sa.func.count(WaitingListEntry.id)).where(
            WaitingListEntry.event_id == entry.event_id,
            WaitingListEntry.status == WaitlistStatus.WAITING,
            sa.or_(
                WaitingListEntry.created_at < entry.created_at,
                sa.and_(
                    WaitingListEntry.created_at == entry.created_at,
                    WaitingListEntry.id < entry.id,
                ),
            ),
        )
    )
    return ahead + 1
