"""Attendee self-service through the private links: the buyer's order link and each attendee's
own ticket link. Changing details and answers, changing workshops, handing the ticket to someone
else, sponsor consent, and the buyer cancelling their order.

Services only flush; the view commits once. Every write takes the event's sale lock first (see
capacity.py) and reads the order and the attendee again under it, so a change never interleaves
with a cancellation, a transfer or another change of the same ticket, and a workshop seat is
counted only after the lock.
"""

import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from eventreg.core.errors import Conflict, FieldErrors, NotFound, SoldOut
from eventreg.core.templating import when
from eventreg.events.models import Event, Lead, Question
from eventreg.events.services import attendee_questions
from eventreg.extensions import db
from eventreg.mail.services import queue_ticket_transferred
from eventreg.registration.capacity import compute_availability, lock_event_for_sale
from eventreg.registration.models import (
    Answer,
    Attendee,
    AttendeeSession,
    ConsentRecord,
    Order,
    OrderStatus,
    new_token,
)
from eventreg.registration.services import (
    ORDER_STATUS_WORDS,
    cancel_order,
    clean_answers,
    clean_email,
    clean_language,
    clean_name,
    clean_sessions,
)

MAX_TOKEN = 64  # Attendee.manage_token's column size; longer tokens cannot match
CONSENT_VIA = ("attendee", "buyer", "staff", "transfer")


# --- reading --------------------------------------------------------------------------------


def get_attendee_by_token(token) -> Attendee:
    """The attendee behind a private ticket link. Raises NotFound unless the token matches one
    exactly (an old holder's token stops matching when the ticket is transferred)."""
    token = str(token)
    attendee = None
    if 0 < len(token) <= MAX_TOKEN:
        attendee = db.session.scalar(
            sa.select(Attendee)
            .where(Attendee.manage_token == token)
            .options(
                selectinload(Attendee.answers),
                selectinload(Attendee.session_choices),
                selectinload(Attendee.order).selectinload(Order.event).selectinload(Event.sessions),
            )
        )
    # The query found it by an indexed equality; the comparison in constant time is a second
    # look that does not depend on how the database compares strings.
    if attendee is None or not secrets.compare_digest(attendee.manage_token.encode(), token.encode()):
        raise NotFound(_l("No such ticket. The link may be old: a transferred ticket gets a new link."))
    return attendee


def changes_deadline(event: Event) -> datetime:
    """Until when attendees may change their registration themselves."""
    return event.self_service_until or event.starts_at


def _order_inactive(order: Order, *, now: datetime) -> Conflict | None:
    """Why the order has no seats to change any more (cancelled, expired, refunded), or None."""
    if order.status == OrderStatus.PENDING and order.expires_at is not None and order.expires_at <= now:
        return Conflict(
            _l(
                "The reservation ran out at %(when)s, so this order can no longer be changed.",
                when=when(order.expires_at),
            ),
            code="changes_closed",
        )
    if order.status not in (OrderStatus.PENDING, OrderStatus.PAID):
        return Conflict(
            _l(
                "This order is %(state)s, so it can no longer be changed.",
                state=ORDER_STATUS_WORDS[order.status],
            ),
            code="changes_closed",
        )
    return None


def changes_refusal(order: Order, *, now: datetime) -> Conflict | None:
    """The error a change to `order` would meet now, or None. Pages use it to hide the forms."""
    inactive = _order_inactive(order, now=now)
    if inactive is not None:
        return inactive
    deadline = changes_deadline(order.event)
    if now >= deadline:
        return Conflict(
            _l("Changes to this registration were possible until %(when)s.", when=when(deadline)),
            code="changes_closed",
        )
    return None


def check_changes_allowed(order: Order, *, now: datetime) -> None:
    """Changes are allowed while the order is pending (with its hold running) or paid, and before
    the event's self-service deadline (its start when none is set). Raises Conflict
    (`changes_closed`, 409) otherwise, with a message that says until when changes were possible."""
    refusal = changes_refusal(order, now=now)
    if refusal is not None:
        raise refusal


def missing_answers(attendee: Attendee) -> list[Question]:
    """Required questions the attendee has not answered (after a transfer, all of them); questions
    shown only after another answer are left out, as the form asks them only then."""
    answered = {a.question_id for a in attendee.answers}
    return [
        q
        for q in attendee_questions(attendee.order.event, attendee.ticket_type)
        if q.required and q.depends_on_id is None and q.id not in answered
    ]


def _lock_for_change(order: Order, *, now: datetime, attendee: Attendee | None = None) -> None:
    """Takes the event's lock, reads the order (and attendee) again and checks once more that
    changes are allowed: the first check ran on what the request loaded, before the lock.
    Raises NotFound when the attendee's link was replaced meanwhile (a transfer won the race)."""
    token = attendee.manage_token if attendee is not None else None
    lock_event_for_sale(order.event)
    db.session.refresh(order)
    if attendee is not None:
        db.session.refresh(attendee)
        if attendee.manage_token != token:
            raise NotFound(_l("No such ticket. The link may be old: a transferred ticket gets a new link."))
    check_changes_allowed(order, now=now)


