"""Marshmallow schemas: the shapes of the API, from which the OpenAPI document is generated.

They check types only; every business rule is checked by the services, which report per-field
errors in the same format."""

from marshmallow import Schema, fields, validate

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


class ErrorOut(Schema):
    error = fields.String()
    message = fields.String()
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), values=fields.List(fields.String()))
