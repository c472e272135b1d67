"""Leads through the services: scanning a badge, what the sponsor sees under the consent rule,
notes and ratings, the export, and what erasure and the data download do with leads."""

import csv
import io
from datetime import timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask_babel import force_locale

from eventreg.accounts.models import EventRoleKind
from eventreg.accounts.services import grant_event_role
from eventreg.core.errors import Conflict, Forbidden, NotFound, ValidationError
from eventreg.events.models import Lead
from eventreg.exports import formats
from eventreg.extensions import db
from eventreg.payments.services import refund_order
from eventreg.privacy import services as privacy
from eventreg.registration.models import Attendee
from eventreg.registration.self_service import set_sponsor_consent, transfer_ticket
from eventreg.registration.services import cancel_order, create_order
from eventreg.sponsors import leads
from eventreg.tickets.services import rotate_key, ticket_qr
from eventreg.tickets.signing import TicketClaim, sign_ticket
from tests.factories import NOW, make_event, make_user, order_data
from tests.sponsors.conftest import BOOTH_PEOPLE, Person, make_booth, register

ASE, CHEN, BORIS = (p.name for p in BOOTH_PEOPLE)


@pytest.fixture
def booth(ctx):
    return make_booth()


def scan(booth, name_or_qr, *, member="fund", sponsor=None, now=NOW):
    qr = booth.qrs.get(name_or_qr, name_or_qr)
    return leads.scan_badge(booth.event, sponsor or booth.fund, qr, actor=booth.members[member], now=now)


def seen(booth, *, sponsor=None) -> dict[str, leads.LeadView]:
    return {v.name: v for v in leads.leads_of(sponsor or booth.fund, language="en")}


# --- who scans for which company ------------------------------------------------------------


def test_a_member_scans_for_their_own_company(booth):
    assert leads.member_sponsor(booth.event, actor=booth.members["fund"]) == booth.fund
    assert leads.member_sponsor(booth.event, actor=booth.members["rival"]) == booth.rival


def test_a_sponsor_without_a_company_is_told_to_ask_the_organiser(booth):
    with pytest.raises(Forbidden) as err:
        leads.member_sponsor(booth.event, actor=booth.members["no_company"])
    assert err.value.code == "no_sponsor" and err.value.status == 403
    with force_locale("en"):
        assert "ask the organiser" in str(err.value.message)


def test_organisers_admins_and_other_events_sponsors_have_no_leads_here(booth):
    other = make_event("other")
    outsiders = [
        make_user("olav@example.org", organiser_of=booth.event),
        make_user("admin@example.org", admin=True),
    ]
    stranger = make_user("stranger@example.org")
    # A company of this event, but the role is for another event.
    grant_event_role(stranger, other.id, EventRoleKind.SPONSOR, sponsor_id=booth.fund.id)
    for user in [*outsiders, stranger]:
        with pytest.raises(Forbidden) as err:
            leads.member_sponsor(booth.event, actor=user)
        assert err.value.code == "not_a_member", user.email
    assert leads.company_of(other, actor=stranger) is None  # the company belongs to the forum


# --- scanning ---------------------------------------------------------------------------------


def test_scanning_a_badge_makes_a_lead_once(booth):
    lead, created = scan(booth, ASE)
    assert created and lead.sponsor_id == booth.fund.id
    assert lead.scanned_by_id == booth.members["fund"].id and lead.scanned_at == NOW

    again, created_again = scan(booth, ASE, now=NOW + timedelta(minutes=5))
    assert (again.id, created_again) == (lead.id, False)
    colleague, created_by_colleague = scan(booth, ASE, member="fund_2")  # same company, same lead
    assert (colleague.id, created_by_colleague) == (lead.id, False)
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 1
    assert seen(booth)[ASE].scanned_at == NOW  # the first scan counts


