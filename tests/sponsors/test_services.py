"""The sponsor services called directly: hiding small groups, the summary, the contact list and
its CSV."""

import csv
import io
import itertools

import pytest
import sqlalchemy as sa

from eventreg.accounts.models import User
from eventreg.checkin import services as checkin
from eventreg.checkin.services import ListData, save_list
from eventreg.extensions import db
from eventreg.payments.services import refund_order
from eventreg.registration.models import ConsentRecord
from eventreg.registration.self_service import set_sponsor_consent, transfer_ticket
from eventreg.registration.services import cancel_order
from eventreg.sponsors import services
from eventreg.sponsors.services import FEWER_THAN_5, Group, hide_small_groups
from tests.factories import NOW
from tests.sponsors.conftest import FREE, FREE_2, PRICED, Person, make_forum, make_sponsor, register

HIDDEN = FEWER_THAN_5

# --- the rule, on plain numbers ---------------------------------------------------------------


def _published(counts: dict[str, int]):
    """What a reader sees of a breakdown: the groups as shown, and the total (the registered
    count on the same page)."""
    groups = hide_small_groups(counts.items())
    total = sum(counts.values())
    if groups is None:
        return ("withheld", total)
    return (tuple((g.label, g.count if not g.hidden else "hidden") for g in groups), total)


def test_groups_of_five_or_more_are_shown_and_smaller_ones_hidden():
    groups = hide_small_groups([("Norway", 40), ("Ghana", 1), ("Kenya", 2), ("Sweden", 5), ("Togo", 4)])
    assert groups == [
        Group("Norway", 40),
        Group("Sweden", 5),
        Group("Ghana", HIDDEN),
        Group("Kenya", HIDDEN),
        Group("Togo", HIDDEN),
    ]
    assert str(groups[-1].count) == "fewer than 5"
    assert [g.hidden for g in groups] == [False, False, True, True, True]


def test_every_count_from_one_to_four_is_hidden():
    for n in range(1, 5):
        groups = hide_small_groups([("Norway", 50), ("Sweden", 30), ("Ghana", n), ("Kenya", 4)])
        assert Group("Ghana", HIDDEN) in groups, n
        assert Group("Norway", 50) in groups and Group("Sweden", 30) in groups


def test_a_lone_small_group_takes_the_next_smallest_group_with_it():
    # Ghana alone hidden: 46 registered - 40 - 5 would give it away.
    groups = hide_small_groups([("Norway", 40), ("Sweden", 5), ("Ghana", 1)])
    assert groups == [Group("Norway", 40), Group("Ghana", HIDDEN), Group("Sweden", HIDDEN)]


def test_groups_as_big_as_the_next_smallest_are_hidden_together():
    # Hiding only one of two groups of 6 would tell the reader the hidden one is at most 6.
    groups = hide_small_groups([("Norway", 40), ("Sweden", 6), ("Denmark", 6), ("Ghana", 2)])
    assert groups == [Group("Norway", 40)] + [Group(c, HIDDEN) for c in ("Denmark", "Ghana", "Sweden")]


def test_hidden_ones_that_together_would_tell_are_joined_by_a_bigger_group():
    # Five groups of one: their total 5 means every one of them holds exactly 1.
    singles = [(c, 1) for c in ("Chile", "Ghana", "Kenya", "Peru", "Togo")]
    groups = hide_small_groups([("Norway", 30), ("Sweden", 8), *singles])
    assert Group("Sweden", HIDDEN) in groups and Group("Norway", 30) in groups


def test_too_few_people_withholds_the_breakdown():
    assert hide_small_groups([("Norway", 3), ("Ghana", 1)]) is None
    assert hide_small_groups([("Norway", 3)]) is None
    assert hide_small_groups([("Norway", 2), ("Ghana", 1), ("Kenya", 2)]) is None
    # One group of 5 or more alone is shown: it says nothing about anybody in particular.
    assert hide_small_groups([("Norway", 7)]) == [Group("Norway", 7)]
    assert hide_small_groups([("Norway", 0)]) == []


