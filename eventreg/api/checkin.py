"""Check-in API for scanners (the scanner page is one of them): lists, redeem, the offline
package and the upload of offline scans. Staff tokens only."""

from flask import g, request
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from eventreg.accounts.models import EventRoleKind, User
from eventreg.accounts.services import require_event_role
from eventreg.api.auth import Unauthorized, api_actor
from eventreg.api.schemas import (
    CheckinListOut,
    ErrorOut,
    PackageOut,
    RedeemIn,
    RedeemOut,
    ScansIn,
    ScansOut,
    UndoOut,
    error_responses,
)
from eventreg.checkin import services
from eventreg.checkin.models import CheckinList
from eventreg.core.clock import now
from eventreg.core.errors import NotFound
from eventreg.events.services import check_visible, get_event
from eventreg.extensions import db

blp = Blueprint("checkin_api", __name__, description="Check-in at the door (staff tokens)")


@blp.before_request
def _authorize():
    """Who asks, and for which event, is settled before the body is read: no token is a 401 and
    another event's staff a 403, whatever they send. A scan costs two queries here: the token
    with its user and roles, and the list with its event and rules."""
    user = api_actor()
    if user is None:
        raise Unauthorized(_l("Use 'Authorization: Bearer <token>'."))
    args = request.view_args or {}
    lst = services.find_list(args["slug"], args["list_id"]) if "list_id" in args else None
    event = lst.event if lst else get_event(args["slug"], actor=user, details=False)
    check_visible(event, user)
    require_event_role(user, event.id, EventRoleKind.CHECKIN)
    if "list_id" in args and lst is None:
        raise NotFound(_l("No such check-in list."))
    g.checkin = (user, event, lst)


def _list() -> tuple[CheckinList, User]:
    user, _event, lst = g.checkin
    return lst, user


def verdict_out(verdict: services.Verdict) -> dict:
    attendee = verdict.attendee
    return {
        "result": verdict.result.value,
        "reason": verdict.reason,
        "attendee": services.attendee_summary(attendee, verdict.checkin) if attendee else None,
    }


@blp.route("/events/<slug>/checkin-lists")
@blp.response(200, CheckinListOut(many=True))
@blp.alt_response(401, schema=ErrorOut)
@blp.alt_response(403, schema=ErrorOut)
@error_responses(blp, 401, 403, 404)
def lists(slug: str):
    """The event's check-in lists."""
    _user, event, _lst = g.checkin
    return [services.list_out(lst) for lst in services.lists_of(event)]


@blp.route("/events/<slug>/checkin-lists/<int:list_id>")
@blp.response(200, CheckinListOut)
@blp.alt_response(404, schema=ErrorOut)
@error_responses(blp, 401, 403, 404)
def one_list(slug: str, list_id: int):
    """One list; scanners also use it to see whether the server answers."""
    lst, _ = _list()
    return services.list_out(lst)


@blp.route("/events/<slug>/checkin-lists/<int:list_id>/redeem", methods=["POST"])
@blp.arguments(RedeemIn())
@blp.response(200, RedeemOut)
@blp.alt_response(422, schema=ErrorOut, description="neither or both of qr and attendee_id")
@blp.alt_response(
    409, schema=ErrorOut, description="nonce_reused: the nonce was used for another ticket; busy"
)
@error_responses(blp, 400, 401, 403, 404, 409, 422)
def redeem(payload: dict, slug: str, list_id: int):
    """Judges a scanned QR (or an attendee found by name) and admits them once."""
    lst, user = _list()
    verdict = services.redeem(
        lst,
        qr=payload.get("qr"),
        attendee_id=payload.get("attendee_id"),
        gate=payload["gate"],
        nonce=payload.get("nonce"),
        user=user,
        now=now(),
    )
    answer = verdict_out(verdict)
    db.session.commit()
    return answer


@blp.route("/events/<slug>/checkin-lists/<int:list_id>/checkins/<int:checkin_id>/undo", methods=["POST"])
@blp.response(200, UndoOut)
@blp.alt_response(409, schema=ErrorOut, description="not_admitted: nothing to undo")
@error_responses(blp, 401, 403, 404, 409)
def undo(slug: str, list_id: int, checkin_id: int):
    """Takes back a mistaken admission."""
    lst, user = _list()
    checkin = services.undo(lst, checkin_id, user=user, now=now())
    db.session.commit()
    return {"id": checkin.id, "undone_at": checkin.undone_at}


@blp.route("/events/<slug>/checkin-lists/<int:list_id>/package")
@blp.response(200, PackageOut)
@error_responses(blp, 401, 403, 404)
def package(slug: str, list_id: int):
    """Everything an offline scanner needs: the event's public keys, the list's rules and every
    attendee with ticket version, verdict and admission."""
    lst, _ = _list()
    return services.offline_package(lst, now=now())


@blp.route("/events/<slug>/checkin-lists/<int:list_id>/scans", methods=["POST"])
@blp.arguments(ScansIn())
@blp.response(200, ScansOut)
@error_responses(blp, 400, 401, 403, 404, 422)
def upload(payload: dict, slug: str, list_id: int):
    """Admissions an offline scanner made, recorded once each (by nonce); conflicts are reported
    to the organiser and the first scan wins."""
    lst, user = _list()
    scans = [
        services.OfflineScan(
            nonce=s["nonce"],
            scanned_at=s["scanned_at"],
            qr=s.get("qr"),
            attendee_id=s.get("attendee_id"),
            gate=s["gate"],
        )
        for s in payload["scans"]
    ]
    results = services.upload_scans(lst, scans, user=user, now=now())
    db.session.commit()
    return {"results": results}
