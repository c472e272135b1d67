"""The organiser's exports page, the downloads it links to, and the files prepared in the
background (a job per file, its progress as JSON for the page to poll, its download, a retry).

Every route needs a login (else a redirect to the login page) and the organiser role for the
event (403 otherwise); unknown events are 404, and so are unknown exports and formats and
another event's jobs."""

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, url_for
from flask_babel import format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField

from eventreg.admin.views import organised_event
from eventreg.core.clock import now
from eventreg.core.errors import Conflict, NotFound, ValidationError
from eventreg.core.i18n import current_language
from eventreg.exports import formats, jobs, worker
from eventreg.exports.models import ExportJob, ExportStatus
from eventreg.exports.services import EXPORTS, count_rows, export_file, export_filename
from eventreg.extensions import db

bp = Blueprint("exports", __name__, url_prefix="/manage/events/<slug>/exports")


@bp.record_once
def _init_worker(state) -> None:
    worker.init_worker(state.app)


# What the page says of each export, in the order it lists them.
DESCRIPTIONS = {
    "attendees": (
        _l("Attendees"),
        _l(
            "One row per ticket: order and its status, name, email, language, ticket type, price "
            "and VAT, workshops, every question as a column of its own, sponsor consent, check-in "
            "lists and first check-in, when they registered, and whether the ticket was cancelled "
            "or refunded."
        ),
    ),
    "orders": (
        _l("Orders"),
        _l(
            "One row per order: status, payment method, buyer, total, VAT, refunded amount, when it "
            "was created and paid, the invoice number and whether the invoice is paid, and the "
            "number of attendees."
        ),
    ),
    "answers": (
        _l("Answers"),
        _l(
            "One row per answer (attendee, order, question, answer): the long format pivot tables "
            "want. Questions asked once per order have no attendee."
        ),
    ),
    "checkins": (
        _l("Check-ins"),
        _l(
            "One row per scan: list, attendee, order, gate, staff member, when it was scanned, "
            "whether offline, when it was undone, and the conflicts offline gates produced."
        ),
    ),
}
MIMETYPES = formats.MIMETYPES
FORMAT_NAMES = {"csv": "CSV", "xlsx": "Excel (XLSX)"}
STATUS_TEXTS = {
    ExportStatus.QUEUED: _l("Waiting for the worker"),
    ExportStatus.RUNNING: _l("Being prepared"),
    ExportStatus.DONE: _l("Ready"),
    ExportStatus.FAILED: _l("Failed"),
}


class JobForm(FlaskForm):
    """Which export to prepare, in which format (start_job checks both)."""

    kind = HiddenField()
    fmt = StringField()