def test_hidden_groups_are_listed_by_label_not_by_size_and_not_answered_last():
    groups = hide_small_groups(
        [("Togo", 4), ("Ghana", 1), ("Not answered", 2), ("Norway", 30), ("Sweden", 12)],
        last=["Not answered"],
    )
    assert [g.label for g in groups] == ["Norway", "Sweden", "Ghana", "Togo", "Not answered"]


@pytest.mark.parametrize(("labels", "top"), [("ABCD", 12), ("ABCDE", 8)])
def test_no_hidden_count_can_be_worked_out_from_the_page(labels, top):
    """Every combination of group sizes 0..top for up to five groups: a reader who knows the rule,
    the total and what is shown lists every combination that gives the same page. Each hidden
    group must have at least three possible sizes among 1..4 in that list, never just one."""
    pages: dict = {}
    for sizes in itertools.product(range(top + 1), repeat=len(labels)):
        counts = dict(zip(labels, sizes, strict=True))
        pages.setdefault(_published(counts), []).append(counts)
    checked = 0
    for page, combinations in pages.items():
        if page[0] == "withheld":
            continue
        groups, total = page
        hidden = [label for label, count in groups if count == "hidden"]
        hidden_total = total - sum(count for _label, count in groups if count != "hidden")
        if not hidden or hidden_total > top:  # combinations beyond `top` were not enumerated
            continue
        for label in hidden:
            possible = {c[label] for c in combinations} & {1, 2, 3, 4}
            assert len(possible) >= 3, (page, label, possible)
            checked += 1
    assert checked > 1000


def test_without_the_second_step_a_lone_hidden_count_would_be_recoverable():
    """The control: hiding only groups under 5 lets a reader subtract."""
    counts = {"Norway": 40, "Sweden": 5, "Ghana": 1}
    naive = {label: n for label, n in counts.items() if n >= 5}
    assert sum(counts.values()) - sum(naive.values()) == 1  # Ghana, worked out
    page = hide_small_groups(counts.items())
    shown = sum(g.count for g in page if not g.hidden)
    assert sum(counts.values()) - shown == 6  # Ghana and Sweden together: Ghana could be 1..4


# --- the summary ------------------------------------------------------------------------------


def _breakdown(summary, key):
    return next(b for b in summary.breakdowns if b.key == key)


def test_summary_counts_registered_and_checked_in_and_breaks_them_down(forum):
    people = (
        [
            Person(f"Nora {i}", country="NO", org_type="ngo", sector="microfinance", workshop=0)
            for i in range(8)
        ]
        + [Person(f"Sven {i}", country="SE", org_type="company", ticket=FREE_2, workshop=1) for i in range(6)]
        + [Person(f"Kofi {i}", country="GH", org_type="public", sector="health") for i in range(3)]
        + [
            Person(f"Wanjiru {i}", country="KE", org_type="public", sector="health", workshop=0)
            for i in range(2)
        ]
        + [Person("Nobody", country=None, org_type=None)]
    )
    attendees = register(forum, people)
    door = save_list(forum, ListData(name="Main entrance"))
    for a in attendees[:3]:
        checkin.redeem(door, attendee_id=a.id, user=None, now=NOW)
    undone = checkin.redeem(door, attendee_id=attendees[3].id, user=None, now=NOW).checkin
    checkin.undo(door, undone.id, user=None, now=NOW)
    workshop_door = save_list(forum, ListData(name="Room", session_id=forum.sessions[0].id))
    checkin.redeem(workshop_door, attendee_id=attendees[0].id, user=None, now=NOW)  # the same person

    s = services.summary(forum, language="en")
    assert (s.registered, s.checked_in) == (20, 3)
    # Ghana 3, Kenya 2 and not answered 1 hide each other: 6 people in three groups.
    assert _breakdown(s, "country").groups == [
        Group("Norway", 8),
        Group("Sweden", 6),
        Group("Ghana", HIDDEN),
        Group("Kenya", HIDDEN),
        Group("Not answered", HIDDEN),
    ]
    # One not answered alone would be 20 - 8 - 6 - 5: public sector (5) is hidden with it.
    assert _breakdown(s, "org_type").groups == [
        Group("Non-profit organisation", 8),
        Group("Company", 6),
        Group("Public sector", HIDDEN),
        Group("Not answered", HIDDEN),
    ]
    assert _breakdown(s, "sector").groups == [
        Group("Microfinance", 8),
        Group("Health", 5),
        Group("Not answered", 7),
    ]
    assert _breakdown(s, "ticket_type").groups == [Group("Ticket 0", 14), Group("Ticket 1", 6)]
    workshops = _breakdown(s, "workshop-1")
    assert workshops.title == "Workshops: Day 1, 14:00"
    assert workshops.groups == [
        Group("Microfinance", 10),
        Group("Impact", HIDDEN),
        Group("No workshop in this time slot", HIDDEN),
    ]
    # In Norwegian, the labels are Norwegian.
    nb = services.summary(forum, language="nb")
    assert _breakdown(nb, "country").groups[0] == Group("Norge", 8)


