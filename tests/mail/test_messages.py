"""What arrives: confirmations and tickets in the reader's language, names in four scripts intact,
QR codes (inline and in the PDF) that decode to tickets that verify, and a calendar file with the
right times. Parsed from what a real SMTP server received."""

import email
import io
import subprocess
import time
from datetime import UTC, datetime
from email import policy

import icalendar
import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from eventreg.core import clock
from eventreg.extensions import db
from eventreg.mail.models import MessageStatus, OutboxMessage
from eventreg.mail.services import deliver_all_due, queue_ticket
from eventreg.registration import self_service
from eventreg.registration.services import AttendeeData, OrderData, create_order, mark_paid
from eventreg.tickets.services import check_ticket
from tests.factories import NOW, add_session, make_event

TITLE = {"nb": "Påmelding – æøå ÆØÅ – تم تأكيد التسجيل", "en": "Social Business Forum – Oslo"}
NAMES = ["Åse Ødegård", "محمد يونس", "Юнус Мухаммад", "尤努斯"]


def decode(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def pdf_qr_codes(pdf: bytes) -> list[str]:
    """Every QR on every page, rendered by pdftoppm at 150 dpi."""
    codes, page = [], 1
    while True:
        png = subprocess.run(
            ["pdftoppm", "-png", "-r", "150", "-f", str(page), "-l", str(page), "-"],
            input=pdf,
            capture_output=True,
        )
        if png.returncode != 0 or not png.stdout:
            return codes
        codes += decode(Image.open(io.BytesIO(png.stdout)))
        page += 1


def pdf_text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True)
    return out.stdout.decode()


def plain(mail) -> str:
    return (
        mail.get_body(("plain",))
        .get_content()
        .replace("\r\n", "\n")
        .replace("\xa0", " ")
        .replace("\u202f", " ")
    )


def attachments(mail) -> dict:
    return {p.get_filename(): p for p in mail.iter_attachments()}


def paid_order(event, *, buyer_language="en"):
    """Four attendees, one per script; the third shares the buyer's address."""
    tt = event.ticket_types[0]
    emails = ["ase@example.org", "yunus@example.org", "buyer@example.org", "chinese@example.org"]
    languages = ["nb", "en", "en", "en"]
    data = OrderData(
        buyer_name="Kari Nordmann",
        buyer_email="buyer@example.org",
        buyer_language=buyer_language,
        payment_method="card",
        attendees=[
            AttendeeData(name=n, email=e, language=lang, ticket_type_id=tt.id)
            for n, e, lang in zip(NAMES, emails, languages, strict=True)
        ],
    )
    order = create_order(event, data, now=NOW)
    mark_paid(order, now=NOW)
    db.session.commit()
    return order


def forum():
    event = make_event(prices=(1250_00,), vat=25, venue="Oslo rådhus")
    event.title = TITLE
    add_session(event, "Mikrofinans i praksis")
    return event


def test_the_buyer_gets_all_tickets_and_each_attendee_their_own(ctx, smtp):
    event = forum()
    order = paid_order(event)
    assert deliver_all_due(now_fn=lambda: NOW).sent == 4

    recipients = sorted(m["To"].addresses[0].addr_spec for m in smtp.messages())
    # The attendee sharing the buyer's address gets no second email.
    assert recipients == ["ase@example.org", "buyer@example.org", "chinese@example.org", "yunus@example.org"]

    [mail] = smtp.to("buyer@example.org")
    assert mail["Subject"] == f"Registration confirmed: Social Business Forum – Oslo (order {order.code})"
    assert mail["To"].addresses[0].display_name == "Kari Nordmann"
    assert mail["From"].addresses[0].display_name == "Påmelding"
    body = plain(mail)
    for name in NAMES:
        assert name in body
    assert "Total paid: NOK5,000.00, of which VAT NOK1,000.00." in body
    assert f"https://events.example.org/orders/{order.code}/{order.manage_token}" in body
    html = mail.get_body(("html",)).get_content()
    assert all(f"cid:qr-{a.id}@eventreg" in html for a in order.attendees)

    files = attachments(mail)
    inline = {p["Content-ID"]: p for p in files.values() if p.get_content_type() == "image/png"}
    by_id = {a.id: a for a in order.attendees}
    for a in order.attendees:
        png = inline[f"<qr-{a.id}@eventreg>"].get_payload(decode=True)
        [qr] = decode(Image.open(io.BytesIO(png)))
        assert check_ticket(event, qr) is by_id[a.id]

    pdf = files["tickets.pdf"].get_payload(decode=True)
    assert [check_ticket(event, qr) for qr in pdf_qr_codes(pdf)] == list(order.attendees)
    text = pdf_text(pdf)
    for name in ["Åse Ødegård", "Юнус Мухаммад", "尤努斯"]:
        assert name in text

    ics = icalendar.Calendar.from_ical(files[f"{event.slug}.ics"].get_payload(decode=True))
    assert files[f"{event.slug}.ics"].get_param("method") == "PUBLISH"
    [vevent] = ics.walk("VEVENT")
    assert vevent.decoded("DTSTART") == event.starts_at
    assert vevent.decoded("DTSTART").astimezone(UTC) == datetime(2027, 5, 27, 7, 0, tzinfo=UTC)
    assert str(vevent["SUMMARY"]) == "Social Business Forum – Oslo"


