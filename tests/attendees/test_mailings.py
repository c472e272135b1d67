"""Mailings: who gets them (filtered, without address skipped, erased never), in which language,
one outbox message per recipient under one Mailing, exactly once through a real SMTP server, and
a confirmation sent twice sends nothing the second time."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eventreg.accounts.models import User
from eventreg.attendees import services
from eventreg.attendees.services import AttendeeFilter, MailingTexts, clean_filter, clean_mailing_texts
from eventreg.audit.models import AuditEntry
from eventreg.core.errors import Conflict, ValidationError
from eventreg.extensions import db
from eventreg.mail.models import Mailing, MessageStatus, OutboxMessage
from eventreg.mail.services import deliver_all_due
from eventreg.privacy.services import erase_attendee
from eventreg.registration.models import Attendee
from tests.attendees.conftest import AT, STATES, email_of, event_of

TEXTS = MailingTexts(
    subject={"nb": "Ny sal: Øvre salong", "en": "New room: the upper lounge"},
    body={"nb": "Hei!\n\nVi har flyttet til Øvre salong.\nVelkommen.", "en": "Hello!\n\nWe moved upstairs."},
)


@pytest.fixture
def olav(forum) -> User:
    return db.session.scalar(sa.select(User).where(User.email == "olav@example.org"))


@pytest.fixture
def event(forum):
    return event_of(forum)


@pytest.fixture
def quiet_outbox(forum):
    """The registration mail of the forum's orders counts as sent: the SMTP server gets mailings only."""
    db.session.execute(sa.update(OutboxMessage).values(status=MessageStatus.SENT))
    db.session.flush()


def send(event, f, texts=TEXTS, *, actor, now=AT, token=None):
    recipients = services.find_recipients(event, f, now=now)
    token = token or services.preview_token(event, f, texts, recipients)
    return services.send_mailing(event, f, texts, token=token, actor=actor, now=now)


def outbox(mailing: Mailing) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.mailing_id == mailing.id).order_by(OutboxMessage.id)
        )
    )


# --- the texts ------------------------------------------------------------------------------


def test_one_language_is_enough_and_each_is_written_in_full_or_left_empty():
    only_nb = clean_mailing_texts(subject={"nb": "  Hei  der "}, body={"nb": "Linje 1\r\nLinje 2\r\n"})
    assert only_nb == MailingTexts({"nb": "Hei der"}, {"nb": "Linje 1\nLinje 2"})
    with pytest.raises(ValidationError) as err:
        clean_mailing_texts(subject={"nb": "Hei", "en": ""}, body={"nb": "", "en": "Text"})
    assert set(err.value.fields) == {"body_nb", "subject_en"}
    with pytest.raises(ValidationError) as err:
        clean_mailing_texts(subject={}, body={"nb": "   "})
    assert set(err.value.fields) == {"subject_nb", "subject_en"}
    with pytest.raises(ValidationError) as err:
        clean_mailing_texts(subject={"en": "x" * 201}, body={"en": "y"})
    assert set(err.value.fields) == {"subject_en"}


# --- recipients -----------------------------------------------------------------------------


def test_recipients_are_the_filtered_attendees_with_an_address(event, forum):
    everyone = services.find_recipients(event, AttendeeFilter(), now=AT)
    standing = [n for n, s in STATES.items() if s not in ("cancelled", "expired", "refunded")]
    assert sorted(r.name for r in everyone.to) == sorted(n for n in standing if n != "Lise Uten Epost")
    assert everyone.without_email == 1 and everyone.erased == 0 and everyone.shared == 0
    vegans = services.find_recipients(
        event, clean_filter(event, {"answer": f"{forum.questions['diet']}:vegan", "state": "paid"}), now=AT
    )
    assert [(r.name, r.email) for r in vegans.to] == [("Åse Øvre", email_of("Åse Øvre"))]


def test_an_erased_attendee_is_never_a_recipient_and_a_shared_address_gets_one_message(event, forum):
    zoe = db.session.get(Attendee, forum.ids["Zoë Ðorđević"])
    zoe.email = email_of("Ахмед Иванов").upper()  # the same person's address, written differently
    per = db.session.get(Attendee, forum.ids["Per Refundert"])
    erase_attendee(per, now=AT, via="staff")
    found = services.find_recipients(event, AttendeeFilter(state="all"), now=AT)
    assert "—" not in [r.name for r in found.to] and found.erased == 1 and found.shared == 1
    assert sum(1 for r in found.to if r.email.lower() == email_of("Ахмед Иванов")) == 1


# --- sending --------------------------------------------------------------------------------


