"""The organiser's mail page: failed messages are shown with the reason and can be sent again."""

import sqlalchemy as sa

from eventreg.extensions import db
from eventreg.mail.models import MessageStatus, OutboxMessage
from eventreg.mail.services import deliver_due
from eventreg.registration.services import cancel_order, create_order
from tests.factories import NOW, make_event, make_user, order_data
from tests.web.conftest import csrf_from, text


def failed_message(app, smtp):
    with app.app_context():
        event = make_event("forum")
        make_user("olav@example.org", organiser_of=event)
        make_user("door@example.org", checkin_of=event)
        order = create_order(event, order_data(event, payment_method="card"), now=NOW)
        cancel_order(order, now=NOW)
        db.session.commit()
        smtp.refuse.add("buyer@example.org")
        deliver_due(now=NOW)
        message = db.session.scalar(sa.select(OutboxMessage))
        assert message.status == MessageStatus.FAILED
        return message.id


def test_the_organiser_sees_a_failed_message_and_sends_it_again(app, english, login, smtp):
    message_id = failed_message(app, smtp)
    login("olav@example.org")
    page = text(english.get("/manage/events/forum/mail?status=failed"))
    assert "buyer@example.org" in page and "550" in page and "1 message could not be delivered" in page

    smtp.refuse.clear()
    r = english.post(f"/manage/events/forum/mail/{message_id}/resend", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 302
    with app.app_context():
        assert deliver_due(now=NOW).sent == 1
    assert [m["To"].addresses[0].addr_spec for m in smtp.messages()] == ["buyer@example.org"]
    # Sent messages cannot be "sent again" by replaying the form.
    r = english.post(f"/manage/events/forum/mail/{message_id}/resend", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 409


def test_check_in_staff_cannot_see_or_resend_mail(app, english, login, smtp):
    message_id = failed_message(app, smtp)
    login("door@example.org")
    assert english.get("/manage/events/forum/mail").status_code == 403
    page = text(english.get("/"))
    r = english.post(f"/manage/events/forum/mail/{message_id}/resend", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 403
    with app.app_context():
        assert db.session.get(OutboxMessage, message_id).status == MessageStatus.FAILED


def test_a_message_of_another_event_is_not_found(app, english, login, smtp):
    message_id = failed_message(app, smtp)
    with app.app_context():
        other = make_event("other")
        make_user("other@example.org", organiser_of=other)
        db.session.commit()
    login("other@example.org")
    page = text(english.get("/manage/events/other/mail"))
    r = english.post(f"/manage/events/other/mail/{message_id}/resend", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 404
