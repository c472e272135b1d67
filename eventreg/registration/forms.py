"""The registration form: its field names, its state for rendering, and turning a POST into OrderData;
and the forms of an attendee's own page (at the end).

Field names: `buyer-name`, `a-<i>-name`, `a-<i>-tt` (ticket type), `a-<i>-q-<question id>`,
`a-<i>-slot-<k>` (workshop of the k-th time slot), `q-<question id>` (order questions),
`voucher_code`, `payment_method`, `waitlist_token`. Errors from the services keep their own keys
(`attendees.0.name`, `answers.7`, ...) and the template looks them up by those keys.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from eventreg.events.models import Event, Question, QuestionKind, TicketType
from eventreg.events.services import attendee_questions, order_questions, slots_of
from eventreg.payments.invoices import InvoiceDetails
from eventreg.registration.models import Attendee
from eventreg.registration.services import AttendeeData, OrderData

INVOICE_FIELDS = ("org_number", "org_name", "address", "reference")

MAX_BLOCKS = 100  # the services refuse more than max_attendees_per_order; this only bounds parsing
_BLOCK = re.compile(r"^a-(\d{1,4})-tt$")
_ANSWER = re.compile(r"^q-(\d{1,12})$")


@dataclass
class AttendeeBlock:
    index: int
    ticket_type: TicketType | None
    ticket_type_id: str
    questions: list[Question]
    name: str = ""
    email: str = ""
    language: str = "nb"
    answers: dict[int, Any] = field(default_factory=dict)  # str, or list for "multiple"
    sessions: list[str] = field(default_factory=list)  # one entry per slot, "" = no workshop


@dataclass
class RegistrationState:
    """What the form shows: from the GET quantities, or the user's POST when it is shown again."""

    attendees: list[AttendeeBlock]
    buyer_name: str = ""
    buyer_email: str = ""
    buyer_language: str = "nb"
    answers: dict[int, Any] = field(default_factory=dict)
    voucher_code: str = ""
    payment_method: str = "card"
    waitlist_token: str = ""
    invoice: InvoiceDetails = field(default_factory=InvoiceDetails)

    def to_order_data(self, event: Event) -> OrderData:
        slot_sessions = slots_of(event)
        return OrderData(
            buyer_name=self.buyer_name,
            buyer_email=self.buyer_email or None,
            buyer_language=self.buyer_language,
            attendees=[
                AttendeeData(
                    name=b.name,
                    email=b.email or None,
                    language=b.language,
                    ticket_type_id=b.ticket_type_id,
                    answers={str(k): v for k, v in b.answers.items()},
                    session_ids=[sid for sid in b.sessions[: len(slot_sessions)] if sid],
                )
                for b in self.attendees
            ],
            answers={str(k): v for k, v in self.answers.items()},
            voucher_code=self.voucher_code or None,
            payment_method=self.payment_method,
            waitlist_token=self.waitlist_token or None,
            invoice=self.invoice if self.payment_method == "invoice" else None,
        )


def new_block(event: Event, index: int, ticket_type: TicketType, *, language: str) -> AttendeeBlock:
    return AttendeeBlock(
        index=index,
        ticket_type=ticket_type,
        ticket_type_id=str(ticket_type.id),
        questions=attendee_questions(event, ticket_type),
        language=language,
        sessions=["" for _ in slots_of(event)],
    )


def _answers(form: MultiDict, prefix: str, questions_by_id: dict[int, Question]) -> dict[int, Any]:
    answers: dict[int, Any] = {}
    for key in form:
        if not key.startswith(prefix):
            continue
        m = _ANSWER.match(key[len(prefix) :])
        if not m:
            continue
        qid = int(m.group(1))
        q = questions_by_id.get(qid)
        if q is not None and q.kind == QuestionKind.MULTIPLE:
            answers[qid] = [v for v in form.getlist(key) if v]
        else:
            answers[qid] = form.get(key, "")
    return answers