def test_one_mailing_and_one_outbox_message_per_recipient_in_their_language(event, forum, olav):
    mailing = send(event, AttendeeFilter(), actor=olav)
    messages = outbox(mailing)
    recipients = services.find_recipients(event, AttendeeFilter(), now=AT)
    assert mailing.recipients == len(messages) == recipients.count == 6
    assert {m.attendee_id for m in messages} == {r.attendee_id for r in recipients.to}
    by_name = {m.recipient_name: m for m in messages}
    assert by_name["Zoë Ðorđević"].language == "en" and by_name["Zoë Ðorđević"].subject == TEXTS.subject["en"]
    assert by_name["Ахмед Иванов"].language == "nb" and by_name["Ахмед Иванов"].subject == TEXTS.subject["nb"]
    assert {m.kind for m in messages} == {"mailing"} and len({m.message_id for m in messages}) == 6
    assert (mailing.created_by_id, mailing.subject, mailing.recipient_filter) == (olav.id, TEXTS.subject, {})
    [entry] = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "mailing.send"))
    assert entry.object_id == mailing.id and entry.after["recipients"] == 6


def test_an_attendee_without_text_in_their_language_gets_the_other_one(event, olav, smtp, quiet_outbox):
    only_nb = MailingTexts({"nb": "Bare norsk"}, {"nb": "Hei på dere."})
    mailing = send(event, clean_filter(event, {"q": "Zoë"}), only_nb, actor=olav)
    [message] = outbox(mailing)
    assert message.language == "en" and message.subject == "Bare norsk"
    db.session.commit()
    deliver_all_due(now_fn=lambda: AT)
    [received] = smtp.messages()
    text = received.get_body(("plain",)).get_content()
    assert "Hei på dere." in text and "Hello Zoë Ðorđević," in text  # the greeting in her language


def test_the_smtp_server_receives_each_message_exactly_once_in_the_right_language(
    event, olav, smtp, quiet_outbox
):
    mailing = send(event, AttendeeFilter(), actor=olav)
    ids = {m.message_id for m in outbox(mailing)}
    db.session.commit()
    assert deliver_all_due(now_fn=lambda: AT).sent == 6
    assert deliver_all_due(now_fn=lambda: AT + timedelta(hours=1)).sent == 0  # nothing twice
    received = smtp.messages()
    assert sorted(m["Message-ID"] for m in received) == sorted(ids)
    by_to = {m["To"].addresses[0].display_name: m for m in received}
    assert set(by_to) == {
        "Åse Øvre",
        "山田 太郎",
        "Ахмед Иванов",
        "Zoë Ðorđević",
        "عائشة بنت أحمد",
        "Ola Nordmann",
    }
    zoe, ahmed = by_to["Zoë Ðorđević"], by_to["Ахмед Иванов"]
    assert zoe["Subject"] == "New room: the upper lounge" and ahmed["Subject"] == "Ny sal: Øvre salong"
    text = ahmed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Hei Ахмед Иванов," in text and "Vi har flyttet til Øvre salong.\nVelkommen." in text
    html = ahmed.get_body(("html",)).get_content()
    assert "<p>Vi har flyttet til Øvre salong.<br>Velkommen.</p>" in html
    assert "Forum for sosialt entreprenørskap" in html
    statuses = db.session.scalars(
        sa.select(OutboxMessage.status).where(OutboxMessage.mailing_id == mailing.id)
    )
    assert set(statuses) == {MessageStatus.SENT}


def test_html_in_the_message_is_shown_as_text(event, olav, smtp, quiet_outbox):
    texts = MailingTexts(
        {"nb": "<b>Viktig</b>"}, {"nb": '<script>alert("x")</script> & <a href="x">lenke</a>'}
    )
    send(event, clean_filter(event, {"q": "Ахмед"}), texts, actor=olav)
    db.session.commit()
    deliver_all_due(now_fn=lambda: AT)
    [received] = smtp.messages()
    html = received.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; &lt;a href" in html
    assert received["Subject"] == "<b>Viktig</b>"


def test_an_attendee_erased_before_delivery_gets_nothing(event, forum, olav, smtp, quiet_outbox):
    mailing = send(event, AttendeeFilter(state="all"), actor=olav)
    assert len(outbox(mailing)) == 9
    erase_attendee(db.session.get(Attendee, forum.ids["Per Refundert"]), now=AT, via="staff")
    db.session.commit()
    deliver_all_due(now_fn=lambda: AT)
    got = [m["To"].addresses[0].addr_spec for m in smtp.messages()]
    assert email_of("Per Refundert") not in got and len(got) == len(set(got)) == 8
    [row] = services.list_mailings(event)
    assert (row.sent, row.failed, row.not_sent) == (8, 0, 1)


