from flask import Blueprint, current_app, jsonify

from eventreg.core.clock import now
from eventreg.extensions import db
from eventreg.health.services import check_health

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    """For the load balancer: 200 while this server can serve requests, 503 when it cannot."""
    health = check_health(current_app.config, now=now())
    db.session.rollback()  # a failed check must not leave the session unusable
    response = jsonify(status=health.status, checks=health.checks)
    response.status_code = 200 if health.serving else 503
    response.headers["Cache-Control"] = "no-store"
    return response
