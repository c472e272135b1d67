"""The JSON API under /api/v1: parse, call a service, answer."""

from flask import url_for
from flask_smorest import Blueprint

from eventreg.api.auth import api_actor
from eventreg.api.schemas import (
    ErrorOut,
    EventOut,
    EventSummaryOut,
    OrderIn,
    OrderOut,
    WaitlistIn,
    WaitlistOut,
    error_responses,
)
from eventreg.core.clock import now
from eventreg.core.i18n import current_language, localized
from eventreg.core.money import vat_included
from eventreg.events.choices import choices_for
from eventreg.events.models import Event
from eventreg.events.services import (
    get_event,
    list_published_events,
    listed_ticket_types,
    sales_state,
)
from eventreg.extensions import db
from eventreg.registration.capacity import compute_availability
from eventreg.registration.models import Order
from eventreg.registration.services import (
    AttendeeData,
    OrderData,
    create_order,
    join_waitlist,
    waitlist_position,
)

blp = Blueprint("api", __name__, description="Events, availability and orders")


def _summary(event: Event) -> dict:
    return {
        "slug": event.slug,
        "name": event.name,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "venue": event.venue,
        "status": event.status.value,
        "members_only": event.members_only,
        "registration_mode": event.registration_mode.value,
    }


def _detail(event: Event, actor) -> dict:
    lang = current_language()
    at = now()
    av = compute_availability(event, now=at)
    return {
        **_summary(event),
        "description": localized(event.description),
        "timezone": event.timezone,
        "currency": event.currency,
        "languages": event.languages,
        "attendee_email_required": event.attendee_email_required,
        "waitlist_enabled": event.waitlist_enabled,
        "ticket_types": [
            {
                "id": tt.id,
                "name": tt.label,
                "description": localized(tt.description),
                "price_ore": tt.price_ore,
                "vat_rate": tt.vat_rate,
                "vat_ore": vat_included(tt.price_ore, tt.vat_rate),
                "visibility": tt.visibility.value,
                "available": av.ticket_type_left(tt.id),
                "on_sale": sales_state(tt, at) == "open",
            }
            for tt in listed_ticket_types(event, actor=actor)
        ],
        "sessions": [
            {
                "id": s.id,
                "name": s.label,
                "slot": s.slot,
                "room": s.room,
                "starts_at": s.starts_at,
                "available": av.sessions[s.id],
            }
            for s in event.sessions
        ],
        "questions": [
            {
                "id": q.id,
                "label": q.text,
                "kind": q.kind.value,
                "scope": q.scope.value,
                "required": q.required,
                "choices": [{"value": v, "label": label} for v, label in choices_for(q, lang)],
                "ticket_type_ids": [tt.id for tt in q.ticket_types],
                "depends_on_id": q.depends_on_id,
                "depends_on_value": q.depends_on_value,
            }
            for q in event.questions
        ],
    }


@blp.route("/events")
@blp.response(200, EventSummaryOut(many=True))
@error_responses(blp)
def events():
    """Published events, soonest first."""
    return [_summary(e) for e in list_published_events()]


@blp.route("/events/<slug>")
@blp.response(200, EventOut)
@blp.alt_response(404, schema=ErrorOut)
@error_responses(blp, 401, 404)
def event(slug: str):
    """One event with its ticket types, workshops, questions and the seats left right now."""
    actor = api_actor()
    return _detail(get_event(slug, actor=actor), actor)


def order_out(order: Order) -> dict:
    return {
        "code": order.code,
        "status": order.status.value,
        "payment_method": order.payment_method.value,
        "total_ore": order.total_ore,
        "vat_ore": order.vat_ore,
        "expires_at": order.expires_at,
        "manage_url": url_for(
            "registration.manage",
            code=order.code,
            token=order.manage_token,
            _external=True,
        ),
    }


@blp.route("/events/<slug>/orders", methods=["POST"])
@blp.arguments(OrderIn())  # an instance: a class would be instantiated per request
@blp.response(201, OrderOut)
@blp.alt_response(
    409,
    schema=ErrorOut,
    description="sold_out, session_full, voucher_used_up, registration_closed",
)
@blp.alt_response(403, schema=ErrorOut, description="members_only, staff_only")
@error_responses(blp, 400, 401, 403, 404, 409, 422)
def create(payload: dict, slug: str):
    """Registers attendees and holds their seats (a free order is paid at once)."""
    actor = api_actor()
    event = get_event(slug, actor=actor, details=False)  # most attempts of a rush need only the row
    buyer = payload["buyer"]
    data = OrderData(
        buyer_name=buyer["name"],
        buyer_email=buyer["email"],
        buyer_language=buyer["language"],
        attendees=[AttendeeData(**a) for a in payload["attendees"]],
        answers=payload["answers"],
        voucher_code=payload["voucher_code"],
        payment_method=payload["payment_method"],
        waitlist_token=payload["waitlist_token"],
    )
    order = create_order(event, data, now=now(), actor=actor)
    answer = order_out(order)  # built before the commit: a sold seat is never reported as an error
    db.session.commit()
    return answer


@blp.route("/events/<slug>/waitlist", methods=["POST"])
@blp.arguments(WaitlistIn())
@blp.response(201, WaitlistOut)
@blp.alt_response(409, schema=ErrorOut, description="seats_available, no_waitlist")
@error_responses(blp, 400, 401, 403, 404, 409, 422)
def waitlist(payload: dict, slug: str):
    """Joins the waiting list of a sold-out ticket type, for one seat or a group."""
    actor = api_actor()
    event = get_event(slug, actor=actor)
    entry = join_waitlist(event, now=now(), actor=actor, **payload)
    db.session.commit()
    return {
        "id": entry.id,
        "status": entry.status.value,
        "seats": entry.seats,
        "position": waitlist_position(entry),
    }
