"""The organiser's event builder under /manage/events: a new event, its details and settings,
status, ticket types and quotas, workshops, questions, vouchers, sponsors and their members, the
email texts, a copy as a template, and the audit log.

Every page needs a login (else a redirect to the login page) and the organiser role for the event
(403 otherwise; a new event needs an admin or the organiser of some event); unknown events, and
objects that are not the event's own, are 404. Each page reads its form, calls
eventreg.builder.services, commits once, and redirects; the services' ValidationError comes back
as messages next to the fields (422) and Conflict as a message on top (409), or as a flashed
message after a redirect for the buttons of a list."""

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms.fields import SelectChoice

from eventreg.accounts.models import User
from eventreg.admin.views import organised_event
from eventreg.audit.services import entries_of
from eventreg.builder import services
from eventreg.builder.forms import (
    QUESTION_KINDS,
    QUESTION_SCOPES,
    VOUCHER_KINDS,
    ChoicesField,
    CopyForm,
    EventSettingsForm,
    GenerateVouchersForm,
    MemberForm,
    NewEventForm,
    QuestionForm,
    QuotaForm,
    SponsorForm,
    TicketTypeForm,
    VoucherForm,
    WorkshopForm,
    email_texts_form,
    fill_pair,
    pair,
    show_errors,
    to_local,
    to_utc,
    zone,
)
from eventreg.core.clock import now
from eventreg.core.errors import Conflict, Forbidden, NotFound, ValidationError
from eventreg.core.templating import when
from eventreg.events.models import Event, EventSession, EventStatus, Question, Quota, Sponsor, TicketType
from eventreg.extensions import db
from eventreg.registration.models import Voucher

bp = Blueprint("builder", __name__, url_prefix="/manage/events")

# The status buttons the details page offers in each status; set_status decides what is allowed.
STATUS_ACTIONS = {
    EventStatus.DRAFT: [(EventStatus.PUBLISHED, _l("Publish"), "btn-primary")],
    EventStatus.PUBLISHED: [
        (EventStatus.CLOSED, _l("Close registration"), ""),
        (EventStatus.DRAFT, _l("Back to draft"), "btn-danger"),
    ],
    EventStatus.CLOSED: [
        (EventStatus.PUBLISHED, _l("Reopen registration"), "btn-primary"),
        (EventStatus.DRAFT, _l("Back to draft"), "btn-danger"),
    ],
}
EMAIL_KINDS = {
    "confirmation": (
        _l("Confirmation"),
        _l("Sent when an order is confirmed (paid, free, or registered by invoice)."),
    ),
    "invoice": (_l("Invoice"), _l("Sent with the invoice to organisations that pay by invoice.")),
    "ticket": (_l("Ticket"), _l("Sent to each attendee with their ticket.")),
}
# Service field names that are not the form's own.
LOCALISED = {"title": "title_nb", "description": "description_nb", "name": "name_nb", "label": "label_nb"}
TICKET_ALIASES = {**LOCALISED, "price_ore": "price", "quotas": "quota_ids"}
VOUCHER_ALIASES = {"prefix": "code_prefix", "ticket_type": "ticket_type_id"}


# --- loading ----------------------------------------------------------------------------------


def _own(model, event: Event, object_id: int):
    """The event's own row of `model` with this id; NotFound for another event's or none."""
    found = db.session.scalar(sa.select(model).where(model.id == object_id, model.event_id == event.id))
    if found is None:
        raise NotFound(_l("This page does not exist."))
    return found


def _member(sponsor: Sponsor, user_id: int) -> User:
    """A person who logs in for the sponsor; NotFound for anybody else."""
    user = next((u for u in services.sponsor_members(sponsor) if u.id == user_id), None)
    if user is None:
        raise NotFound(_l("This page does not exist."))
    return user


# --- saving -----------------------------------------------------------------------------------


