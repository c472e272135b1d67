"""The organiser's own words in the confirmation, invoice and ticket emails: in the reader's
language (else the other one), as a paragraph of its own, escaped in the HTML part, and only in
the kind of email they were written for."""

import email
from email import policy

import sqlalchemy as sa

from eventreg.builder.services import set_email_texts
from eventreg.extensions import db
from eventreg.mail.compose import compose
from eventreg.mail.models import OutboxMessage
from eventreg.registration.services import AttendeeData, OrderData, create_order, mark_paid
from tests.factories import NOW, make_event, make_user, order_data

TEXTS = {
    "confirmation": {
        "nb": "Parkering i bakgården.\nTa med legitimasjon.\n\nVelkommen, 山田!",
        "en": "Parking at the back.\nBring ID.\n\nWelcome, 山田!",
    },
    "invoice": {"nb": "Spørsmål om faktura: <faktura@example.org> & co"},
    "ticket": {"en": "Doors open at 08:30 – <b>not</b> earlier."},
}


def composed(message: OutboxMessage) -> tuple[str, str]:
    """(plain text, HTML) of the message as it would be sent."""
    _sender, raw = compose(message)
    mail = email.message_from_bytes(raw, policy=policy.default)
    plain = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    return plain, mail.get_body(("html",)).get_content()


def messages(kind: str) -> dict[str, OutboxMessage]:
    rows = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind))
    return {m.recipient_email: m for m in rows}


def paid_order(event):
    """The buyer reads Norwegian; Ахмед (own address) reads English, Åse (own address) Norwegian."""
    data = OrderData(
        buyer_name="Kari Nordmann",
        buyer_email="kari@example.org",
        buyer_language="nb",
        attendees=[
            AttendeeData(
                name="Ахмед",
                email="ahmed@example.org",
                language="en",
                ticket_type_id=event.ticket_types[0].id,
            ),
            AttendeeData(
                name="Åse", email="ase@example.org", language="nb", ticket_type_id=event.ticket_types[0].id
            ),
        ],
    )
    order = create_order(event, data, now=NOW)
    mark_paid(order, now=NOW)
    db.session.flush()
    return order


def test_each_email_carries_the_organisers_text_for_its_kind_in_the_readers_language(ctx):
    event = make_event(prices=(100_00,))
    set_email_texts(event, actor=make_user("org@example.org", organiser_of=event), now=NOW, texts=TEXTS)
    paid_order(event)

    plain, html = composed(messages("confirmation")["kari@example.org"])
    assert "Parking" not in plain  # Norwegian reader, Norwegian text
    assert "Parkering i bakgården.\nTa med legitimasjon.\n\nVelkommen, 山田!\n\n" in plain
    # Its own block of paragraphs, line breaks kept, after the greeting and before the details.
    assert (
        '<p style="margin:8px 0">Parkering i bakgården.<br>Ta med legitimasjon.</p>'
        '<p style="margin:8px 0">Velkommen, 山田!</p>'
    ) in html
    assert (
        plain.index("Kari Nordmann,")
        < plain.index("Parkering")
        < plain.index("Ахмед")
        < plain.index("/orders/")
    )
    assert "Doors open" not in plain and "faktura@" not in plain  # other kinds' texts stay there

    # The ticket text exists in English only: Åse (nb) gets it in English rather than nothing.
    for address in ("ahmed@example.org", "ase@example.org"):
        plain, html = composed(messages("ticket")[address])
        assert "Doors open at 08:30 – <b>not</b> earlier." in plain  # plain text stays as written
        assert "Doors open at 08:30 – &lt;b&gt;not&lt;/b&gt; earlier." in html  # escaped, not markup
        assert "<b>not</b>" not in html
        assert "Parkering" not in plain and "Parking" not in plain


def test_the_invoice_email_carries_its_text_escaped(ctx):
    event = make_event(prices=(100_00,))
    set_email_texts(event, actor=make_user("org@example.org", organiser_of=event), now=NOW, texts=TEXTS)
    create_order(event, order_data(event, payment_method="invoice", buyer_language="en"), now=NOW)
    db.session.flush()
    [message] = messages("invoice").values()
    plain, html = composed(message)
    assert "Spørsmål om faktura: <faktura@example.org> & co" in plain  # only nb given: nb for en
    assert "Spørsmål om faktura: &lt;faktura@example.org&gt; &amp; co" in html


def test_without_texts_the_emails_are_as_before(ctx):
    event = make_event(prices=(100_00,))
    paid_order(event)
    _plain, html = composed(messages("confirmation")["kari@example.org"])
    assert "border-left:3px solid" not in html
    plain, _html = composed(messages("ticket")["ahmed@example.org"])
    assert "Here is your ticket for" in plain
    assert "\n\n\n" not in plain.split("When")[0]  # no empty paragraph where the text would be
