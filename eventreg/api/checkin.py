"""Check-in API for scanners (the scanner page is one of them): lists, redeem, the offline
package and the upload of offline scans. Staff tokens only."""

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
)
from eventreg.checkin import services
from eventreg.checkin.models import CheckinList
from eventreg.core.clock import now
from eventreg.core.errors import NotFound
from eventreg.events.models import Event
from eventreg.events.services import check_visible, get_event
from eventreg.extensions import db

blp = Blueprint("checkin_api", __name__, description="Check-in at the door (staff tokens)")


def _staff(slug: str) -> tuple[Event, User]:
    user = api_actor()
    if user is None:
        raise Unauthorized(_l("Use 'Authorization: Bearer <token>'."))
    event = get_event(slug, actor=user, details=False)
    require_event_role(user, event.id, EventRoleKind.CHECKIN)
    return event, user


def _list(slug: str, list_id: int) -> tuple[CheckinList, User]:
    """The list and the staff user; the event comes with the list (one query per scan)."""
    user = api_actor()
    if user is None:
        raise Unauthorized(_l("Use 'Authorization: Bearer <token>'."))
    lst = services.find_list(slug, list_id)
    if lst is None:
        _staff(slug)  # 404 for an unknown event, 403 for another event's staff
        raise NotFound(_l("No such check-in list."))
    check_visible(lst.event, user)
    require_event_role(user, lst.event_id, EventRoleKind.CHECKIN)
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
def lists(slug: str):
    """The event's check-in lists."""
    event, _ = _staff(slug)
    return [services.list_out(lst) for lst in services.lists_of(event)]


@blp.route("/events/<slug>/checkin-lists/<int:list_id>")
@blp.response(200, CheckinListOut)
@blp.alt_response(404, schema=ErrorOut)
def one_list(slug: str, list_id: int):
    """One list; scanners also use it to see whether the server answers."""
    lst, _ = _list(slug, list_id)
    return services.list_out(lst)


@blp.route("/events/<slug>/checkin-lists/<int:list_id>/redeem", methods=["POST"])
@blp.arguments(RedeemIn())
@blp.response(200, RedeemOut)
@blp.alt_response(422, schema=ErrorOut, description="neither or both of qr and attendee_id")
def redeem(payload: dict, slug: str, list_id: int):
    """Judges a scanned QR (or an attendee found by name) and admits them once."""
    lst, user = _list(slug, list_id)
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
def undo(slug: str, list_id: int, checkin_id: int):
    """Takes back a mistaken admission."""
    lst, user = _list(slug, list_id)
    checkin = services.undo(lst, checkin_id, user=user, now=now())
    db.session.commit()
    return {"id": checkin.id, "undone_at": checkin.undone_at}


@blp.route("/events/<slug>/checkin-lists/<int:list_id>/package")
@blp.response(200, PackageOut)
def package(slug: str, list_id: int):
    """Everything an offline scanner needs: the event's public keys, the list's rules and every
    attendee with ticket version, verdict and admission."""
    lst, _ = _list(slug, list_id)
    return services.offline_package(lst, now=now())


@blp.route("/events/<slug>/checkin-lists/<int:list_id>/scans", methods=["POST"])
@blp.arguments(ScansIn())
@blp.response(200, ScansOut)
def upload(payload: dict, slug: str, list_id: int):
    """Admissions an offline scanner made, recorded once each (by nonce); conflicts are reported
    to the organiser and the first scan wins."""
    lst, user = _list(slug, list_id)
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
