"""Custom questions: kinds, required, per ticket type, conditions, per order, kept as answered."""

import pytest

from eventreg.core.errors import ValidationError
from eventreg.events.models import QuestionKind, QuestionScope
from eventreg.extensions import db
from eventreg.registration.services import create_order
from tests.factories import NOW, add_question, make_event, order_data

CHOICES = [
    {"value": "vegan", "nb": "Vegansk", "en": "Vegan"},
    {"value": "halal", "nb": "Halal", "en": "Halal"},
]


def answered(event, answers, **kw):
    data = order_data(event, **kw)
    data.attendees[0].answers = answers
    return create_order(event, data, now=NOW)


def field_errors(event, answers):
    with pytest.raises(ValidationError) as err:
        answered(event, answers)
    db.session.rollback()
    return err.value.fields


@pytest.mark.parametrize(
    ("kind", "good", "stored", "display", "bad"),
    [
        (QuestionKind.TEXT, " Grameen ", "Grameen", "Grameen", ["list"]),
        (QuestionKind.CHOICE, "vegan", "vegan", "Vegansk", "pizza"),
        (QuestionKind.MULTIPLE, ["halal", "vegan", "halal"], ["halal", "vegan"], "Halal, Vegansk", ["pizza"]),
        (QuestionKind.YESNO, "yes", True, "Ja", "maybe"),
        (QuestionKind.YESNO, False, False, "Nei", 3),
        (QuestionKind.COUNTRY, "BD", "BD", "Bangladesh", "XX"),
        (QuestionKind.ORG_TYPE, "ngo", "ngo", "Frivillig organisasjon", "mafia"),
        (QuestionKind.SECTOR, "microfinance", "microfinance", "Mikrofinans", "weapons"),
    ],
)
def test_each_kind_of_question_accepts_its_values_and_refuses_others(ctx, kind, good, stored, display, bad):
    event = make_event()
    q = add_question(event, kind, choices=CHOICES)
    order = answered(event, {str(q.id): good})
    answer = order.attendees[0].answers[0]
    assert (answer.value, answer.display["nb"]) == (stored, display)
    assert list(field_errors(event, {str(q.id): bad})) == [f"attendees.0.answers.{q.id}"]


def test_required_questions_must_be_answered(ctx):
    event = make_event()
    q = add_question(event, QuestionKind.COUNTRY, required=True)
    assert f"attendees.0.answers.{q.id}" in field_errors(event, {})
    assert f"attendees.0.answers.{q.id}" in field_errors(event, {str(q.id): ""})
    answered(event, {str(q.id): "NO"})


def test_a_conditional_question_is_asked_only_when_the_earlier_answer_matches(ctx):
    event = make_event()
    interpreter = add_question(event, QuestionKind.YESNO, position=0)
    language = add_question(
        event,
        QuestionKind.TEXT,
        position=1,
        required=True,
        depends_on_id=interpreter.id,
        depends_on_value="yes",
    )
    assert f"attendees.0.answers.{language.id}" in field_errors(event, {str(interpreter.id): "yes"})
    order = answered(event, {str(interpreter.id): "yes", str(language.id): "Tigrinya"})
    assert [a.value for a in order.attendees[0].answers] == [True, "Tigrinya"]
    # answered "no": the hidden question is neither required nor kept
    order = answered(event, {str(interpreter.id): "no", str(language.id): "left over"})
    assert [a.value for a in order.attendees[0].answers] == [False]


def test_questions_can_be_limited_to_ticket_types(ctx):
    event = make_event(prices=(100, 200))
    regular, student = event.ticket_types
    school = add_question(event, QuestionKind.TEXT, required=True, ticket_types=[student])
    answered(event, {}, ticket_type=regular)
    with pytest.raises(ValidationError) as err:
        answered(event, {str(school.id): "UiO"}, ticket_type=regular)
    assert f"attendees.0.answers.{school.id}" in err.value.fields
    db.session.rollback()
    with pytest.raises(ValidationError):
        answered(event, {}, ticket_type=student)


def test_order_questions_are_asked_once_per_order(ctx):
    event = make_event()
    org = add_question(
        event, QuestionKind.TEXT, scope=QuestionScope.ORDER, required=True, label="Organisation"
    )
    data = order_data(event, 3)
    with pytest.raises(ValidationError) as err:
        create_order(event, data, now=NOW)
    assert f"answers.{org.id}" in err.value.fields
    data.answers = {str(org.id): "NAV Grünerløkka"}
    order = create_order(event, data, now=NOW)
    assert [a.value for a in order.answers] == ["NAV Grünerløkka"]
    assert all(not a.answers for a in order.attendees)


def test_unknown_question_ids_are_refused(ctx):
    event = make_event()
    assert "attendees.0.answers.424242" in field_errors(event, {"424242": "x"})
    assert "attendees.0.answers.abc" in field_errors(event, {"abc": "x"})


def test_editing_a_question_later_never_rewrites_given_answers(ctx):
    event = make_event()
    q = add_question(event, QuestionKind.CHOICE, label="Diet", choices=CHOICES)
    order = answered(event, {str(q.id): "vegan"})
    db.session.commit()
    q.label = {"nb": "Allergier", "en": "Allergies"}
    q.choices = [{"value": "nuts", "nb": "Nøtter", "en": "Nuts"}]
    db.session.commit()
    db.session.expire_all()
    answer = order.attendees[0].answers[0]
    assert answer.question_label["en"] == "Diet"
    assert (answer.value, answer.display) == ("vegan", {"nb": "Vegansk", "en": "Vegan"})
    db.session.delete(q)
    db.session.commit()
    db.session.expire_all()
    assert order.attendees[0].answers[0].display["nb"] == "Vegansk"
