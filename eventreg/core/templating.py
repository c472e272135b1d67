"""Filters and globals for templates: formatting only, never business values."""

from flask_babel import format_date, format_datetime, format_time

from eventreg.core.i18n import LANGUAGES, current_language, localized
from eventreg.core.money import format_money
from eventreg.payments.norway import format_bank_account


def when(dt, fmt: str = "medium") -> str:
    """A date and time in the reader's language and the app's timezone, without seconds
    ("27. mai 2027, 09:00" / "May 27, 2027, 9:00 AM"); "short" is the compact numeric form."""
    if dt is None:
        return ""
    if fmt == "short":
        return format_datetime(dt, "short")
    if fmt == "date":
        return format_date(dt, "long")
    return f"{format_date(dt, 'long')}, {format_time(dt, 'short')}"


def register_template_helpers(app) -> None:
    app.jinja_env.filters["money"] = lambda ore, currency="NOK": format_money(
        ore, current_language(), currency
    )
    app.jinja_env.filters["localized"] = localized
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["bank_account"] = format_bank_account

    @app.context_processor
    def _globals():
        return {"current_language": current_language(), "languages": LANGUAGES}
