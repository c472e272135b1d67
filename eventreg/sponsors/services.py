"""What a sponsor sees of an event: a summary that never singles anybody out, and the contact
details of exactly those attendees who say yes to sharing them.

Both count only registered attendees: their order is paid and their ticket was not refunded on
its own. Neither is cached: every call reads the database again, so an attendee who withdraws
consent is gone from the next page load or download."""

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from eventreg.accounts.models import EventRoleKind, User
from eventreg.accounts.services import has_event_role
from eventreg.checkin.models import Checkin
from eventreg.core.errors import Forbidden
from eventreg.core.i18n import localized
from eventreg.events.choices import choices_for
from eventreg.events.models import Event, Question, QuestionKind
from eventreg.events.services import check_visible, slots_of
from eventreg.extensions import db
from eventreg.registration.models import Answer, Attendee, AttendeeSession, Order, OrderStatus
from eventreg.tickets.documents import answered

MIN_GROUP = 5
# Shown instead of the count of a hidden group (see `hide_small_groups`).
FEWER_THAN_5 = _l("fewer than %(n)d", n=MIN_GROUP)

SPONSOR_ROLES = (EventRoleKind.SPONSOR, EventRoleKind.ORGANISER)  # organisers see what sponsors see

# The answers the summary breaks down by: (question kind, key, title).
ANSWER_BREAKDOWNS = (
    (QuestionKind.COUNTRY, "country", _l("Countries")),
    (QuestionKind.ORG_TYPE, "org_type", _l("Organisation types")),
    (QuestionKind.SECTOR, "sector", _l("Sectors")),
)


# --- who may look ---------------------------------------------------------------------------


def is_sponsor(user: User | None) -> bool:
    """Whether the user is a sponsor of any event (the header shows them the way in)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return any(r.role == EventRoleKind.SPONSOR for r in user.roles)


def sponsored_event_ids(user: User) -> list[int] | None:
    """Ids of the events whose sponsor pages the user may see (as sponsor or organiser); None
    means all (admin)."""
    if user.is_admin:
        return None
    return sorted({r.event_id for r in user.roles if r.role in SPONSOR_ROLES})


def get_sponsored_event(slug: str, *, actor: User | None) -> Event:
    """The event with this slug, with its ticket types, workshops and questions, if `actor` may
    see its sponsor pages (sponsors, organisers and admins). Raises NotFound for unknown slugs
    and for drafts the actor has no role in, Forbidden for everybody else."""
    event = db.session.scalar(
        sa.select(Event)
        .where(Event.slug == slug)
        .options(
            selectinload(Event.ticket_types),
            selectinload(Event.sessions),
            selectinload(Event.questions),
        )
    )
    if event is None or not has_event_role(actor, event.id, *SPONSOR_ROLES):
        check_visible(event, actor)  # unknown, or a draft: the actor may not know it exists
        raise Forbidden(_l("You do not have access to this event's sponsor pages."))
    return event


# --- hiding small groups --------------------------------------------------------------------


class Group(NamedTuple):
    """One line of a breakdown: its label and either the number of people in it, or the marker
    FEWER_THAN_5 when the group is hidden."""

    label: str
    count: object  # int, or FEWER_THAN_5

    @property
    def hidden(self) -> bool:
        return not isinstance(self.count, int)


def _safe(hidden: list[int], bound: int | None) -> bool:
    """Whether each of the `hidden` counts could be anything from 1 to 4 for a reader who knows
    only their sum and that each is between 1 and `bound` (None: no upper bound)."""
    k, total = len(hidden), sum(hidden)
    return k >= 2 and total >= k + 3 and (bound is None or total - 1 <= (k - 1) * bound)


def hide_small_groups(counts: Iterable[tuple[str, int]], *, last: Iterable[str] = ()) -> list[Group] | None:
    """The groups of one breakdown as a sponsor may see them, or None when the breakdown must be
    withheld altogether.

    `counts` are (label, number of people) of groups that together hold every registered attendee
    once (a breakdown by country has a "not answered" group), so a reader who knows the
    registered count can subtract the counts shown from it. Empty groups are left out. The rule:

    1. A group of 1-4 people is hidden: it shows FEWER_THAN_5 instead of its count.
    2. Subtraction gives the hidden groups' total, so that total must not pin any of them down:
       there must be at least two hidden groups; they must hold at least 3 people more than
       there are of them (so any one could hold 4 while the others hold 1 each); and with any
       one of them at 1, the others must be able to hold the rest while each stays smaller than
       every shown group. While that fails, the smallest shown group is hidden too, with every
       shown group of the same size. They show the same marker, so the page never says which
       hidden groups are the small ones.
    3. When even hiding every group does not satisfy 2, the breakdown is withheld (None).

    A reader who knows this rule, the registered count and the counts shown can never work out
    a hidden count: each hidden group could still hold at least three of the sizes 1-4
    (tests/sponsors/test_services.py tries every combination of four groups of 0-12 people and
    of five groups of 0-8).

    The result lists the shown groups largest first, then the hidden ones by label, then the
    labels in `last` (e.g. "not answered"), so the order of the hidden groups says nothing
    about their sizes."""
    sizes = {label: n for label, n in counts if n > 0}
    hidden = {label for label, n in sizes.items() if n < MIN_GROUP}
    shown = set(sizes) - hidden
    while hidden:
        bound = min(sizes[label] for label in shown) - 1 if shown else None
        if _safe([sizes[label] for label in hidden], bound):
            break
        if not shown:
            return None
        smallest = min(sizes[label] for label in shown)
        moved = {label for label in shown if sizes[label] == smallest}
        hidden |= moved
        shown -= moved
    last = list(last)
    visible = sorted(shown - set(last), key=lambda label: (-sizes[label], label)) + [
        label for label in last if label in shown
    ]
    masked = sorted(hidden - set(last)) + [label for label in last if label in hidden]
    return [Group(label, sizes[label]) for label in visible] + [
        Group(label, FEWER_THAN_5) for label in masked
    ]


# --- the summary ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Breakdown:
    key: str  # "country", "org_type", "sector", "ticket_type", "workshop-1", ...
    title: str
    groups: list[Group] | None  # None: withheld, too few people to show it safely

    @property
    def withheld(self) -> bool:
        return self.groups is None


@dataclass(frozen=True)
class Summary:
    registered: int
    checked_in: int  # registered attendees admitted on any check-in list (undone ones do not count)
    breakdowns: list[Breakdown]


def registered_attendees(event: Event) -> sa.Select:
    """The event's registered attendees: order paid, ticket not refunded on its own."""
    return (
        sa.select(Attendee)
        .join(Order, Attendee.order_id == Order.id)
        .where(
            Attendee.event_id == event.id,
            Order.status == OrderStatus.PAID,
            Attendee.cancelled_at.is_(None),
        )
    )


