"""The check-in API as a scanner uses it: redeem, undo, the offline package and uploads."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventreg.accounts.services import create_api_token, issue_device_token
from eventreg.checkin.models import Checkin
from eventreg.checkin.services import ListData, save_list
from eventreg.core.clock import now
from eventreg.extensions import db
from eventreg.registration.services import create_order
from eventreg.tickets.services import ticket_qr
from eventreg.tickets.signing import TicketClaim, sign_ticket
from tests.factories import NOW, make_event, make_user, order_data


@pytest.fixture
def gate(app):
    with app.app_context():
        event = make_event(prices=(0,))
        make_event("other", prices=(0,))
        staff = make_user("door@example.org", checkin_of=event)
        make_user("organiser@example.org", organiser_of=event)
        make_user("stranger@example.org")
        lst = save_list(event, ListData(name="Main entrance"))
        attendee = create_order(event, order_data(event, names=["Ада Øverby"]), now=NOW).attendees[0]
        qr = ticket_qr(attendee, now=NOW)
        forged = sign_ticket(TicketClaim(event.id, attendee.id, 1, 1), Ed25519PrivateKey.generate())
        tokens = {
            "staff": issue_device_token(staff, "Door 1 phone", expires_at=now() + timedelta(days=1)),
            "organiser": create_api_token("organiser@example.org"),
            "stranger": create_api_token("stranger@example.org"),
            "expired": issue_device_token(staff, "old phone", expires_at=now() - timedelta(seconds=1)),
        }
        db.session.commit()
        base = f"/api/v1/events/forum/checkin-lists/{lst.id}"
        yield {"base": base, "qr": qr, "forged": forged, "tokens": tokens, "attendee_id": attendee.id}


def auth(gate, who="staff"):
    return {"Authorization": f"Bearer {gate['tokens'][who]}"}


def test_redeem_answers_ok_then_already_redeemed_with_who_and_where(client, gate):
    r = client.post(gate["base"] + "/redeem", json={"qr": gate["qr"], "gate": "Door 1"}, headers=auth(gate))
    assert r.status_code == 200
    body = r.get_json()
    assert body["result"] == "ok" and body["attendee"]["name"] == "Ада Øverby"
    assert body["attendee"]["ticket_type"] and body["attendee"]["checkin"]["gate"] == "Door 1"
    again = client.post(
        gate["base"] + "/redeem", json={"qr": gate["qr"]}, headers=auth(gate, "organiser")
    ).get_json()
    assert again["result"] == "already_redeemed"
    assert (
        again["attendee"]["checkin"] == body["attendee"]["checkin"]
    )  # the first admission: by door, at Door 1
    assert again["attendee"]["checkin"]["by"] == "door"


def test_forged_qr_is_invalid(client, gate):
    body = client.post(gate["base"] + "/redeem", json={"qr": gate["forged"]}, headers=auth(gate)).get_json()
    assert body == {"result": "invalid", "reason": "bad_signature", "attendee": None}


@pytest.mark.parametrize(
    ("who", "status"), [(None, 401), ("expired", 401), ("stranger", 403), ("staff", 200), ("organiser", 200)]
)
def test_only_the_events_staff_may_redeem(client, gate, app, who, status):
    headers = auth(gate, who) if who else {}
    r = client.post(gate["base"] + "/redeem", json={"qr": gate["qr"]}, headers=headers)
    assert r.status_code == status
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Checkin.id))) == (1 if status == 200 else 0)


def test_a_session_cookie_is_not_enough(client, gate):
    client.post("/login", data={"email": "door@example.org", "password": "secret-pw-kaffe"})
    assert client.post(gate["base"] + "/redeem", json={"qr": gate["qr"]}).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"qr": "x", "attendee_id": 1},
        {"qr": 5},
        {"qr": "x" * 500},
        {"attendee_id": "1"},
        {"qr": "x", "nonce": "1"},
    ],
)
def test_bad_bodies_are_422(client, gate, body):
    r = client.post(gate["base"] + "/redeem", json=body, headers=auth(gate))
    assert r.status_code == 422 and r.get_json()["error"] == "validation"


def test_unknown_list_and_event_are_404(client, gate):
    assert (
        client.post(
            "/api/v1/events/forum/checkin-lists/999/redeem", json={"qr": "x"}, headers=auth(gate)
        ).status_code
        == 404
    )
    r = client.post("/api/v1/events/other/checkin-lists/1/redeem", json={"qr": "x"}, headers=auth(gate))
    assert r.status_code == 403  # staff of forum only


def test_undo_lets_the_attendee_in_again(client, gate):
    checkin = client.post(gate["base"] + "/redeem", json={"qr": gate["qr"]}, headers=auth(gate)).get_json()
    checkin_id = checkin["attendee"]["checkin"]["id"]
    assert client.post(f"{gate['base']}/checkins/{checkin_id}/undo", headers=auth(gate)).status_code == 200
    assert client.post(f"{gate['base']}/checkins/{checkin_id}/undo", headers=auth(gate)).status_code == 409
    again = client.post(gate["base"] + "/redeem", json={"qr": gate["qr"]}, headers=auth(gate)).get_json()
    assert again["result"] == "ok"


def test_by_name_with_attendee_id(client, gate):
    r = client.post(gate["base"] + "/redeem", json={"attendee_id": gate["attendee_id"]}, headers=auth(gate))
    assert r.get_json()["result"] == "ok"


def test_package_has_keys_rules_and_attendees(client, gate):
    package = client.get(gate["base"] + "/package", headers=auth(gate)).get_json()
    assert package["list"]["name"] == "Main entrance"
    assert len(package["keys"]["1"]) == 44  # 32 bytes, base64
    (row,) = package["attendees"]
    assert row["name"] == "Ада Øverby" and row["version"] == 1 and row["refused"] is None


def test_an_upload_sent_twice_is_recorded_once(client, gate, app):
    scans = [
        {
            "nonce": "offline-0001",
            "scanned_at": "2026-11-01T13:00:00+01:00",
            "qr": gate["qr"],
            "gate": "Door 2",
        },
        {
            "nonce": "offline-0002",
            "scanned_at": "2026-11-01T13:01:00+01:00",
            "qr": gate["forged"],
            "gate": "Door 2",
        },
    ]
    first = client.post(gate["base"] + "/scans", json={"scans": scans}, headers=auth(gate))
    assert first.status_code == 200
    assert [(r["outcome"], r["reason"]) for r in first.get_json()["results"]] == [
        ("admitted", ""),
        ("invalid", "bad_signature"),
    ]
    second = client.post(gate["base"] + "/scans", json={"scans": scans}, headers=auth(gate))
    assert second.get_json() == first.get_json()
    with app.app_context():
        (row,) = db.session.scalars(sa.select(Checkin)).all()
        assert row.offline and row.gate == "Door 2"
        assert row.scanned_at == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # 13:00 in Oslo


@pytest.mark.parametrize(
    "scan",
    [
        {"nonce": "offline-0001", "scanned_at": "2027-01-15T13:00:00", "qr": "x"},  # no offset
        {"nonce": "offline-0001", "qr": "x"},
        {"scanned_at": "2027-01-15T13:00:00Z", "qr": "x"},
    ],
)
def test_bad_uploads_are_422(client, gate, scan):
    r = client.post(gate["base"] + "/scans", json={"scans": [scan]}, headers=auth(gate))
    assert r.status_code == 422