def test_a_confirmation_sent_twice_sends_once(event, forum, olav):
    f = clean_filter(event, {"state": "paid"})
    recipients = services.find_recipients(event, f, now=AT)
    token = services.preview_token(event, f, TEXTS, recipients)
    first = services.send_mailing(event, f, TEXTS, token=token, actor=olav, now=AT)
    with pytest.raises(Conflict) as err:
        services.send_mailing(event, f, TEXTS, token=token, actor=olav, now=AT + timedelta(seconds=1))
    assert err.value.code == "already_sent" and err.value.details["mailing_id"] == first.id
    # A new preview of the same message to the same people within ten minutes: also refused.
    with pytest.raises(Conflict):
        send(event, f, actor=olav, now=AT + timedelta(minutes=9))
    assert db.session.scalar(sa.select(sa.func.count(Mailing.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count()).where(OutboxMessage.kind == "mailing")) == 2
    # Another message, or the same one to other people, goes at once; the same one again later.
    send(
        event,
        f,
        MailingTexts({"nb": "Noe annet"}, {"nb": "Tekst"}),
        actor=olav,
        now=AT + timedelta(minutes=1),
    )
    send(event, AttendeeFilter(), actor=olav, now=AT + timedelta(minutes=2))
    send(event, f, actor=olav, now=AT + timedelta(minutes=11))
    assert db.session.scalar(sa.select(sa.func.count(Mailing.id))) == 4


def test_confirmations_racing_each_other_make_one_mailing(app, saved_forum):
    """Two requests confirm the same preview at the same moment (a double click that reached two
    app threads): the event's lock lets one in, and the other finds its mailing."""
    with app.test_request_context():
        event = event_of(saved_forum)
        f = AttendeeFilter()
        token = services.preview_token(event, f, TEXTS, services.find_recipients(event, f, now=AT))
        olav_id = db.session.scalar(sa.select(User.id).where(User.email == "olav@example.org"))
        db.session.remove()
    barrier = threading.Barrier(4)
    outcomes = []

    def confirm():
        with app.test_request_context():
            event = event_of(saved_forum)
            actor = db.session.get(User, olav_id)
            barrier.wait()
            try:
                services.send_mailing(event, f, TEXTS, token=token, actor=actor, now=AT)
                db.session.commit()
                outcomes.append("sent")
            except Conflict as err:
                db.session.rollback()
                outcomes.append(err.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=confirm) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["already_sent"] * 3 + ["sent"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Mailing.id))) == 1
        assert db.session.scalar(sa.select(sa.func.count()).where(OutboxMessage.kind == "mailing")) == 6


@pytest.mark.parametrize("problem", ["forged", "other_texts", "other_filter", "expired"])
def test_only_a_fresh_preview_of_exactly_this_mailing_is_confirmed(event, olav, problem, monkeypatch):
    f = AttendeeFilter()
    token = services.preview_token(event, f, TEXTS, services.find_recipients(event, f, now=AT))
    texts = TEXTS
    if problem == "forged":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif problem == "other_texts":
        texts = MailingTexts({"nb": "Endret"}, {"nb": "Etter forhåndsvisningen"})
    elif problem == "other_filter":
        f = AttendeeFilter(state="all")
    else:
        monkeypatch.setattr(services, "PREVIEW_MAX_AGE", -1)
    with pytest.raises(Conflict) as err:
        services.send_mailing(event, f, texts, token=token, actor=olav, now=AT)
    assert err.value.code == "preview_outdated"
    assert db.session.scalar(sa.select(sa.func.count(Mailing.id))) == 0


def test_recipients_that_changed_since_the_preview_are_shown_again(event, forum, olav):
    f = AttendeeFilter()
    token = services.preview_token(event, f, TEXTS, services.find_recipients(event, f, now=AT))
    later = AT + timedelta(hours=1)  # عائشة's hold ran out meanwhile
    with pytest.raises(Conflict) as err:
        services.send_mailing(event, f, TEXTS, token=token, actor=olav, now=later)
    assert err.value.code == "recipients_changed" and err.value.details["count"] == 5
    assert db.session.scalar(sa.select(sa.func.count(Mailing.id))) == 0


def test_nobody_to_send_to(event, olav):
    f = clean_filter(event, {"q": "Lise"})  # no address
    with pytest.raises(Conflict) as err:
        send(event, f, actor=olav)
    assert err.value.code == "no_recipients"


def test_the_mailings_page_counts_delivered_and_failed_messages(event, olav, smtp, quiet_outbox):
    smtp.refuse.add(email_of("Zoë Ðorđević"))
    mailing = send(event, AttendeeFilter(), actor=olav)
    db.session.commit()
    deliver_all_due(now_fn=lambda: AT)
    [row] = services.list_mailings(event)
    assert (row.mailing.id, row.sender, row.sent, row.failed, row.waiting) == (mailing.id, "olav", 5, 1, 0)
    assert row.subject == TEXTS.subject["nb"]


def test_the_preview_renders_the_message_as_it_is_sent(ctx, event):
    nb = services.render_preview(event, TEXTS, language="nb", recipient_name="Åse Øvre")
    en = services.render_preview(
        event, MailingTexts({"nb": "Kun norsk"}, {"nb": "Tekst"}), language="en", recipient_name="Zoë"
    )
    assert nb["subject"] == "Ny sal: Øvre salong" and "Hei Åse Øvre," in nb["text"] and not nb["fallback"]
    assert (
        "Vi har flyttet til Øvre salong.\nVelkommen." in nb["text"]
        and "https://events.example.org/" in nb["text"]
    )
    assert en["subject"] == "Kun norsk" and en["fallback"] and "Hello Zoë," in en["text"]
