"""Schemathesis against /api/v1/openapi.json: every operation of the document, with an admin's
bearer token and a published event, a draft, ticket types, a workshop, a question, a check-in
list with an admission and a paid ticket in the database, so that slugs and ids reach real
objects. Each answer must be documented (status code, content type) and match its schema, and
no request may end in a 5xx. Generation is derandomized: every run sends the same cases.

The database is seeded once and seeded again after any case that may have changed it (a success
of a non-GET request), so every case starts from the same rows and a failure replays (Hypothesis
shrinks it) on the same data. Ids are read after each seed and drawn by the hooks below.

`schemathesis.pytest.from_fixture` (a schema from the session's app) fails on pytest 9.2 (it sets
`request.node._nodeid`, which pytest 9 no longer has), so the document is loaded at import from
an app of its own and every case is sent to the session's app."""

from datetime import timedelta

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from eventreg import create_app
from eventreg.accounts.models import EventRoleKind, User
from eventreg.accounts.services import create_api_token, grant_event_role
from eventreg.checkin.services import ListData, redeem, save_list
from eventreg.core.clock import now
from eventreg.events.models import EventStatus, QuestionKind
from eventreg.extensions import db
from eventreg.registration.services import create_order
from eventreg.tickets.services import ticket_qr
from tests.factories import add_question, add_session, make_event, make_organiser, make_user, order_data

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Users and their tokens survive a reseed: hashing a password costs more than everything else.
KEEP = {"user_account", "api_token"}


class World:
    """The seeded rows and their ids: forum (published, a 500 kr and a free ticket type sharing 10
    seats, a workshop, a question, a check-in list, a paid order of two with one admitted), a
    draft, and an admin who organises forum."""

    def __init__(self, app):
        self.app = app
        self.ids: dict = {}
        self.token = ""

    def seed(self):
        app = self.app
        with app.app_context():
            db.session.remove()
            with db.engine.begin() as conn:
                for t in reversed(db.metadata.sorted_tables):
                    if t.name not in KEEP:
                        conn.execute(sa.text(f'DELETE FROM "{t.name}"'))
            admin = db.session.scalar(
                sa.text("SELECT id FROM user_account WHERE email = 'admin@example.org'")
            )
            at = now()
            make_organiser()
            forum = make_event("forum", seats=10, prices=(500_00, 0), waitlist_enabled=True)
            forum.starts_at, forum.ends_at = at + timedelta(days=60), at + timedelta(days=61)
            draft = make_event("draft", status=EventStatus.DRAFT)
            draft.starts_at, draft.ends_at = at + timedelta(days=90), at + timedelta(days=91)
            workshop = add_session(forum, "Impact", slot="day1", capacity=5)
            question = add_question(forum, QuestionKind.TEXT, label="Organisation")
            if admin is None:
                user = make_user("admin@example.org", admin=True)
                self.token = create_api_token(user.email)
            else:
                user = db.session.get(User, admin)
            grant_event_role(user, forum.id, EventRoleKind.ORGANISER)
            lst = save_list(forum, ListData(name="Main entrance"))
            free = forum.ticket_types[1]
            order = create_order(forum, order_data(forum, n=2, ticket_type=free), now=at)
            first, second = order.attendees
            admitted = redeem(lst, attendee_id=first.id, user=user, now=at).checkin
            self.ids = {
                "slug": ["forum", "draft"],
                "list_id": [lst.id],
                "checkin_id": [admitted.id],
                "ticket_type_id": [forum.ticket_types[0].id, free.id, draft.ticket_types[0].id],
                "quota_ids": [forum.quotas[0].id],
                "session_ids": [workshop.id],
                "depends_on_id": [question.id],
                "attendee_id": [first.id, second.id],
                "qr": [ticket_qr(second, now=at)],
            }
            db.session.commit()
            db.session.remove()


# The document is the same for every app (test_the_document_is_the_apps); this one serves it at
# collection time, before the session's app exists. Coverage phase (boundary values and
# unexpected methods), then 8 examples per operation of valid and of invalid data.
SCHEMA = schemathesis.openapi.from_wsgi(
    "/api/v1/openapi.json",
    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True, "MAIL_WORKER": "manual"}),
    config=schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": 8, "deterministic": True},
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)
WORLD: list[World] = []  # the current test's


@SCHEMA.hook
def flatmap_path_parameters(context, path_parameters):
    """Mostly ids of seeded rows (fresh at generation time: a reseed happens after a case)."""
    ids = WORLD[0].ids
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {
            name: st.sampled_from(ids[name]) | st.just(value) if name in ids else st.just(value)
            for name, value in path_parameters.items()
        }
    )


@SCHEMA.hook
def flatmap_body(context, body):
    """Often a real attendee, ticket type or QR code where the body names one."""
    ids = WORLD[0].ids
    if not isinstance(body, dict) or not any(k in ids for k in body):
        return st.just(body)
    return st.fixed_dictionaries(
        {k: st.sampled_from(ids[k]) | st.just(v) if k in ids else st.just(v) for k, v in body.items()}
    )


@pytest.fixture
def world(app):
    w = World(app)
    w.seed()
    WORLD[:] = [w]
    yield w
    WORLD.clear()


def test_the_document_is_the_apps(client):
    assert client.get("/api/v1/openapi.json").json == SCHEMA.raw_schema


# Each case talks to a database and may reseed it: slower than Hypothesis expects of a test. The
# fixtures are function-scoped on purpose (one seeded world per operation), reseeded by hand.
SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@SCHEMA.parametrize()
@settings(derandomize=True, database=None, deadline=None, suppress_health_check=SLOW)
def test_every_operation_answers_as_documented(case, world, app):
    headers = {"Authorization": f"Bearer {world.token}"}
    response = case.call(headers=headers, app=app)
    try:
        case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"app": app})
    finally:
        # An error answer rolled back whatever it did (eventreg.core.errors); a success may have
        # changed the rows the next case expects.
        if case.method != "GET" and response.status_code < 400:
            world.seed()
