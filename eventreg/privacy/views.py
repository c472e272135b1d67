"""The person's own data behind their private links: download it (JSON), or erase it after a
confirmation step. An attendee uses their ticket link, a buyer the order link. Also the
template helpers with which the ticket, order and organiser pages show the "Your data" section
and the date on which the event's personal data is erased."""

import json

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from eventreg.core.clock import now
from eventreg.core.errors import Conflict
from eventreg.events.models import Event
from eventreg.extensions import db
from eventreg.privacy import services
from eventreg.registration.models import Attendee, Order
from eventreg.registration.self_service import get_attendee_by_token
from eventreg.registration.services import get_order_by_token
from eventreg.registration.views import download, private_page

bp = Blueprint("privacy", __name__)


@bp.app_template_global()
def privacy_retention(event: Event) -> services.Retention:
    """When the event's personal data is erased (the organiser's event page, "Your data")."""
    return services.retention(event, now=now())


@bp.app_template_global()
def privacy_refusal(subject: Attendee | Order) -> Conflict | None:
    """Why the person on a ticket page (an Attendee) or an order page (an Order) cannot erase
    their data now, or None."""
    if isinstance(subject, Order):
        return services.order_erasure_refusal(subject, now=now())
    return services.erasure_refusal(subject, now=now())


def _json(data: dict, filename: str):
    body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False).encode()
    return download(body, "application/json", filename)


# --- an attendee's data, from their ticket link -----------------------------------------------


@bp.route("/tickets/<token>/my-data.json")
def attendee_data(token: str):
    attendee = get_attendee_by_token(token)
    data = services.personal_data(attendee, now=now())
    return _json(data, f"my-data-{attendee.order.code}-{attendee.position + 1}.json")


@bp.route("/tickets/<token>/erase", methods=["GET", "POST"])
def erase_attendee(token: str):
    """GET: what erasing removes and keeps, and the confirm button; POST: erase."""
    attendee = get_attendee_by_token(token)
    order = attendee.order
    if request.method == "POST":
        slug = order.event.slug
        try:
            result = services.erase_attendee(attendee, now=now(), via="attendee")
        except Conflict as err:
            db.session.rollback()
            return _confirm_page(attendee=attendee, refusal=err, status=409)
        db.session.commit()
        services.forget_mail_copies(result.message_ids)
        flash(_("Your personal data is erased. The link you used no longer works."), "success")
        return redirect(url_for("events.detail", slug=slug))
    refusal = services.erasure_refusal(attendee, now=now())
    return _confirm_page(attendee=attendee, refusal=refusal, status=409 if refusal else 200)


# --- the buyer's data, from the order link ----------------------------------------------------


@bp.route("/orders/<code>/<token>/my-data.json")
def order_data(code: str, token: str):
    order = get_order_by_token(code, token)
    return _json(services.order_data(order, now=now()), f"my-data-{order.code}.json")


@bp.route("/orders/<code>/<token>/erase", methods=["GET", "POST"])
def erase_buyer(code: str, token: str):
    """GET: the confirm step; POST: erase the buyer's data (and the buyer's own tickets' data)."""
    order = get_order_by_token(code, token)
    if request.method == "POST":
        slug = order.event.slug
        try:
            result = services.erase_buyer(order, now=now(), via="buyer")
        except Conflict as err:
            db.session.rollback()
            return _confirm_page(order=order, refusal=err, status=409)
        db.session.commit()
        services.forget_mail_copies(result.message_ids)
        flash(_("Your personal data is erased. The link you used no longer works."), "success")
        return redirect(url_for("events.detail", slug=slug))
    refusal = services.order_erasure_refusal(order, now=now())
    return _confirm_page(order=order, refusal=refusal, status=409 if refusal else 200)


def _confirm_page(*, attendee: Attendee | None = None, order: Order | None = None, refusal, status: int):
    if attendee is not None:
        order = attendee.order
        back = url_for("registration.ticket", token=attendee.manage_token)
        action = url_for("privacy.erase_attendee", token=attendee.manage_token)
        data_url = url_for("privacy.attendee_data", token=attendee.manage_token)
        also_buyer = services.erases_buyer_too(attendee, now=now())
        also_attendees = []
    else:
        back = url_for("registration.manage", code=order.code, token=order.manage_token)
        action = url_for("privacy.erase_buyer", code=order.code, token=order.manage_token)
        data_url = url_for("privacy.order_data", code=order.code, token=order.manage_token)
        also_buyer = False
        also_attendees = services.buyer_attendees(order)
    page = render_template(
        "privacy/erase.html",
        attendee=attendee,
        order=order,
        event=order.event,
        back=back,
        action=action,
        data_url=data_url,
        refusal=refusal,
        also_buyer=also_buyer,
        also_attendees=also_attendees,
        retention=services.retention(order.event, now=now()),
    )
    return private_page(page, status)
