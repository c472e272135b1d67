"""The event builder's forms. They only read what was typed (texts in nb and en, kroner, local
times, ids); every rule about the values is checked by eventreg.builder.services, and its
ValidationError fields are shown next to these fields by `show_errors`.

Texts stored in both languages are two fields, `<name>_nb` and `<name>_en`; amounts are typed in
kroner ("1 250,50") and passed on in øre; times are typed in the event's timezone."""

import re
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import InputRequired, Optional

from eventreg.core.errors import DomainError
from eventreg.core.i18n import LANGUAGES
from eventreg.events.models import QuestionKind, QuestionScope, RegistrationMode, Visibility
from eventreg.payments.norway import parse_amount
from eventreg.registration.models import VoucherKind

# What a browser's datetime-local input sends (with seconds when a step is set).
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
VAT_CHOICES = [SelectChoice(str(rate), f"{rate} %") for rate in (0, 12, 15, 25)]
EMAIL_TEXT_LIMIT = 2000


@cache
def timezone_choices() -> list[SelectChoice]:
    return [SelectChoice(name) for name in sorted(available_timezones()) if "/" in name or name == "UTC"]


def zone(name: str | None, fallback: str) -> ZoneInfo:
    """The timezone typed times are read in: the one chosen, if it is one, else `fallback`
    (the services then say what is wrong with the choice)."""
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def to_utc(local: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A time typed in the event's timezone, as stored."""
    return local.replace(tzinfo=tz).astimezone(UTC) if local else None


def to_local(at: datetime | None, tz: ZoneInfo) -> datetime | None:
    return at.astimezone(tz).replace(tzinfo=None) if at else None


def pair(form: FlaskForm, name: str) -> dict:
    """The `<name>_nb` and `<name>_en` fields as a localised text; empty languages left out."""
    texts = {}
    for lang in LANGUAGES:
        value = (form[f"{name}_{lang}"].data or "").strip()
        if value:
            texts[lang] = value
    return texts


def fill_pair(data: dict, name: str, texts: dict | None) -> None:
    for lang in LANGUAGES:
        data[f"{name}_{lang}"] = (texts or {}).get(lang, "")


def optional_id(value) -> int | None:
    """An id from a select with an empty choice; anything but digits cannot be read."""
    if value in (None, ""):
        return None
    if isinstance(value, int):
        return value
    if not str(value).isdigit() or len(str(value)) > 12:
        raise ValueError(_l("Not a valid choice."))
    return int(value)


def _enum(kind):
    def coerce(value):
        if isinstance(value, kind):
            return value
        try:
            return kind(value)
        except ValueError:
            raise ValueError(_l("Not a valid choice.")) from None

    return coerce


def show_errors(
    form: FlaskForm, err: DomainError, aliases: dict | None = None, *, more: bool = False
) -> None:
    """Puts the services' field errors next to the fields they are about: the same name, a
    name from `aliases`, "title.nb" as title_nb, "title" on title_nb, "choices.2.value" on
    choices; the rest (and an error without fields) goes to the top of the form. With `more`,
    a field that already shows why it could not be read gets no second message."""
    if not err.fields:
        form.form_errors.append(str(err.message))
        return
    for key, messages in err.fields.items():
        field = None
        first = key.split(".")[0]
        for name in ((aliases or {}).get(key), key, key.replace(".", "_"), f"{key}_nb", first):
            if name and name in form._fields:
                field = form._fields[name]
                break
        if more and field is not None and field.errors:
            continue
        errors = field.errors if field is not None else form.form_errors
        if isinstance(errors, tuple):  # a field that was not validated has a tuple
            errors = field.errors = list(errors)
        errors.extend(str(m) for m in messages)


class LocalTimeField(DateTimeLocalField):
    """A datetime-local input; years far from now are typing mistakes (and year 1 in a zone east
    of UTC could not even be stored)."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not 1900 <= self.data.year <= 2200:
            self.data = None
            raise ValueError(_l("Give a year between 1900 and 2200."))


def _time(label):
    return LocalTimeField(label, format=LOCAL_FORMATS, validators=[Optional()])


def _required_time(label):
    return LocalTimeField(
        label, format=LOCAL_FORMATS, validators=[InputRequired(_l("Please give a date and a time."))]
    )


def _count(label, *, required=False, default=None):
    validators = [InputRequired(_l("Please give a number."))] if required else [Optional()]
    return IntegerField(label, validators=validators, default=default)


# --- the event ------------------------------------------------------------------------------


class EventDetailsForm(FlaskForm):
    """What the new-event page asks; the edit page adds the settings below."""

    title_nb = StringField(_l("Title in Norwegian"))
    title_en = StringField(_l("Title in English"))
    description_nb = TextAreaField(_l("Description in Norwegian"))
    description_en = TextAreaField(_l("Description in English"))
    venue = StringField(_l("Venue"))
    starts_at = _required_time(_l("Starts"))
    ends_at = _required_time(_l("Ends"))
    timezone = SelectField(_l("Time zone"), default="Europe/Oslo", validate_choice=False)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.timezone.choices = timezone_choices()


class NewEventForm(EventDetailsForm):
    slug = StringField(_l("Web address"))


class EventSettingsForm(EventDetailsForm):
    total_capacity = _count(_l("Seats in the whole event"))
    max_attendees_per_order = _count(_l("Most attendees in one order"), required=True)
    registration_mode = SelectField(
        _l("Who registers"),
        choices=[
            SelectChoice(RegistrationMode.PUBLIC.value, _l("Anyone, on the event page")),
            SelectChoice(RegistrationMode.STAFF.value, _l("Only staff, on the attendees' behalf")),
        ],
        coerce=_enum(RegistrationMode),
    )
    members_only = BooleanField(_l("Members only"))
    attendee_email_required = BooleanField(_l("Every attendee must give an email address"))
    waitlist_enabled = BooleanField(_l("Waiting list when sold out"))
    waitlist_offer_hours = _count(_l("Hours a waiting-list offer is held"), required=True)
    cancellation_refund_percent = _count(_l("Refund when a buyer cancels (percent)"), required=True)
    self_service_until = _time(_l("Attendees may change their registration until"))
    retention_days = _count(_l("Days personal data is kept after the event"), required=True)
    hold_minutes = _count(_l("Minutes seats are held for a card payment"), required=True)

    SETTINGS = (
        "total_capacity",
        "max_attendees_per_order",
        "registration_mode",
        "members_only",
        "attendee_email_required",
        "waitlist_enabled",
        "waitlist_offer_hours",
        "cancellation_refund_percent",
        "retention_days",
        "hold_minutes",
    )


class CopyForm(FlaskForm):
    slug = StringField(_l("Web address of the copy"))
    title_nb = StringField(_l("Title in Norwegian"))
    title_en = StringField(_l("Title in English"))
    starts_at = _required_time(_l("The copy starts"))


# --- tickets ---------------------------------------------------------------------------------


class AmountField(StringField):
    """Kroner as typed ("1 250,50", "1250.50", "0"), read as øre; None when empty."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.ore = None
        text = (self.data or "").strip()
        if text:
            self.ore = parse_amount(text)
            if self.ore is None:
                raise ValueError(_l("Write an amount in kroner, for example 1 250,50."))
            if self.ore < 0:
                raise ValueError(_l("The amount cannot be negative."))


class TicketTypeForm(FlaskForm):
    name_nb = StringField(_l("Name in Norwegian"))
    name_en = StringField(_l("Name in English"))
    description_nb = TextAreaField(_l("Description in Norwegian"))
    description_en = TextAreaField(_l("Description in English"))
    price = AmountField(
        _l("Price in kroner, VAT included"), validators=[InputRequired(_l("Please give a price."))]
    )
    vat_rate = SelectField(_l("VAT"), choices=VAT_CHOICES, coerce=int, default=25, validate_choice=False)
    visibility = SelectField(
        _l("Who may buy it"),
        choices=[
            SelectChoice(Visibility.PUBLIC.value, _l("Anyone")),
            SelectChoice(Visibility.MEMBERS.value, _l("Members only")),
            SelectChoice(Visibility.VOUCHER.value, _l("Only with a voucher")),
            SelectChoice(Visibility.HIDDEN.value, _l("Hidden (staff register on someone's behalf)")),
        ],
        coerce=_enum(Visibility),
    )
    sales_start = _time(_l("Sales start"))
    sales_end = _time(_l("Sales end"))
    quota_ids = SelectMultipleField(_l("Quotas"), coerce=int, validate_choice=False)


class QuotaForm(FlaskForm):
    name = StringField(_l("Name"))
    size = _count(_l("Seats"), required=True)
    ticket_type_ids = SelectMultipleField(_l("Ticket types drawing on it"), coerce=int, validate_choice=False)


# --- workshops and questions -----------------------------------------------------------------


class WorkshopForm(FlaskForm):
    name_nb = StringField(_l("Name in Norwegian"))
    name_en = StringField(_l("Name in English"))
    slot = StringField(_l("Time slot"))
    starts_at = _time(_l("Starts"))
    room = StringField(_l("Room"))
    capacity = _count(_l("Seats"))


QUESTION_KINDS = {
    QuestionKind.TEXT: _l("Text"),
    QuestionKind.CHOICE: _l("One of a list"),
    QuestionKind.MULTIPLE: _l("Several of a list"),
    QuestionKind.YESNO: _l("Yes or no"),
    QuestionKind.PHONE: _l("Phone number"),
    QuestionKind.COUNTRY: _l("Country"),
    QuestionKind.ORGANISATION: _l("Organisation (printed on badges)"),
    QuestionKind.ORG_TYPE: _l("Type of organisation"),
    QuestionKind.SECTOR: _l("Sector"),
}
QUESTION_SCOPES = {
    QuestionScope.ATTENDEE: _l("Each attendee"),
    QuestionScope.ORDER: _l("Once per order"),
}
_CHOICE_LINE = re.compile(r"\s*\|\s*")


class ChoicesField(TextAreaField):
    """One answer a line: "value | Norsk | English" (the texts default to the value); read as
    [{"value": ..., "nb": ..., "en": ...}] in `choices`."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.choices = []
        for number, line in enumerate((self.data or "").splitlines(), start=1):
            if not line.strip():
                continue
            parts = _CHOICE_LINE.split(line.strip())
            if len(parts) > 3 or not parts[0]:
                raise ValueError(
                    _l("Line %(n)d: write one answer a line as “value | Norsk | English”.", n=number)
                )
            value = parts[0]
            nb = parts[1] if len(parts) > 1 and parts[1] else value
            en = parts[2] if len(parts) > 2 and parts[2] else nb
            self.choices.append({"value": value, "nb": nb, "en": en})

    @staticmethod
    def as_text(choices: list) -> str:
        return "\n".join(
            f"{c.get('value', '')} | {c.get('nb', '')} | {c.get('en', '')}" for c in choices or []
        )


class QuestionForm(FlaskForm):
    label_nb = StringField(_l("Question in Norwegian"))
    label_en = StringField(_l("Question in English"))
    kind = SelectField(
        _l("Kind of answer"),
        choices=[SelectChoice(k.value, v) for k, v in QUESTION_KINDS.items()],
        coerce=_enum(QuestionKind),
    )
    scope = SelectField(
        _l("Asked of"),
        choices=[SelectChoice(k.value, v) for k, v in QUESTION_SCOPES.items()],
        coerce=_enum(QuestionScope),
    )
    required = BooleanField(_l("An answer is required"))
    choices = ChoicesField(_l("Answers to choose from"))
    ticket_type_ids = SelectMultipleField(_l("Ticket types"), coerce=int, validate_choice=False)
    depends_on_id = SelectField(
        _l("Only asked after the question"), coerce=optional_id, validate_choice=False
    )
    depends_on_value = StringField(_l("… was answered"))


# --- vouchers, sponsors, emails ------------------------------------------------------------


VOUCHER_KINDS = {
    VoucherKind.PERCENT: _l("Percent off"),
    VoucherKind.FIXED: _l("Kroner off each ticket"),
    VoucherKind.UNLOCK: _l("Unlocks a voucher-only ticket type"),
}


class _VoucherFields(FlaskForm):
    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice(k.value, v) for k, v in VOUCHER_KINDS.items()],
        coerce=_enum(VoucherKind),
    )
    value = StringField(_l("Discount"))
    ticket_type_id = SelectField(_l("For the ticket type"), coerce=optional_id, validate_choice=False)
    max_uses = _count(_l("Times each code can be used"), required=True, default=1)
    valid_until = _time(_l("Valid until"))

    def discount(self) -> int | None:
        """The discount in the unit the kind counts in (percent, or øre for kroner off); None
        when it cannot be read, with the message on the field."""
        text = (self.value.data or "").strip()
        if self.kind.data == VoucherKind.UNLOCK:
            return 0
        if self.kind.data == VoucherKind.PERCENT:
            digits = text.rstrip("%").strip()
            if digits.isdigit() and len(digits) <= 6:
                return int(digits)
            message = _l("Write the percent as a whole number, for example 20.")
        else:
            ore = parse_amount(text) if text else None
            if ore is not None:
                return ore
            message = _l("Write an amount in kroner, for example 1 250,50.")
        self.value.errors = [*self.value.errors, message]
        return None


class VoucherForm(_VoucherFields):
    code = StringField(_l("Code"))


class GenerateVouchersForm(_VoucherFields):
    count = _count(_l("How many codes"), required=True, default=10)
    code_prefix = StringField(_l("Start every code with"))


class SponsorForm(FlaskForm):
    name = StringField(_l("Name"))
    level = StringField(_l("Level"))


class MemberForm(FlaskForm):
    email = StringField(_l("Email"))
    name = StringField(_l("Name"))


def email_texts_form(kinds: tuple[str, ...]) -> type[FlaskForm]:
    """A form with a text area per kind of email and language (`confirmation_nb`, ...)."""

    class EmailTextsForm(FlaskForm):
        pass

    for kind in kinds:
        for lang in LANGUAGES:
            setattr(EmailTextsForm, f"{kind}_{lang}", TextAreaField(f"{kind} {lang}"))
    return EmailTextsForm
