"""The event-builder API: organisers build and copy events with a staff token, get the same
per-field errors as the service functions (422, or 409 for what would break sold tickets), and
everybody else is turned away before the body is read."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from eventreg.accounts.models import EventRole, EventRoleKind
from eventreg.accounts.services import create_api_token
from eventreg.audit.models import AuditEntry
from eventreg.builder import services as builder
from eventreg.core.errors import DomainError
from eventreg.events.models import Event, EventStatus, TicketType
from eventreg.extensions import db
from eventreg.registration.models import Voucher
from eventreg.registration.services import create_order
from tests.factories import NOW, make_event, make_organiser, make_user, order_data

EN = {"Accept-Language": "en"}


@pytest.fixture
def world(app):
    """forum (published, a 500 kr and a free ticket type, 10 seats) with a paid free ticket;
    tokens for its organiser, an admin, its check-in staff and another event's organiser."""
    with app.app_context():
        make_organiser()
        forum = make_event("forum", seats=10, prices=(500_00, 0))
        other = make_event("other")
        users = {
            "organiser": make_user("kari@example.org", organiser_of=forum),
            "admin": make_user("admin@example.org", admin=True),
            "staff": make_user("staff@example.org", checkin_of=forum),
            "other_organiser": make_user("ola@example.org", organiser_of=other),
            "member": make_user("member@example.org", member=True),
        }
        create_order(forum, order_data(forum, ticket_type=forum.ticket_types[1]), now=NOW)
        tokens = {role: create_api_token(u.email) for role, u in users.items()}
        ids = {
            "paid": forum.ticket_types[0].id,
            "free": forum.ticket_types[1].id,
            "quota": forum.quotas[0].id,
            "other_type": other.ticket_types[0].id,
        }
        db.session.commit()
        db.session.remove()
    return tokens, ids


def call(client, method, path, token=None, json=None):
    headers = dict(EN)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.open(f"/api/v1{path}", method=method, json=json, headers=headers)


def service_error(app, action) -> tuple[int, dict]:
    """What the service answers (status and JSON body) for `action(event, actor)`, nothing kept."""
    with app.test_request_context(headers=EN):
        event = db.session.scalar(sa.select(Event).where(Event.slug == "forum"))
        actor = db.session.scalar(
            sa.select(EventRole).where(
                EventRole.event_id == event.id, EventRole.role == EventRoleKind.ORGANISER
            )
        ).user
        try:
            action(event, actor)
        except DomainError as err:
            return err.status, err.to_json()
        finally:
            db.session.rollback()
            db.session.remove()
    raise AssertionError("the service accepted it")


EVENT = {
    "slug": "forum-2028",
    "title": {"nb": "Forum for sosialt entreprenørskap", "en": "Social Business Forum"},
    "starts_at": "2028-05-25T09:00:00+02:00",
    "ends_at": "2028-05-26T17:00:00+02:00",
    "venue": "Oslo rådhus",
}


# --- who may ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/events"),
        ("PATCH", "/events/forum"),
        ("POST", "/events/forum/copy"),
        ("POST", "/events/forum/ticket-types"),
        ("PATCH", "/events/forum/ticket-types/{paid}"),
        ("DELETE", "/events/forum/ticket-types/{paid}"),
        ("POST", "/events/forum/quotas"),
        ("POST", "/events/forum/workshops"),
        ("POST", "/events/forum/questions"),
        ("POST", "/events/forum/vouchers"),
        ("GET", "/events/forum/audit"),
    ],
)
def test_only_organisers_of_the_event_and_admins_get_in(client, world, method, path):
    tokens, ids = world
    path = path.format(**ids)
    assert call(client, method, path, json={}).status_code == 401
    assert call(client, method, path, token="ert_wrong", json={}).status_code == 401
    turned_away = ["staff", "member"] + ([] if path == "/events" else ["other_organiser"])
    for role in turned_away:
        r = call(client, method, path, tokens[role], json={})
        assert r.status_code == 403, (role, r.json)
    # Nothing of the turned-away calls was kept.
    with client.application.app_context():
        assert db.session.scalar(sa.select(sa.func.count(TicketType.id))) == 3
    for role in ("organiser", "admin"):
        r = call(client, method, path, tokens[role], json={})
        if method == "DELETE":  # the organiser deleted it; the admin finds it gone
            assert r.status_code == (204 if role == "organiser" else 404)
        else:  # in, and then told what is missing (an empty body) or answered
            assert r.status_code in (200, 422), (role, r.json)