class GivenAnswer(NamedTuple):
    value: object
    display: dict


def attendees_with_answers(
    attendees: sa.Select, kinds: Iterable[QuestionKind]
) -> tuple[list[sa.Row], dict[int, dict[QuestionKind, GivenAnswer]]]:
    """The attendees of the query as rows (id, order_id, ticket_type_id, name, email), and for
    each their answer to a question of each of `kinds` as `tickets.documents.answer_of` picks it
    (their own, else the one given once for the whole order; the first given). Two queries and
    no ORM objects, however many attendees there are."""
    kinds = list(kinds)
    people = db.session.execute(
        attendees.with_only_columns(
            Attendee.id, Attendee.order_id, Attendee.ticket_type_id, Attendee.name, Attendee.email
        )
    ).all()
    rows = db.session.execute(
        sa.select(Answer.attendee_id, Answer.order_id, Question.kind, Answer.value, Answer.display)
        .join(Question, Answer.question_id == Question.id)
        .where(Answer.order_id.in_(attendees.with_only_columns(Attendee.order_id)), Question.kind.in_(kinds))
        .order_by(Answer.id)
    )
    own: dict[tuple[int, QuestionKind], GivenAnswer] = {}
    for_order: dict[tuple[int, QuestionKind], GivenAnswer] = {}
    for row in rows:
        if answered(row.value):
            given = GivenAnswer(row.value, row.display)
            if row.attendee_id is None:
                for_order.setdefault((row.order_id, row.kind), given)
            else:
                own.setdefault((row.attendee_id, row.kind), given)
    answers = {
        p.id: {
            kind: found
            for kind in kinds
            if (found := own.get((p.id, kind)) or for_order.get((p.order_id, kind))) is not None
        }
        for p in people
    }
    return people, answers


def _answer_breakdown(
    event: Event,
    people: list[sa.Row],
    answers: dict[int, dict[QuestionKind, GivenAnswer]],
    kind: QuestionKind,
    key: str,
    title: str,
    language: str,
) -> Breakdown | None:
    questions = [q for q in event.questions if q.kind == kind]
    if not questions:
        return None
    names = dict(choices_for(questions[0], language))
    not_answered = str(_l("Not answered"))
    counts: Counter[str] = Counter()
    for person in people:
        answer = answers[person.id].get(kind)
        if answer is None:
            counts[not_answered] += 1
        else:
            counts[names.get(str(answer.value)) or localized(answer.display, language)] += 1
    return Breakdown(key, str(title), hide_small_groups(counts.items(), last=[not_answered]))