# --- the attendee's details and answers ------------------------------------------------------


def email_required(attendee: Attendee) -> bool:
    """Whether the attendee must have an email address."""
    # As at registration: organisers may register people without email even where it is required.
    return attendee.order.event.attendee_email_required and attendee.order.created_by_id is None


def update_attendee(attendee: Attendee, *, name, email, language, answers: dict, now: datetime) -> Attendee:
    """Changes the attendee's name, email, language and answers, validated as at registration:
    the questions asked for their ticket type, required ones stay required, conditional ones only
    when their condition is met. The answers replace the attendee's own answers; an answer that
    did not change keeps the label and display texts frozen when it was given, and answers to
    questions the organiser deleted since are kept (there is nothing to edit them with).

    Raises Conflict (`changes_closed`), NotFound (the link was replaced meanwhile) or
    ValidationError (422; keys `name`, `email`, `language`, `answers.<question id>`)."""
    order = attendee.order
    event = order.event
    check_changes_allowed(order, now=now)
    errors = FieldErrors()
    name = clean_name(name, "name", errors)
    email = clean_email(email, "email", errors, required=email_required(attendee))
    language = clean_language(language, "language", errors)
    new_answers = clean_answers(
        attendee_questions(event, attendee.ticket_type),
        answers,
        "answers.",
        errors,
        known_ids={q.id for q in event.questions},
    )
    errors.raise_if_any()

    _lock_for_change(order, now=now, attendee=attendee)
    attendee.name, attendee.email, attendee.language = name, email, language
    _replace_answers(attendee, new_answers)
    db.session.flush()
    return attendee


def _replace_answers(attendee: Attendee, new_answers: list[Answer]) -> None:
    old_by_question = {a.question_id: a for a in attendee.answers if a.question_id is not None}
    result = [a for a in attendee.answers if a.question_id is None]
    for answer in new_answers:
        old = old_by_question.get(answer.question_id)
        if old is not None and old.value == answer.value:
            result.append(old)
        else:
            answer.order = attendee.order
            result.append(answer)
    attendee.answers = result  # delete-orphan removes the rest


# --- workshops ------------------------------------------------------------------------------


def change_sessions(attendee: Attendee, session_ids, *, now: datetime) -> Attendee:
    """Replaces the attendee's workshops with `session_ids` (at most one per time slot; an empty
    list gives them all up). Workshops the attendee keeps keep their seat; each new one needs a
    free seat, counted under the event's sale lock. Seats given up are free for the new choice in
    the same call, and the event's own seats are not touched, so a swap works in a full event.

    Raises Conflict (`changes_closed`), SoldOut (`session_full`, 409, with the full workshops'
    ids in `sessions`), NotFound (the link was replaced meanwhile) or ValidationError (422; key
    `session_ids`)."""
    order = attendee.order
    event = order.event
    check_changes_allowed(order, now=now)
    errors = FieldErrors()
    chosen = clean_sessions(session_ids, {s.id: s for s in event.sessions}, "session_ids", errors)
    errors.raise_if_any()

    _lock_for_change(order, now=now, attendee=attendee)
    held = {c.session_id for c in attendee.session_choices}
    wanted = {s.id for s in chosen}
    new = [s for s in chosen if s.id not in held]
    if new:
        left = compute_availability(event, now=now, sessions=True).sessions  # counts this attendee's seats
        full = [s.id for s in new if left.get(s.id) is not None and left[s.id] < 1]
        if full:
            raise SoldOut(
                _l("A workshop you chose is full. Please choose another."),
                code="session_full",
                sessions=full,
            )
    attendee.session_choices = [c for c in attendee.session_choices if c.session_id in wanted]
    db.session.flush()  # give up the old seats first: a new one may be in the same time slot
    attendee.session_choices += [AttendeeSession(session_id=s.id, slot=s.slot) for s in new]
    db.session.flush()
    db.session.expire(attendee, ["sessions"])
    return attendee


# --- transfer -------------------------------------------------------------------------------


