"""Finding attendees: search that ignores case and accents in any script, every filter, states
that agree with the list, pagination, and a number of queries that does not grow with the event."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eventreg.attendees.services import (
    FOLDED_LETTERS,
    STATES,
    AttendeeFilter,
    clean_filter,
    fold,
    folded,
    folded_postgresql,
    list_attendees,
)
from eventreg.core.errors import ValidationError
from eventreg.events.models import QuestionKind
from eventreg.events.services import get_event
from eventreg.extensions import db
from eventreg.registration.services import AttendeeData, OrderData, create_order
from tests.attendees.conftest import AT, PEOPLE, email_of, event_of
from tests.attendees.conftest import STATES as EXPECTED_STATES
from tests.factories import NOW, add_question, add_session, make_event


def names(event, at=AT, **args) -> list[str]:
    f = clean_filter(event, {"state": "all", **args})
    return sorted(r.name for r in list_attendees(event, f, now=at, per_page=500).rows)


@pytest.fixture
def event(forum):
    return event_of(forum)


# --- search ---------------------------------------------------------------------------------


def test_folding_ignores_case_and_accents_of_latin_greek_and_cyrillic_letters():
    assert fold("Øvre ÅSEN") == "ovre asen"
    assert fold("Zoë Ðorđević") == "zoe dordevic"
    assert fold("Ærlig Straße Œuvre") == "aerlig strasse oeuvre"
    assert fold("Ахмед ЁЛКА") == "ахмед елка"
    assert fold("ΕΛΈΝΗ ΟΔΟΣ") == fold("ελενη οδοσ") == "ελενη οδοσ"
    assert fold("O\u0308vre") == "ovre"  # decomposed input: the mark goes
    assert fold("山田 太郎") == "山田 太郎"  # scripts without case stay as they are
    assert fold("ｶﾀｶﾅ ﬁne") == "カタカナ fine"  # compatibility forms as people type them


@pytest.mark.parametrize(
    "text",
    [
        "Øvre ÅSEN",
        "Zoë Ðorđević",
        "Ærlig Straße Œuvre ǅ Ǿ",
        "Ахмед ЁЛКА",
        "ΕΛΈΝΗ ΟΔΟΣ",
        "O\u0308vre",
        "山田 عائشة 김민준 ｶﾀｶﾅ ﬁne Արամ",
        "plain ascii MIXED case",
        "%_\\'",
    ],
)
def test_the_database_folds_exactly_as_python_does(ctx, text):
    assert db.session.scalar(sa.select(folded(sa.literal(text)))) == fold(text)


def test_the_database_folds_every_letter_of_the_table_as_python_does(ctx):
    text = FOLDED_LETTERS + " " + FOLDED_LETTERS.lower()
    assert db.session.scalar(sa.select(folded(sa.literal(text)))) == fold(text)


def test_postgresql_folds_alike_where_lower_knows_only_ascii(ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's lower() depends on the locale; SQLite folds in Python")
    text = FOLDED_LETTERS + " " + FOLDED_LETTERS.lower() + " Øvre ÅSEN Ахмед ΟΔΟΣ"
    # lower() under the C collation lowers ASCII only, as in a database made with the C locale.
    ascii_only = folded_postgresql('(CAST(:text AS text) COLLATE "C")', lower_knows_unicode=False)
    assert db.session.scalar(sa.text("SELECT lower('ÆØ' COLLATE \"C\")")) == "ÆØ"
    assert db.session.scalar(sa.text(f"SELECT {ascii_only}"), {"text": text}) == fold(text)


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("ovre", ["Åse Øvre", "عائشة بنت أحمد"]),  # a name, and an organisation "Øvre Eiker kommune"
        ("ØVRE", ["Åse Øvre", "عائشة بنت أحمد"]),
        ("åse øvre", ["Åse Øvre"]),  # not "åse" alone: "ASE" may be in a random order code
        ("ASE OVRE", ["Åse Øvre"]),
        ("ovre ase", ["Åse Øvre"]),  # every word, in any order
        ("山田", ["山田 太郎"]),
        ("株式会社", ["山田 太郎"]),  # the organisation answer
        ("ахмед", ["Ахмед Иванов"]),
        ("ЕЛКА", ["Ахмед Иванов"]),  # "Ёлка ООО", Ё without its dots
        ("عائشة", ["عائشة بنت أحمد"]),
        ("dordevic", ["Zoë Ðorđević"]),
        ("grunerlokka", ["عائشة بنت أحمد"]),  # the order's own organisation answer (its caseworker)
        ("P2@EXAMPLE.ORG", ["Ахмед Иванов"]),
        ("nordlys", ["Åse Øvre"]),
        ("%", []),  # LIKE's wildcards are searched for, not obeyed
        ("_", []),
        ("nobody here", []),
    ],
)
def test_search_finds_names_emails_and_organisations_whatever_the_case_accents_or_script(
    event, search, found
):
    assert names(event, q=search) == sorted(found)


def test_an_order_code_finds_its_attendees_also_in_lower_case(event, forum):
    assert names(event, q=forum.codes["refund"].lower()) == ["Ola Nordmann", "Per Refundert"]


def test_names_and_emails_come_back_intact(event):
    rows = list_attendees(event, clean_filter(event, {"q": "ahmed ivanov"}), now=AT).rows
    assert rows == []  # a transliteration is not a match
    [row] = list_attendees(event, clean_filter(event, {"q": "иванов"}), now=AT).rows
    assert (row.name, row.email, row.organisation, row.workshops) == (
        "Ахмед Иванов",
        email_of("Ахмед Иванов"),
        "Ёлка ООО",
        ["Impact"],
    )


# --- filters --------------------------------------------------------------------------------


def test_the_default_shows_everyone_whose_ticket_stands(event):
    assert names(event, state="") == sorted(
        n for n, s in EXPECTED_STATES.items() if s != "cancelled" and s not in ("expired", "refunded")
    )


@pytest.mark.parametrize("state", [s for s in STATES if s not in ("active", "all")])
def test_each_state_filter_selects_exactly_the_attendees_in_that_state(event, state):
    assert names(event, state=state) == sorted(n for n, s in EXPECTED_STATES.items() if s == state)


def test_the_states_the_list_shows_are_the_ones_the_filters_select(event):
    rows = list_attendees(event, AttendeeFilter(state="all"), now=AT, per_page=500).rows
    assert {r.name: r.state for r in rows} == EXPECTED_STATES


def test_a_hold_that_runs_out_turns_pending_into_expired_without_a_job(event):
    later = NOW + timedelta(hours=1)
    assert "عائشة بنت أحمد" in names(event, at=later, state="expired")
    assert names(event, at=later, state="pending") == []


def test_filter_by_ticket_type_workshop_and_check_in(event, forum):
    free = str(forum.ticket_types["free"])
    assert names(event, ticket_type=free) == ["Kari Avlyst", "Lise Uten Epost", "Åse Øvre", "山田 太郎"]
    assert names(event, workshop=str(forum.workshops["Mikrolån"])) == ["Åse Øvre", "عائشة بنت أحمد"]
    assert names(event, workshop=str(forum.workshops["Finance"])) == []
    assert names(event, checked_in="yes") == ["Åse Øvre"]
    assert "Åse Øvre" not in names(event, checked_in="no")
    assert len(names(event, checked_in="no")) == len(EXPECTED_STATES) - 1


def test_filter_by_the_answer_to_a_choice_a_multiple_choice_and_a_yes_no_question(event, forum):
    q = forum.questions
    vegans = sorted(n for n, p in PEOPLE.items() if p[3] == "vegan")
    assert names(event, answer=f"{q['diet']}:vegan") == vegans
    assert names(event, answer=f"{q['diet']}:blåbær") == []
    assert names(event, answer=f"{q['interests']}:impact") == ["Zoë Ðorđević", "Ахмед Иванов"]
    assert names(event, answer=f"{q['interests']}:finance") == ["Åse Øvre", "Ахмед Иванов"]
    assert names(event, answer=f"{q['interpreter']}:yes") == ["Åse Øvre", "عائشة بنت أحمد"]
    assert "Åse Øvre" not in names(event, answer=f"{q['interpreter']}:no")


def test_a_non_ascii_choice_value_is_found(event, forum):
    order = create_order(
        event,
        OrderData(
            buyer_name="Berit",
            buyer_email="berit@example.org",
            attendees=[
                AttendeeData(
                    name="Berit Blå",
                    email="berit@example.org",
                    ticket_type_id=forum.ticket_types["free"],
                    answers={forum.questions["diet"]: "blåbær", forum.questions["interests"]: ["impact"]},
                )
            ],
        ),
        now=NOW,
    )
    assert order.attendees[0].answers
    assert names(event, answer=f"{forum.questions['diet']}:blåbær") == ["Berit Blå"]


def test_filters_combine(event, forum):
    assert names(event, state="invoice_unpaid", answer=f"{forum.questions['diet']}:vegan", q="nordmann") == [
        "Ola Nordmann"
    ]


@pytest.mark.parametrize(
    ("args", "key"),
    [
        ({"ticket_type": "999999"}, "ticket_type"),
        ({"ticket_type": "abc"}, "ticket_type"),
        ({"workshop": "-1"}, "workshop"),
        ({"state": "sold"}, "state"),
        ({"checked_in": "maybe"}, "checked_in"),
        ({"answer": "12"}, "answer"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_a_filter_that_is_not_this_events_is_refused_by_name(event, args, key):
    with pytest.raises(ValidationError) as err:
        clean_filter(event, args)
    assert list(err.value.fields) == [key]


def test_another_events_ticket_type_workshop_or_question_is_refused(event, forum):
    other = make_event("elsewhere", prices=(0,))
    with pytest.raises(ValidationError) as err:
        clean_filter(event, {"ticket_type": str(other.ticket_types[0].id)})
    assert "ticket_type" in err.value.fields
    with pytest.raises(ValidationError) as err:
        clean_filter(event, {"answer": f"{forum.questions['org']}:Nordlys AS"})  # free text: no filter
    assert "answer" in err.value.fields
    with pytest.raises(ValidationError):
        clean_filter(event, {"answer": f"{forum.questions['diet']}:pizza"})


def test_the_filter_goes_back_into_the_query_string_unchanged(event, forum):
    args = {
        "q": "Øvre",
        "ticket_type": str(forum.ticket_types["free"]),
        "state": "paid",
        "workshop": str(forum.workshops["Mikrolån"]),
        "checked_in": "yes",
        "answer": f"{forum.questions['diet']}:vegan",
    }
    f = clean_filter(event, args)
    assert f.to_args() == args and clean_filter(event, f.to_args()) == f
    assert clean_filter(event, {}).to_args() == {} and not clean_filter(event, {}).narrowed


# --- pages and queries ----------------------------------------------------------------------


def register(event, n: int, *, prefix="Person", answers=None, session_ids=()) -> None:
    """`n` attendees of the event's free ticket type, 50 an order."""
    tt = event.ticket_types[-1]
    for start in range(0, n, 50):
        create_order(
            event,
            OrderData(
                buyer_name="Group",
                buyer_email="group@example.org",
                attendees=[
                    AttendeeData(
                        name=f"{prefix} {i:03d}",
                        email=f"{prefix.lower()}{i}@example.org",
                        ticket_type_id=tt.id,
                        answers=dict(answers or {}),
                        session_ids=list(session_ids),
                    )
                    for i in range(start, min(n, start + 50))
                ],
            ),
            now=NOW,
        )
    db.session.flush()


