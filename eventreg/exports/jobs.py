"""Exports prepared in the background: the organiser asks for one, a worker makes it while the
page shows its progress, and the file waits in the database for a week.

A job moves queued → running → done | failed, and only a worker moves it on. Claiming a job is
one conditional UPDATE (queued → running), so two workers handed the same job (a double dispatch,
a retry racing a slow broker) run it once. While it runs, the worker writes `done` (rows written)
and commits every `step` rows, so the page, in other connections, sees the bar move.

There is no column for "last sign of life": while a job is queued or running, `finished_at` holds
the time its worker last reported progress (None until a worker claims it, when `created_at`
counts instead). A job whose last sign of life is STALL_AFTER old was left by a dead worker and may
be tried again. Every write of a worker is conditional on the sign of life it wrote last, so a
worker thought dead that wakes up after the job was retried finds its job taken and stops without
writing anything."""

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from eventreg.audit.services import record
from eventreg.core.clock import now as clock_now
from eventreg.core.errors import Conflict, NotFound, ValidationError
from eventreg.core.i18n import LANGUAGES
from eventreg.events.models import Event
from eventreg.exports import formats
from eventreg.exports.models import ExportJob, ExportStatus
from eventreg.exports.services import EXPORTS, count_rows, export_file, export_filename
from eventreg.extensions import db

log = logging.getLogger(__name__)

STALL_AFTER = timedelta(minutes=10)  # no progress for this long: the worker is gone
KEEP_FOR = timedelta(days=7)  # files (personal data) are deleted after a week
STEP_ROWS = 500  # rows between two progress commits
SHOWN_JOBS = 20  # the exports page lists the latest ones
ACTIVE = (ExportStatus.QUEUED, ExportStatus.RUNNING)


class _TakenOver(Exception):
    """The job was retried (or deleted) while this worker was still on it."""


def _last_sign_of_life():
    return sa.func.coalesce(ExportJob.finished_at, ExportJob.created_at)


def is_stalled(job: ExportJob, *, now: datetime) -> bool:
    """Queued or running, with no progress for STALL_AFTER: nobody is making it any more."""
    return job.status in ACTIVE and (job.finished_at or job.created_at) <= now - STALL_AFTER


def can_retry(job: ExportJob, *, now: datetime) -> bool:
    return job.status == ExportStatus.FAILED or is_stalled(job, now=now)


def start_job(event: Event, *, kind: str, fmt: str, language: str, actor, now: datetime) -> ExportJob:
    """Queues the export `kind` of the event in `fmt` (the caller commits, then dispatches it).
    Asking again for the same export while it is still being made gives the same job, so a
    double click makes one file. Deletes the event's files older than KEEP_FOR on the way.
    Raises ValidationError (fields kind, fmt, language) for an unknown export, format or language."""
    errors = {}
    if kind not in EXPORTS:
        errors["kind"] = [_l("No such export.")]
    if fmt not in formats.MIMETYPES:
        errors["fmt"] = [_l("Choose CSV or XLSX.")]
    if language not in LANGUAGES:
        errors["language"] = [_l("Choose a language.")]
    if errors:
        raise ValidationError(_l("This export cannot be prepared."), fields=errors)
    delete_old_jobs(now=now, event_id=event.id)
    same = db.session.scalars(
        sa.select(ExportJob)
        .where(
            ExportJob.event_id == event.id,
            ExportJob.kind == kind,
            ExportJob.fmt == fmt,
            ExportJob.language == language,
            ExportJob.user_id == getattr(actor, "id", None),
            ExportJob.status.in_(ACTIVE),
            _last_sign_of_life() > now - STALL_AFTER,
        )
        .order_by(ExportJob.id.desc())
    ).first()
    if same is not None:
        return same
    job = ExportJob(
        token=secrets.token_urlsafe(32),
        event_id=event.id,
        user_id=getattr(actor, "id", None),
        kind=kind,
        fmt=fmt,
        language=language,
        status=ExportStatus.QUEUED,
        done=0,
        total=count_rows(event)[kind],
        created_at=now,
    )
    db.session.add(job)
    db.session.flush()
    # Personal data leaving the system: who took which file, and when.
    record(
        "export_job.create",
        job,
        actor=actor,
        event_id=event.id,
        after={"kind": kind, "fmt": fmt, "language": language},
        now=now,
    )
    return job


def retry_job(job: ExportJob, *, actor, now: datetime) -> ExportJob:
    """Queues a failed job, or one a dead worker left, again from the start (the caller commits,
    then dispatches it). Raises Conflict while it is still being made, or when it is done."""
    if job.status == ExportStatus.DONE:
        raise Conflict(_l("This file is ready: download it, or prepare a new one."), code="export_done")
    if not can_retry(job, now=now):
        raise Conflict(_l("This file is still being prepared."), code="export_running")
    before = {"status": job.status.value, "error": job.error}
    job.status = ExportStatus.QUEUED
    job.done = 0
    job.error = None
    job.content = None
    job.finished_at = None  # a worker still on it finds its sign of life gone, and stops
    job.created_at = now  # its week starts again
    db.session.flush()
    record(
        "export_job.retry",
        job,
        actor=actor,
        event_id=job.event_id,
        before=before,
        after={"status": job.status.value, "error": None},
        now=now,
    )
    return job


