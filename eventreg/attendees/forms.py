"""The forms of the attendee pages. They only read what was sent; the services check it.

The list's filter is not a form of its own: it is the query string (`q`, `ticket_type`, `state`,
`workshop`, `checked_in`, `answer`, `page`), read by services.clean_filter, so a filtered list
can be bookmarked. The mailing forms carry the same names as hidden fields. An attendee's details
and workshops use the field names of the attendee's own page (registration/forms.py)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectMultipleField, StringField, TextAreaField

from eventreg.core.i18n import LANGUAGES

FILTER_ARGS = ("q", "ticket_type", "state", "workshop", "checked_in", "answer")


def page_number(raw: str | None) -> int | None:
    """The `page` argument (1 when absent), or None when it is not a page number."""
    raw = (raw or "1").strip()
    return int(raw) if raw.isdigit() and len(raw) < 7 and int(raw) > 0 else None


class MailingForm(FlaskForm):
    """Subject and plain-text message in each language; `token` is the signed preview."""

    subject_nb = StringField(_l("Subject in Norwegian"))
    body_nb = TextAreaField(_l("Message in Norwegian"))
    subject_en = StringField(_l("Subject in English"))
    body_en = TextAreaField(_l("Message in English"))
    token = HiddenField()

    def texts(self) -> dict[str, dict[str, str]]:
        """What was typed, as clean_mailing_texts takes it."""
        return {
            "subject": {lang: self[f"subject_{lang}"].data or "" for lang in LANGUAGES},
            "body": {lang: self[f"body_{lang}"].data or "" for lang in LANGUAGES},
        }


class RefundForm(FlaskForm):
    """The tickets to refund (attendee ids) and the reason for the organisers."""

    attendee = SelectMultipleField(coerce=int, validate_choice=False)
    reason = StringField(_l("Reason"))


class ResendForm(FlaskForm):
    """Empty `attendee`: the whole confirmation again; an attendee's id: only their ticket."""

    attendee = HiddenField()
