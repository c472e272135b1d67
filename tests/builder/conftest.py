"""Fixtures for the event builder's pages: an event with one of everything the builder edits, an
event of another organiser with the same (its ids must be 404 on the first event's pages), and
the people who use them."""

from dataclasses import dataclass

import pytest

from eventreg.accounts.models import EventRoleKind
from eventreg.accounts.services import grant_event_role
from eventreg.events.models import QuestionKind, Sponsor
from eventreg.extensions import db
from eventreg.registration.models import Voucher, VoucherKind
from tests.factories import add_question, add_session, make_event, make_user
from tests.web.conftest import english, login  # noqa: F401 (fixtures)

BASE = "/manage/events/forum"


@dataclass
class Objects:
    """The ids of one event's things, as the builder's URLs take them."""

    ticket_types: list[int]
    quota: int
    workshop: int
    question: int
    voucher: int
    sponsor: int
    member: int | None = None


def _furnish(event, prefix: str) -> Objects:
    workshop = add_session(event, f"{prefix} Mikrolån", slot="Day 1, 14:00", capacity=20)
    question = add_question(event, QuestionKind.TEXT, label=f"{prefix} Allergies")
    voucher = Voucher(event_id=event.id, code=f"{prefix.upper()}10", kind=VoucherKind.PERCENT, value=10)
    sponsor = Sponsor(event=event, name=f"{prefix} Nordic Impact Fund", level="Gold")
    db.session.add_all([voucher, sponsor])
    db.session.flush()
    return Objects(
        ticket_types=[t.id for t in event.ticket_types],
        quota=event.quotas[0].id,
        workshop=workshop.id,
        question=question.id,
        voucher=voucher.id,
        sponsor=sponsor.id,
    )


@dataclass
class Site:
    forum: Objects
    other: Objects  # another organiser's event


@pytest.fixture
def site(app):
    """ "forum" (published; a paid and a free ticket type sharing 10 seats, a workshop, a
    question, a voucher, a sponsor with one member) organised by olav@; "other" organised by
    other@; admin@ is an administrator and plain@ organises nothing."""
    with app.app_context():
        forum = make_event("forum", seats=10, prices=(1250_00, 0))
        other = make_event("other", seats=5, prices=(0,))
        make_user("olav@example.org", organiser_of=forum)
        make_user("other@example.org", organiser_of=other)
        make_user("admin@example.org", admin=True)
        make_user("plain@example.org")
        mine, theirs = _furnish(forum, "f"), _furnish(other, "o")
        member = make_user("ingrid@nordic.example.org")
        role = grant_event_role(member, forum.id, EventRoleKind.SPONSOR)
        role.sponsor_id = mine.sponsor
        mine.member = member.id
        db.session.commit()
        return Site(forum=mine, other=theirs)


@pytest.fixture
def organiser(client, english, login, site):  # noqa: F811 (fixtures)
    """The test client, in English, logged in as the forum's organiser."""
    assert login("olav@example.org").status_code == 302
    return client