def test_two_members_scanning_at_the_same_moment_make_one_lead(app, booth):
    """The unique constraint settles a race that the first look cannot see."""
    db.session.commit()
    attendee_id, fund_id = booth.people[ASE].id, booth.fund.id
    with app.app_context():  # another request recorded the same lead a moment ago
        db.session.add(Lead(sponsor_id=fund_id, attendee_id=attendee_id, scanned_at=NOW))
        db.session.commit()
        db.session.remove()
    original_scalar = db.session.scalar
    calls = []

    def blind_first_look(statement, *args, **kwargs):  # as if this request looked before the other
        calls.append(1)
        if len(calls) == 2:  # 1: the attendee; 2: the existing lead
            return None
        return original_scalar(statement, *args, **kwargs)

    db.session.scalar = blind_first_look
    try:
        lead, created = scan(booth, ASE)
    finally:
        del db.session.scalar
    assert not created and lead.attendee_id == attendee_id and lead.sponsor_id == fund_id
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 1


@pytest.mark.parametrize(
    ("qr", "reason"),
    [
        ("hello", "malformed"),
        ("ER1.AAAA", "malformed"),
        ("forged", "bad_signature"),
        ("unknown_key", "unknown_key"),
    ],
)
def test_a_qr_that_is_not_a_ticket_of_ours_is_refused(booth, qr, reason):
    ase = booth.people[ASE]
    if qr == "forged":  # the right claim, signed with a key that is not the event's
        qr = sign_ticket(
            TicketClaim(booth.event.id, ase.id, ase.ticket_version, 1), Ed25519PrivateKey.generate()
        )
    elif qr == "unknown_key":
        qr = sign_ticket(
            TicketClaim(booth.event.id, ase.id, ase.ticket_version, 77), Ed25519PrivateKey.generate()
        )
    with pytest.raises(ValidationError) as err:
        scan(booth, qr)
    assert err.value.status == 422 and err.value.code == "invalid_ticket"
    assert err.value.details["reason"] == reason
    assert err.value.fields["qr"] == [err.value.message]
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 0


def test_the_messages_say_what_is_wrong(booth):
    ase = booth.people[ASE]
    forged = sign_ticket(TicketClaim(booth.event.id, ase.id, 1, 1), Ed25519PrivateKey.generate())
    with pytest.raises(ValidationError) as err:
        scan(booth, forged)
    with force_locale("en"):
        assert str(err.value.message) == "Forged or damaged QR code."
    with pytest.raises(ValidationError) as err:
        scan(booth, "   ")
    with force_locale("en"):
        assert err.value.code == "missing" and "Scan a badge" in str(err.value.message)


def test_another_events_ticket_is_refused_as_such(booth):
    other = make_event("other", prices=(0,))
    stranger = create_order(other, order_data(other), now=NOW).attendees[0]
    with pytest.raises(ValidationError) as err:
        scan(booth, ticket_qr(stranger, now=NOW))
    assert err.value.details["reason"] == "other_event"
    with force_locale("en"):
        assert str(err.value.message) == "This ticket is for another event."


def test_a_ticket_signed_with_a_key_rotated_since_still_counts(booth):
    rotate_key(booth.event, now=NOW)
    newer = register(booth.event, [Person("Nadia Haddad")])[0]
    lead, created = scan(booth, ticket_qr(newer, now=NOW))  # signed with the new key
    assert created and lead.attendee_id == newer.id
    assert scan(booth, ASE)[1]  # the old key still verifies


def test_an_old_qr_of_a_transferred_ticket_is_refused(booth):
    old_qr = booth.qrs[BORIS]
    transfer_ticket(
        booth.people[BORIS], name="Kari Nordmann", email="kari@example.org", language="nb", now=NOW
    )
    with pytest.raises(ValidationError) as err:
        scan(booth, old_qr)
    assert err.value.details["reason"] == "revoked"


