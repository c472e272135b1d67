"""The event-builder API: create, change and copy events and set up their ticket types, quotas,
workshops, questions and vouchers; read the audit log. For organisers of the event and admins,
with staff bearer tokens (creating an event: admins and anybody who organises one).

The schemas check types only; every rule is checked by eventreg.builder.services, the same
functions the organiser's pages call, so both answer the same per-field errors."""

from flask import g, request
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from eventreg.accounts.models import EventRoleKind, User
from eventreg.accounts.services import require_event_role
from eventreg.api.auth import Unauthorized, api_actor
from eventreg.api.schemas import ErrorOut, error_responses, id_field
from eventreg.audit.services import entries_of, snapshot
from eventreg.builder import services
from eventreg.core.clock import now
from eventreg.core.errors import Forbidden, NotFound, ValidationError
from eventreg.events.models import (
    Event,
    EventStatus,
    QuestionKind,
    QuestionScope,
    RegistrationMode,
    TicketType,
    Visibility,
)
from eventreg.events.services import get_event
from eventreg.extensions import db
from eventreg.registration.models import Voucher, VoucherKind

blp = Blueprint(
    "builder_api",
    __name__,
    description="Building events (organisers of the event and admins; staff tokens)",
)

TEXTS = {"description": 'Text per language: {"nb": "...", "en": "..."}; at least one for names'}


def _texts(**kw):
    return fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), metadata=TEXTS, **kw)


def _strict_bool(**kw):
    return fields.Boolean(truthy={True}, falsy={False}, **kw)


def _one_of(enum):
    return validate.OneOf([m.value for m in enum])


# --- schemas --------------------------------------------------------------------------------


