"""What the schemathesis run (test_openapi_fuzz.py) found, as plain requests: each got a 500 or
an answer its documentation did not describe."""

import pytest
import sqlalchemy as sa

from eventreg.accounts.services import create_api_token
from eventreg.checkin.services import ListData, save_list
from eventreg.events.models import Quota
from eventreg.extensions import db
from tests.factories import make_event, make_user

HUGE = 2**70  # beyond any database integer


@pytest.fixture
def admin(app):
    """forum with a check-in list; an admin's token and the ids."""
    with app.app_context():
        event = make_event("forum", prices=(500_00, 0))
        user = make_user("admin@example.org", admin=True)
        lst = save_list(event, ListData(name="Main entrance"))
        ids = {"list": lst.id, "type": event.ticket_types[0].id, "token": create_api_token(user.email)}
        db.session.commit()
        db.session.remove()
    return ids


def send(client, admin, method, path, json=None):
    headers = {"Authorization": f"Bearer {admin['token']}", "Accept-Language": "en"}
    return client.open(f"/api/v1{path.format(**admin)}", method=method, json=json, headers=headers)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/events/forum/checkin-lists/{HUGE}"),
        ("GET", f"/events/forum/checkin-lists/{HUGE}/package"),
        ("POST", f"/events/forum/checkin-lists/{{list}}/checkins/{HUGE}/undo"),
        ("POST", f"/events/forum/checkin-lists/{HUGE}/checkins/1/undo"),
        ("PATCH", f"/events/forum/ticket-types/{HUGE}"),
        ("DELETE", f"/events/forum/ticket-types/{HUGE}"),
    ],
)
def test_an_id_beyond_the_databases_integers_in_the_path_is_404(client, admin, method, path):
    r = send(client, admin, method, path, json={} if method != "GET" else None)
    assert r.status_code == 404
    assert r.json["error"] == "not_found"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/events/forum/checkin-lists/{list}/redeem", {"attendee_id": HUGE}),
        (
            "/events/forum/checkin-lists/{list}/scans",
            {"scans": [{"nonce": "n" * 10, "scanned_at": "2027-01-01T10:00:00+00:00", "attendee_id": HUGE}]},
        ),
        (
            "/events/forum/orders",
            {
                "buyer": {"name": "B", "email": "b@example.org"},
                "attendees": [{"name": "A", "ticket_type_id": HUGE}],
            },
        ),
        ("/events/forum/waitlist", {"ticket_type_id": HUGE, "name": "A", "email": "a@example.org"}),
        (
            "/events/forum/ticket-types",
            {"name": {"en": "T"}, "price_ore": 0, "vat_rate": 0, "quota_ids": [HUGE]},
        ),
        ("/events/forum/quotas", {"name": "Q", "size": 5, "ticket_type_ids": [HUGE]}),
        ("/events/forum/questions", {"label": {"en": "Q"}, "kind": "text", "depends_on_id": HUGE}),
        ("/events/forum/vouchers", {"code": "ABC", "kind": "percent", "value": 10, "ticket_type_id": HUGE}),
        (
            "/events",
            {
                "slug": "x-1",
                "title": {"en": "X"},
                "starts_at": "2027-05-01T10:00:00+00:00",
                "ends_at": "2027-05-02T10:00:00+00:00",
                "organiser_id": HUGE,
            },
        ),
    ],
)
def test_an_id_beyond_the_databases_integers_in_a_body_is_422(client, admin, path, body):
    r = send(client, admin, "POST", path, json=body)
    assert r.status_code == 422, r.json
    assert r.json["error"] == "validation"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/events/forum/ticket-types", {"name": {"en": "T"}, "price_ore": HUGE, "vat_rate": 0}),
        ("PATCH", "/events/forum/ticket-types/{type}", {"price_ore": HUGE}),
        ("POST", "/events/forum/quotas", {"name": "Q", "size": HUGE}),
        ("POST", "/events/forum/workshops", {"name": {"en": "W"}, "slot": "a", "capacity": HUGE}),
        ("POST", "/events/forum/vouchers", {"code": "ABC", "kind": "fixed", "value": HUGE}),
        ("POST", "/events/forum/vouchers", {"code": "ABC", "kind": "percent", "value": 5, "max_uses": HUGE}),
        ("PATCH", "/events/forum", {"total_capacity": HUGE}),
        ("PATCH", "/events/forum", {"hold_minutes": HUGE}),
        ("PATCH", "/events/forum", {"retention_days": HUGE}),
        ("PATCH", "/events/forum", {"waitlist_offer_hours": HUGE}),
        ("PATCH", "/events/forum", {"max_attendees_per_order": HUGE}),
        (
            "POST",
            "/events/forum/waitlist",
            {"ticket_type_id": 1, "seats": HUGE, "name": "A", "email": "a@e.org"},
        ),
    ],
)
def test_a_number_beyond_the_databases_integers_is_a_4xx(client, admin, method, path, body):
    r = send(client, admin, method, path, json=body)
    assert 400 <= r.status_code < 500, r.json


def test_every_error_answer_is_documented_with_the_body_it_has(client):
    """Error answers were documented with flask-smorest's own error schema ({code, status,
    errors}), which no answer of ours matches, under a catch-all "default"."""
    doc = client.get("/api/v1/openapi.json").json
    body = doc["components"]["schemas"]["ErrorBody"]
    assert set(body["properties"]) >= {"error", "message", "fields", "available", "waitlist", "request_id"}
    assert "Error" not in doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert "default" not in responses, (method, path)
            errors = {s: r for s, r in responses.items() if int(s) >= 400}
            assert "429" in errors, (method, path)
            for status, response in errors.items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema is None:  # a reference to a shared response
                    name = response["$ref"].rsplit("/", 1)[1]
                    schema = doc["components"]["responses"][name]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_a_sold_out_answer_carries_only_documented_fields(client, admin, app):
    with app.app_context():
        db.session.execute(sa.update(Quota).values(size=0))
        db.session.commit()
    body = {
        "buyer": {"name": "B", "email": "b@example.org"},
        "attendees": [{"name": "A", "email": "a@example.org", "ticket_type_id": admin["type"]}],
    }
    r = send(client, admin, "POST", "/events/forum/orders", json=body)
    assert r.status_code == 409 and r.json["error"] == "sold_out"
    documented = client.get("/api/v1/openapi.json").json["components"]["schemas"]["ErrorBody"]["properties"]
    assert set(r.json) <= set(documented)
    assert set(r.json) >= {"available", "waitlist"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/events/forum/checkin-lists/{list}/redeem", 404),  # an unknown attendee
        ("GET", "/events/forum", 401),  # a malformed token
    ],
)
def test_error_statuses_the_document_did_not_list(client, admin, method, path, status):
    """redeem answered 404 for an unknown attendee and the event 401 for a bad token; neither was
    documented for the operation."""
    if status == 401:
        r = client.get(f"/api/v1{path}", headers={"Authorization": "Basic x"})
    else:
        r = send(client, admin, method, path, json={"attendee_id": 999999})
    assert r.status_code == status
    doc = client.get("/api/v1/openapi.json").json
    template = path.replace("{list}", "{list_id}").replace("/forum", "/{slug}")
    assert str(status) in doc["paths"][f"/api/v1{template}"][method.lower()]["responses"]