def _ticket_type_breakdown(event: Event, people: list[sa.Row], language: str) -> Breakdown:
    names = {t.id: localized(t.name, language) for t in event.ticket_types}
    counts = Counter(names[p.ticket_type_id] for p in people)
    return Breakdown("ticket_type", str(_l("Ticket types")), hide_small_groups(counts.items()))


def _workshop_breakdowns(event: Event, people: list[sa.Row], language: str) -> list[Breakdown]:
    """One breakdown per time slot: there everybody chose one workshop or none, so the groups
    hold every registered attendee once, as `hide_small_groups` needs."""
    registered = registered_attendees(event).with_only_columns(Attendee.id)
    chosen = dict(
        ((attendee_id, slot), session_id)
        for attendee_id, slot, session_id in db.session.execute(
            sa.select(AttendeeSession.attendee_id, AttendeeSession.slot, AttendeeSession.session_id).where(
                AttendeeSession.attendee_id.in_(registered)
            )
        )
    )
    none = str(_l("No workshop in this time slot"))
    out = []
    for n, (slot, sessions) in enumerate(slots_of(event), start=1):
        names = {s.id: localized(s.name, language) for s in sessions}
        counts = Counter(names.get(chosen.get((p.id, slot)), none) for p in people)
        title = str(_l("Workshops: %(slot)s", slot=slot))
        out.append(Breakdown(f"workshop-{n}", title, hide_small_groups(counts.items(), last=[none])))
    return out


def _checked_in(event: Event) -> int:
    registered = registered_attendees(event).with_only_columns(Attendee.id)
    return db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Checkin.attendee_id))).where(
            Checkin.attendee_id.in_(registered),
            Checkin.entry_no.is_not(None),
            Checkin.undone_at.is_(None),
        )
    )


def summary(event: Event, *, language: str) -> Summary:
    """Registered and checked-in counts and the breakdowns by country, organisation type, sector
    (for the questions the event asks), ticket type and workshop (one per time slot), with small
    groups hidden by `hide_small_groups`. Labels are in `language`. A fixed number of queries,
    however many attendees there are."""
    with force_locale(language):
        kinds = [kind for kind, _key, _title in ANSWER_BREAKDOWNS]
        people, answers = attendees_with_answers(registered_attendees(event), kinds)
        breakdowns = [
            b
            for kind, key, title in ANSWER_BREAKDOWNS
            if (b := _answer_breakdown(event, people, answers, kind, key, title, language)) is not None
        ]
        breakdowns.append(_ticket_type_breakdown(event, people, language))
        breakdowns += _workshop_breakdowns(event, people, language)
        return Summary(registered=len(people), checked_in=_checked_in(event), breakdowns=breakdowns)


def chart_data(summary: Summary) -> list[dict]:
    """What the page's charts draw: the shown groups of each breakdown that is not withheld.
    Hidden groups are left out, so their counts never reach the browser as numbers."""
    out = []
    for b in summary.breakdowns:
        shown = [g for g in b.groups or [] if not g.hidden]
        if shown:
            out.append(
                {
                    "key": b.key,
                    "title": b.title,
                    "labels": [g.label for g in shown],
                    "counts": [g.count for g in shown],
                }
            )
    return out


# --- the contact list -----------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    name: str
    organisation: str
    email: str
    phone: str = ""  # the answer to a phone question, "" when the event asks none


def contacts(event: Event) -> list[Contact]:
    """The registered attendees who consent, right now, to sharing their contact details with
    the event's sponsors, by name. Read from the database at every call."""
    people, answers = attendees_with_answers(
        registered_attendees(event).where(Attendee.sponsor_consent.is_(True)),
        [QuestionKind.ORGANISATION, QuestionKind.PHONE],
    )
    out = []
    for person in people:
        organisation = answers[person.id].get(QuestionKind.ORGANISATION)
        phone = answers[person.id].get(QuestionKind.PHONE)
        out.append(
            Contact(
                name=person.name,
                organisation=str(organisation.value) if organisation is not None else "",
                email=person.email or "",
                phone=str(phone.value) if phone is not None else "",
            )
        )
    return sorted(out, key=lambda c: (c.name.casefold(), c.email))


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def contacts_csv(rows: list[Contact], *, language: str) -> bytes:
    """The contact list as CSV for spreadsheets: UTF-8 with a byte order mark (Excel then reads
    every script right), ";" between columns, a header row in `language`. A value that a
    spreadsheet would run as a formula gets a leading apostrophe."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";")
    with force_locale(language):
        writer.writerow([str(_l("Name")), str(_l("Organisation")), str(_l("Email")), str(_l("Phone"))])
    for c in rows:
        writer.writerow([_cell(c.name), _cell(c.organisation), _cell(c.email), _cell(c.phone)])
    return out.getvalue().encode("utf-8-sig")
