"""The form a sponsor saves a lead's note and rating with (one per lead on the leads page)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField


def _rating(value):
    """ "" is no rating; a number is that number; anything else is passed on as it came, for
    update_lead to refuse with its message (WTForms' own would be English only)."""
    if value in (None, ""):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if text.isascii() and text.lstrip("-").isdigit() else text


class LeadForm(FlaskForm):
    """Reads the form; update_lead checks the values (note length, rating 1 to 5)."""

    note = TextAreaField(_l("Note"))
    rating = SelectField(_l("Rating"), coerce=_rating, validate_choice=False)