def test_the_chart_never_gets_a_hidden_count(forum):
    register(forum, [Person(f"N{i}", country="NO") for i in range(6)] + [Person("K", country="GH")])
    register(forum, [Person(f"S{i}", country="SE") for i in range(9)])
    s = services.summary(forum, language="en")
    country = next(c for c in services.chart_data(s) if c["key"] == "country")
    assert country == {"key": "country", "title": "Countries", "labels": ["Sweden"], "counts": [9]}
    # Ghana (1) and Norway (6, hidden with it) are in the table but not in the chart.
    assert all(isinstance(n, int) for c in services.chart_data(s) for n in c["counts"])


def test_a_small_event_withholds_the_breakdowns(forum):
    register(forum, [Person("A", country="NO"), Person("B", country="NO"), Person("C", country="GH")])
    s = services.summary(forum, language="en")
    assert s.registered == 3
    assert all(b.withheld for b in s.breakdowns)
    assert services.chart_data(s) == []


def test_unpaid_and_cancelled_attendees_are_not_counted(forum):
    kept = register(forum, [Person(f"Paid {i}", consent=True) for i in range(5)])
    register(forum, [Person("Pending", ticket=PRICED, consent=True)])  # the order waits for payment
    cancelled = register(forum, [Person("Cancelled order", ticket=FREE_2, consent=True)])[0]
    cancel_order(cancelled.order, now=NOW)
    refund_order(kept[0].order, attendee_ids=[kept[0].id], now=NOW, reason="test")  # one ticket of five
    db.session.flush()

    s = services.summary(forum, language="en")
    assert s.registered == 4
    assert _breakdown(s, "ticket_type").groups is None  # 4 people: withheld
    assert [c.name for c in services.contacts(forum)] == ["Paid 1", "Paid 2", "Paid 3", "Paid 4"]


@pytest.mark.parametrize("what", ["summary", "contacts"])
def test_the_number_of_queries_does_not_grow_with_the_attendees(ctx, what):
    def statements(n: int, slug: str) -> int:
        event = make_forum(slug)
        event.max_attendees_per_order = event.quotas[0].size = max(n, 100)
        people = [
            Person(f"P{i}", country="NO" if i % 2 else "SE", sector="health", workshop=i % 2, consent=True)
            for i in range(n)
        ]
        attendees = register(event, people)
        door = save_list(event, ListData(name="Door"))
        for a in attendees[: n // 2]:
            checkin.redeem(door, attendee_id=a.id, user=None, now=NOW)
        make_sponsor(event, f"sponsor-{slug}@example.org")
        db.session.commit()
        db.session.expunge_all()
        user = db.session.scalar(sa.select(User).where(User.email == f"sponsor-{slug}@example.org"))
        event = services.get_sponsored_event(slug, actor=user)  # as the page loads it
        seen = []

        def listener(*_args):
            seen.append(1)

        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            result = services.summary(event, language="en") if what == "summary" else services.contacts(event)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        assert (result.registered if what == "summary" else len(result)) == n
        return len(seen)

    # More than 500: selectinload sends ids in batches of 500, one more query for each batch.
    small, big = statements(10, "small"), statements(510, "big")
    assert small == big
    assert big <= {"summary": 6, "contacts": 4}[what], big


# --- the contact list -------------------------------------------------------------------------

NAMES = ["Åse Ødegård", "محمد يونس", "Борис Ли", "陈伟"]


def test_contacts_are_exactly_those_who_consent_with_names_in_any_script(forum):
    people = [
        Person(name, organisation=org, consent=True, email=f"c{i}@example.org")
        for i, (name, org) in enumerate(zip(NAMES, ["Øst AS", "شركة", "Компания", "公司"], strict=True))
    ]
    register(forum, people + [Person("Says no"), Person("Also no", consent=False)])
    rows = services.contacts(forum)
    assert sorted((c.name, c.organisation, c.email) for c in rows) == sorted(
        (p.name, p.organisation, p.email) for p in people
    )
    assert all(c.phone == "" for c in rows)


def test_the_csv_is_utf8_with_bom_and_semicolons(forum):
    people = [Person(name, organisation='Org; with "quotes"', consent=True) for name in NAMES]
    register(forum, people)
    data = services.contacts_csv(services.contacts(forum), language="en")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == ["Name", "Organisation", "Email", "Phone"]
    assert sorted(r[0] for r in rows[1:]) == sorted(NAMES)
    assert {r[1] for r in rows[1:]} == {'Org; with "quotes"'}
    assert data.count(b"\r\n") == len(NAMES) + 1


def test_the_csv_defuses_formulas(forum):
    register(forum, [Person('=HYPERLINK("http://x")', organisation="+47 Org", consent=True)])
    text = services.contacts_csv(services.contacts(forum), language="en").decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))[1]
    assert row[:2] == ['\'=HYPERLINK("http://x")', "'+47 Org"]


