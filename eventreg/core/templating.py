"""Filters and globals for templates: formatting only, never business values."""

from flask_babel import format_datetime

from eventreg.core.i18n import LANGUAGES, current_language, localized
from eventreg.core.money import format_money


def register_template_helpers(app) -> None:
    app.jinja_env.filters["money"] = lambda ore, currency="NOK": format_money(
        ore, current_language(), currency
    )
    app.jinja_env.filters["localized"] = localized
    app.jinja_env.filters["when"] = lambda dt, fmt="medium": format_datetime(dt, fmt) if dt else ""

    @app.context_processor
    def _globals():
        return {"current_language": current_language(), "languages": LANGUAGES}