def test_unknown_events_and_ticket_types_of_other_events_are_404(client, world):
    tokens, ids = world
    token = tokens["organiser"]
    assert call(client, "PATCH", "/events/nope", token, json={}).status_code == 404
    assert (
        call(client, "PATCH", f"/events/forum/ticket-types/{ids['other_type']}", token, json={}).status_code
        == 404
    )
    assert call(client, "DELETE", "/events/forum/ticket-types/999999", token).status_code == 404


# --- building an event ----------------------------------------------------------------------


def test_an_organiser_builds_publishes_and_copies_an_event(client, world):
    tokens, _ = world
    token = tokens["organiser"]
    r = call(client, "POST", "/events", token, json=EVENT)
    assert r.status_code == 201, r.json
    assert r.json["status"] == "draft" and r.json["title"] == EVENT["title"]
    assert r.json["starts_at"] == "2028-05-25T07:00:00+00:00"

    r = call(
        client,
        "POST",
        "/events/forum-2028/ticket-types",
        token,
        json={"name": {"nb": "Ordinær", "en": "Regular"}, "price_ore": 1950_00, "vat_rate": 25},
    )
    assert r.status_code == 201, r.json
    regular = r.json["id"]
    r = call(
        client,
        "POST",
        "/events/forum-2028/quotas",
        token,
        json={"name": "Salen", "size": 550, "ticket_type_ids": [regular]},
    )
    assert r.status_code == 201 and r.json["ticket_type_ids"] == [regular]
    r = call(
        client,
        "POST",
        "/events/forum-2028/workshops",
        token,
        json={
            "name": {"en": "Impact"},
            "slot": "day1",
            "capacity": 30,
            "starts_at": "2028-05-25T11:00:00+02:00",
        },
    )
    assert r.status_code == 201 and r.json["capacity"] == 30
    r = call(
        client,
        "POST",
        "/events/forum-2028/questions",
        token,
        json={"label": {"en": "Phone"}, "kind": "phone"},
    )
    assert r.status_code == 201 and r.json["kind"] == "phone"
    r = call(client, "PATCH", "/events/forum-2028", token, json={"hold_minutes": 15, "status": "published"})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "published" and r.json["hold_minutes"] == 15
    assert [t["id"] for t in r.json["ticket_types"]] == [regular]

    r = call(
        client,
        "POST",
        "/events/forum-2028/copy",
        token,
        json={"slug": "forum-2029", "starts_at": "2029-05-24T09:00:00+02:00"},
    )
    assert r.status_code == 201, r.json
    assert r.json["status"] == "draft" and r.json["ends_at"] == "2029-05-25T15:00:00+00:00"
    assert r.json["workshops"][0]["starts_at"] == "2029-05-24T09:00:00+00:00"
    assert r.json["questions"][0]["kind"] == "phone"

    r = call(client, "GET", "/events/forum-2028/audit", token)
    assert r.status_code == 200
    assert [e["action"] for e in r.json] == [
        "event.status",
        "event.update",
        "question.create",
        "workshop.create",
        "quota.create",
        "ticket_type.create",
        "event.create",
    ]
    assert {e["actor"] for e in r.json} == {"kari@example.org"}
    assert r.json[0]["before"] == {"status": "draft"} and r.json[0]["after"] == {"status": "published"}
    assert r.json[1]["before"] == {"hold_minutes": 30} and r.json[1]["after"] == {"hold_minutes": 15}
    assert len(call(client, "GET", "/events/forum-2028/audit?limit=2", token).json) == 2
    assert call(client, "GET", "/events/forum-2028/audit?limit=0", token).status_code == 422


def test_patching_a_ticket_type_changes_only_what_is_sent(client, world):
    tokens, ids = world
    r = call(
        client,
        "PATCH",
        f"/events/forum/ticket-types/{ids['paid']}",
        tokens["admin"],
        json={"name": {"en": "Early bird"}},
    )
    assert r.status_code == 200, r.json
    assert r.json["name"] == {"en": "Early bird"}
    assert (r.json["price_ore"], r.json["vat_rate"], r.json["quota_ids"]) == (500_00, 25, [ids["quota"]])
    assert (
        call(client, "DELETE", f"/events/forum/ticket-types/{ids['paid']}", tokens["admin"]).status_code
        == 204
    )
    with client.application.app_context():
        assert db.session.get(TicketType, ids["paid"]) is None
        [entry] = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "ticket_type.update")
        ).all()
        assert entry.actor_name == "admin@example.org"