def test_a_withdrawal_removes_the_attendee_at_once_and_is_recorded(forum):
    ada, bo = register(forum, [Person("Ada", consent=True), Person("Bo", consent=True)])
    assert [c.name for c in services.contacts(forum)] == ["Ada", "Bo"]
    before = services.contacts_csv(services.contacts(forum), language="en")
    assert b"Ada" in before

    set_sponsor_consent(ada, False, now=NOW, via="attendee")
    assert [c.name for c in services.contacts(forum)] == ["Bo"]
    assert b"Ada" not in services.contacts_csv(services.contacts(forum), language="en")
    records = db.session.scalars(
        sa.select(ConsentRecord).where(ConsentRecord.attendee_id == ada.id).order_by(ConsentRecord.id)
    ).all()
    assert [(r.given, r.via) for r in records] == [(True, "attendee"), (False, "attendee")]


def test_a_withdrawal_made_by_another_session_is_seen_by_the_next_call(app, forum):
    ada = register(forum, [Person("Ada", consent=True)])[0]
    db.session.commit()
    assert [c.name for c in services.contacts(forum)] == ["Ada"]  # Ada is now in this session

    with app.app_context():  # another request withdraws
        from eventreg.registration.models import Attendee

        other = db.session.get(Attendee, ada.id)
        set_sponsor_consent(other, False, now=NOW, via="attendee")
        db.session.commit()
        db.session.remove()

    db.session.rollback()  # the next request's transaction
    assert services.contacts(forum) == []


def test_a_transferred_ticket_leaves_the_list(forum):
    ada = register(forum, [Person("Ada", consent=True)])[0]
    transfer_ticket(ada, name="Kari Nordmann", email="kari@example.org", language="nb", now=NOW)
    assert services.contacts(forum) == []


def test_organisation_given_once_for_the_order_is_used(forum):
    from eventreg.events.models import QuestionKind, QuestionScope

    org = next(q for q in forum.questions if q.kind == QuestionKind.ORGANISATION)
    org.scope = QuestionScope.ORDER
    db.session.flush()
    from eventreg.registration.services import AttendeeData, OrderData, create_order

    order = create_order(
        forum,
        OrderData(
            buyer_name="Caseworker",
            buyer_email="case@example.org",
            attendees=[
                AttendeeData(name="Ada", email="ada@example.org", ticket_type_id=forum.ticket_types[FREE].id)
            ],
            answers={str(org.id): "Kommune-Kari AS"},
        ),
        now=NOW,
    )
    set_sponsor_consent(order.attendees[0], True, now=NOW, via="attendee")
    assert [(c.name, c.organisation) for c in services.contacts(forum)] == [("Ada", "Kommune-Kari AS")]
