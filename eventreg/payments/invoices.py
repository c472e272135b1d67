"""Sales documents: invoices (paid later by bank transfer with a KID), receipts for card payments,
and credit notes; marking invoices paid by hand or from a bank statement; payment reminders.

Every document takes the next number of its organiser's one series with an UPDATE … RETURNING on
the organiser row: the row stays locked until the transaction commits, so numbers are gapless and
unique on every database and app server (a rolled-back transaction gives its number back).
Services only flush; the caller commits."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from eventreg.core.errors import Conflict, NotFound
from eventreg.core.i18n import current_language, localized
from eventreg.core.money import format_money
from eventreg.events.models import Event, Organiser
from eventreg.extensions import db
from eventreg.mail import services as mail
from eventreg.payments.models import DocumentKind, DocumentStatus, SalesDocument
from eventreg.payments.norway import (
    BadLine,
    BankLine,
    invoice_kid,
    normalise_org_number,
    parse_bank_statement,
    valid_org_number,
)
from eventreg.registration.models import Attendee, Order

MAX_FIELD = 200
MAX_ADDRESS = 500


@dataclass
class InvoiceDetails:
    """What an organisation paying by invoice tells us."""

    org_number: str = ""
    org_name: str = ""
    address: str = ""
    reference: str = ""  # their reference or purchase order number


def clean_invoice_details(raw: InvoiceDetails | None, add_error) -> InvoiceDetails:
    """Validated and normalised details; problems go to `add_error(field_key, message)`."""
    raw = raw if isinstance(raw, InvoiceDetails) else InvoiceDetails()

    def text(value, key: str, limit: int, required: bool) -> str:
        value = value.strip() if isinstance(value, str) else ""
        if required and not value:
            add_error(key, _l("This field is required."))
        elif len(value) > limit:
            add_error(key, _l("At most %(n)d characters.", n=limit))
        return value

    number = normalise_org_number(raw.org_number if isinstance(raw.org_number, str) else "")
    if not number:
        add_error("invoice.org_number", _l("This field is required."))
    elif not (len(number) == 9 and number.isdigit()):
        add_error("invoice.org_number", _l("An organisation number has 9 digits."))
    elif not valid_org_number(number):
        add_error(
            "invoice.org_number",
            _l("This is not a valid organisation number: its check digit is wrong. Please check it."),
        )
    return InvoiceDetails(
        org_number=number,
        org_name=text(raw.org_name, "invoice.org_name", MAX_FIELD, True),
        address=text(raw.address, "invoice.address", MAX_ADDRESS, True),
        reference=text(raw.reference, "invoice.reference", MAX_FIELD, False),
    )


# --- issuing --------------------------------------------------------------------------------


def _next_number(organiser_id: int) -> int:
    return db.session.execute(
        sa.update(Organiser)
        .where(Organiser.id == organiser_id)
        .values(next_document_number=Organiser.next_document_number + 1)
        .returning(Organiser.next_document_number - 1)
    ).scalar_one()


def _seller(organiser: Organiser) -> dict:
    return {
        "name": organiser.name,
        "org_number": organiser.org_number,
        "vat_registered": organiser.vat_registered,
        "address": organiser.address,
        "email": organiser.email,
        "bank_account": organiser.bank_account,
    }


def document_lines(attendees: list[Attendee], language: str) -> list[dict]:
    """One line per ticket type and price, gross amounts as sold."""
    grouped: dict[tuple, dict] = {}
    for a in attendees:
        key = (a.ticket_type_id, a.price_ore, a.vat_rate)
        if key not in grouped:
            grouped[key] = {
                "description": localized(a.ticket_type.name, language),
                "quantity": 0,
                "unit_ore": a.price_ore,
                "vat_rate": a.vat_rate,
                "total_ore": 0,
            }
        grouped[key]["quantity"] += 1
        grouped[key]["total_ore"] += a.price_ore
    return list(grouped.values())


def _issue(
    order: Order,
    kind: DocumentKind,
    *,
    lines: list[dict],
    buyer: dict,
    now: datetime,
    status: DocumentStatus,
    credits: SalesDocument | None = None,
) -> SalesDocument:
    event: Event = order.event
    organiser = db.session.get(Organiser, event.organiser_id)
    number = _next_number(organiser.id)
    doc = SalesDocument(
        organiser_id=organiser.id,
        number=number,
        kind=kind,
        order=order,
        credits=credits,
        status=status,
        language=order.buyer_language,
        issued_at=now,
        lines=lines,
        total_ore=sum(line["total_ore"] for line in lines),
        seller=_seller(organiser),
        buyer=buyer,
    )
    if kind == DocumentKind.INVOICE:
        doc.kid = invoice_kid(number)
        doc.due_at = now + timedelta(days=organiser.invoice_due_days)
    db.session.add(doc)
    db.session.flush()
    return doc


def issue_invoice(order: Order, details: InvoiceDetails, *, now: datetime) -> SalesDocument:
    """The invoice for an order paid by invoice, emailed to the buyer with the PDF."""
    buyer = {
        "name": details.org_name,
        "org_number": details.org_number,
        "address": details.address,
        "reference": details.reference,
        "contact": order.buyer_name,
        "email": order.buyer_email or "",
    }
    lines = document_lines(order.attendees, order.buyer_language)
    doc = _issue(order, DocumentKind.INVOICE, lines=lines, buyer=buyer, now=now, status=DocumentStatus.OPEN)
    mail.queue_document(doc, "invoice", now=now)
    return doc


def issue_receipt(order: Order, *, now: datetime) -> SalesDocument:
    """The receipt of a card payment (a sales document with its own number, as bookkeeping needs)."""
    buyer = {"name": order.buyer_name, "email": order.buyer_email or ""}
    lines = document_lines(order.attendees, order.buyer_language)
    doc = _issue(
        order, DocumentKind.RECEIPT, lines=lines, buyer=buyer, now=now, status=DocumentStatus.SETTLED
    )
    doc.paid_at, doc.paid_via = now, "card"
    return doc


def issue_credit_note(original: SalesDocument, lines: list[dict], *, now: datetime) -> SalesDocument:
    """Takes back `lines` (positive amounts) of an invoice or receipt. An open invoice credited in
    full has nothing left to pay and is settled."""
    note = _issue(
        original.order,
        DocumentKind.CREDIT_NOTE,
        lines=lines,
        buyer=dict(original.buyer),
        now=now,
        status=DocumentStatus.SETTLED,
        credits=original,
    )
    if original.status == DocumentStatus.OPEN and amount_due(original) <= 0:
        original.status = DocumentStatus.SETTLED
    return note


def main_document(order: Order) -> SalesDocument | None:
    """The order's invoice or receipt (not its credit notes)."""
    return db.session.scalar(
        sa.select(SalesDocument)
        .where(
            SalesDocument.order_id == order.id,
            SalesDocument.kind.in_([DocumentKind.INVOICE, DocumentKind.RECEIPT]),
        )
        .order_by(SalesDocument.id.desc())
    )