class EventCreateIn(Schema):
    slug = fields.String(
        required=True, metadata={"description": "Lowercase letters, digits and hyphens; unique"}
    )
    title = _texts(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    timezone = fields.String(load_default="Europe/Oslo", metadata={"description": "IANA name"})
    venue = fields.String(load_default="")
    description = _texts(load_default=None, allow_none=True)
    organiser_id = id_field(
        load_default=None,
        allow_none=True,
        metadata={"description": "The seller on invoices; default: the first one"},
    )


class EventPatchIn(Schema):
    title = _texts()
    description = _texts()
    venue = fields.String()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    timezone = fields.String()
    total_capacity = fields.Integer(strict=True, allow_none=True, metadata={"description": "null: no limit"})
    max_attendees_per_order = fields.Integer(strict=True)
    registration_mode = fields.String(validate=_one_of(RegistrationMode))
    members_only = _strict_bool()
    waitlist_enabled = _strict_bool()
    waitlist_offer_hours = fields.Integer(strict=True)
    cancellation_refund_percent = fields.Integer(strict=True)
    self_service_until = fields.AwareDateTime(allow_none=True)
    retention_days = fields.Integer(strict=True)
    hold_minutes = fields.Integer(strict=True)
    attendee_email_required = _strict_bool()
    status = fields.String(
        validate=_one_of(EventStatus),
        metadata={"description": "draft → published ↔ closed; back to draft only without orders"},
    )


class CopyIn(Schema):
    slug = fields.String(required=True)
    starts_at = fields.AwareDateTime(
        required=True, metadata={"description": "Every time of the copy moves by as much as the start"}
    )
    title = _texts(load_default=None, allow_none=True)


class TicketTypeIn(Schema):
    name = _texts(required=True)
    description = _texts(load_default=None, allow_none=True)
    price_ore = fields.Integer(strict=True, required=True, metadata={"description": "Gross, in øre"})
    vat_rate = fields.Integer(strict=True, required=True, metadata={"description": "0, 12, 15 or 25"})
    visibility = fields.String(load_default=Visibility.PUBLIC.value, validate=_one_of(Visibility))
    sales_start = fields.AwareDateTime(load_default=None, allow_none=True)
    sales_end = fields.AwareDateTime(load_default=None, allow_none=True)
    quota_ids = fields.List(fields.Integer(strict=True), load_default=list)


class TicketTypePatchIn(Schema):
    name = _texts()
    description = _texts(allow_none=True)
    price_ore = fields.Integer(strict=True)
    vat_rate = fields.Integer(strict=True)
    visibility = fields.String(validate=_one_of(Visibility))
    sales_start = fields.AwareDateTime(allow_none=True)
    sales_end = fields.AwareDateTime(allow_none=True)
    quota_ids = fields.List(fields.Integer(strict=True))


class QuotaIn(Schema):
    name = fields.String(required=True)
    size = fields.Integer(strict=True, required=True)
    ticket_type_ids = fields.List(fields.Integer(strict=True), load_default=list)


class WorkshopIn(Schema):
    name = _texts(required=True)
    slot = fields.String(required=True, metadata={"description": "Workshops in the same slot run at once"})
    starts_at = fields.AwareDateTime(load_default=None, allow_none=True)
    room = fields.String(load_default="")
    capacity = fields.Integer(strict=True, load_default=None, allow_none=True)


class QuestionIn(Schema):
    label = _texts(required=True)
    kind = fields.String(required=True, validate=_one_of(QuestionKind))
    scope = fields.String(load_default=QuestionScope.ATTENDEE.value, validate=_one_of(QuestionScope))
    required = _strict_bool(load_default=False)
    choices = fields.List(
        fields.Dict(keys=fields.String(), values=fields.Raw()),
        load_default=list,
        metadata={
            "description": 'For choice/multiple: [{"value": "vegan", "nb": "Vegansk", "en": "Vegan"}, ...]'
        },
    )
    ticket_type_ids = fields.List(
        fields.Integer(strict=True), load_default=list, metadata={"description": "Empty: every ticket type"}
    )
    depends_on_id = fields.Integer(strict=True, load_default=None, allow_none=True)
    depends_on_value = fields.String(load_default=None, allow_none=True)


class VoucherIn(Schema):
    code = fields.String(metadata={"description": "One voucher with this code (or send count)"})
    count = fields.Integer(strict=True, metadata={"description": "Generate this many (1-1000) random codes"})
    prefix = fields.String(load_default="", metadata={"description": "With count: codes start PREFIX-"})
    kind = fields.String(required=True, validate=_one_of(VoucherKind))
    value = fields.Integer(strict=True, load_default=0, metadata={"description": "percent, or øre for fixed"})
    ticket_type_id = fields.Integer(strict=True, load_default=None, allow_none=True)
    max_uses = fields.Integer(strict=True, load_default=1)
    valid_until = fields.AwareDateTime(load_default=None, allow_none=True)


class AuditArgs(Schema):
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


class TicketTypeBuilderOut(Schema):
    id = fields.Integer()
    name = fields.Dict()
    description = fields.Dict()
    price_ore = fields.Integer()
    vat_rate = fields.Integer()
    visibility = fields.String()
    sales_start = fields.AwareDateTime(allow_none=True)
    sales_end = fields.AwareDateTime(allow_none=True)
    position = fields.Integer()
    quota_ids = fields.List(fields.Integer())


class QuotaBuilderOut(Schema):
    id = fields.Integer()
    name = fields.String()
    size = fields.Integer()
    ticket_type_ids = fields.List(fields.Integer())


class WorkshopBuilderOut(Schema):
    id = fields.Integer()
    name = fields.Dict()
    slot = fields.String()
    starts_at = fields.AwareDateTime(allow_none=True)
    room = fields.String()
    capacity = fields.Integer(allow_none=True)


class QuestionBuilderOut(Schema):
    id = fields.Integer()
    label = fields.Dict()
    kind = fields.String()
    scope = fields.String()
    required = fields.Boolean()
    choices = fields.List(fields.Dict())
    position = fields.Integer()
    ticket_type_ids = fields.List(fields.Integer())
    depends_on_id = fields.Integer(allow_none=True)
    depends_on_value = fields.String(allow_none=True)


class EventBuilderOut(Schema):
    id = fields.Integer()
    slug = fields.String()
    title = fields.Dict()
    description = fields.Dict()
    venue = fields.String()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    timezone = fields.String()
    status = fields.String()
    organiser_id = fields.Integer()
    total_capacity = fields.Integer(allow_none=True)
    max_attendees_per_order = fields.Integer()
    registration_mode = fields.String()
    members_only = fields.Boolean()
    waitlist_enabled = fields.Boolean()
    waitlist_offer_hours = fields.Integer()
    cancellation_refund_percent = fields.Integer()
    self_service_until = fields.AwareDateTime(allow_none=True)
    retention_days = fields.Integer()
    hold_minutes = fields.Integer()
    attendee_email_required = fields.Boolean()
    email_texts = fields.Dict(metadata={"description": '{"confirmation": {"nb": ..., "en": ...}, ...}'})
    ticket_types = fields.List(fields.Nested(TicketTypeBuilderOut))
    quotas = fields.List(fields.Nested(QuotaBuilderOut))
    workshops = fields.List(fields.Nested(WorkshopBuilderOut))
    questions = fields.List(fields.Nested(QuestionBuilderOut))


class VoucherBuilderOut(Schema):
    id = fields.Integer()
    code = fields.String()
    kind = fields.String()
    value = fields.Integer()
    ticket_type_id = fields.Integer(allow_none=True)
    max_uses = fields.Integer()
    valid_until = fields.AwareDateTime(allow_none=True)


class AuditEntryOut(Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    user_id = fields.Integer(allow_none=True)
    actor = fields.String(metadata={"description": "The user's email at the time"})
    action = fields.String(metadata={"description": "e.g. ticket_type.update"})
    object_type = fields.String()
    object_id = fields.Integer(allow_none=True)
    before = fields.Dict(allow_none=True, metadata={"description": "Only the fields that changed"})
    after = fields.Dict(allow_none=True)


# --- what the API answers -------------------------------------------------------------------


def ticket_type_out(tt: TicketType) -> dict:
    return {
        **snapshot(tt, ("id", *services.TICKET_TYPE_FIELDS)),
        "sales_start": tt.sales_start,
        "sales_end": tt.sales_end,
        "quota_ids": sorted(q.id for q in tt.quotas),
    }


def event_out(event: Event) -> dict:
    return {
        **snapshot(event, ("id", *services.EVENT_FIELDS, "email_texts")),
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "self_service_until": event.self_service_until,
        "ticket_types": [ticket_type_out(t) for t in event.ticket_types],
        "quotas": [
            {
                "id": q.id,
                "name": q.name,
                "size": q.size,
                "ticket_type_ids": sorted(t.id for t in q.ticket_types),
            }
            for q in sorted(event.quotas, key=lambda q: q.id)
        ],
        "workshops": [
            {**snapshot(s, ("id", *services.WORKSHOP_FIELDS)), "starts_at": s.starts_at}
            for s in event.sessions
        ],
        "questions": [question_out(q) for q in event.questions],
    }


def question_out(q) -> dict:
    return {
        **snapshot(q, ("id", *services.QUESTION_FIELDS)),
        "ticket_type_ids": sorted(t.id for t in q.ticket_types),
    }


def voucher_out(v: Voucher) -> dict:
    return {**snapshot(v, ("id", *services.VOUCHER_FIELDS)), "valid_until": v.valid_until}


# --- who asks -------------------------------------------------------------------------------


@blp.before_request
def _authorize():
    """Settled before the body is read: no token is 401; a user who does not organise the event
    (or, to create one, any event) is 403; an unknown event, or another's draft, 404."""
    user = api_actor()
    if user is None:
        raise Unauthorized(_l("Use 'Authorization: Bearer <token>'."))
    args = request.view_args or {}
    event = None
    if "slug" in args:
        event = get_event(args["slug"], actor=user, details=False)
        require_event_role(user, event.id, EventRoleKind.ORGANISER)
    elif not services.can_create_events(user):
        raise Forbidden(_l("Only administrators and organisers may create events."))
    g.builder = (user, event)


def _who() -> tuple[User, Event]:
    return g.builder


def _ticket_type(event: Event, ticket_type_id: int) -> TicketType:
    tt = db.session.get(TicketType, ticket_type_id)
    if tt is None or tt.event_id != event.id:
        raise NotFound(_l("No such ticket type."))
    return tt


ERRORS = (
    (401, "No or unknown token"),
    (403, "Not an organiser of the event (nor an admin)"),
    (422, "validation: per-field messages in `fields`, as the organiser's pages show them"),
)


def _documented(*statuses: int):
    """Documents ERRORS, the other `statuses` and 429 with the error body."""

    def decorate(func):
        func = error_responses(blp, *statuses)(func)
        for status, description in ERRORS:
            func = blp.alt_response(status, schema=ErrorOut, description=description)(func)
        return func

    return decorate


# --- events ---------------------------------------------------------------------------------


@blp.route("/events", methods=["POST"])
@blp.arguments(EventCreateIn())
@blp.response(201, EventBuilderOut)
@_documented(400)
def create_event(payload: dict):
    """Creates a draft event; the token's user becomes its organiser."""
    user, _ = _who()
    event = services.create_event(actor=user, now=now(), **payload)
    answer = event_out(event)
    db.session.commit()
    return answer


@blp.route("/events/<slug>", methods=["PATCH"])
@blp.arguments(EventPatchIn())
@blp.response(200, EventBuilderOut)
@blp.alt_response(409, schema=ErrorOut, description="below_sold, no_ticket_types, has_orders, bad_transition")
@_documented(400, 404)
def update_event(payload: dict, slug: str):
    """Changes the fields sent (and the status, after the other changes)."""
    user, event = _who()
    status = payload.pop("status", None)
    at = now()
    if payload:
        services.update_event(event, actor=user, now=at, **payload)
    if status is not None:
        services.set_status(event, status, actor=user, now=at)
    answer = event_out(event)
    db.session.commit()
    return answer


@blp.route("/events/<slug>/copy", methods=["POST"])
@blp.arguments(CopyIn())
@blp.response(201, EventBuilderOut)
@_documented(400, 404)
def copy_event(payload: dict, slug: str):
    """A draft copy to start the next event from: no orders, vouchers or people but the caller."""
    user, event = _who()
    new = services.copy_event(event, actor=user, now=now(), **payload)
    answer = event_out(new)
    db.session.commit()
    return answer


# --- ticket types, quotas, workshops, questions ---------------------------------------------


@blp.route("/events/<slug>/ticket-types", methods=["POST"])
@blp.arguments(TicketTypeIn())
@blp.response(201, TicketTypeBuilderOut)
@_documented(400, 404)
def create_ticket_type(payload: dict, slug: str):
    """Adds a ticket type at the end of the list."""
    user, event = _who()
    tt = services.save_ticket_type(event, actor=user, now=now(), **payload)
    answer = ticket_type_out(tt)
    db.session.commit()
    return answer


@blp.route("/events/<slug>/ticket-types/<int:ticket_type_id>", methods=["PATCH"])
@blp.arguments(TicketTypePatchIn())
@blp.response(200, TicketTypeBuilderOut)
@blp.alt_response(404, schema=ErrorOut)
@blp.alt_response(409, schema=ErrorOut, description="price_locked: tickets were sold; below_sold")
@_documented(400, 404)
def update_ticket_type(payload: dict, slug: str, ticket_type_id: int):
    """Changes the fields sent; the others keep their values."""
    user, event = _who()
    tt = _ticket_type(event, ticket_type_id)
    current = {
        "name": tt.name,
        "description": tt.description,
        "price_ore": tt.price_ore,
        "vat_rate": tt.vat_rate,
        "visibility": tt.visibility,
        "sales_start": tt.sales_start,
        "sales_end": tt.sales_end,
        "quota_ids": [q.id for q in tt.quotas],
    }
    services.save_ticket_type(event, actor=user, now=now(), ticket_type=tt, **{**current, **payload})
    answer = ticket_type_out(tt)
    db.session.commit()
    return answer


@blp.route("/events/<slug>/ticket-types/<int:ticket_type_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, schema=ErrorOut)
@blp.alt_response(409, schema=ErrorOut, description="in_use: somebody ordered it")
@_documented(404)
def delete_ticket_type(slug: str, ticket_type_id: int):
    """Removes a ticket type nobody ordered."""
    user, event = _who()
    services.delete_ticket_type(_ticket_type(event, ticket_type_id), actor=user, now=now())
    db.session.commit()


@blp.route("/events/<slug>/quotas", methods=["POST"])
@blp.arguments(QuotaIn())
@blp.response(201, QuotaBuilderOut)
@blp.alt_response(409, schema=ErrorOut, description="below_sold")
@_documented(400, 404)
def create_quota(payload: dict, slug: str):
    """A pool of seats the ticket types given share."""
    user, event = _who()
    quota = services.save_quota(event, actor=user, now=now(), **payload)
    answer = {
        "id": quota.id,
        "name": quota.name,
        "size": quota.size,
        "ticket_type_ids": sorted(t.id for t in quota.ticket_types),
    }
    db.session.commit()
    return answer


@blp.route("/events/<slug>/workshops", methods=["POST"])
@blp.arguments(WorkshopIn())
@blp.response(201, WorkshopBuilderOut)
@_documented(400, 404)
def create_workshop(payload: dict, slug: str):
    """A workshop; attendees choose one per slot."""
    user, event = _who()
    workshop = services.save_workshop(event, actor=user, now=now(), **payload)
    answer = {**snapshot(workshop, ("id", *services.WORKSHOP_FIELDS)), "starts_at": workshop.starts_at}
    db.session.commit()
    return answer


@blp.route("/events/<slug>/questions", methods=["POST"])
@blp.arguments(QuestionIn())
@blp.response(201, QuestionBuilderOut)
@_documented(400, 404)
def create_question(payload: dict, slug: str):
    """A question after the others, asked per attendee or once per order."""
    user, event = _who()
    question = services.save_question(event, actor=user, now=now(), **payload)
    answer = question_out(question)
    db.session.commit()
    return answer


# --- vouchers and the audit log -------------------------------------------------------------


@blp.route("/events/<slug>/vouchers", methods=["POST"])
@blp.arguments(VoucherIn())
@blp.response(201, VoucherBuilderOut(many=True))
@_documented(400, 404)
def create_vouchers(payload: dict, slug: str):
    """One voucher with the `code` sent, or `count` vouchers with random codes."""
    user, event = _who()
    count = payload.pop("count", None)
    code = payload.pop("code", None)
    prefix = payload.pop("prefix")
    if count is not None and code is not None:
        message = _l("Send either a code or a count, not both.")
        raise ValidationError(message, fields={"count": [message]})
    if count is not None:
        vouchers = services.generate_vouchers(
            event, actor=user, now=now(), count=count, prefix=prefix, **payload
        )
    else:
        vouchers = [services.create_voucher(event, actor=user, now=now(), code=code, **payload)]
    answer = [voucher_out(v) for v in vouchers]
    db.session.commit()
    return answer


@blp.route("/events/<slug>/audit")
@blp.arguments(AuditArgs(), location="query")
@blp.response(200, AuditEntryOut(many=True))
@_documented(404)
def audit_log(args: dict, slug: str):
    """Who changed what and when, newest first."""
    _, event = _who()
    return [
        {
            "id": e.id,
            "at": e.at,
            "user_id": e.user_id,
            "actor": e.actor_name,
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "before": e.before,
            "after": e.after,
        }
        for e in entries_of(event.id, limit=args["limit"])
    ]
