"""The organiser's dashboard under /manage/events/<slug>/dashboard; the page polls its JSON."""

from flask import Blueprint, jsonify, render_template
from flask_login import login_required

from eventreg.admin.views import organised_event
from eventreg.core.clock import now
from eventreg.core.i18n import current_language
from eventreg.core.money import format_money
from eventreg.dashboard.services import dashboard

bp = Blueprint("dashboard", __name__, url_prefix="/manage/events/<slug>/dashboard")


def _figures(event) -> dict:
    figures = dashboard(event, now=now())
    # Formatted here, in the organiser's language, so the page and its updates look the same.
    lang = current_language()
    figures["money_text"] = {k: format_money(v, lang, event.currency) for k, v in figures["money"].items()}
    return figures


@bp.route("/")
@login_required
def index(slug: str):
    event = organised_event(slug)
    return render_template("dashboard/index.html", event=event, figures=_figures(event))


@bp.route("/figures.json")
@login_required
def figures(slug: str):
    response = jsonify(_figures(organised_event(slug)))
    response.headers["Cache-Control"] = "private, no-store"
    return response
