"""Invoices, receipts and credit notes as PDFs: what bookkeeping asks of them is in the text (number,
dates, both parties, KID, VAT per rate, totals), names in any script come out intact, and a credit
note's amounts are negative. Page 1 of each goes to test-artifacts/ as a PNG for people to look at."""

import re
import subprocess
from datetime import timedelta

import pytest
from flask_babel import force_locale, gettext

from eventreg.extensions import db
from eventreg.payments.documents import document_pdf, vat_summary
from eventreg.payments.models import DocumentKind, DocumentStatus, SalesDocument
from eventreg.payments.norway import invoice_kid
from eventreg.registration.services import create_order
from tests.factories import NOW, make_event, make_organiser, order_data
from tests.tickets.test_documents import ARTIFACTS, has_font_for, page_count, page_size_mm, pdf_text

ARABIC, CYRILLIC, CJK = "محمد يونس", "Юнус Мухаммад", "尤努斯"
TICKETS = {
    "description": "Konferansebillett – Forum 2027",
    "quantity": 2,
    "unit_ore": 1250_00,
    "vat_rate": 25,
}
DINNER = {"description": "Festmiddag", "quantity": 1, "unit_ore": 450_00, "vat_rate": 15}


def line(spec: dict, quantity: int | None = None) -> dict:
    quantity = spec["quantity"] if quantity is None else quantity
    return {**spec, "quantity": quantity, "total_ore": spec["unit_ore"] * quantity}


def seller(organiser) -> dict:
    return {
        "name": organiser.name,
        "org_number": organiser.org_number,
        "vat_registered": organiser.vat_registered,
        "address": organiser.address,
        "bank_account": organiser.bank_account,
        "email": "post@mikrofinans.example.org",
    }


def add_document(order, *, number, kind, language, lines, buyer, credits=None, **kw) -> SalesDocument:
    organiser = order.event.organiser
    doc = SalesDocument(
        organiser_id=organiser.id,
        number=number,
        kind=kind,
        order=order,
        credits=credits,
        status=DocumentStatus.OPEN if kind == DocumentKind.INVOICE else DocumentStatus.SETTLED,
        language=language,
        issued_at=NOW,
        lines=lines,
        total_ore=sum(item["total_ore"] for item in lines),
        seller=seller(organiser),
        buyer=buyer,
        **kw,
    )
    db.session.add(doc)
    db.session.flush()
    return doc


@pytest.fixture
def documents(ctx):
    """Invoice 1 (nb, Arabic buyer, two VAT rates), receipt 2 (en, CJK buyer) and credit note 3
    (nb, Cyrillic buyer) taking back one ticket of invoice 1."""
    make_organiser(vat_registered=True, email="post@mikrofinans.example.org")
    event = make_event("forum", prices=(1250_00,), venue="Oslo Kongressenter, Youngs gate 21, Oslo")
    order = create_order(event, order_data(event, 2), now=NOW)
    invoice = add_document(
        order,
        number=1,
        kind=DocumentKind.INVOICE,
        language="nb",
        lines=[line(TICKETS), line(DINNER)],
        buyer={
            "name": ARABIC,
            "org_number": "987654325",
            "address": "c/o Yunus Social Business\nStorgata 1\n0155 Oslo",
            "reference": "PO-4711",
            "email": "yunus@example.org",
        },
        due_at=NOW + timedelta(days=14),
        kid=invoice_kid(1),
    )
    receipt = add_document(
        order,
        number=2,
        kind=DocumentKind.RECEIPT,
        language="en",
        lines=[line(TICKETS, 1)],
        buyer={"name": CJK, "address": "北京市朝阳区建国路 88 号", "email": "yns@example.org"},
        paid_at=NOW,
        paid_via="card",
    )
    credit_note = add_document(
        order,
        number=3,
        kind=DocumentKind.CREDIT_NOTE,
        language="nb",
        lines=[line(TICKETS, 1)],
        buyer={"name": CYRILLIC, "address": "Тверская улица 7\nМосква"},
        credits=invoice,
    )
    return {"invoice": invoice, "receipt": receipt, "credit_note": credit_note}


def translated(language: str, text: str, **params) -> str:
    """`text` as the PDF shows it in `language`, whether or not the catalogue translates it yet."""
    with force_locale(language):
        return gettext(text, **params)


def render(doc: SalesDocument, name: str) -> tuple[bytes, str]:
    """The PDF and its text; page 1 goes to test-artifacts/ as a PNG."""
    pdf = document_pdf(doc)
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile", "-", str(ARTIFACTS / name)],
        input=pdf,
        check=True,
    )
    return pdf, pdf_text(pdf)