def test_a_transfer_takes_the_previous_holders_lead_away(booth):
    scan(booth, CHEN)
    assert CHEN in seen(booth)
    transfer_ticket(
        booth.people[CHEN], name="Kari Nordmann", email="kari@example.org", language="nb", now=NOW
    )
    assert seen(booth) == {}  # the sponsor met Chen, not Kari: nothing of either stays


@pytest.mark.parametrize("how", ["order_cancelled", "ticket_refunded", "order_refunded"])
def test_cancelled_and_refunded_tickets_are_refused(booth, how):
    cy, dag = register(booth.event, [Person("Cy Cancelled"), Person("Dag Kept")])
    qr = ticket_qr(cy, now=NOW)
    if how == "order_cancelled":
        cancel_order(cy.order, now=NOW)
    elif how == "ticket_refunded":
        refund_order(cy.order, attendee_ids=[cy.id], now=NOW, reason="test")
    else:
        refund_order(cy.order, attendee_ids=None, now=NOW, reason="test")
    db.session.flush()
    with pytest.raises(Conflict) as err:
        scan(booth, qr)
    assert err.value.status == 409 and err.value.code == "cancelled"
    with force_locale("en"):
        assert "cancelled or refunded" in str(err.value.message)
    if how == "ticket_refunded":  # the rest of the order stands
        assert scan(booth, ticket_qr(dag, now=NOW))[1]


def test_an_unpaid_registration_is_refused(booth):
    pending = register(booth.event, [Person("Ola Pending", ticket=2)])[0]  # priced: waits for payment
    with pytest.raises(Conflict) as err:
        scan(booth, ticket_qr(pending, now=NOW))
    assert err.value.code == "unpaid"


# --- what the sponsor sees ------------------------------------------------------------------


def test_without_consent_only_what_the_badge_shows(booth):
    lead, _ = scan(booth, CHEN)
    view = leads.lead_view(booth.fund, lead, language="en")
    assert (view.name, view.organisation) == ("陈伟", "深圳公益基金会")
    assert view.contact is None and not view.consents
    assert "p1@example.org" not in repr(view) and "+8613800138000" not in repr(view)


def test_with_consent_also_email_phone_country_and_sector(booth):
    lead, _ = scan(booth, ASE)
    view = leads.lead_view(booth.fund, lead, language="en")
    assert (view.name, view.organisation) == ("Åse Ødegård", "Øst Mikrokreditt AS")
    assert view.contact == leads.LeadContact(
        email="p0@example.org", phone="+4791234567", country="Norway", sector="Microfinance"
    )
    nb = leads.lead_view(booth.fund, lead, language="nb").contact
    assert (nb.country, nb.sector) == ("Norge", "Mikrofinans")


def test_a_withdrawal_after_the_scan_hides_the_details_at_once_and_consent_shows_them(booth):
    scan(booth, ASE)
    scan(booth, CHEN)
    assert seen(booth)[ASE].consents and not seen(booth)[CHEN].consents

    set_sponsor_consent(booth.people[ASE], False, now=NOW, via="attendee")
    set_sponsor_consent(booth.people[CHEN], True, now=NOW, via="attendee")
    now_seen = seen(booth)
    assert now_seen[ASE].contact is None
    assert now_seen[CHEN].contact.email == "p1@example.org"
    assert now_seen[CHEN].contact.phone == "+8613800138000"
    rows = _csv_rows(booth)
    assert rows[ASE][3:7] == ["", "", "", ""] and rows[ASE][2] == "No"
    assert rows[CHEN][3] == "p1@example.org"


def test_a_withdrawal_made_by_another_request_is_seen_by_the_next_read(app, booth):
    scan(booth, ASE)
    db.session.commit()
    assert seen(booth)[ASE].consents  # the attendee is now loaded in this session
    with app.app_context():
        set_sponsor_consent(db.session.get(Attendee, booth.people[ASE].id), False, now=NOW, via="attendee")
        db.session.commit()
        db.session.remove()
    db.session.rollback()  # the next request
    assert seen(booth)[ASE].contact is None


