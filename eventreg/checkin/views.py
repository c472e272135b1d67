"""The scanner page under /checkin/<slug>/: a thin client of the check-in API that keeps working
offline (static/checkin/scanner.js, rules.js and the service worker sw.js)."""

from datetime import timedelta
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from eventreg.accounts.models import EventRoleKind
from eventreg.accounts.services import issue_device_token, require_event_role
from eventreg.checkin.services import lists_of
from eventreg.checkin.texts import REASONS, RESULTS
from eventreg.core.clock import now
from eventreg.events.models import Event
from eventreg.events.services import get_event
from eventreg.extensions import db

bp = Blueprint("checkin", __name__, url_prefix="/checkin")

DEVICE_GRACE = timedelta(days=1)  # a scanner's token outlives the event by this much

TEXTS = {
    "online": _l("Online"),
    "offline": _l("Offline: tickets are checked on this device"),
    "refreshed": _l("List from {time}"),
    "no_list": _l("No list on this device yet: connect to the network once."),
    "pending_none": _l("All scans uploaded"),
    "pending_some": _l("{n} scans waiting to upload"),
    "inside": _l("Checked in {time} at {gate} by {by}"),
    "inside_here": _l("Checked in {time} at {gate}"),
    "checked_offline": _l("Checked on this device (offline)"),
    "undo": _l("Undo"),
    "undone": _l("Admission undone"),
    "undo_offline": _l("Undo needs the network once this scan is uploaded."),
    "check_in": _l("Check in"),
    "no_hits": _l("Nobody found."),
    "camera_error": _l("The camera is not available: {error}"),
    "no_ed25519": _l("This browser cannot check tickets offline; update it to scan without a network."),
    "login_again": _l("Your login has expired: log in again while online."),
    "choose_gate": _l("Name this gate first, for example “Main door”."),
    "error": _l("The scan could not be recorded: {error}"),
}


def _staff_event(slug: str) -> Event:
    event = get_event(slug, actor=current_user, details=False)
    require_event_role(current_user, event.id, EventRoleKind.CHECKIN)
    return event


@bp.route("/<slug>/")
@login_required
def scanner(slug: str):
    event = _staff_event(slug)
    lists = [{"id": lst.id, "name": lst.name} for lst in lists_of(event)]
    config = {
        "slug": event.slug,
        "eventId": event.id,
        "timezone": event.timezone,
        "lists": lists,
        "apiBase": f"/api/v1/events/{event.slug}/checkin-lists",
        "deviceUrl": url_for("checkin.device", slug=event.slug),
        "user": current_user.name,
        "csrf": generate_csrf(),
        "results": {k: str(v) for k, v in RESULTS.items()},
        "reasons": {k: str(v) for k, v in REASONS.items()},
        "texts": {k: str(v) for k, v in TEXTS.items()},
    }
    return render_template("checkin/scanner.html", event=event, lists=lists, config=config)


@bp.route("/<slug>/device", methods=["POST"])
@login_required
def device(slug: str):
    """A token for this browser, so it can talk to the API (and upload offline scans) without
    the session cookie; the page keeps it in IndexedDB."""
    event = _staff_event(slug)
    label = (request.get_json(silent=True) or {}).get("gate") or ""
    expires_at = max(event.ends_at, now()) + DEVICE_GRACE
    name = f"scanner {event.slug}" + (f": {label}" if label else "")  # listed on the account page
    token = issue_device_token(current_user, name[:100], expires_at=expires_at)
    db.session.commit()
    return jsonify(token=token, expires_at=expires_at.isoformat())


@bp.route("/sw.js")
def service_worker():
    """Served from /checkin/ so that it may control the scanner pages."""
    script = (Path(current_app.static_folder) / "checkin" / "sw.js").read_bytes()
    return Response(script, mimetype="text/javascript", headers={"Cache-Control": "no-cache"})


@bp.route("/<slug>/manifest.webmanifest")
def manifest(slug: str):
    """Per event, so that the installed app opens this event's scanner."""
    response = jsonify(
        name=str(_l("eventreg check-in")),
        short_name=str(_l("Check-in")),
        start_url=url_for("checkin.scanner", slug=slug),
        scope="/checkin/",
        display="standalone",
        background_color="#ffffff",
        theme_color="#1d4ed8",
        icons=[
            {
                "src": url_for("static", filename=f"checkin/icon-{size}.png"),
                "sizes": f"{size}x{size}",
                "type": "image/png",
            }
            for size in (192, 512)
        ],
    )
    response.mimetype = "application/manifest+json"
    return response