def _save(form: FlaskForm, action: Callable, *, aliases: dict | None = None):
    """Validates the form and calls `action`; (result, None) once committed, else (None, the
    status to render the form with: 422 for bad values, 409 for a Conflict). `action` returns
    None when it found a value it could not read (the message is on the field)."""
    if not form.validate():
        # Some field could not be read; the services still say what is wrong with the others,
        # so that one try shows every problem. Nothing is kept.
        try:
            action()
        except (ValidationError, Conflict) as err:
            show_errors(form, err, aliases, more=True)
        finally:
            db.session.rollback()
        return None, 422
    try:
        result = action()
        if result is None:
            return None, 422
    except ValidationError as err:
        db.session.rollback()
        show_errors(form, err, aliases)
        return None, 422
    except Conflict as err:
        db.session.rollback()
        show_errors(form, err, aliases)
        return None, 409
    db.session.commit()
    return result, None


def _act(action: Callable, success: str) -> None:
    """Runs a button (delete, move, remove): commits and flashes `success`, or flashes what
    stopped it. The caller redirects either way."""
    try:
        action()
    except (ValidationError, Conflict) as err:
        db.session.rollback()
        flash(str(err.message), "error")
        return
    db.session.commit()
    flash(success, "success")


def _direction() -> bool:
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        raise ValidationError(_l("Choose to move it up or down."))
    return direction == "up"


def _render(template: str, event: Event, status: int = 200, **context):
    return render_template(f"builder/{template}", event=event, timezone=event.timezone, **context), status


# --- the event --------------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new_event():
    if not services.can_create_events(current_user):
        raise Forbidden(_l("Only organisers and administrators can create events."))
    form = NewEventForm()
    status = 200
    if form.is_submitted():
        tz = zone(form.timezone.data, "Europe/Oslo")
        event, status = _save(
            form,
            lambda: services.create_event(
                actor=current_user,
                now=now(),
                slug=(form.slug.data or "").strip(),
                title=pair(form, "title"),
                description=pair(form, "description"),
                venue=(form.venue.data or "").strip(),
                starts_at=to_utc(form.starts_at.data, tz),
                ends_at=to_utc(form.ends_at.data, tz),
                timezone=form.timezone.data or "",
            ),
            aliases=LOCALISED,
        )
        if event is not None:
            flash(
                _("The event is created as a draft. Add its ticket types, then publish it on Details."),
                "success",
            )
            return redirect(url_for(".ticket_types", slug=event.slug))
    return render_template("builder/new_event.html", form=form), status


def _event_data(event: Event) -> dict:
    tz = ZoneInfo(event.timezone)
    data = {
        "venue": event.venue,
        "starts_at": to_local(event.starts_at, tz),
        "ends_at": to_local(event.ends_at, tz),
        "timezone": event.timezone,
        "self_service_until": to_local(event.self_service_until, tz),
    }
    fill_pair(data, "title", event.title)
    fill_pair(data, "description", event.description)
    for name in EventSettingsForm.SETTINGS:
        data[name] = getattr(event, name)
    return data


def _event_changes(event: Event, form: EventSettingsForm) -> dict:
    """What the form changes: update_event records exactly these."""
    tz = zone(form.timezone.data, event.timezone)
    typed = {
        "title": pair(form, "title"),
        "description": pair(form, "description"),
        "venue": (form.venue.data or "").strip(),
        "starts_at": to_utc(form.starts_at.data, tz),
        "ends_at": to_utc(form.ends_at.data, tz),
        "timezone": form.timezone.data or "",
        "self_service_until": to_utc(form.self_service_until.data, tz),
    }
    for name in EventSettingsForm.SETTINGS:
        typed[name] = form[name].data
    current = {"description": event.description or {}}
    return {k: v for k, v in typed.items() if v != current.get(k, getattr(event, k))}


def _status_actions(event: Event) -> list:
    return STATUS_ACTIONS.get(event.status, [])


