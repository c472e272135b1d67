"""Marshmallow schemas: the shapes of the API, from which the OpenAPI document is generated.

They check types only; every business rule is checked by the services, which report per-field
errors in the same format."""

from marshmallow import Schema, fields, validate

from eventreg.core.db import MAX_ID
from eventreg.core.errors import ErrorBody
from eventreg.registration.models import PaymentMethod


class ChoiceOut(Schema):
    value = fields.String()
    label = fields.String()


class TicketTypeOut(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    price_ore = fields.Integer(metadata={"description": "Gross price in øre (VAT included)"})
    vat_rate = fields.Integer(metadata={"description": "VAT in percent"})
    vat_ore = fields.Integer(metadata={"description": "VAT part of the price, in øre"})
    visibility = fields.String()
    available = fields.Integer(allow_none=True, metadata={"description": "Seats left; null = no limit"})
    on_sale = fields.Boolean()


class SessionOut(Schema):
    id = fields.Integer()
    name = fields.String()
    slot = fields.String()
    room = fields.String()
    starts_at = fields.AwareDateTime(allow_none=True)
    available = fields.Integer(allow_none=True)


class QuestionOut(Schema):
    id = fields.Integer()
    label = fields.String()
    kind = fields.String()
    scope = fields.String(metadata={"description": "attendee: asked per attendee; order: once per order"})
    required = fields.Boolean()
    choices = fields.List(fields.Nested(ChoiceOut))
    ticket_type_ids = fields.List(
        fields.Integer(), metadata={"description": "Empty: asked for every ticket type"}
    )
    depends_on_id = fields.Integer(allow_none=True)
    depends_on_value = fields.String(allow_none=True)


class EventSummaryOut(Schema):
    slug = fields.String()
    name = fields.String()
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    venue = fields.String()
    status = fields.String()
    members_only = fields.Boolean()
    registration_mode = fields.String()


class EventOut(EventSummaryOut):
    description = fields.String()
    timezone = fields.String()
    currency = fields.String()
    languages = fields.List(fields.String())
    attendee_email_required = fields.Boolean()
    waitlist_enabled = fields.Boolean()
    ticket_types = fields.List(fields.Nested(TicketTypeOut))
    sessions = fields.List(fields.Nested(SessionOut))
    questions = fields.List(fields.Nested(QuestionOut))


class BuyerIn(Schema):
    name = fields.String(required=True)
    email = fields.String(allow_none=True, load_default=None)
    language = fields.String(load_default="nb")


class AttendeeIn(Schema):
    name = fields.String(required=True)
    email = fields.String(allow_none=True, load_default=None)
    language = fields.String(load_default="nb")
    ticket_type_id = fields.Integer(required=True, strict=True)
    answers = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), load_default=dict)
    session_ids = fields.List(fields.Integer(strict=True), load_default=list)


class OrderIn(Schema):
    buyer = fields.Nested(BuyerIn, required=True)
    attendees = fields.List(fields.Nested(AttendeeIn), required=True)
    answers = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(allow_none=True),
        load_default=dict,
        metadata={"description": "Answers to the order-level questions"},
    )
    voucher_code = fields.String(allow_none=True, load_default=None)
    payment_method = fields.String(
        load_default=PaymentMethod.CARD.value,
        validate=validate.OneOf([m.value for m in PaymentMethod]),
    )
    waitlist_token = fields.String(allow_none=True, load_default=None)


class OrderOut(Schema):
    code = fields.String()
    status = fields.String()
    payment_method = fields.String()
    total_ore = fields.Integer()
    vat_ore = fields.Integer()
    expires_at = fields.AwareDateTime(allow_none=True)
    manage_url = fields.String()