def test_vouchers_one_by_code_or_many_generated(client, world):
    tokens, _ = world
    token = tokens["organiser"]
    r = call(
        client,
        "POST",
        "/events/forum/vouchers",
        token,
        json={"code": "early-bird", "kind": "percent", "value": 20},
    )
    assert r.status_code == 201 and [v["code"] for v in r.json] == ["EARLY-BIRD"]
    r = call(
        client, "POST", "/events/forum/vouchers", token, json={"count": 25, "prefix": "vip", "kind": "unlock"}
    )
    assert r.status_code == 201
    codes = {v["code"] for v in r.json}
    assert len(codes) == 25 and all(c.startswith("VIP-") for c in codes)
    r = call(
        client, "POST", "/events/forum/vouchers", token, json={"code": "X", "count": 2, "kind": "unlock"}
    )
    assert r.status_code == 422 and list(r.json["fields"]) == ["count"]
    with client.application.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Voucher.id))) == 26


# --- the same errors as the services --------------------------------------------------------


def _types(event):
    return {t.price_ore: t for t in event.ticket_types}


CASES = [
    # (method, path, body, the same call to the service)
    (
        "POST",
        "/events",
        {**EVENT, "slug": "Forum 2028"},
        lambda e, a: builder.create_event(
            actor=a,
            now=NOW,
            slug="Forum 2028",
            title=EVENT["title"],
            starts_at=datetime(2028, 5, 25, 7, tzinfo=UTC),
            ends_at=datetime(2028, 5, 26, 15, tzinfo=UTC),
        ),
    ),
    (
        "POST",
        "/events",
        {**EVENT, "slug": "forum"},
        lambda e, a: builder.create_event(
            actor=a,
            now=NOW,
            slug="forum",
            title=EVENT["title"],
            starts_at=datetime(2028, 5, 25, 7, tzinfo=UTC),
            ends_at=datetime(2028, 5, 26, 15, tzinfo=UTC),
        ),
    ),
    (
        "POST",
        "/events",
        {**EVENT, "ends_at": "2028-05-25T08:00:00+02:00", "timezone": "Europe/Atlantis"},
        lambda e, a: builder.create_event(
            actor=a,
            now=NOW,
            slug="forum-2028",
            title=EVENT["title"],
            starts_at=datetime(2028, 5, 25, 7, tzinfo=UTC),
            ends_at=datetime(2028, 5, 25, 6, tzinfo=UTC),
            timezone="Europe/Atlantis",
        ),
    ),
    (
        "PATCH",
        "/events/forum",
        {"max_attendees_per_order": 0, "hold_minutes": 2},
        lambda e, a: builder.update_event(e, actor=a, now=NOW, max_attendees_per_order=0, hold_minutes=2),
    ),
    (
        "PATCH",
        "/events/forum",
        {"total_capacity": 0},
        lambda e, a: builder.update_event(e, actor=a, now=NOW, total_capacity=0),
    ),
    (
        "PATCH",
        "/events/forum",
        {"status": "draft"},
        lambda e, a: builder.set_status(e, EventStatus.DRAFT, actor=a, now=NOW),
    ),
    (
        "POST",
        "/events/forum/ticket-types",
        {"name": {"en": "Odd"}, "price_ore": -1, "vat_rate": 7},
        lambda e, a: builder.save_ticket_type(
            e, actor=a, now=NOW, name={"en": "Odd"}, price_ore=-1, vat_rate=7
        ),
    ),
    (
        "PATCH",
        "/events/forum/ticket-types/{free}",
        {"price_ore": 100_00},
        lambda e, a: builder.save_ticket_type(
            e,
            actor=a,
            now=NOW,
            ticket_type=_types(e)[0],
            name=_types(e)[0].name,
            price_ore=100_00,
            vat_rate=0,
            quota_ids=[q.id for q in e.quotas],
        ),
    ),
    (
        "DELETE",
        "/events/forum/ticket-types/{free}",
        None,
        lambda e, a: builder.delete_ticket_type(_types(e)[0], actor=a, now=NOW),
    ),
    (
        "POST",
        "/events/forum/quotas",
        {"name": "Tiny", "size": 0, "ticket_type_ids": ["{free}"]},
        lambda e, a: builder.save_quota(
            e, actor=a, now=NOW, name="Tiny", size=0, ticket_type_ids=[_types(e)[0].id]
        ),
    ),
    (
        "POST",
        "/events/forum/workshops",
        {"name": {}, "slot": "", "capacity": -1},
        lambda e, a: builder.save_workshop(e, actor=a, now=NOW, name={}, slot="", capacity=-1),
    ),
    (
        "POST",
        "/events/forum/questions",
        {"label": {"en": "Food"}, "kind": "choice", "choices": [{"value": "vegan", "en": "Vegan"}]},
        lambda e, a: builder.save_question(
            e,
            actor=a,
            now=NOW,
            label={"en": "Food"},
            kind="choice",
            choices=[{"value": "vegan", "en": "Vegan"}],
        ),
    ),
    (
        "POST",
        "/events/forum/vouchers",
        {"code": "ÆØÅ", "kind": "percent", "value": 101},
        lambda e, a: builder.create_voucher(e, actor=a, now=NOW, code="ÆØÅ", kind="percent", value=101),
    ),
    (
        "POST",
        "/events/forum/vouchers",
        {"count": 1001, "kind": "unlock"},
        lambda e, a: builder.generate_vouchers(e, actor=a, now=NOW, count=1001, kind="unlock"),
    ),
    (
        "POST",
        "/events/forum/copy",
        {"slug": "other", "starts_at": "2028-05-25T09:00:00+02:00"},
        lambda e, a: builder.copy_event(
            e, actor=a, now=NOW, slug="other", starts_at=datetime(2028, 5, 25, tzinfo=UTC)
        ),
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "action"), CASES)
def test_the_api_refuses_with_the_services_words(app, client, world, method, path, body, action):
    tokens, ids = world
    status, expected = service_error(app, action)
    if body is not None:
        body = {
            k: ([int(x.format(**ids)) for x in v] if k == "ticket_type_ids" else v) for k, v in body.items()
        }
    r = call(client, method, path.format(**ids), tokens["organiser"], json=body)
    assert (r.status_code, r.json) == (status, expected)
    assert status in (409, 422) and (status == 409 or expected["fields"])