def test_a_sponsor_sees_and_edits_only_its_own_leads(booth):
    fund_lead, _ = scan(booth, ASE)
    rival_lead, created = scan(booth, ASE, member="rival", sponsor=booth.rival)
    assert created and rival_lead.id != fund_lead.id  # each company has its own lead
    scan(booth, CHEN)
    leads.update_lead(fund_lead, note="Wants a demo", rating=5, actor=booth.members["fund"], now=NOW)

    assert set(seen(booth)) == {ASE, CHEN}
    rival_seen = seen(booth, sponsor=booth.rival)
    assert set(rival_seen) == {ASE} and rival_seen[ASE].note == "" and rival_seen[ASE].rating is None
    with pytest.raises(NotFound):
        leads.get_lead(booth.rival, fund_lead.id)
    with pytest.raises(NotFound):
        leads.get_lead(booth.fund, rival_lead.id)
    assert leads.get_lead(booth.fund, fund_lead.id) is fund_lead
    assert leads.count_leads(booth.fund) == 2 and leads.count_leads(booth.rival) == 1


def test_the_leads_are_listed_latest_scan_first_with_who_scanned(booth):
    scan(booth, ASE, now=NOW)
    scan(booth, CHEN, member="fund_2", now=NOW + timedelta(minutes=1))
    views = leads.leads_of(booth.fund, language="en")
    assert [(v.name, v.scanned_by) for v in views] == [(CHEN, "fund-2"), (ASE, "fund")]


# --- notes and ratings ----------------------------------------------------------------------


def test_a_note_and_a_rating_are_saved(booth):
    lead, _ = scan(booth, CHEN)
    leads.update_lead(
        lead, note="  Interested in 山田's pilot\r\nCall in May  ", rating=4, actor=None, now=NOW
    )
    view = seen(booth)[CHEN]
    assert (view.note, view.rating) == ("Interested in 山田's pilot\nCall in May", 4)
    leads.update_lead(lead, note="", rating=None, actor=None, now=NOW)
    assert (seen(booth)[CHEN].note, seen(booth)[CHEN].rating) == ("", None)


@pytest.mark.parametrize("rating", [0, 6, -1, "abc", "3", 2.5, True])
def test_a_rating_outside_1_to_5_is_refused(booth, rating):
    lead, _ = scan(booth, ASE)
    with pytest.raises(ValidationError) as err:
        leads.update_lead(lead, note="kept?", rating=rating, actor=None, now=NOW)
    assert err.value.status == 422 and list(err.value.fields) == ["rating"]
    with force_locale("en"):
        assert str(err.value.fields["rating"][0]) == "Choose a rating from 1 to 5, or none."
    assert (lead.note, lead.rating) == ("", None)


def test_a_note_longer_than_the_limit_is_refused(booth):
    lead, _ = scan(booth, ASE)
    leads.update_lead(lead, note="x" * leads.NOTE_MAX, rating=None, actor=None, now=NOW)
    with pytest.raises(ValidationError) as err:
        leads.update_lead(lead, note="x" * (leads.NOTE_MAX + 1), rating=9, actor=None, now=NOW)
    assert set(err.value.fields) == {"note", "rating"}


def test_the_database_refuses_a_rating_outside_1_to_5_too(booth):
    lead, _ = scan(booth, ASE)
    lead.rating = 6
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


# --- the export -----------------------------------------------------------------------------


def _csv_rows(booth, sponsor=None) -> dict[str, list[str]]:
    table = leads.leads_table(booth.event, sponsor or booth.fund, language="en")
    data = formats.to_csv(table.header, table.rows)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == [
        "Name",
        "Organisation",
        "Shares contact details",
        "Email",
        "Phone",
        "Country",
        "Sector",
        "Rating",
        "Note",
        "Scanned at",
        "Scanned by",
    ]
    return {row[0]: row for row in rows[1:]}