def test_vat_summary_per_rate_from_the_gross_sums():
    lines = [
        line(TICKETS),
        line(DINNER),
        {"description": "Middag", "quantity": 1, "unit_ore": 1, "vat_rate": 15, "total_ore": 1},
        {"description": "Gave", "quantity": 1, "unit_ore": 100_00, "vat_rate": 0, "total_ore": 100_00},
    ]
    assert vat_summary(lines) == [
        {"rate": 0, "net_ore": 100_00, "vat_ore": 0, "gross_ore": 100_00},
        {"rate": 15, "net_ore": 391_31, "vat_ore": 58_70, "gross_ore": 450_01},
        {"rate": 25, "net_ore": 2000_00, "vat_ore": 500_00, "gross_ore": 2500_00},
    ]
    assert vat_summary([]) == []


def test_invoice(documents):
    pdf, text = render(documents["invoice"], "payment-invoice-nb")
    assert page_count(pdf) == 1
    assert page_size_mm(pdf) == (210.0, 297.0)
    assert translated("nb", "Invoice %(number)s", number=1) in text
    assert "00000018" in text  # the KID
    assert "15.01.2027" in text and "29.01.2027" in text  # issued, due
    assert "997 654 323 MVA" in text  # the seller, VAT registered
    assert "987 654 325" in text and "987 654 325 MVA" not in text  # the buyer
    assert "1503.12.34562" in text
    assert "PO-4711" in text and documents["invoice"].order.code in text
    assert "Forum forum" in text and "Oslo Kongressenter" in text and "27. mai 2027" in text
    # the lines, VAT per rate (25 %: 2 000,00 + 500,00; 15 %: 391,30 + 58,70) and the total
    for figure in ("1 250,00", "2 500,00", "450,00", "2 000,00", "500,00", "391,30", "58,70", "2 391,30"):
        assert figure in text, figure
    assert "558,70" in text and "2 950,00" in text
    assert "-" + "2 950,00" not in text
    assert ARABIC in text and has_font_for(ARABIC)


def test_receipt(documents):
    pdf, text = render(documents["receipt"], "payment-receipt-en")
    assert page_count(pdf) == 1
    assert "Receipt 2" in text
    assert "Paid by card on 15 Jan 2027" in text
    assert "997 654 323 MVA" in text and "1,250.00" in text and "250.00" in text and "1,000.00" in text
    assert "KID" not in text and "Due date" not in text
    assert CJK in text and "北京市朝阳区建国路" in text and has_font_for(CJK + "北京市朝阳区建国路")


def test_credit_note_takes_amounts_back(documents):
    pdf, text = render(documents["credit_note"], "payment-credit-note-nb")
    assert page_count(pdf) == 1
    assert translated("nb", "Credit note %(number)s", number=3) in text
    assert translated("nb", "Credits invoice no. %(number)s of %(date)s", number=1, date="15.01.2027") in text
    assert "-1 250,00" in text and "-1 000,00" in text and "-250,00" in text
    assert "1503.12.34562" not in text  # nothing to pay
    assert CYRILLIC in text and "Тверская улица 7" in text and has_font_for(CYRILLIC)


def test_every_page_of_a_long_invoice_says_which_document_it_is(documents):
    invoice = documents["invoice"]
    many = [line({**TICKETS, "description": f"Konferansebillett for deltaker {i}"}, 1) for i in range(60)]
    doc = add_document(
        invoice.order,
        number=4,
        kind=DocumentKind.INVOICE,
        language="en",
        lines=many,
        buyer=invoice.buyer,
        due_at=invoice.due_at,
        kid=invoice_kid(4),
    )
    pdf = document_pdf(doc)
    pages = pdf_text(pdf).split("\f")[: page_count(pdf)]
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert "Invoice 4" in page and re.search(rf"\b{number} ?/ ?{len(pages)}\b", page)
        assert "DESCRIPTION" in page  # the table's head repeats
    assert "Konferansebillett for deltaker 59" in pages[-1] and "NOK 75,000.00" in pages[-1]


def test_seller_without_vat_registration_shows_no_vat(ctx):
    make_organiser(vat_registered=False)
    event = make_event("free-vat", prices=(300_00,), vat=0)
    order = create_order(event, order_data(event), now=NOW)
    spec = {"description": "Billett", "quantity": 1, "unit_ore": 300_00, "vat_rate": 0}
    doc = add_document(
        order, number=1, kind=DocumentKind.RECEIPT, language="en", lines=[line(spec)], buyer={"name": "Kari"}
    )
    text = pdf_text(document_pdf(doc))
    assert "997 654 323" in text and "MVA" not in text
    assert "VAT" not in text
    assert "300.00" in text