def get_job(event: Event, job_id: int) -> ExportJob:
    """The event's job; NotFound for another event's (or an unknown) job."""
    job = db.session.scalar(
        sa.select(ExportJob).where(ExportJob.id == job_id, ExportJob.event_id == event.id)
    )
    if job is None:
        raise NotFound(_l("No such export."))
    return job


def jobs_of(event: Event, *, now: datetime, limit: int = SHOWN_JOBS) -> list[ExportJob]:
    """The event's latest jobs from the last KEEP_FOR, newest first (without their files)."""
    return list(
        db.session.scalars(
            sa.select(ExportJob)
            .where(ExportJob.event_id == event.id, ExportJob.created_at > now - KEEP_FOR)
            .order_by(ExportJob.created_at.desc(), ExportJob.id.desc())
            .limit(limit)
        )
    )


def delete_old_jobs(*, now: datetime, event_id: int | None = None) -> int:
    """Deletes the jobs (and their files) made more than KEEP_FOR ago, of one event or of all;
    returns how many. The caller commits."""
    where = [ExportJob.created_at <= now - KEEP_FOR]
    if event_id is not None:
        where.append(ExportJob.event_id == event_id)
    return db.session.execute(sa.delete(ExportJob).where(*where)).rowcount or 0


# --- the worker's side --------------------------------------------------------------------------


@dataclass
class _Claim:
    job_id: int
    alive_at: datetime  # the sign of life this worker wrote last; every write checks it


def _update(claim: _Claim, **values) -> None:
    """Writes to the job and commits, if the job is still this worker's; else raises _TakenOver."""
    changed = db.session.execute(
        sa.update(ExportJob)
        .where(
            ExportJob.id == claim.job_id,
            ExportJob.status == ExportStatus.RUNNING,
            ExportJob.finished_at == claim.alive_at,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not changed:
        raise _TakenOver


def run_job(
    job_id: int, *, now_fn: Callable[[], datetime] = clock_now, step: int = STEP_ROWS
) -> ExportStatus | None:
    """Makes the export of a queued job: claims it, builds the table, writes the file reporting
    the rows written every `step` rows (each report committed), and stores the file (done) or
    the reason it failed (failed). Commits; never raises for a failing export. Returns the status
    it left the job in, or None when there was nothing to do (unknown job, claimed by another
    worker, or taken over by a retry while this worker was on it)."""
    claimed_at = now_fn()
    claimed = db.session.execute(
        sa.update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.status == ExportStatus.QUEUED)
        .values(status=ExportStatus.RUNNING, done=0, finished_at=claimed_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not claimed:
        return None
    claim = _Claim(job_id, claimed_at)
    job = db.session.get(ExportJob, job_id)
    kind, fmt, language = job.kind, job.fmt, job.language
    try:
        event = db.session.get(Event, job.event_id)
        table = EXPORTS[kind](event, lang=language)
        filename = export_filename(event, kind, fmt, now=now_fn())
        total = len(table.rows)

        def progress(done: int) -> None:
            at = now_fn()
            _update(claim, done=done, total=total, finished_at=at)
            claim.alive_at = at

        progress(0)
        content = export_file(table, fmt, progress=progress, every=max(step, 1))
        _update(
            claim,
            status=ExportStatus.DONE,
            done=total,
            content=content,
            filename=filename,
            error=None,
            finished_at=now_fn(),
        )
        return ExportStatus.DONE
    except _TakenOver:
        db.session.rollback()
        log.info("export job %s was taken over; this worker stops", job_id)
        return None
    except Exception as exc:  # noqa: BLE001 — whatever broke, the organiser must see that it failed
        db.session.rollback()
        log.exception("export job %s failed", job_id)
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")[:300]
        with force_locale(language):
            error = str(
                _l(
                    "The file could not be made (%(reason)s). Try again; if it fails again, "
                    "tell the administrator.",
                    reason=reason,
                )
            )
        try:
            _update(claim, status=ExportStatus.FAILED, error=error, finished_at=now_fn())
        except _TakenOver:
            db.session.rollback()
            return None
        return ExportStatus.FAILED


def run_queued(*, now_fn: Callable[[], datetime] = clock_now) -> int:
    """Makes every job waiting for a worker, oldest first; returns how many this call made
    (other workers may take some at the same time)."""
    waiting = db.session.scalars(
        sa.select(ExportJob.id).where(ExportJob.status == ExportStatus.QUEUED).order_by(ExportJob.id)
    ).all()
    db.session.commit()
    return sum(1 for job_id in waiting if run_job(job_id, now_fn=now_fn) is not None)


def fail_job(job_id: int, message: str, *, now: datetime) -> None:
    """Marks a queued job failed when no worker could be asked to make it (and commits)."""
    db.session.execute(
        sa.update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.status == ExportStatus.QUEUED)
        .values(status=ExportStatus.FAILED, error=message, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