def order_documents(order: Order) -> list[SalesDocument]:
    return list(
        db.session.scalars(
            sa.select(SalesDocument).where(SalesDocument.order_id == order.id).order_by(SalesDocument.number)
        )
    )


def amounts_due(docs: list[SalesDocument]) -> dict[int, int]:
    """What is left to pay on each document after its credit notes (0 for anything but an unpaid
    invoice), with one query for the whole list."""
    unpaid = {d.id for d in docs if d.kind == DocumentKind.INVOICE and d.paid_at is None}
    credited: dict[int, int] = {}
    if unpaid:
        credited = dict(
            db.session.execute(
                sa.select(SalesDocument.credits_id, sa.func.sum(SalesDocument.total_ore))
                .where(SalesDocument.credits_id.in_(unpaid))
                .group_by(SalesDocument.credits_id)
            ).all()
        )
    return {d.id: max(0, d.total_ore - credited.get(d.id, 0)) if d.id in unpaid else 0 for d in docs}


def amount_due(invoice: SalesDocument) -> int:
    return amounts_due([invoice])[invoice.id]


def get_document(event: Event, number: int) -> SalesDocument:
    doc = db.session.scalar(
        sa.select(SalesDocument)
        .join(Order, SalesDocument.order_id == Order.id)
        .where(Order.event_id == event.id, SalesDocument.number == number)
        .where(SalesDocument.organiser_id == event.organiser_id)
    )
    if doc is None:
        raise NotFound(_l("No such invoice."))
    return doc


