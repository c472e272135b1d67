"""Paying by invoice: validated organisation numbers, gapless invoice numbers with a KID, the
invoice and its reminder by email, bank statements matched on KID, credit notes."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from eventreg.core.errors import Conflict, ValidationError
from eventreg.extensions import db
from eventreg.mail.services import deliver_all_due
from eventreg.payments import invoices, services
from eventreg.payments.models import DocumentKind, DocumentStatus, SalesDocument
from eventreg.payments.norway import valid_kid
from eventreg.registration.models import OrderStatus
from eventreg.registration.services import create_order
from eventreg.tickets.services import check_ticket, ticket_qr
from eventreg.tickets.signing import InvalidTicket
from tests.factories import NOW, invoice_details, make_event, make_user, order_data
from tests.tickets.test_documents import pdf_text


def invoice_order(event, n=1, **kw):
    order = create_order(
        event, order_data(event, n, payment_method="invoice", buyer_language="en", **kw), now=NOW
    )
    db.session.commit()
    return order


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("", "This field is required."),
        ("12345678", "An organisation number has 9 digits."),
        ("923609017", "This is not a valid organisation number: its check digit is wrong. Please check it."),
    ],
)
def test_a_wrong_organisation_number_is_refused_with_a_clear_message(ctx, number, message):
    event = make_event()
    data = order_data(event, payment_method="invoice", invoice=invoice_details(org_number=number))
    with pytest.raises(ValidationError) as err:
        create_order(event, data, now=NOW)
    with force_locale("en"):
        assert [str(m) for m in err.value.fields["invoice.org_number"]] == [message]


def test_the_invoice_has_the_next_number_a_kid_and_the_due_date_and_is_emailed_with_the_pdf(ctx, smtp):
    event = make_event(prices=(1250_00,), vat=25)
    first = invoice_order(event, 2, invoice=invoice_details(reference="PO-4711"))
    second = invoice_order(event)
    a, b = invoices.main_document(first), invoices.main_document(second)
    assert (a.number, b.number) == (1, 2)
    assert a.kid == "00000018" and valid_kid(a.kid) and a.due_at == NOW + timedelta(days=14)
    assert a.buyer["org_number"] == "923609016" and a.buyer["reference"] == "PO-4711"
    assert a.total_ore == 2500_00 and a.status == DocumentStatus.OPEN

    deliver_all_due(now_fn=lambda: NOW)
    [mail] = [m for m in smtp.to("buyer@example.org") if m["Subject"].startswith("Invoice 1 ")]
    body = mail.get_body(("plain",)).get_content()
    assert "00000018" in body and "1503.12.34562" in body
    pdf = {p.get_filename(): p for p in mail.iter_attachments()}["invoice-1.pdf"].get_payload(decode=True)
    text = pdf_text(pdf)
    assert "00000018" in text and "923 609 016" in text and "PO-4711" in text


def test_twenty_invoices_at_once_get_numbers_without_gaps_or_repeats(app, ctx):
    """20 threads issue invoices at once for 20 events of one organiser (so no sale lock orders
    them; on PostgreSQL for real concurrency); 5 of them roll back after taking a number, which
    must come back to the series."""
    event_ids = [make_event(f"course-{i}").id for i in range(20)]
    db.session.commit()
    barrier = threading.Barrier(20)
    errors = []

    def issue(i):
        from eventreg.events.models import Event

        with app.app_context():
            try:
                barrier.wait(timeout=30)  # before taking a connection: the pool has fewer than 20
                ev = db.session.get(Event, event_ids[i])
                create_order(ev, order_data(ev, payment_method="invoice"), now=NOW)
                if i % 4 == 0:
                    db.session.rollback()
                else:
                    db.session.commit()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=issue, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    numbers = sorted(db.session.scalars(sa.select(SalesDocument.number)))
    assert numbers == list(range(1, 16))


def test_a_bank_statement_marks_matching_invoices_paid_and_lists_the_rest(ctx):
    event = make_event(prices=(1250_00,))
    paid, wrong_amount, already = invoice_order(event), invoice_order(event), invoice_order(event)
    p, w, a = (invoices.main_document(o) for o in (paid, wrong_amount, already))
    invoices.mark_invoice_paid(a, now=NOW, via="manual")
    statement = (
        "Dato;Forklaring;KID;Inn;Ut\n"
        f"20.01.2027;Giro;{p.kid};1 250,00;\n"
        f"20.01.2027;Giro;{w.kid};1 000,00;\n"
        f"21.01.2027;Giro;{a.kid};1 250,00;\n"
        "21.01.2027;Giro;00000992;1 250,00;\n"
        "22.01.2027;Gebyr;;;35,00\n"
    ).encode("cp1252")
    result = invoices.import_bank_statement(event.organiser, statement, now=NOW)
    db.session.commit()
    assert [doc.number for _line, doc in result.applied] == [p.number]
    assert sorted(code for _l, code, _m, _d in result.refused) == [
        "not_income",
        "not_open",
        "unknown_kid",
        "wrong_amount",
    ]
    db.session.expire_all()
    assert p.status == DocumentStatus.SETTLED and p.paid_via.startswith("bank 2027-01-20")
    assert w.status == DocumentStatus.OPEN  # never applied silently
    again = invoices.import_bank_statement(event.organiser, statement, now=NOW)
    assert again.applied == []  # importing the same file twice pays nothing twice


def test_a_reminder_goes_once_for_an_unpaid_invoice_past_its_due_date(ctx, smtp):
    event = make_event()
    unpaid, paid = invoice_order(event), invoice_order(event)
    invoices.mark_invoice_paid(invoices.main_document(paid), now=NOW, via="manual")
    db.session.commit()
    assert invoices.send_reminders(now=NOW + timedelta(days=13)) == 0  # not due yet
    assert invoices.send_reminders(now=NOW + timedelta(days=15)) == 1
    assert invoices.send_reminders(now=NOW + timedelta(days=16)) == 0
    deliver_all_due(now_fn=lambda: NOW + timedelta(days=15))
    (reminder,) = [m for m in smtp.messages() if m["Subject"].startswith("Reminder")]
    assert (
        reminder["Subject"]
        == f"Reminder: invoice {invoices.main_document(unpaid).number} for Forum forum is due"
    )
    assert {p.get_filename() for p in reminder.iter_attachments()} == {"invoice-1.pdf"}


def test_a_reminder_queued_for_an_invoice_paid_before_delivery_is_not_sent(ctx, smtp):
    event = make_event()
    order = invoice_order(event)
    invoices.send_reminders(now=NOW + timedelta(days=15))
    db.session.commit()
    invoices.mark_invoice_paid(invoices.main_document(order), now=NOW, via="manual")
    db.session.commit()
    deliver_all_due(now_fn=lambda: NOW + timedelta(days=15))
    assert not [m for m in smtp.messages() if m["Subject"].startswith("Reminder")]


def test_marking_an_invoice_paid_twice_is_refused(ctx):
    doc = invoices.main_document(invoice_order(make_event()))
    invoices.mark_invoice_paid(doc, now=NOW, via="manual")
    with pytest.raises(Conflict):
        invoices.mark_invoice_paid(doc, now=NOW, via="manual")


def test_refunding_an_invoiced_attendee_issues_a_credit_note_and_lowers_what_is_due(ctx, smtp):
    event = make_event(prices=(1250_00,))
    order = invoice_order(event, 2)
    first = order.attendees[0]
    qr = ticket_qr(first, now=NOW)
    refund = services.refund_order(order, attendee_ids=[first.id], now=NOW, reason="ill")
    db.session.commit()
    invoice = invoices.main_document(order)
    note = refund.credit_note
    assert note.kind == DocumentKind.CREDIT_NOTE and note.credits_id == invoice.id and note.number == 2
    assert note.total_ore == 1250_00 and invoices.amount_due(invoice) == 1250_00
    assert order.status == OrderStatus.PAID
    with pytest.raises(InvalidTicket):
        check_ticket(event, qr)
    summary = services.money_summary(event, now=NOW)
    assert (summary.invoiced_unpaid_ore, summary.refunded_ore) == (1250_00, 1250_00)
    deliver_all_due(now_fn=lambda: NOW)
    (notice,) = [m for m in smtp.messages() if m["Subject"].startswith("Refund")]
    assert {p.get_filename() for p in notice.iter_attachments()} == {"credit-note-2.pdf"}
    assert "Attendee 0" in notice.get_body(("plain",)).get_content()


# --- the organiser's page -------------------------------------------------------------------


def login(app, email):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"csrf_token": token, "email": email, "password": "secret-pw-kaffe"})
    return client


def csrf(client, url):
    return client.get(url).get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]


def test_the_payments_page_is_for_the_events_organisers_only(app):
    with app.app_context():
        event = make_event()
        make_user("olav@example.org", organiser_of=event)
        make_user("door@example.org", checkin_of=event)
        other = make_event("other")
        make_user("else@example.org", organiser_of=other)
        invoice_order(event)
    assert app.test_client().get("/manage/events/forum/payments").status_code == 302  # to login
    assert login(app, "door@example.org").get("/manage/events/forum/payments").status_code == 403
    assert login(app, "else@example.org").get("/manage/events/forum/payments").status_code == 403
    assert login(app, "else@example.org").get("/manage/events/forum/documents/1.pdf").status_code == 403
    organiser = login(app, "olav@example.org")
    assert organiser.get("/manage/events/forum/payments").status_code == 200
    r = organiser.get("/manage/events/forum/documents/1.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf"


def test_the_organiser_imports_a_statement_and_sees_what_was_not_applied(app):
    with app.app_context():
        event = make_event(prices=(1250_00,))
        make_user("olav@example.org", organiser_of=event)
        kid = invoices.main_document(invoice_order(event)).kid
    organiser = login(app, "olav@example.org")
    statement = (
        f"Date,Description,Amount,KID\n2027-01-20,Giro,1250.00,{kid}\n2027-01-20,Giro,99.00,00000992\n"
    )
    r = organiser.post(
        "/manage/events/forum/bank-statement",
        data={
            "csrf_token": csrf(organiser, "/manage/events/forum/payments"),
            "statement": (__import__("io").BytesIO(statement.encode()), "bank.csv"),
        },
        content_type="multipart/form-data",
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "1 invoice marked paid." in page or "1 faktura merket som betalt." in page
    assert 'class="refused-unknown_kid"' in page
    r = organiser.post(
        "/manage/events/forum/bank-statement",
        data={
            "csrf_token": csrf(organiser, "/manage/events/forum/payments"),
            "statement": (__import__("io").BytesIO(b"hello\nworld\n"), "x.csv"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 422