def test_the_csv_holds_the_leads_with_notes_under_the_consent_rule(booth):
    ase, _ = scan(booth, ASE)
    chen, _ = scan(booth, CHEN, now=NOW + timedelta(minutes=3))
    leads.update_lead(ase, note="=SUM(A1) follow up", rating=5, actor=None, now=NOW)
    leads.update_lead(chen, note="Met at the booth", rating=2, actor=None, now=NOW)
    rows = _csv_rows(booth)
    assert set(rows) == {ASE, CHEN}
    assert rows[ASE] == [
        ASE,
        "Øst Mikrokreditt AS",
        "Yes",
        "p0@example.org",
        "'+4791234567",  # a leading + would make a formula; formats.py defuses it
        "Norway",
        "Microfinance",
        "5",
        "'=SUM(A1) follow up",
        "2027-01-15 13:00",  # in the event's time zone (Oslo)
        "fund",
    ]
    assert rows[CHEN] == [
        CHEN,
        "深圳公益基金会",
        "No",
        "",
        "",
        "",
        "",
        "2",
        "Met at the booth",
        "2027-01-15 13:03",
        "fund",
    ]
    assert "p1@example.org" not in str(rows) and "+8613800138000" not in str(rows)


def test_the_xlsx_has_the_same_rows(booth):
    ase, _ = scan(booth, ASE)
    scan(booth, BORIS)
    leads.update_lead(ase, note="Ring tilbake", rating=3, actor=None, now=NOW)
    table = leads.leads_table(booth.event, booth.fund, language="nb")
    workbook = openpyxl.load_workbook(io.BytesIO(formats.to_xlsx(table.header, table.rows, table.title)))
    sheet = workbook.active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert sheet.title == "Leads" or sheet.title == table.title
    assert values[0][0] == table.header[0]
    by_name = {row[0]: row for row in values[1:]}
    assert by_name[ASE][3] == "p0@example.org" and by_name[ASE][7] == 3 and by_name[ASE][8] == "Ring tilbake"
    assert by_name[BORIS][1] == "Компания" and by_name[BORIS][3] is None and by_name[BORIS][7] is None


def test_the_export_never_holds_another_companys_leads(booth):
    scan(booth, ASE, member="rival", sponsor=booth.rival)
    assert _csv_rows(booth) == {}
    assert set(_csv_rows(booth, booth.rival)) == {ASE}


# --- privacy --------------------------------------------------------------------------------


def test_erasing_an_attendee_deletes_their_leads(booth):
    scan(booth, ASE)
    scan(booth, ASE, member="rival", sponsor=booth.rival)
    scan(booth, CHEN)
    ase = booth.people[ASE]
    privacy.erase_attendee(ase, now=booth.event.ends_at + timedelta(days=1), via="attendee")
    assert db.session.scalars(sa.select(Lead.attendee_id)).all() == [booth.people[CHEN].id]
    assert set(seen(booth)) == {CHEN} and seen(booth, sponsor=booth.rival) == {}


def test_the_retention_purge_deletes_the_leads(booth):
    scan(booth, ASE)
    scan(booth, CHEN)
    privacy.purge_event(booth.event, now=booth.event.ends_at + timedelta(days=400))
    assert db.session.scalar(sa.select(sa.func.count(Lead.id))) == 0


def test_the_data_download_lists_the_sponsors_who_scanned_the_attendee(booth):
    scan(booth, ASE, now=NOW)
    scan(booth, ASE, member="rival", sponsor=booth.rival, now=NOW + timedelta(hours=1))
    data = privacy.personal_data(booth.people[ASE], now=NOW)
    assert data["sponsor_scans"] == [
        {"sponsor": "Nordic Impact Fund", "scanned_at": NOW.isoformat()},
        {"sponsor": "Rival Bank", "scanned_at": (NOW + timedelta(hours=1)).isoformat()},
    ]
    assert privacy.personal_data(booth.people[CHEN], now=NOW)["sponsor_scans"] == []