def test_fifty_a_page_newest_first_and_past_the_end_shows_the_last_page(event):
    register(event, 120)
    f = clean_filter(event, {"q": "person"})
    first = list_attendees(event, f, now=AT)
    assert (first.total, first.pages, len(first.rows), first.first, first.last) == (120, 3, 50, 1, 50)
    assert first.rows[0].name == "Person 100"  # the newest order first, its attendees in order
    last = list_attendees(event, f, now=AT, page=3)
    assert len(last.rows) == 20 and last.rows[-1].name == "Person 049"
    assert list_attendees(event, f, now=AT, page=99).page == 3
    seen = [r.name for p in (1, 2, 3) for r in list_attendees(event, f, now=AT, page=p).rows]
    assert sorted(seen) == [f"Person {i:03d}" for i in range(120)]


@contextmanager
def statements():
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


def sized_event(slug: str, n: int) -> dict[str, str]:
    """An event of `n` attendees who all chose the workshop, answered vegan and an organisation;
    returns the filter arguments that select all of them."""
    event = make_event(slug, seats=1000, prices=(0,))
    event.max_attendees_per_order = 100
    workshop = add_session(event, "Workshop", slot="1")
    diet = add_question(
        event, QuestionKind.CHOICE, label="Diet", choices=[{"value": "vegan", "nb": "Vegansk", "en": "Vegan"}]
    )
    org = add_question(event, QuestionKind.ORGANISATION, label="Organisation", position=1)
    register(event, n, answers={diet.id: "vegan", org.id: "Øvre AS"}, session_ids=[workshop.id])
    db.session.commit()
    return {"workshop": str(workshop.id), "answer": f"{diet.id}:vegan"}


@pytest.mark.parametrize(
    "chosen",
    [(), ("q",), ("workshop",), ("answer",), ("q", "workshop", "answer", "state", "checked_in")],
)
def test_a_page_takes_the_same_number_of_queries_for_20_or_200_attendees(ctx, chosen):
    counts = []
    for slug, n in (("small", 20), ("large", 200)):
        available = {**sized_event(slug, n), "q": "ovre", "state": "paid", "checked_in": "no"}
        args = {k: available[k] for k in chosen}
        db.session.expire_all()
        with statements() as seen:
            event = get_event(slug)
            page = list_attendees(event, clean_filter(event, args), now=AT)
        assert page.total == n and len(page.rows) == min(n, 50)
        assert page.rows[0].workshops == ["Workshop"] and page.rows[0].organisation == "Øvre AS"
        counts.append(len(seen))
    assert counts[0] == counts[1] <= 9, counts  # the event with its details: 5; the page: 4
