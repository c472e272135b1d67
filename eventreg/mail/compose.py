"""Turning an outbox row into the email itself, in the recipient's language.

Each kind has a subject and a builder; the builder gathers the facts and attachments, and the
text and HTML parts come from templates/mail/<kind>.txt and .html. Composing reads the current
state (a confirmation shows the tickets as they are now); a message whose subject changed so
that it must not go out any more raises Superseded."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.utils import parseaddr

import flask_mail
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from eventreg.core.clock import now
from eventreg.core.i18n import localized
from eventreg.core.links import public_url
from eventreg.events.models import Event
from eventreg.extensions import db
from eventreg.mail.models import Mailing, OutboxMessage
from eventreg.registration.models import Attendee, Order, OrderStatus, WaitingListEntry, WaitlistStatus


class Superseded(Exception):
    """What the message is about changed before it was delivered; it must not be sent."""


class Message(flask_mail.Message):
    def as_bytes(self) -> bytes:
        # Flask-Mail folds the Subject twice and CPython 3.11 then drops the space between two
        # encoded words ("ÆØÅ – تم" arrives as "ÆØÅ –تم"); keep Header.encode()'s own folding.
        msg = self._message()
        msg.policy = policy.SMTP.clone(refold_source="none")
        return msg.as_bytes()


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes
    inline_id: str | None = None  # Content-ID for images shown in the HTML part


@dataclass
class Parts:
    context: dict
    attachments: list[Attachment] = field(default_factory=list)


# --- subjects -------------------------------------------------------------------------------


def subject_for(kind: str, *, event: Event | None, order: Order | None, context: dict) -> str:
    """The subject in the current locale (the caller wraps it in force_locale)."""
    title = event.name if event else ""
    match kind:
        case "confirmation":
            return _("Registration confirmed: %(event)s (order %(code)s)", event=title, code=order.code)
        case "ticket":
            return _("Your ticket for %(event)s", event=title)
        case "waitlist_offer":
            return _("A seat is free for you: %(event)s", event=title)
        case "hold_expired":
            return _("Your reservation for %(event)s has expired", event=title)
        case "order_cancelled":
            return _("Order %(code)s for %(event)s is cancelled", code=order.code, event=title)
        case "ticket_transferred":
            return _("Your ticket for %(event)s was transferred", event=title)
        case "invoice":
            return _("Invoice %(number)d for %(event)s", number=context["number"], event=title)
        case "invoice_reminder":
            return _(
                "Reminder: invoice %(number)d for %(event)s is due", number=context["number"], event=title
            )
        case "refund":
            return _("Refund for order %(code)s (%(event)s)", code=order.code, event=title)
        case "mailing":  # the organiser's subject in the recipient's language, else the other
            return localized(db.session.get(Mailing, context["mailing_id"]).subject)
    raise ValueError(f"unknown mail kind {kind!r}")


# --- builders -------------------------------------------------------------------------------


def _event_facts(event: Event, language: str) -> dict:
    return {
        "event": event,
        "event_title": event.name,
        "event_url": public_url("events.detail", slug=event.slug),
        "language": language,
    }


def _ics(event: Event, language: str) -> Attachment:
    from eventreg.tickets.documents import event_ics

    url = public_url("events.detail", slug=event.slug)
    return Attachment(
        f"{event.slug}.ics",
        "text/calendar; charset=utf-8; method=PUBLISH",
        event_ics(event, language=language, url=url),
    )


def _tickets(attendees: list[Attendee], language: str) -> list[Attachment]:
    """The tickets as one PDF, and each QR as an inline image for the HTML part."""
    from eventreg.tickets.documents import qr_png, ticket_pdf
    from eventreg.tickets.services import ticket_qr

    at = now()
    parts = [
        Attachment(
            f"qr-{a.id}.png", "image/png", qr_png(ticket_qr(a, now=at)), inline_id=f"qr-{a.id}@eventreg"
        )
        for a in attendees
    ]
    name = "billetter.pdf" if language == "nb" else "tickets.pdf"
    parts.append(Attachment(name, "application/pdf", ticket_pdf(attendees, language=language, now=at)))
    return parts


def _order(message: OutboxMessage) -> Order:
    order = db.session.get(Order, message.order_id) if message.order_id else None
    if order is None:
        raise Superseded("the order is gone")
    return order


def _confirmation(message: OutboxMessage) -> Parts:
    order = _order(message)
    if order.status != OrderStatus.PAID:
        raise Superseded(f"the order is {order.status.value}")
    context = {
        **_event_facts(order.event, message.language),
        "order": order,
        "manage_url": public_url("registration.manage", code=order.code, token=order.manage_token),
    }
    attachments = _tickets(order.active_attendees, message.language) + [_ics(order.event, message.language)]
    return Parts(context, attachments)


def _ticket(message: OutboxMessage) -> Parts:
    order = _order(message)
    attendee = db.session.get(Attendee, message.attendee_id) if message.attendee_id else None
    if attendee is None or order.status != OrderStatus.PAID or attendee.cancelled_at is not None:
        raise Superseded("the ticket is no longer valid")
    if attendee.ticket_version != message.context.get("ticket_version", attendee.ticket_version):
        # Transferred or revoked since: the recipient must not get the current holder's QR.
        raise Superseded("the ticket changed hands")
    context = {
        **_event_facts(order.event, message.language),
        "order": order,
        "attendee": attendee,
        "ticket_url": public_url("registration.ticket", token=attendee.manage_token),
    }
    return Parts(context, _tickets([attendee], message.language) + [_ics(order.event, message.language)])


def _waitlist_offer(message: OutboxMessage) -> Parts:
    entry = db.session.get(WaitingListEntry, message.waitlist_entry_id) if message.waitlist_entry_id else None
    if entry is None or entry.status != WaitlistStatus.OFFERED:
        raise Superseded("the offer was taken or has expired")
    event = db.session.get(Event, entry.event_id)
    context = {
        **_event_facts(event, message.language),
        "entry": entry,
        "offer_url": public_url("registration.offer", slug=event.slug, token=entry.offer_token),
    }
    return Parts(context)


def _about_order(message: OutboxMessage) -> Parts:
    order = _order(message)
    return Parts({**_event_facts(order.event, message.language), "order": order, "context": message.context})


def _document_attachment(doc) -> Attachment:
    from eventreg.payments.documents import document_filename, document_pdf

    return Attachment(document_filename(doc), "application/pdf", document_pdf(doc))


def _invoice(message: OutboxMessage) -> Parts:
    from eventreg.payments.invoices import amount_due
    from eventreg.payments.models import DocumentStatus, SalesDocument

    order = _order(message)
    doc = db.session.get(SalesDocument, message.context["document_id"])
    if message.kind == "invoice_reminder" and doc.status != DocumentStatus.OPEN:
        raise Superseded("the invoice is settled")
    context = {
        **_event_facts(order.event, message.language),
        "order": order,
        "doc": doc,
        "amount_due": amount_due(doc),
        "manage_url": public_url("registration.manage", code=order.code, token=order.manage_token),
    }
    return Parts(context, [_document_attachment(doc)])


def _refund(message: OutboxMessage) -> Parts:
    from eventreg.payments.models import Refund

    order = _order(message)
    refund = db.session.get(Refund, message.context["refund_id"])
    context = {
        **_event_facts(order.event, message.language),
        "order": order,
        "refund": refund,
        "cancelled": [a for a in order.attendees if a.id in refund.attendee_ids],
        "manage_url": public_url("registration.manage", code=order.code, token=order.manage_token),
    }
    attachments = [_document_attachment(refund.credit_note)] if refund.credit_note else []
    return Parts(context, attachments)


def mailing_facts(event: Event, body: dict, language: str) -> dict:
    """What templates/mail/mailing.* show: the organiser's plain text in `language` (else the
    other language), also as paragraphs of lines for the HTML part."""
    text = localized(body, language).strip()
    paragraphs = [p.splitlines() for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    return {**_event_facts(event, language), "body": text, "paragraphs": paragraphs}


def _mailing(message: OutboxMessage) -> Parts:
    mailing = db.session.get(Mailing, message.mailing_id) if message.mailing_id else None
    attendee = db.session.get(Attendee, message.attendee_id) if message.attendee_id else None
    if mailing is None or attendee is None or attendee.erased_at is not None:
        raise Superseded("the mailing or its recipient is gone")
    return Parts(mailing_facts(db.session.get(Event, mailing.event_id), mailing.body, message.language))


BUILDERS: dict[str, Callable[[OutboxMessage], Parts]] = {
    "mailing": _mailing,
    "invoice": _invoice,
    "invoice_reminder": _invoice,
    "refund": _refund,
    "confirmation": _confirmation,
    "ticket": _ticket,
    "waitlist_offer": _waitlist_offer,
    "hold_expired": _about_order,
    "order_cancelled": _about_order,
    "ticket_transferred": _about_order,
}


def organiser_text(event: Event | None, kind: str, language: str) -> list[list[str]]:
    """The organiser's own words for this kind of email (Event.email_texts: confirmation,
    invoice, ticket) in `language`, else in the other one, as paragraphs of lines; [] for none.
    Plain text: the templates escape it like any other value."""
    texts = (event.email_texts or {}).get(kind) if event is not None else None
    text = localized(texts, language).strip() if texts else ""
    return [p.strip().splitlines() for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def compose(message: OutboxMessage) -> tuple[str, bytes]:
    """(envelope sender, the message's bytes). Raises Superseded when it must not be sent."""
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    with force_locale(message.language):
        parts = BUILDERS[message.kind](message)
        context = {**parts.context, "recipient_name": message.recipient_name, "subject": message.subject}
        context["organiser_text"] = organiser_text(parts.context.get("event"), message.kind, message.language)
        text = render_template(f"mail/{message.kind}.txt", **context)
        html = render_template(f"mail/{message.kind}.html", **context)
    email = Message(
        subject=message.subject,
        sender=sender,
        recipients=[(message.recipient_name, message.recipient_email)],
        body=text,
        html=html,
        date=message.created_at.timestamp(),  # the same bytes at every attempt
    )
    email.msgId = message.message_id
    for a in parts.attachments:
        if a.inline_id:
            email.attach(
                a.filename, a.content_type, a.data, "inline", headers={"Content-ID": f"<{a.inline_id}>"}
            )
        else:
            email.attach(a.filename, a.content_type, a.data)
    return parseaddr(sender)[1] or sender, email.as_bytes()