def list_documents(event: Event) -> list[SalesDocument]:
    return list(
        db.session.scalars(
            sa.select(SalesDocument)
            .join(Order, SalesDocument.order_id == Order.id)
            .where(Order.event_id == event.id)
            .order_by(SalesDocument.number.desc())
        )
    )


# --- getting paid ---------------------------------------------------------------------------


def mark_invoice_paid(invoice: SalesDocument, *, now: datetime, via: str) -> None:
    """Records that the money of an open invoice came in. Raises Conflict otherwise. One
    conditional UPDATE, so a bank import and a click racing each other settle it once."""
    if invoice.kind != DocumentKind.INVOICE:
        raise Conflict(_l("Only invoices are paid this way."), code="not_an_invoice")
    settled = db.session.execute(
        sa.update(SalesDocument)
        .where(SalesDocument.id == invoice.id, SalesDocument.status == DocumentStatus.OPEN)
        .values(status=DocumentStatus.SETTLED, paid_at=now, paid_via=via[:200])
    ).rowcount
    db.session.refresh(invoice)
    if not settled:
        raise Conflict(_l("Invoice %(n)d is already settled.", n=invoice.number), code="not_open")


@dataclass
class ImportResult:
    applied: list[tuple[BankLine, SalesDocument]] = field(default_factory=list)
    # Lines not applied, each with why: (line, code, message, invoice or None).
    refused: list[tuple[BankLine | BadLine, str, str, SalesDocument | None]] = field(default_factory=list)


def import_bank_statement(organiser: Organiser, data: bytes, *, now: datetime) -> ImportResult:
    """Marks paid each open invoice of `organiser` whose KID and exact amount are on a line of the
    statement. Everything else is listed with the reason and left alone: unknown KID, wrong amount,
    already paid, unreadable lines. Raises ValueError when the file is not a statement we can read."""
    statement = parse_bank_statement(data)
    result = ImportResult()
    for bad in statement.bad_lines:
        result.refused.append((bad, bad.code, bad.problem, None))
    for line in statement.lines:
        invoice = db.session.scalar(
            sa.select(SalesDocument).where(
                SalesDocument.organiser_id == organiser.id,
                SalesDocument.kind == DocumentKind.INVOICE,
                SalesDocument.kid == line.kid,
            )
        )
        if invoice is None:
            result.refused.append((line, "unknown_kid", str(_l("No invoice has this KID.")), None))
            continue
        if invoice.status != DocumentStatus.OPEN:
            result.refused.append((line, "not_open", str(_l("This invoice is already settled.")), invoice))
            continue
        due = amount_due(invoice)
        if line.amount_ore != due:
            message = _l(
                "The amount differs from the %(due)s due; check it and mark the invoice by hand.",
                due=format_money(due, current_language()),
            )
            result.refused.append((line, "wrong_amount", str(message), invoice))
            continue
        date = line.date.isoformat() if line.date else ""
        mark_invoice_paid(invoice, now=now, via=f"bank {date} KID {line.kid}".strip())
        result.applied.append((line, invoice))
    db.session.flush()
    return result


def send_reminders(*, now: datetime) -> int:
    """One reminder for each open invoice past its due date that has had none. Commits per
    invoice (the job's own transaction); returns how many were queued."""
    ids = list(
        db.session.scalars(
            sa.select(SalesDocument.id).where(
                SalesDocument.kind == DocumentKind.INVOICE,
                SalesDocument.status == DocumentStatus.OPEN,
                SalesDocument.due_at < now,
                SalesDocument.reminded_at.is_(None),
            )
        )
    )
    sent = 0
    for doc_id in ids:
        # Claim it with a conditional UPDATE: two jobs running at once remind only once.
        claimed = db.session.execute(
            sa.update(SalesDocument)
            .where(SalesDocument.id == doc_id, SalesDocument.reminded_at.is_(None))
            .where(SalesDocument.status == DocumentStatus.OPEN)
            .values(reminded_at=now)
        ).rowcount
        if claimed:
            doc = db.session.get(SalesDocument, doc_id)
            mail.queue_document(doc, "invoice_reminder", now=now)
            sent += 1
        db.session.commit()
    return sent