@bp.route("/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit_event(slug: str):
    event = organised_event(slug)
    form = EventSettingsForm(data=_event_data(event) if request.method == "GET" else None)
    status = 200
    if form.is_submitted():
        saved, status = _save(
            form,
            lambda: services.update_event(
                event, actor=current_user, now=now(), **_event_changes(event, form)
            ),
            aliases=LOCALISED,
        )
        if saved is not None:
            flash(_("The event is saved."), "success")
            return redirect(url_for(".edit_event", slug=event.slug))
    return _render("edit_event.html", event, status, form=form, status_actions=_status_actions(event))


@bp.route("/<slug>/status", methods=["POST"])
@login_required
def set_status(slug: str):
    event = organised_event(slug)
    raw = request.form.get("status", "")
    if raw not in set(EventStatus):
        raise ValidationError(_l("Choose a status."))
    try:
        services.set_status(event, EventStatus(raw), actor=current_user, now=now())
    except (ValidationError, Conflict) as err:
        db.session.rollback()
        form = EventSettingsForm(formdata=None, data=_event_data(event))
        messages = [str(m) for msgs in err.fields.values() for m in msgs] or [str(err.message)]
        return _render(
            "edit_event.html",
            event,
            err.status,
            form=form,
            status_actions=_status_actions(event),
            status_errors=messages,
        )
    db.session.commit()
    flash(
        {
            EventStatus.PUBLISHED: _("The event is published: anyone can see it and register."),
            EventStatus.CLOSED: _("Registration is closed. The event page stays visible."),
            EventStatus.DRAFT: _("The event is a draft again: only its organisers can see it."),
        }[event.status],
        "success",
    )
    return redirect(url_for(".edit_event", slug=event.slug))


# --- ticket types and quotas ----------------------------------------------------------------


@bp.route("/<slug>/ticket-types/")
@login_required
def ticket_types(slug: str):
    event = organised_event(slug)
    return _render("ticket_types.html", event)


def _ticket_type_form(event: Event, tt: TicketType | None):
    tz = ZoneInfo(event.timezone)
    data = None
    if tt is not None and request.method == "GET":
        data = {
            "price": f"{tt.price_ore // 100}" + (f",{tt.price_ore % 100:02d}" if tt.price_ore % 100 else ""),
            "vat_rate": tt.vat_rate,
            "visibility": tt.visibility,
            "sales_start": to_local(tt.sales_start, tz),
            "sales_end": to_local(tt.sales_end, tz),
            "quota_ids": [q.id for q in tt.quotas],
        }
        fill_pair(data, "name", tt.name)
        fill_pair(data, "description", tt.description)
    form = TicketTypeForm(data=data)
    status = 200
    if form.is_submitted():
        saved, status = _save(
            form,
            lambda: services.save_ticket_type(
                event,
                actor=current_user,
                now=now(),
                ticket_type=tt,
                name=pair(form, "name"),
                description=pair(form, "description"),
                price_ore=form.price.ore,
                vat_rate=form.vat_rate.data,
                visibility=form.visibility.data,
                sales_start=to_utc(form.sales_start.data, tz),
                sales_end=to_utc(form.sales_end.data, tz),
                quota_ids=form.quota_ids.data or [],
            ),
            aliases=TICKET_ALIASES,
        )
        if saved is not None:
            flash(_("The ticket type “%(name)s” is saved.", name=saved.label), "success")
            return redirect(url_for(".ticket_types", slug=event.slug))
    return _render("ticket_type.html", event, status, form=form, tt=tt)


@bp.route("/<slug>/ticket-types/new", methods=["GET", "POST"])
@login_required
def new_ticket_type(slug: str):
    return _ticket_type_form(organised_event(slug), None)


@bp.route("/<slug>/ticket-types/<int:ticket_type_id>/edit", methods=["GET", "POST"])
@login_required
def edit_ticket_type(slug: str, ticket_type_id: int):
    event = organised_event(slug)
    return _ticket_type_form(event, _own(TicketType, event, ticket_type_id))


@bp.route("/<slug>/ticket-types/<int:ticket_type_id>/delete", methods=["POST"])
@login_required
def delete_ticket_type(slug: str, ticket_type_id: int):
    event = organised_event(slug)
    tt = _own(TicketType, event, ticket_type_id)
    name = tt.label
    _act(
        lambda: services.delete_ticket_type(tt, actor=current_user, now=now()),
        _("The ticket type “%(name)s” is deleted.", name=name),
    )
    return redirect(url_for(".ticket_types", slug=event.slug))


@bp.route("/<slug>/ticket-types/<int:ticket_type_id>/move", methods=["POST"])
@login_required
def move_ticket_type(slug: str, ticket_type_id: int):
    event = organised_event(slug)
    tt = _own(TicketType, event, ticket_type_id)
    up = _direction()
    _act(
        lambda: services.move_ticket_type(tt, actor=current_user, now=now(), up=up),
        _("“%(name)s” is moved up.", name=tt.label) if up else _("“%(name)s” is moved down.", name=tt.label),
    )
    return redirect(url_for(".ticket_types", slug=event.slug) + "#ticket-types-heading")


def _quota_form(event: Event, quota: Quota | None):
    data = None
    if quota is not None and request.method == "GET":
        data = {"name": quota.name, "size": quota.size, "ticket_type_ids": [t.id for t in quota.ticket_types]}
    form = QuotaForm(data=data)
    status = 200
    if form.is_submitted():
        saved, status = _save(
            form,
            lambda: services.save_quota(
                event,
                actor=current_user,
                now=now(),
                quota=quota,
                name=(form.name.data or "").strip(),
                size=form.size.data,
                ticket_type_ids=form.ticket_type_ids.data or [],
            ),
            aliases={"ticket_types": "ticket_type_ids"},
        )
        if saved is not None:
            flash(_("The quota “%(name)s” is saved.", name=saved.name), "success")
            return redirect(url_for(".ticket_types", slug=event.slug) + "#quotas-heading")
    return _render("quota.html", event, status, form=form, quota=quota)


@bp.route("/<slug>/quotas/new", methods=["GET", "POST"])
@login_required
def new_quota(slug: str):
    return _quota_form(organised_event(slug), None)


@bp.route("/<slug>/quotas/<int:quota_id>/edit", methods=["GET", "POST"])
@login_required
def edit_quota(slug: str, quota_id: int):
    event = organised_event(slug)
    return _quota_form(event, _own(Quota, event, quota_id))


@bp.route("/<slug>/quotas/<int:quota_id>/delete", methods=["POST"])
@login_required
def delete_quota(slug: str, quota_id: int):
    event = organised_event(slug)
    quota = _own(Quota, event, quota_id)
    name = quota.name
    _act(
        lambda: services.delete_quota(quota, actor=current_user, now=now()),
        _("The quota “%(name)s” is deleted.", name=name),
    )
    return redirect(url_for(".ticket_types", slug=event.slug) + "#quotas-heading")


# --- workshops --------------------------------------------------------------------------------


@bp.route("/<slug>/workshops/")
@login_required
def workshops(slug: str):
    return _render("workshops.html", organised_event(slug))


def _workshop_form(event: Event, workshop: EventSession | None):
    tz = ZoneInfo(event.timezone)
    data = None
    if workshop is not None and request.method == "GET":
        data = {
            "slot": workshop.slot,
            "starts_at": to_local(workshop.starts_at, tz),
            "room": workshop.room,
            "capacity": workshop.capacity,
        }
        fill_pair(data, "name", workshop.name)
    form = WorkshopForm(data=data)
    status = 200
    if form.is_submitted():
        saved, status = _save(
            form,
            lambda: services.save_workshop(
                event,
                actor=current_user,
                now=now(),
                workshop=workshop,
                name=pair(form, "name"),
                slot=(form.slot.data or "").strip(),
                starts_at=to_utc(form.starts_at.data, tz),
                room=(form.room.data or "").strip(),
                capacity=form.capacity.data,
            ),
            aliases=LOCALISED,
        )
        if saved is not None:
            flash(_("The workshop “%(name)s” is saved.", name=saved.label), "success")
            return redirect(url_for(".workshops", slug=event.slug))
    return _render("workshop.html", event, status, form=form, workshop=workshop)


@bp.route("/<slug>/workshops/new", methods=["GET", "POST"])
@login_required
def new_workshop(slug: str):
    return _workshop_form(organised_event(slug), None)


@bp.route("/<slug>/workshops/<int:workshop_id>/edit", methods=["GET", "POST"])
@login_required
def edit_workshop(slug: str, workshop_id: int):
    event = organised_event(slug)
    return _workshop_form(event, _own(EventSession, event, workshop_id))


@bp.route("/<slug>/workshops/<int:workshop_id>/delete", methods=["POST"])
@login_required
def delete_workshop(slug: str, workshop_id: int):
    event = organised_event(slug)
    workshop = _own(EventSession, event, workshop_id)
    name = workshop.label
    _act(
        lambda: services.delete_workshop(workshop, actor=current_user, now=now()),
        _("The workshop “%(name)s” is deleted.", name=name),
    )
    return redirect(url_for(".workshops", slug=event.slug))


# --- questions --------------------------------------------------------------------------------


@bp.route("/<slug>/questions/")
@login_required
def questions(slug: str):
    return _render("questions.html", organised_event(slug), kinds=QUESTION_KINDS, scopes=QUESTION_SCOPES)


def _question_form(event: Event, question: Question | None):
    data = None
    if question is not None and request.method == "GET":
        data = {
            "kind": question.kind,
            "scope": question.scope,
            "required": question.required,
            "choices": ChoicesField.as_text(question.choices),
            "ticket_type_ids": [t.id for t in question.ticket_types],
            "depends_on_id": question.depends_on_id,
            "depends_on_value": question.depends_on_value or "",
        }
        fill_pair(data, "label", question.label)
    form = QuestionForm(data=data)
    # Only an earlier question can decide whether this one is asked.
    earlier = [
        q
        for q in event.questions
        if question is None or (q.id != question.id and q.position < question.position)
    ]
    form.depends_on_id.choices = [SelectChoice("", _("Always asked"))] + [
        SelectChoice(str(q.id), q.text) for q in earlier
    ]
    status = 200
    if form.is_submitted():
        saved, status = _save(
            form,
            lambda: services.save_question(
                event,
                actor=current_user,
                now=now(),
                question=question,
                label=pair(form, "label"),
                kind=form.kind.data,
                scope=form.scope.data,
                required=form.required.data,
                choices=form.choices.choices,
                ticket_type_ids=form.ticket_type_ids.data or [],
                depends_on_id=form.depends_on_id.data,
                depends_on_value=(form.depends_on_value.data or "").strip() or None,
            ),
            aliases={**LOCALISED, "depends_on": "depends_on_id", "ticket_types": "ticket_type_ids"},
        )
        if saved is not None:
            flash(_("The question “%(label)s” is saved.", label=saved.text), "success")
            return redirect(url_for(".questions", slug=event.slug))
    return _render("question.html", event, status, form=form, question=question)


@bp.route("/<slug>/questions/new", methods=["GET", "POST"])
@login_required
def new_question(slug: str):
    return _question_form(organised_event(slug), None)


@bp.route("/<slug>/questions/<int:question_id>/edit", methods=["GET", "POST"])
@login_required
def edit_question(slug: str, question_id: int):
    event = organised_event(slug)
    return _question_form(event, _own(Question, event, question_id))


@bp.route("/<slug>/questions/<int:question_id>/delete", methods=["POST"])
@login_required
def delete_question(slug: str, question_id: int):
    event = organised_event(slug)
    question = _own(Question, event, question_id)
    label = question.text
    _act(
        lambda: services.delete_question(question, actor=current_user, now=now()),
        _("The question “%(label)s” is deleted. Answers already given keep it.", label=label),
    )
    return redirect(url_for(".questions", slug=event.slug))


@bp.route("/<slug>/questions/<int:question_id>/move", methods=["POST"])
@login_required
def move_question(slug: str, question_id: int):
    event = organised_event(slug)
    question = _own(Question, event, question_id)
    up = _direction()
    label = question.text
    _act(
        lambda: services.move_question(question, actor=current_user, now=now(), up=up),
        _("“%(name)s” is moved up.", name=label) if up else _("“%(name)s” is moved down.", name=label),
    )
    return redirect(url_for(".questions", slug=event.slug) + "#questions-heading")


# --- vouchers ---------------------------------------------------------------------------------


def _voucher_forms(event: Event, one: VoucherForm | None = None, many: GenerateVouchersForm | None = None):
    one = one or VoucherForm(prefix="one", formdata=None)
    many = many or GenerateVouchersForm(prefix="many", formdata=None)
    choices = [SelectChoice("", _("Every ticket type"))] + [
        SelectChoice(str(t.id), t.label) for t in event.ticket_types
    ]
    one.ticket_type_id.choices = many.ticket_type_id.choices = choices
    return one, many


def _vouchers_page(event: Event, status: int = 200, **forms):
    one, many = _voucher_forms(event, **forms)
    vouchers = list(
        db.session.scalars(sa.select(Voucher).where(Voucher.event_id == event.id).order_by(Voucher.code))
    )
    return _render(
        "vouchers.html",
        event,
        status,
        one=one,
        many=many,
        vouchers=vouchers,
        uses=services.voucher_uses(event, now=now()),
        kinds=VOUCHER_KINDS,
    )


@bp.route("/<slug>/vouchers/")
@login_required
def vouchers(slug: str):
    return _vouchers_page(organised_event(slug))


@bp.route("/<slug>/vouchers/new", methods=["POST"])
@login_required
def create_voucher(slug: str):
    event = organised_event(slug)
    form, _many = _voucher_forms(event, one=VoucherForm(prefix="one"))
    tz = ZoneInfo(event.timezone)

    def create():
        value = form.discount()
        if value is None:
            return None
        return services.create_voucher(
            event,
            actor=current_user,
            now=now(),
            code=form.code.data or "",
            kind=form.kind.data,
            value=value,
            ticket_type_id=form.ticket_type_id.data,
            max_uses=form.max_uses.data,
            valid_until=to_utc(form.valid_until.data, tz),
        )

    voucher, status = _save(form, create, aliases=VOUCHER_ALIASES)
    if voucher is None:
        return _vouchers_page(event, status, one=form)
    flash(_("The voucher %(code)s is created.", code=voucher.code), "success")
    return redirect(url_for(".vouchers", slug=event.slug))


@bp.route("/<slug>/vouchers/generate", methods=["POST"])
@login_required
def generate_vouchers(slug: str):
    event = organised_event(slug)
    _one, form = _voucher_forms(event, many=GenerateVouchersForm(prefix="many"))
    tz = ZoneInfo(event.timezone)

    def generate():
        value = form.discount()
        if value is None:
            return None
        return services.generate_vouchers(
            event,
            actor=current_user,
            now=now(),
            count=form.count.data,
            prefix=form.code_prefix.data or "",
            kind=form.kind.data,
            value=value,
            ticket_type_id=form.ticket_type_id.data,
            max_uses=form.max_uses.data,
            valid_until=to_utc(form.valid_until.data, tz),
        )

    made, status = _save(form, generate, aliases=VOUCHER_ALIASES)
    if made is None:
        return _vouchers_page(event, status, many=form)
    flash(
        ngettext("%(num)d voucher code is generated.", "%(num)d voucher codes are generated.", len(made)),
        "success",
    )
    return redirect(url_for(".vouchers", slug=event.slug))


@bp.route("/<slug>/vouchers/<int:voucher_id>/delete", methods=["POST"])
@login_required
def delete_voucher(slug: str, voucher_id: int):
    event = organised_event(slug)
    voucher = _own(Voucher, event, voucher_id)
    code = voucher.code
    _act(
        lambda: services.delete_voucher(voucher, actor=current_user, now=now()),
        _("The voucher %(code)s is deleted.", code=code),
    )
    return redirect(url_for(".vouchers", slug=event.slug))


# --- sponsors ---------------------------------------------------------------------------------


@bp.route("/<slug>/sponsors/")
@login_required
def sponsors(slug: str):
    event = organised_event(slug)
    return _render(
        "sponsors.html", event, members={s.id: services.sponsor_members(s) for s in event.sponsors}
    )


def _sponsor_page(event: Event, sponsor: Sponsor, status: int = 200, **context):
    context.setdefault(
        "form", SponsorForm(formdata=None, data={"name": sponsor.name, "level": sponsor.level})
    )
    context.setdefault("member_form", MemberForm(prefix="member", formdata=None))
    return _render(
        "sponsor.html", event, status, sponsor=sponsor, members=services.sponsor_members(sponsor), **context
    )


def _save_sponsor(event: Event, sponsor: Sponsor | None, form: SponsorForm):
    return _save(
        form,
        lambda: services.save_sponsor(
            event,
            actor=current_user,
            now=now(),
            sponsor=sponsor,
            name=(form.name.data or "").strip(),
            level=(form.level.data or "").strip(),
        ),
    )


@bp.route("/<slug>/sponsors/new", methods=["GET", "POST"])
@login_required
def new_sponsor(slug: str):
    event = organised_event(slug)
    form = SponsorForm()
    status = 200
    if form.is_submitted():
        saved, status = _save_sponsor(event, None, form)
        if saved is not None:
            flash(
                _("The sponsor “%(name)s” is saved. Add the people who log in for it.", name=saved.name),
                "success",
            )
            return redirect(url_for(".edit_sponsor", slug=event.slug, sponsor_id=saved.id))
    return _render("sponsor.html", event, status, sponsor=None, form=form, members=[])


@bp.route("/<slug>/sponsors/<int:sponsor_id>/", methods=["GET", "POST"])
@login_required
def edit_sponsor(slug: str, sponsor_id: int):
    event = organised_event(slug)
    sponsor = _own(Sponsor, event, sponsor_id)
    if request.method == "GET":
        return _sponsor_page(event, sponsor)
    form = SponsorForm()
    saved, status = _save_sponsor(event, sponsor, form)
    if saved is None:
        return _sponsor_page(event, sponsor, status, form=form)
    flash(_("The sponsor “%(name)s” is saved.", name=saved.name), "success")
    return redirect(url_for(".sponsors", slug=event.slug))


@bp.route("/<slug>/sponsors/<int:sponsor_id>/delete", methods=["POST"])
@login_required
def delete_sponsor(slug: str, sponsor_id: int):
    event = organised_event(slug)
    sponsor = _own(Sponsor, event, sponsor_id)
    name = sponsor.name
    _act(
        lambda: services.delete_sponsor(sponsor, actor=current_user, now=now()),
        _("The sponsor “%(name)s” is deleted.", name=name),
    )
    return redirect(url_for(".sponsors", slug=event.slug))


@bp.route("/<slug>/sponsors/<int:sponsor_id>/members", methods=["POST"])
@login_required
def add_member(slug: str, sponsor_id: int):
    """Adds a person who logs in for the sponsor. A new account's password is shown on this
    response only (never flashed: the session cookie is signed, not secret)."""
    event = organised_event(slug)
    sponsor = _own(Sponsor, event, sponsor_id)
    form = MemberForm(prefix="member")
    added, status = _save(
        form,
        lambda: services.add_sponsor_member(
            sponsor,
            actor=current_user,
            now=now(),
            email=(form.email.data or "").strip(),
            name=(form.name.data or "").strip(),
        ),
    )
    if added is None:
        return _sponsor_page(event, sponsor, status, member_form=form)
    user, password = added
    return _sponsor_page(event, sponsor, added_user=user, new_password=password)


@bp.route("/<slug>/sponsors/<int:sponsor_id>/members/<int:member_id>/remove", methods=["POST"])
@login_required
def remove_member(slug: str, sponsor_id: int, member_id: int):
    event = organised_event(slug)
    sponsor = _own(Sponsor, event, sponsor_id)
    user = _member(sponsor, member_id)
    name = user.name or user.email
    _act(
        lambda: services.remove_sponsor_member(sponsor, user, actor=current_user, now=now()),
        _("%(name)s no longer logs in for %(sponsor)s.", name=name, sponsor=sponsor.name),
    )
    return redirect(url_for(".edit_sponsor", slug=event.slug, sponsor_id=sponsor.id))


# --- email texts, copy, audit ---------------------------------------------------------------


EmailTextsForm = email_texts_form(tuple(services.EMAIL_TEXT_KINDS))


@bp.route("/<slug>/emails", methods=["GET", "POST"])
@login_required
def email_texts(slug: str):
    event = organised_event(slug)
    data = None
    if request.method == "GET":
        data = {}
        for kind in services.EMAIL_TEXT_KINDS:
            fill_pair(data, kind, (event.email_texts or {}).get(kind))
    form = EmailTextsForm(data=data)
    status = 200
    if form.is_submitted():
        texts = {
            kind: {lang: form[f"{kind}_{lang}"].data or "" for lang in ("nb", "en")}
            for kind in services.EMAIL_TEXT_KINDS
        }
        saved, status = _save(
            form, lambda: services.set_email_texts(event, actor=current_user, now=now(), texts=texts)
        )
        if saved is not None:
            flash(_("The email texts are saved."), "success")
            return redirect(url_for(".email_texts", slug=event.slug))
    kinds = [(kind, *EMAIL_KINDS.get(kind, (kind, ""))) for kind in services.EMAIL_TEXT_KINDS]
    return _render("emails.html", event, status, form=form, kinds=kinds)


@bp.route("/<slug>/copy", methods=["GET", "POST"])
@login_required
def copy_event(slug: str):
    event = organised_event(slug)
    tz = ZoneInfo(event.timezone)
    data = None
    if request.method == "GET":
        data = {"starts_at": to_local(event.starts_at, tz)}
        fill_pair(data, "title", event.title)
    form = CopyForm(data=data)
    status = 200
    if form.is_submitted():
        copy, status = _save(
            form,
            lambda: services.copy_event(
                event,
                actor=current_user,
                now=now(),
                slug=(form.slug.data or "").strip(),
                starts_at=to_utc(form.starts_at.data, tz),
                title=pair(form, "title") or None,
            ),
            aliases=LOCALISED,
        )
        if copy is not None:
            flash(
                _(
                    "“%(name)s” is a copy of “%(source)s”, as a draft. Check it, then publish it.",
                    name=copy.name,
                    source=event.name,
                ),
                "success",
            )
            return redirect(url_for(".edit_event", slug=copy.slug))
    return _render("copy.html", event, status, form=form)


_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?[+-]\d\d:\d\d")


def _readable(value):
    """An audit value as the organiser reads it: times in the app's timezone, texts and
    options as "nb: …; en: …", lists joined."""
    if isinstance(value, str) and _ISO_TIME.fullmatch(value):
        return when(datetime.fromisoformat(value), "short")
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_readable(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(f"({_readable(v)})" if isinstance(v, dict) else str(_readable(v)) for v in value)
    return value


def _changes(entry) -> list[tuple[str, object, object]]:
    """(field, before, after) for each field the entry names, in field order."""
    before, after = entry.before or {}, entry.after or {}
    keys = sorted(before.keys() | after.keys())
    return [(k, _readable(before.get(k)), _readable(after.get(k))) for k in keys]


@bp.route("/<slug>/audit")
@login_required
def audit(slug: str):
    event = organised_event(slug)
    entries = entries_of(event.id)
    return _render("audit.html", event, entries=[(e, _changes(e)) for e in entries])
