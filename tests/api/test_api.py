"""The JSON API: what a client sees, and every kind of bad request answered with a clear 4xx."""

import pytest
import sqlalchemy as sa

from eventreg.accounts.models import ApiToken
from eventreg.accounts.services import create_api_token
from eventreg.events.models import EventStatus, QuestionKind
from eventreg.extensions import db
from eventreg.registration.models import Attendee, Order
from tests.factories import add_question, add_session, make_event, make_user


@pytest.fixture
def forum(app):
    with app.app_context():
        event = make_event("forum", seats=2, prices=(1950_00, 450_00))
        workshop = add_session(event, "Impact", slot="day1", capacity=1)
        country = add_question(event, QuestionKind.COUNTRY, label="Country", required=True)
        make_event("draft", status=EventStatus.DRAFT)
        db.session.commit()
        ids = {
            "types": [tt.id for tt in event.ticket_types],
            "workshop": workshop.id,
            "country": country.id,
        }
        db.session.remove()
    return ids


def order_body(forum, n=1, **changes):
    body = {
        "buyer": {"name": "Åse Ødegård", "email": "ase@example.org", "language": "nb"},
        "attendees": [
            {
                "name": name,
                "email": f"a{i}@example.org",
                "language": "en",
                "ticket_type_id": forum["types"][0],
                "answers": {str(forum["country"]): "NO"},
                "session_ids": [],
            }
            for i, name in enumerate(["محمد يونس", "Юнус", "尤努斯"][:n])
        ],
        "payment_method": "card",
    }
    body.update(changes)
    return body


def rows(app):
    with app.app_context():
        n = tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (Order, Attendee))
        db.session.remove()
    return n


def test_events_list_shows_published_events_only(client, forum):
    r = client.get("/api/v1/events")
    assert r.status_code == 200
    assert [e["slug"] for e in r.json] == ["forum"]


def test_event_detail_has_prices_vat_availability_workshops_and_questions(client, forum):
    r = client.get("/api/v1/events/forum", headers={"Accept-Language": "en"})
    assert r.status_code == 200
    early = r.json["ticket_types"][0]
    assert early == {
        "id": forum["types"][0],
        "name": "Ticket 0",
        "description": "",
        "price_ore": 195000,
        "vat_rate": 25,
        "vat_ore": 39000,
        "visibility": "public",
        "available": 2,
        "on_sale": True,
    }
    assert r.json["sessions"][0] | {} == {
        "id": forum["workshop"],
        "name": "Impact",
        "slot": "day1",
        "room": "",
        "starts_at": None,
        "available": 1,
    }
    question = r.json["questions"][0]
    assert (question["id"], question["kind"], question["required"]) == (forum["country"], "country", True)
    assert {"value": "NO", "label": "Norway"} in question["choices"]


def test_unknown_and_draft_events_are_404(client, forum):
    for slug in ("nope", "draft"):
        r = client.get(f"/api/v1/events/{slug}")
        assert r.status_code == 404 and r.json["error"] == "not_found"


def test_creating_an_order(client, forum):
    r = client.post("/api/v1/events/forum/orders", json=order_body(forum, 2))
    assert r.status_code == 201, r.json
    assert r.json["status"] == "pending"
    assert r.json["total_ore"] == 390000 and r.json["vat_ore"] == 78000
    assert r.json["expires_at"].endswith("+00:00")
    assert f"/orders/{r.json['code']}/" in r.json["manage_url"]
    assert client.get("/api/v1/events/forum").json["ticket_types"][0]["available"] == 0


def test_names_in_any_script_come_back_unchanged(client, forum, app):
    client.post("/api/v1/events/forum/orders", json=order_body(forum, 2))
    with app.app_context():
        names = db.session.scalars(sa.select(Attendee.name).order_by(Attendee.position)).all()
        buyer = db.session.scalar(sa.select(Order.buyer_name))
    assert names == ["محمد يونس", "Юнус"] and buyer == "Åse Ødegård"


def test_sold_out_is_a_409_with_what_is_left(client, forum, app):
    assert client.post("/api/v1/events/forum/orders", json=order_body(forum, 2)).status_code == 201
    r = client.post("/api/v1/events/forum/orders", json=order_body(forum, 1))
    assert r.status_code == 409
    assert r.json["error"] == "sold_out"
    assert r.json["available"] == {str(forum["types"][0]): 0}
    assert r.json["waitlist"] is True
    assert rows(app) == (1, 2)


def test_joining_the_waiting_list_when_sold_out(client, forum):
    client.post("/api/v1/events/forum/orders", json=order_body(forum, 2))
    body = {"ticket_type_id": forum["types"][0], "seats": 3, "name": "Kari", "email": "kari@example.org"}
    r = client.post("/api/v1/events/forum/waitlist", json=body)
    assert r.status_code == 201
    assert (r.json["status"], r.json["seats"], r.json["position"]) == ("waiting", 3, 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (lambda f: {"attendees": order_body(f)["attendees"]}, "buyer"),
        (lambda f: order_body(f, attendees=[]), "attendees"),
        (lambda f: order_body(f, attendees="everyone"), "attendees"),
        (lambda f: order_body(f, attendees=order_body(f)["attendees"] * 21), "attendees"),
        (lambda f: order_body(f, payment_method="cash"), "payment_method"),
        (lambda f: order_body(f, voucher_code="NOPE"), "voucher_code"),
        (lambda f: _attendee(f, ticket_type_id="abc"), "attendees"),
        (lambda f: _attendee(f, ticket_type_id=-1), "attendees.0.ticket_type_id"),
        (lambda f: _attendee(f, ticket_type_id=10**12), "attendees.0.ticket_type_id"),
        (lambda f: _attendee(f, name="x" * 10_000), "attendees.0.name"),
        (lambda f: _attendee(f, email="nope"), "attendees.0.email"),
        (lambda f: _attendee(f, answers={}), "attendees.0.answers.{country}"),
        (lambda f: _attendee(f, answers={"{country}": "Narnia"}), "attendees.0.answers.{country}"),
        (lambda f: _attendee(f, session_ids=[10**9]), "attendees.0.session_ids"),
    ],
)
def test_bad_orders_get_a_422_naming_the_field_and_write_nothing(client, forum, app, body, field):
    payload = body(forum)
    r = client.post("/api/v1/events/forum/orders", json=_fill(payload, forum))
    assert r.status_code == 422, r.json
    assert r.json["error"] == "validation"
    field = field.format(country=forum["country"])
    assert any(k == field or k.startswith(field + ".") for k in r.json["fields"]), r.json["fields"]
    assert rows(app) == (0, 0)