def test_an_attendee_reads_their_ticket_in_their_own_language(ctx, smtp):
    event = forum()
    order = paid_order(event, buyer_language="nb")
    deliver_all_due(now_fn=lambda: NOW)

    [buyer] = smtp.to("buyer@example.org")
    # A long subject mixing æøå and Arabic keeps every space (Flask-Mail's folding bug).
    assert buyer["Subject"] == f"Påmeldingen er bekreftet: {TITLE['nb']} (ordre {order.code})"
    assert "Totalt betalt: 5 000,00 kr, herav mva. 1 000,00 kr." in plain(buyer)

    [ase] = smtp.to("ase@example.org")
    attendee = order.attendees[0]
    assert ase["Subject"] == f"Billetten din til {TITLE['nb']}"
    body = plain(ase)
    assert "Hei Åse Ødegård," in body and "Her er billetten din" in body
    assert "Mikrofinans" not in body  # no workshop chosen, none shown
    assert f"https://events.example.org/tickets/{attendee.manage_token}" in body
    assert order.manage_token not in body  # an attendee gets their own link, not the buyer's
    [qr] = pdf_qr_codes(attachments(ase)["billetter.pdf"].get_payload(decode=True))
    assert check_ticket(event, qr) is attendee

    [yunus] = smtp.to("yunus@example.org")
    assert yunus["To"].addresses[0].display_name == "محمد يونس"
    assert "Hello محمد يونس," in plain(yunus)


def test_a_ticket_transferred_before_delivery_never_reaches_the_old_holder(ctx, smtp):
    event = forum()
    order = paid_order(event)
    attendee = order.attendees[0]
    self_service.transfer_ticket(
        attendee, name="Ola Nordmann", email="ola@example.org", language="nb", now=NOW
    )
    db.session.commit()
    deliver_all_due(now_fn=lambda: NOW)

    # The old holder's ticket email (queued at payment) was superseded: only the notice arrives.
    [notice] = smtp.to("ase@example.org")
    assert notice["Subject"] == f"Billetten din til {TITLE['nb']} er overført"
    assert "Ola Nordmann" in plain(notice)
    assert not [p for p in notice.iter_attachments()]
    [new] = smtp.to("ola@example.org")
    [qr] = pdf_qr_codes(attachments(new)["billetter.pdf"].get_payload(decode=True))
    assert check_ticket(event, qr) is attendee and attendee.ticket_version == 2
    superseded = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.status == MessageStatus.SUPERSEDED)
    ).all()
    assert [(m.kind, m.recipient_email) for m in superseded] == [("ticket", "ase@example.org")]


def test_the_embedded_default_writes_one_eml_file_per_message(second_app, tmp_path):
    folder_app = second_app(MAIL_WORKER="manual", MAIL_SERVER="", OUTBOX_DIR=str(tmp_path))
    with folder_app.app_context():
        event = make_event(prices=(0,))
        code = create_order(event, _free_order(event), now=NOW).code
        db.session.commit()
        assert deliver_all_due(now_fn=lambda: NOW).sent == 1
        message = db.session.scalar(sa.select(OutboxMessage))
        message_id = message.message_id
        message.status = MessageStatus.QUEUED  # as if the worker died before recording it
        db.session.commit()
        assert deliver_all_due(now_fn=lambda: NOW).sent == 1
        db.session.remove()
    [eml] = tmp_path.glob("*.eml")
    mail = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert mail["Message-ID"] == message_id and code in mail["Subject"]


def _free_order(event):
    tt = event.ticket_types[0]
    return OrderData(
        buyer_name="Åse",
        buyer_email="ase@example.org",
        attendees=[AttendeeData(name="Åse", email="ase@example.org", ticket_type_id=tt.id)],
    )


def test_the_worker_thread_delivers_after_commit_without_being_asked(second_app, smtp):
    thread_app = second_app(MAIL_WORKER="thread", MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    worker = thread_app.extensions["mail_worker"]
    try:
        with thread_app.app_context():
            event = make_event(prices=(0,))
            create_order(event, _free_order(event), now=clock.now())  # the thread's clock is real
            db.session.commit()  # wakes the thread
            db.session.remove()
        deadline = time.monotonic() + 20
        while not smtp.received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages()] == ["ase@example.org"]


def test_a_ticket_email_can_be_sent_again_on_request(ctx, smtp):
    event = forum()
    order = paid_order(event)
    deliver_all_due(now_fn=lambda: NOW)
    smtp.received.clear()
    queue_ticket(order.attendees[1], now=NOW)
    db.session.commit()
    deliver_all_due(now_fn=lambda: NOW)
    [again] = smtp.messages()
    assert again["To"].addresses[0].addr_spec == "yunus@example.org"


@pytest.mark.slow
def test_a_celery_worker_on_redis_delivers_a_confirmation_end_to_end(second_app, database_url, smtp):
    from tests.registration.test_jobs import start_celery_worker

    settings = {"MAIL_WORKER": "celery", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.port}
    worker = start_celery_worker(database_url, PUBLIC_URL="https://events.example.org", **settings)
    try:
        celery_app = second_app(**settings)
        with celery_app.app_context():
            event = make_event(prices=(0,))
            code = create_order(event, _free_order(event), now=clock.now()).code
            db.session.commit()  # publishes eventreg.deliver_mail to the worker's queue
            db.session.remove()
        deadline = time.monotonic() + 60
        while not smtp.received and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=30)
    [mail] = smtp.messages()
    assert code in mail["Subject"], err.decode()[-2000:]
    assert "billetter.pdf" in attachments(mail)
