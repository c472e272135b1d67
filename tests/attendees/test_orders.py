"""The organiser changes an order: details, answers and workshops (also after the attendees' own
deadline, capacity still holding), mail sent again, cancelling and refunding, each recorded in
the audit log with what changed."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from eventreg.accounts.models import User
from eventreg.attendees import services
from eventreg.audit.models import AuditEntry
from eventreg.core.errors import Conflict, NotFound, SoldOut, ValidationError
from eventreg.events.models import Event
from eventreg.extensions import db
from eventreg.mail.models import OutboxMessage
from eventreg.payments.models import DocumentKind, SalesDocument
from eventreg.privacy.services import erase_attendee
from eventreg.registration import self_service
from eventreg.registration.models import Attendee, OrderStatus
from eventreg.registration.services import IllegalTransition
from tests.attendees.conftest import AT, event_of
from tests.factories import NOW

LATE = NOW + timedelta(days=200)  # after the event's start: the attendees' own deadline is past


@pytest.fixture
def olav(forum) -> User:
    return db.session.scalar(sa.select(User).where(User.email == "olav@example.org"))


def attendee(forum, name: str) -> Attendee:
    return db.session.get(Attendee, forum.ids[name])


def entries(action: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
    )


def test_the_order_is_found_only_in_its_own_event(forum):
    event = event_of(forum)
    order = services.get_event_order(event, forum.codes["free"])
    assert order.code == forum.codes["free"]
    with pytest.raises(NotFound):
        services.get_event_order(event, "NOSUCHCODE")
    elsewhere = db.session.scalar(sa.select(Event).where(Event.slug == "forum-other"))
    with pytest.raises(NotFound):
        services.get_event_order(elsewhere, forum.codes["free"])
    with pytest.raises(NotFound):
        services.get_order_attendee(order, forum.ids["Ахмед Иванов"])  # of another order


def test_the_organiser_changes_details_and_answers_after_the_deadline_and_it_is_recorded(forum, olav):
    ase = attendee(forum, "Åse Øvre")
    diet = forum.questions["diet"]
    with pytest.raises(Conflict):  # the attendee could not any more
        self_service.update_attendee(ase, name="x", email=None, language="nb", answers={}, now=LATE)
    services.update_attendee_details(
        ase,
        name="Åse Øvre-Ødegård",
        email="ase.ny@example.org",
        language="en",
        answers={str(diet): "blåbær", str(forum.questions["org"]): "Nordlys AS"},
        actor=olav,
        now=LATE,
    )
    db.session.expire_all()
    ase = attendee(forum, "Åse Øvre")
    assert (ase.name, ase.email, ase.language) == ("Åse Øvre-Ødegård", "ase.ny@example.org", "en")
    assert {a.question_id: a.value for a in ase.answers}[diet] == "blåbær"
    [entry] = entries("attendee.update")
    assert (entry.user_id, entry.actor_name, entry.object_type, entry.object_id) == (
        olav.id,
        "olav@example.org",
        "attendee",
        ase.id,
    )
    assert entry.at == LATE and entry.event_id == forum.event_id
    # Only what changed: the organisation stayed, interests and interpreter were left out.
    assert entry.before["name"] == "Åse Øvre" and entry.after["name"] == "Åse Øvre-Ødegård"
    assert entry.before["email"] == "p0@example.org" and entry.after["language"] == "en"
    assert entry.before["answers"][str(diet)] == "vegan" and entry.after["answers"][str(diet)] == "blåbær"
    assert str(forum.questions["interests"]) not in entry.after["answers"]


def test_details_are_validated_as_at_registration(forum, olav):
    ase = attendee(forum, "Åse Øvre")
    with pytest.raises(ValidationError) as err:
        services.update_attendee_details(
            ase,
            name=" ",
            email="not an address",
            language="de",
            answers={str(forum.questions["diet"]): "pizza"},
            actor=olav,
            now=AT,
        )
    assert set(err.value.fields) == {"name", "email", "language", f"answers.{forum.questions['diet']}"}
    assert entries("attendee.update") == []


def test_an_order_that_is_over_or_an_erased_attendee_cannot_be_changed(forum, olav):
    kari = attendee(forum, "Kari Avlyst")  # cancelled
    with pytest.raises(Conflict) as err:
        services.update_attendee_details(
            kari, name="K", email=None, language="nb", answers={}, actor=olav, now=AT
        )
    assert err.value.code == "changes_closed"
    per = attendee(forum, "Per Refundert")
    with pytest.raises(Conflict) as err:
        services.change_attendee_workshops(per, [], actor=olav, now=AT)
    assert err.value.code == "ticket_refunded"
    erase_attendee(per, now=AT, via="staff")
    with pytest.raises(Conflict) as err:
        services.update_attendee_details(
            per, name="P", email=None, language="nb", answers={}, actor=olav, now=AT
        )
    assert err.value.code == "erased"


def test_workshops_change_after_the_deadline_but_a_full_one_stays_full(forum, olav):
    ahmed = attendee(forum, "Ахмед Иванов")
    mikrolan, impact, finance = (forum.workshops[k] for k in ("Mikrolån", "Impact", "Finance"))
    with pytest.raises(SoldOut) as err:  # Åse and عائشة have its two seats
        services.change_attendee_workshops(ahmed, [mikrolan], actor=olav, now=AT)
    assert err.value.code == "session_full" and err.value.details["sessions"] == [mikrolan]
    services.change_attendee_workshops(ahmed, [finance], actor=olav, now=LATE)
    db.session.expire_all()
    assert [s.id for s in attendee(forum, "Ахмед Иванов").sessions] == [finance]
    [entry] = entries("attendee.workshops")
    assert entry.before == {"workshops": [impact]} and entry.after == {"workshops": [finance]}
    # Finance had one seat, now Ахмед's: nobody else gets it, however late the organiser asks.
    with pytest.raises(SoldOut):
        services.change_attendee_workshops(attendee(forum, "Zoë Ðorđević"), [finance], actor=olav, now=LATE)
    # Åse gives up Mikrolån: its seat is free for Ахмед in the same slot.
    services.change_attendee_workshops(attendee(forum, "Åse Øvre"), [], actor=olav, now=LATE)
    services.change_attendee_workshops(
        attendee(forum, "Ахмед Иванов"), [mikrolan, finance], actor=olav, now=LATE
    )
    with pytest.raises(ValidationError) as err:
        services.change_attendee_workshops(ahmed, [mikrolan, impact], actor=olav, now=LATE)  # one slot
    assert "session_ids" in err.value.fields


def test_sending_the_confirmation_again_makes_new_messages_with_new_message_ids(forum, olav):
    order = services.get_event_order(event_of(forum), forum.codes["free"])
    before = {m.message_id for m in services.order_messages(order)}
    queued = services.resend_order_mail(order, actor=olav, now=AT)
    assert sorted(m.kind for m in queued) == ["confirmation", "ticket", "ticket"]
    assert {m.message_id for m in queued}.isdisjoint(before) and len(before) == 3
    [entry] = entries("order.resend_mail")
    assert entry.object_id == order.id and [m["id"] for m in entry.after["messages"]] == [
        m.id for m in queued
    ]
    [ticket] = services.resend_order_mail(order, attendee=attendee(forum, "山田 太郎"), actor=olav, now=AT)
    assert (ticket.kind, ticket.recipient_email, ticket.language) == ("ticket", "p1@example.org", "en")
    assert len(entries("order.resend_mail")) == 2


def test_only_a_paid_order_has_mail_to_send_again(forum, olav):
    pending = services.get_event_order(event_of(forum), forum.codes["card"])
    with pytest.raises(Conflict) as err:
        services.resend_order_mail(pending, actor=olav, now=AT)
    assert err.value.code == "not_paid"
    nobody = services.get_event_order(event_of(forum), forum.codes["on_behalf"])
    with pytest.raises(Conflict) as err:
        services.resend_order_mail(nobody, actor=olav, now=AT)
    assert err.value.code == "no_email"
    assert entries("order.resend_mail") == []


def test_cancelling_a_pending_order_frees_its_seats_and_is_recorded(forum, olav):
    order = services.get_event_order(event_of(forum), forum.codes["card"])
    services.cancel_order_as_organiser(order, actor=olav, now=AT)
    assert order.status == OrderStatus.CANCELLED
    [entry] = entries("order.cancel")
    assert entry.before == {"status": "pending"} and entry.after == {"status": "cancelled"}
    assert db.session.scalar(
        sa.select(OutboxMessage.kind).where(
            OutboxMessage.order_id == order.id, OutboxMessage.kind == "order_cancelled"
        )
    )
    paid = services.get_event_order(event_of(forum), forum.codes["invoice"])
    with pytest.raises(IllegalTransition):  # money was paid: refunded, not cancelled
        services.cancel_order_as_organiser(paid, actor=olav, now=AT)


def test_refunding_tickets_goes_through_the_payments_refund_and_is_recorded(forum, olav):
    order = services.get_event_order(event_of(forum), forum.codes["invoice"])
    zoe = attendee(forum, "Zoë Ðorđević")
    refund = services.refund_tickets(order, [zoe.id], reason="sick", actor=olav, now=AT)
    assert zoe.cancelled_at == AT and refund.amount_ore == 1250_00 and refund.credit_note is not None
    assert db.session.scalar(
        sa.select(sa.func.count()).where(
            SalesDocument.order_id == order.id, SalesDocument.kind == DocumentKind.CREDIT_NOTE
        )
    )
    [entry] = entries("order.refund")
    assert entry.before["valid_tickets"] == [forum.ids["Ахмед Иванов"], zoe.id]
    assert entry.after["valid_tickets"] == [forum.ids["Ахмед Иванов"]]
    assert entry.after["amount_ore"] == 1250_00 and entry.after["refund_id"] == refund.id
    with pytest.raises(ValidationError):
        services.refund_tickets(order, [], reason="", actor=olav, now=AT)
    with pytest.raises(Conflict):
        services.refund_tickets(
            services.get_event_order(event_of(forum), forum.codes["card"]),
            [forum.ids["عائشة بنت أحمد"]],
            reason="",
            actor=olav,
            now=AT,
        )
    assert len(entries("order.refund")) == 1


def test_the_order_page_facts(forum, olav):
    order = services.get_event_order(event_of(forum), forum.codes["refund"])
    states = services.attendee_states(order, now=AT)
    assert states == {
        forum.ids["Ola Nordmann"]: "invoice_unpaid",
        forum.ids["Per Refundert"]: "refunded",
        None: "invoice_unpaid",  # the order as a whole
    }
    free = services.get_event_order(event_of(forum), forum.codes["free"])
    assert services.checked_in_ids(free) == {forum.ids["Åse Øvre"]}
    services.update_attendee_details(
        attendee(forum, "山田 太郎"),
        name="山田 花子",
        email="p1@example.org",
        language="en",
        answers={},
        actor=olav,
        now=AT,
    )
    services.cancel_order_as_organiser(
        services.get_event_order(event_of(forum), forum.codes["card"]), actor=olav, now=AT
    )
    assert [e.action for e in services.order_audit(free)] == ["attendee.update"]


def test_replacing_private_links_stops_the_old_links_and_qr_codes_and_mails_new_ones(forum, olav):
    from eventreg.registration.services import get_order_by_token
    from eventreg.tickets.services import InvalidTicket, check_ticket, ticket_qr

    order = services.get_event_order(event_of(forum), forum.codes["free"])
    old_link, people = order.manage_token, list(order.attendees)
    old = {a.id: (a.manage_token, ticket_qr(a, now=AT)) for a in people}
    queued = services.replace_private_links(order, actor=olav, now=AT)

    with pytest.raises(NotFound):
        get_order_by_token(order.code, old_link)
    assert get_order_by_token(order.code, order.manage_token) is order
    for a in people:
        token, qr = old[a.id]
        with pytest.raises(NotFound):
            self_service.get_attendee_by_token(token)
        assert self_service.get_attendee_by_token(a.manage_token) is a
        with pytest.raises(InvalidTicket) as err:
            check_ticket(event_of(forum), qr)
        assert err.value.reason == "revoked"
        assert check_ticket(event_of(forum), ticket_qr(a, now=AT)) is a
    assert sorted(m.kind for m in queued) == ["confirmation", "ticket", "ticket"]  # with the new links
    [entry] = entries("order.replace_links")
    assert entry.object_id == order.id and len(entry.after["messages"]) == 3


def test_an_unpaid_order_gets_new_links_but_no_mail(forum, olav):
    pending = services.get_event_order(event_of(forum), forum.codes["card"])
    old_link = pending.manage_token
    assert services.replace_private_links(pending, actor=olav, now=AT) == []
    assert pending.manage_token != old_link and len(entries("order.replace_links")) == 1