def parse_registration(event: Event, form: MultiDict) -> RegistrationState:
    """The POSTed form as it was filled in; blocks are renumbered 0..n-1 in the order sent."""
    types_by_id = {str(tt.id): tt for tt in event.ticket_types}
    questions_by_id = {q.id: q for q in event.questions}
    n_slots = len(slots_of(event))
    indices = sorted(int(m.group(1)) for key in form if (m := _BLOCK.match(key)))[:MAX_BLOCKS]
    blocks = []
    for pos, i in enumerate(indices):
        p = f"a-{i}-"
        tt_id = form.get(p + "tt", "").strip()
        tt = types_by_id.get(tt_id)
        blocks.append(
            AttendeeBlock(
                index=pos,
                ticket_type=tt,
                ticket_type_id=tt_id,
                questions=attendee_questions(event, tt) if tt else [],
                name=form.get(p + "name", ""),
                email=form.get(p + "email", ""),
                language=form.get(p + "language", "nb"),
                answers=_answers(form, p, questions_by_id),
                sessions=[form.get(f"{p}slot-{k}", "") for k in range(n_slots)],
            )
        )
    return RegistrationState(
        attendees=blocks,
        buyer_name=form.get("buyer-name", ""),
        buyer_email=form.get("buyer-email", ""),
        buyer_language=form.get("buyer-language", "nb"),
        answers=_answers(form, "", questions_by_id),
        voucher_code=form.get("voucher_code", "").strip(),
        payment_method=form.get("payment_method", "card"),
        waitlist_token=form.get("waitlist_token", ""),
        invoice=parse_invoice_details(form),
    )


def parse_invoice_details(form: MultiDict) -> InvoiceDetails:
    """The invoice fields of a form (`invoice-org_number`, …), as typed."""
    return InvoiceDetails(**{f: form.get(f"invoice-{f}", "") for f in INVOICE_FIELDS})


def shown_error_keys(event: Event, state: RegistrationState) -> set[str]:
    """The service error keys the form shows next to a field; the others go in the summary."""
    keys = {"buyer.name", "buyer.email", "buyer.language", "voucher_code", "payment_method"}
    keys |= {f"invoice.{f}" for f in INVOICE_FIELDS}
    keys |= {f"answers.{q.id}" for q in order_questions(event)}
    for b in state.attendees:
        p = f"attendees.{b.index}."
        keys |= {p + f for f in ("name", "email", "language", "ticket_type_id", "session_ids")}
        keys |= {f"{p}answers.{q.id}" for q in b.questions}
    return keys


# --- the attendee's own page (/tickets/<token>) ---------------------------------------------
# Field names: `name`, `email`, `language`, `q-<question id>` (details form); `slot-<k>` (workshop
# of the k-th time slot); `name`, `email`, `language`, `confirm` (transfer form); `sponsor_consent`.


@dataclass
class AttendeeDetails:
    """The details form as shown: the attendee's current values, or a POST shown again."""

    name: str = ""
    email: str = ""
    language: str = "nb"
    answers: dict[int, Any] = field(default_factory=dict)  # str, or list for "multiple"

    def answers_for_service(self) -> dict[str, Any]:
        return {str(k): v for k, v in self.answers.items()}


def details_of(attendee: Attendee) -> AttendeeDetails:
    answers: dict[int, Any] = {}
    for a in attendee.answers:
        if a.question_id is None:
            continue
        answers[a.question_id] = ("yes" if a.value else "no") if isinstance(a.value, bool) else a.value
    return AttendeeDetails(attendee.name, attendee.email or "", attendee.language, answers)


def parse_details(event: Event, form: MultiDict) -> AttendeeDetails:
    return AttendeeDetails(
        name=form.get("name", ""),
        email=form.get("email", ""),
        language=form.get("language", "nb"),
        answers=_answers(form, "", {q.id: q for q in event.questions}),
    )


def sessions_of(event: Event, attendee: Attendee) -> list[str]:
    """The workshop form's value per time slot ("" = none) for the attendee's current choice."""
    chosen = {c.session_id for c in attendee.session_choices}
    return [next((str(s.id) for s in sessions if s.id in chosen), "") for _slot, sessions in slots_of(event)]


def parse_sessions(event: Event, form: MultiDict) -> list[str]:
    """The chosen workshop per time slot, "" for none (the form has one select per slot)."""
    return [form.get(f"slot-{k}", "").strip() for k in range(len(slots_of(event)))]


@dataclass
class TransferForm:
    name: str = ""
    email: str = ""
    language: str = "nb"
    confirm: bool = False


def parse_transfer(form: MultiDict) -> TransferForm:
    return TransferForm(
        name=form.get("name", ""),
        email=form.get("email", ""),
        language=form.get("language", "nb"),
        confirm=form.get("confirm") == "yes",
    )