def test_type_errors_and_unknown_fields_are_422_by_field(client, world):
    tokens, _ = world
    r = call(
        client,
        "PATCH",
        "/events/forum",
        tokens["organiser"],
        json={
            "colour": "red",
            "members_only": "yes",
            "starts_at": "2028-05-25T09:00:00",
            "hold_minutes": "15",
        },
    )
    assert r.status_code == 422
    assert r.json["error"] == "validation"
    assert sorted(r.json["fields"]) == ["colour", "hold_minutes", "members_only", "starts_at"]
    r = call(client, "POST", "/events", tokens["organiser"], json={"slug": "x"})
    assert r.status_code == 422
    assert sorted(r.json["fields"]) == ["ends_at", "starts_at", "title"]


def test_the_created_event_belongs_to_the_token_user_only(client, world):
    tokens, _ = world
    assert call(client, "POST", "/events", tokens["admin"], json=EVENT).status_code == 201
    with client.application.app_context():
        event = db.session.scalar(sa.select(Event).where(Event.slug == "forum-2028"))
        roles = db.session.scalars(sa.select(EventRole).where(EventRole.event_id == event.id)).all()
        assert [(r.user.email, r.role) for r in roles] == [("admin@example.org", EventRoleKind.ORGANISER)]
    # Kari organises forum, but not the admin's draft: to her it does not exist.
    assert call(client, "PATCH", "/events/forum-2028", tokens["organiser"], json={}).status_code == 404


def test_every_builder_operation_is_in_the_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").json
    paths = doc["paths"]
    assert set(paths["/api/v1/events"]) >= {"get", "post"}
    assert set(paths["/api/v1/events/{slug}"]) >= {"get", "patch"}
    assert set(paths["/api/v1/events/{slug}/ticket-types/{ticket_type_id}"]) == {
        "patch",
        "delete",
        "parameters",
    }
    for path in ("copy", "ticket-types", "quotas", "workshops", "questions", "vouchers"):
        assert "post" in paths[f"/api/v1/events/{{slug}}/{path}"]
    assert "get" in paths["/api/v1/events/{slug}/audit"]
    patch = paths["/api/v1/events/{slug}"]["patch"]
    assert {"401", "403", "409", "422"} <= set(patch["responses"])