def _job_view(event, job: ExportJob, at) -> dict:
    """What the page shows of a job, in the organiser's language; also its JSON for the poller."""
    stalled = jobs.is_stalled(job, now=at)
    total = job.total or 0
    if stalled:
        status_text = _("No progress for 10 minutes: the worker has stopped. Try again.")
    elif job.status == ExportStatus.RUNNING and total and job.done >= total:
        status_text = _("Writing the file")
    else:
        status_text = str(STATUS_TEXTS[job.status])
    return {
        "id": job.id,
        "kind": job.kind,
        "title": str(DESCRIPTIONS[job.kind][0]) if job.kind in DESCRIPTIONS else job.kind,
        "format": FORMAT_NAMES.get(job.fmt, job.fmt),
        "status": job.status.value,
        "active": job.status in jobs.ACTIVE and not stalled,
        "done": job.done,
        "total": total,
        "percent": 100 if job.status == ExportStatus.DONE else (100 * job.done // total if total else 0),
        "progress_text": _(
            "%(done)s of %(total)s rows", done=format_number(job.done), total=format_number(total)
        ),
        "status_text": status_text,
        "error": job.error or "",
        "can_retry": jobs.can_retry(job, now=at),
        "filename": job.filename,
        "download_url": url_for("exports.download_job", slug=event.slug, job_id=job.id)
        if job.status == ExportStatus.DONE
        else None,
        "url": url_for("exports.job_status", slug=event.slug, job_id=job.id),
        "created_at": job.created_at,
    }


def _index(event, *, status: int = 200):
    at = now()
    return render_template(
        "exports/index.html",
        event=event,
        exports=[(kind, title, text) for kind, (title, text) in DESCRIPTIONS.items()],
        sizes=count_rows(event),
        timezone=event.timezone,
        formats=FORMAT_NAMES,
        jobs=[_job_view(event, job, at) for job in jobs.jobs_of(event, now=at)],
    ), status


@bp.route("/")
@login_required
def index(slug: str):
    return _index(organised_event(slug))


@bp.route("/jobs", methods=["POST"])
@login_required
def start_job(slug: str):
    """The button "Prepare in background": queues the job, hands it to the worker after the
    commit, and goes back to the page (422 for an unknown export or format)."""
    event = organised_event(slug)
    form = JobForm()  # the CSRF token is checked for every POST by CSRFProtect
    language = current_language()
    try:
        job = jobs.start_job(
            event,
            kind=form.kind.data or "",
            fmt=form.fmt.data or "",
            language=language,
            actor=current_user,
            now=now(),
        )
    except ValidationError as err:
        db.session.rollback()
        for messages in err.fields.values():
            for message in messages:
                flash(str(message), "error")
        return _index(event, status=422)
    job_id = job.id
    db.session.commit()
    worker.dispatch(job_id, language=language)
    return redirect(url_for("exports.index", slug=event.slug, _anchor=f"job-{job_id}"))


@bp.route("/jobs/<int:job_id>.json")
@login_required
def job_status(slug: str, job_id: int):
    """The job's progress, for the page to poll."""
    event = organised_event(slug)
    view = _job_view(event, jobs.get_job(event, job_id), now())
    view["created_at"] = view["created_at"].isoformat()
    response = jsonify(view)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/jobs/<int:job_id>/download")
@login_required
def download_job(slug: str, job_id: int):
    """The file a job made; 409 while it is not ready."""
    event = organised_event(slug)
    job = jobs.get_job(event, job_id)
    if job.status != ExportStatus.DONE:
        raise Conflict(_l("This file is not ready yet."), code="export_not_ready")
    return _file_response(job.content, job.fmt, job.filename)


@bp.route("/jobs/<int:job_id>/retry", methods=["POST"])
@login_required
def retry_job(slug: str, job_id: int):
    """Queues a failed job (or one a dead worker left) again."""
    event = organised_event(slug)
    job = jobs.get_job(event, job_id)  # the CSRF token is checked for every POST by CSRFProtect
    try:
        jobs.retry_job(job, actor=current_user, now=now())
    except Conflict as err:
        db.session.rollback()
        flash(str(err.message), "error")
        return redirect(url_for("exports.index", slug=event.slug, _anchor=f"job-{job_id}"))
    language = job.language
    db.session.commit()
    worker.dispatch(job_id, language=language)
    return redirect(url_for("exports.index", slug=event.slug, _anchor=f"job-{job_id}"))


def _file_response(data: bytes, fmt: str, filename: str) -> Response:
    response = Response(data, mimetype=MIMETYPES[fmt])
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    # Personal data: kept out of shared caches and off other sites' Referer headers.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.route("/<kind>.<fmt>")
@login_required
def download(slug: str, kind: str, fmt: str):
    """The export as a file named after the event, the export and today's date at the event."""
    event = organised_event(slug)
    if kind not in EXPORTS or fmt not in MIMETYPES:
        raise NotFound(_l("No such export."))
    table = EXPORTS[kind](event, lang=current_language())
    return _file_response(export_file(table, fmt), fmt, export_filename(event, kind, fmt, now=now()))