def _attendee(forum, **changes):
    body = order_body(forum)
    body["attendees"][0].update(changes)
    return body


def _fill(value, forum):
    """Puts the real question id into answer keys written as "{country}"."""
    if isinstance(value, dict):
        return {k.format(country=forum["country"]): _fill(v, forum) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, forum) for v in value]
    return value


def test_workshop_full_and_two_workshops_in_one_slot(client, forum, app):
    body = _attendee(forum, session_ids=[forum["workshop"]])
    assert client.post("/api/v1/events/forum/orders", json=body).status_code == 201
    r = client.post("/api/v1/events/forum/orders", json=body)
    assert (r.status_code, r.json["error"]) == (409, "session_full")


def test_html_and_script_in_names_are_stored_as_text(client, forum, app):
    body = _attendee(forum, name="<script>alert(1)</script>")
    assert client.post("/api/v1/events/forum/orders", json=body).status_code == 201
    with app.app_context():
        assert db.session.scalar(sa.select(Attendee.name)) == "<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ("[]", "application/json"),
        ("null", "application/json"),
        ("a=b", "text/plain"),
    ],
)
def test_malformed_bodies_are_4xx_never_500(client, forum, data, content_type):
    r = client.post("/api/v1/events/forum/orders", data=data, content_type=content_type)
    assert 400 <= r.status_code < 500
    assert "error" in r.json


def test_a_huge_body_is_refused(client, forum):
    r = client.post("/api/v1/events/forum/orders", data="x" * 2_000_000, content_type="application/json")
    assert r.status_code == 413


def test_members_only_events_need_a_member_token(client, app, forum):
    with app.app_context():
        event = make_event("network", prices=(0,), members_only=True)
        make_user("member@example.org", member=True)
        make_user("guest@example.org")
        member_token = create_api_token("member@example.org")
        guest_token = create_api_token("guest@example.org")
        body = {
            "buyer": {"name": "Amina", "email": "amina@example.org"},
            "attendees": [
                {"name": "Amina", "email": "amina@example.org", "ticket_type_id": event.ticket_types[0].id}
            ],
        }
        db.session.commit()
        db.session.remove()
    url = "/api/v1/events/network/orders"
    r = client.post(url, json=body)
    assert (r.status_code, r.json["error"]) == (403, "members_only")
    r = client.post(url, json=body, headers={"Authorization": f"Bearer {guest_token}"})
    assert r.status_code == 403
    r = client.post(url, json=body, headers={"Authorization": "Bearer ert_forged"})
    assert (r.status_code, r.json["error"]) == (401, "unauthorized")
    r = client.post(url, json=body, headers={"Authorization": f"Bearer {member_token}"})
    assert r.status_code == 201 and r.json["status"] == "paid"


def test_session_cookies_do_not_authenticate_the_api(client, app, forum):
    """The API trusts bearer tokens only, so a logged-in browser cannot be driven cross-site."""
    with app.app_context():
        event = make_event("network", prices=(0,), members_only=True)
        member = make_user("member@example.org", member=True)
        ids = member.id, event.ticket_types[0].id
        db.session.commit()
    with client.session_transaction() as session:  # what Flask-Login keeps after a login
        session["_user_id"] = f"{ids[0]}:0"  # User.get_id()
        session["_fresh"] = True
    attendee = {"name": "A", "email": "a@example.org", "ticket_type_id": ids[1]}
    body = {"buyer": {"name": "A", "email": "a@example.org"}, "attendees": [attendee]}
    r = client.post("/api/v1/events/network/orders", json=body)
    assert (r.status_code, r.json["error"]) == (403, "members_only")


def test_create_token_command_prints_a_token_stored_only_as_a_hash(app, forum):
    with app.app_context():
        make_user("staff@example.org")
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["create-token", "staff@example.org"])
    token = result.output.strip()
    assert result.exit_code == 0 and token.startswith("ert_") and len(token) > 40
    with app.app_context():
        stored = db.session.scalars(sa.select(ApiToken.token_hash)).all()
    assert len(stored) == 1 and token not in stored[0]
    assert app.test_cli_runner().invoke(args=["create-token", "nobody@example.org"]).exit_code != 0


def test_openapi_document_is_generated_from_the_code(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json
    assert doc["openapi"].startswith("3.")
    assert {"/api/v1/events", "/api/v1/events/{slug}", "/api/v1/events/{slug}/orders"} <= set(doc["paths"])
    post = doc["paths"]["/api/v1/events/{slug}/orders"]["post"]
    assert {"201", "409", "422"} <= set(post["responses"])
    assert {"buyer", "attendees"} <= set(doc["components"]["schemas"]["OrderIn"]["required"])