def transfer_ticket(attendee: Attendee, *, name, email, language, now: datetime) -> Attendee:
    """Gives the ticket to another person. The ticket version goes up (the old QR stops
    verifying), the attendee gets a new private link (the old holder's stops working), sponsor
    consent is reset (consent is personal; a withdrawal is recorded with via="transfer" when it
    was given), and the previous holder's answers and the sponsors' leads of them are removed
    (they described that person; the new holder answers from their own link). Workshops and
    the price paid stay with the ticket.
    The previous holder is told and the new one gets the ticket by email (the outbox).

    Raises Conflict (`changes_closed`), NotFound (the link was replaced meanwhile) or
    ValidationError (422; keys `name`, `email` (required), `language`)."""
    order = attendee.order
    check_changes_allowed(order, now=now)
    errors = FieldErrors()
    name = clean_name(name, "name", errors)
    email = clean_email(email, "email", errors, required=True)
    language = clean_language(language, "language", errors)
    if not errors.fields and name == attendee.name and email.lower() == (attendee.email or "").lower():
        errors.add("email", _l("The ticket already belongs to this person."))
    errors.raise_if_any()

    _lock_for_change(order, now=now, attendee=attendee)
    old_name, old_email, old_language = attendee.name, attendee.email, attendee.language
    attendee.name, attendee.email, attendee.language = name, email, language
    attendee.ticket_version += 1
    attendee.manage_token = new_token()
    if attendee.sponsor_consent:
        attendee.sponsor_consent = False
        db.session.add(ConsentRecord(attendee_id=attendee.id, given=False, at=now, via="transfer"))
    attendee.answers = []
    db.session.execute(sa.delete(Lead).where(Lead.attendee_id == attendee.id))
    db.session.flush()
    queue_ticket_transferred(
        attendee, old_name=old_name, old_email=old_email, old_language=old_language, now=now
    )
    return attendee


# --- sponsor consent ------------------------------------------------------------------------


def set_sponsor_consent(attendee: Attendee, given: bool, *, now: datetime, via: str) -> ConsentRecord | None:
    """Records the attendee's yes or no to sharing their contact details with the event's
    sponsors. Writes a ConsentRecord only when the value changes (returns it, else None).
    Withdrawing is always possible, also after the self-service deadline and on a cancelled
    order; giving consent needs an order that is pending or paid.

    Raises Conflict (`changes_closed`) for consent on an inactive order, NotFound (the link was
    replaced meanwhile); ValueError for an unknown `via` (a programming error)."""
    if via not in CONSENT_VIA:
        raise ValueError(f"unknown consent channel {via!r}")
    given = bool(given)
    token = attendee.manage_token
    lock_event_for_sale(attendee.order.event)
    db.session.refresh(attendee)
    db.session.refresh(attendee.order)
    if attendee.manage_token != token:
        raise NotFound(_l("No such ticket. The link may be old: a transferred ticket gets a new link."))
    if given and (inactive := _order_inactive(attendee.order, now=now)) is not None:
        raise inactive
    if attendee.sponsor_consent == given:
        return None
    attendee.sponsor_consent = given
    record = ConsentRecord(attendee_id=attendee.id, given=given, at=now, via=via)
    db.session.add(record)
    db.session.flush()
    return record


# --- the buyer cancels ----------------------------------------------------------------------


def check_tickets_issued(order: Order, attendee: Attendee | None = None) -> None:
    """Tickets (QR codes, PDFs) exist only for paid orders, and not for a ticket refunded on its
    own. Raises Conflict (`not_paid`, `ticket_refunded`)."""
    if attendee is not None and attendee.cancelled_at is not None:
        raise Conflict(_l("This ticket was refunded and is no longer valid."), code="ticket_refunded")
    if order.status != OrderStatus.PAID:
        raise Conflict(
            _l(
                "The tickets are ready when the order is paid. This order is %(state)s.",
                state=ORDER_STATUS_WORDS[order.status],
            ),
            code="not_paid",
        )


def refund_needed(order: Order) -> bool:
    """Whether cancelling the order means paying money back (by the event's cancellation rule)."""
    return order.status == OrderStatus.PAID and order.total_ore > 0


def cancel_refund_ore(order: Order) -> int:
    """What the buyer gets back for cancelling now, by the event's rule."""
    from eventreg.payments.services import plan_refund

    return plan_refund(order, None, percent=order.event.cancellation_refund_percent).amount_ore


def cancel_by_buyer(order: Order, *, now: datetime) -> None:
    """The buyer cancels their whole order through the order link, while changes are allowed.
    Pending orders and free ones are cancelled by `cancel_order`; a paid order is refunded by
    the event's rule (`cancellation_refund_percent` of the price; its tickets stop working at
    once). Both free the seats for the waiting list and email the buyer. Raises Conflict
    (`changes_closed`), and IllegalTransition when the order changed state meanwhile. The caller
    commits, then calls payments.execute_pending_refunds."""
    from eventreg.payments.services import refund_order

    check_changes_allowed(order, now=now)
    _lock_for_change(order, now=now)  # read the status again: a payment may have come in
    if refund_needed(order):
        reason = _l(
            "Cancelled by the buyer (%(n)d %% refunded by the event's rule).",
            n=order.event.cancellation_refund_percent,
        )
        refund_order(
            order,
            attendee_ids=None,
            now=now,
            reason=str(reason),
            percent=order.event.cancellation_refund_percent,
        )
        return
    cancel_order(order, now=now)