class WaitlistIn(Schema):
    ticket_type_id = fields.Integer(required=True, strict=True)
    seats = fields.Integer(load_default=1, strict=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    language = fields.String(load_default="nb")


class WaitlistOut(Schema):
    id = fields.Integer()
    status = fields.String()
    seats = fields.Integer()
    position = fields.Integer()


ErrorOut = ErrorBody  # the one error body (eventreg.core.errors), for the responses documented here


class CheckinListOut(Schema):
    id = fields.Integer()
    name = fields.String()
    allow_reentry = fields.Boolean()
    admit_unpaid_invoices = fields.Boolean()
    opens_at = fields.String(allow_none=True, metadata={"description": "ISO 8601 with offset"})
    closes_at = fields.String(allow_none=True)
    ticket_types = fields.List(fields.String(), metadata={"description": "Empty: every ticket type"})
    workshop = fields.String(allow_none=True, metadata={"description": "Only attendees of this workshop"})


def id_field(**kw):
    """An id that a query may look up: beyond MAX_ID the database driver would fail."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), **kw)


class RedeemIn(Schema):
    qr = fields.String(validate=validate.Length(max=200))
    attendee_id = id_field(metadata={"description": "Instead of qr: found by name"})
    gate = fields.String(load_default="", validate=validate.Length(max=100))
    nonce = fields.String(
        validate=validate.Length(min=8, max=64),
        metadata={"description": "Chosen by the scanner; the same nonce again returns the same admission"},
    )


class CheckinOut(Schema):
    id = fields.Integer()
    at = fields.String()
    gate = fields.String()
    by = fields.String()


class GateAttendeeOut(Schema):
    id = fields.Integer()
    name = fields.String()
    order = fields.String()
    ticket_type = fields.String()
    workshops = fields.List(fields.String())
    checkin = fields.Nested(CheckinOut, metadata={"description": "The admission that counts"})


class RedeemOut(Schema):
    result = fields.String(
        metadata={"description": "ok, already_redeemed, not_admitted, unpaid, cancelled or invalid"}
    )
    reason = fields.String(
        metadata={
            "description": "invalid: malformed, unknown_key, bad_signature, other_event, revoked; "
            "not_admitted: ticket_type, workshop, not_open, closed; unpaid: pending, invoice"
        }
    )
    attendee = fields.Nested(GateAttendeeOut, allow_none=True)


class ScanIn(Schema):
    nonce = fields.String(required=True, validate=validate.Length(min=8, max=64))
    scanned_at = fields.AwareDateTime(required=True)
    qr = fields.String(validate=validate.Length(max=200))
    attendee_id = id_field()
    gate = fields.String(load_default="", validate=validate.Length(max=100))


class ScansIn(Schema):
    scans = fields.List(fields.Nested(ScanIn), required=True, validate=validate.Length(max=1000))


class ScanResultOut(Schema):
    nonce = fields.String()
    outcome = fields.String(metadata={"description": "admitted, conflict or invalid (not recorded)"})
    result = fields.String(
        metadata={"description": "what the rules say, as for redeem: ok, already_redeemed, ..."}
    )
    reason = fields.String()


class ScansOut(Schema):
    results = fields.List(fields.Nested(ScanResultOut))


class PackageOut(Schema):
    generated_at = fields.String()
    event = fields.Dict()
    keys = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "key id → raw Ed25519 public key, base64"},
    )
    list = fields.Nested(CheckinListOut)
    attendees = fields.List(fields.Dict())


class UndoOut(Schema):
    id = fields.Integer()
    undone_at = fields.AwareDateTime()


# The error statuses an operation can answer, each with the one error body; an operation's own
# alt_response (above it) gives a status a more precise description.
ERROR_DESCRIPTIONS = {
    400: "The body is not JSON",
    401: "A token that is malformed, unknown or revoked (staff operations: also no token)",
    403: "Not allowed for this user or event",
    404: "No such event (or a draft of someone else's), list, ticket type or check-in",
    409: "The state of the event does not allow it",
    422: "validation: per-field messages in `fields`",
    429: "Too many requests: rate limits",
}


def error_responses(blp, *statuses: int):
    """Documents `statuses` and 429 (every operation is rate limited) with the error body."""

    def decorate(func):
        for status in (*statuses, 429):
            func = blp.alt_response(status, schema=ErrorOut, description=ERROR_DESCRIPTIONS[status])(func)
        return func

    return decorate
