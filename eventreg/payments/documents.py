"""Sales documents as PDFs: invoices, receipts and credit notes on A4, with what the bookkeeping
regulations (bokføringsforskriften § 5-1-1) ask of a sales document: number and date, both
parties (the seller's organisation number, with "MVA" when VAT registered), what was delivered
and when (the event), the lines, VAT per rate, the total, and for an invoice the due date and how
to pay.

Everything comes from the document's own snapshot (lines, seller, buyer), never from the
organiser or order as they are now, so a reprint years later shows what was issued. Drawn by
WeasyPrint like the tickets (see eventreg.tickets.documents)."""

from collections import defaultdict
from decimal import Decimal

from babel.numbers import format_decimal, format_percent
from flask import render_template
from flask_babel import force_locale, format_date

from eventreg.core.i18n import LANGUAGES, localized
from eventreg.core.money import vat_included
from eventreg.payments.models import DocumentKind, SalesDocument
from eventreg.payments.norway import format_bank_account, format_org_number
from eventreg.tickets.documents import FONT_STACK, event_when, html_to_pdf, text_dir

_LOCALES = {"nb": "nb_NO", "en": "en"}
# Numeric dates as on Norwegian invoices; in English with the month's name, which no reader can
# take for a US date.
_DATE_PATTERNS = {"nb": "dd.MM.yyyy", "en": "d MMM y"}


def vat_summary(lines: list[dict]) -> list[dict]:
    """VAT per rate of a document's lines (gross amounts): [{"rate", "net_ore", "vat_ore",
    "gross_ore"}], by rate. The VAT is computed once per rate from the rate's gross sum, so it
    matches what the lines add up to rather than the sum of rounded per-line figures."""
    gross_by_rate: dict[int, int] = defaultdict(int)
    for line in lines:
        gross_by_rate[int(line["vat_rate"])] += int(line["total_ore"])
    summary = []
    for rate, gross in sorted(gross_by_rate.items()):
        vat = vat_included(gross, rate)
        summary.append({"rate": rate, "net_ore": gross - vat, "vat_ore": vat, "gross_ore": gross})
    return summary


def _amount(ore: int, language: str) -> str:
    """ "1 250,00" / "1,250.00": a number without currency, for the columns of a document."""
    text = format_decimal(Decimal(abs(ore)) / 100, format="#,##0.00", locale=_LOCALES[language])
    return "-" + text if ore < 0 else text


def _address_lines(party: dict) -> list[str]:
    return [line.strip() for line in str(party.get("address") or "").splitlines() if line.strip()]


def document_pdf(doc: SalesDocument) -> bytes:
    """The document as an A4 PDF in its own language (`doc.language`, "nb" or "en"; ValueError
    otherwise). A credit note shows its amounts as negative: it takes them back."""
    language = doc.language
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    sign = -1 if doc.kind == DocumentKind.CREDIT_NOTE else 1
    event = doc.order.event
    seller, buyer = doc.seller or {}, doc.buyer or {}
    summary = vat_summary(doc.lines)

    with force_locale(language):

        def day(moment) -> str:
            return format_date(moment, _DATE_PATTERNS[language]) if moment is not None else ""

        def amount(ore: int) -> str:
            return _amount(sign * ore, language)

        credited = doc.credits
        html = render_template(
            "payments/document_pdf.html",
            language=language,
            fonts=FONT_STACK,
            dir=text_dir,
            kind=doc.kind.value,
            number=doc.number,
            issued=day(doc.issued_at),
            due=day(doc.due_at),
            paid=day(doc.paid_at or doc.issued_at),
            kid=doc.kid or "",
            currency=event.currency,
            order_code=doc.order.code,
            seller={
                "name": seller.get("name") or "",
                "address": _address_lines(seller),
                "org_number": format_org_number(seller.get("org_number") or ""),
                "vat_registered": bool(seller.get("vat_registered")),
                "email": seller.get("email") or "",
                "bank_account": format_bank_account(seller.get("bank_account") or ""),
            },
            buyer={
                "name": buyer.get("name") or "",
                "address": _address_lines(buyer),
                "org_number": format_org_number(buyer.get("org_number") or ""),
                "reference": buyer.get("reference") or "",
                "email": buyer.get("email") or "",
            },
            event={
                "title": localized(event.title, language),
                "when": event_when(event, language),
                "venue": event.venue,
            },
            lines=[
                {
                    "description": str(line["description"]),
                    "quantity": line["quantity"],
                    "unit": amount(line["unit_ore"]),
                    "vat_rate": format_percent(line["vat_rate"] / 100, locale=_LOCALES[language]),
                    "total": amount(line["total_ore"]),
                }
                for line in doc.lines
            ],
            show_vat=bool(seller.get("vat_registered")) or any(row["rate"] for row in summary),
            vat_rows=[
                {
                    "rate": format_percent(row["rate"] / 100, locale=_LOCALES[language]),
                    "net": amount(row["net_ore"]),
                    "vat": amount(row["vat_ore"]),
                    "gross": amount(row["gross_ore"]),
                }
                for row in summary
            ],
            net_total=amount(sum(row["net_ore"] for row in summary)),
            vat_total=amount(sum(row["vat_ore"] for row in summary)),
            total=amount(doc.total_ore),
            credited=(
                {"kind": credited.kind.value, "number": credited.number, "issued": day(credited.issued_at)}
                if credited is not None
                else None
            ),
        )
    return html_to_pdf(html)


def document_filename(doc: SalesDocument) -> str:
    """ "faktura-12.pdf", "credit-note-13.pdf": the document's kind in its own language."""
    word = {
        DocumentKind.INVOICE: ("faktura", "invoice"),
        DocumentKind.RECEIPT: ("kvittering", "receipt"),
        DocumentKind.CREDIT_NOTE: ("kreditnota", "credit-note"),
    }[doc.kind][0 if doc.language == "nb" else 1]
    return f"{word}-{doc.number}.pdf"
