"""Who makes the exports prepared in the background (EXPORT_WORKER, by default as MAIL_WORKER):

- "thread": one thread in each app process takes the jobs in turn (the embedded default); it
  also deletes files older than a week, every hour.
- "celery": the task eventreg.run_export on a Celery worker (production); beat deletes old files.
- "manual": nothing runs by itself: `flask --app app exports run` (from cron) makes the waiting
  jobs, `flask --app app exports delete-old` deletes old files; tests call jobs.run_job.

A job is handed over after the commit that created it. Handing it over twice is harmless: the
first worker to claim it makes it, the other finds it taken."""

import logging
import queue
import threading

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from eventreg.core.clock import now
from eventreg.extensions import db

log = logging.getLogger(__name__)

CLEAN_EVERY = 3600.0  # seconds between two deletions of old files by the thread


exports_cli = AppGroup("exports", help="Exports prepared in the background.")


@exports_cli.command("run")
def run_command() -> None:
    """Makes every export waiting for a worker."""
    from eventreg.exports.jobs import run_queued

    click.echo(f"{run_queued(now_fn=now)} exports made")


@exports_cli.command("delete-old")
def delete_old_command() -> None:
    """Deletes the export files older than a week."""
    from eventreg.exports.jobs import delete_old_jobs

    deleted = delete_old_jobs(now=now())
    db.session.commit()
    click.echo(f"{deleted} old export files deleted")


def init_worker(app: Flask) -> None:
    if "exports" not in app.cli.commands:
        app.cli.add_command(exports_cli)
    if app.config["EXPORT_WORKER"] == "thread" and "export_worker" not in app.extensions:
        worker = ExportThread(app)
        app.extensions["export_worker"] = worker
        # Started by the first request, so old files are deleted even if nobody exports.
        app.before_request(worker.ensure_started)


def dispatch(job_id: int, *, language: str) -> None:
    """Hands a committed job to the worker. If the Celery broker cannot be reached the job is
    marked failed at once (the page offers to try again) rather than left waiting."""
    mode = current_app.config["EXPORT_WORKER"]
    if mode == "thread":
        current_app.extensions["export_worker"].submit(job_id)
    elif mode == "celery":
        from eventreg.tasks import run_export

        try:
            run_export.apply_async(args=[job_id], retry=False)
        except Exception:  # noqa: BLE001 — any broker trouble: say so instead of waiting forever
            log.warning("could not reach the Celery broker for export job %s", job_id, exc_info=True)
            from eventreg.exports.jobs import fail_job

            with force_locale(language):
                message = str(_l("The background worker could not be reached. Try again in a minute."))
            fail_job(job_id, message, now=now())


class ExportThread:
    """A daemon thread that runs the jobs it is handed, one at a time, in the app process."""

    def __init__(self, app: Flask):
        self.app = app
        self._jobs: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="export-worker", daemon=True)
                    self._thread.start()

    def submit(self, job_id: int) -> None:
        self.ensure_started()
        self._jobs.put(job_id)

    def stop(self, timeout: float = 30) -> None:
        """Finishes the jobs handed over so far and ends the thread (for shutdown and tests)."""
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        from eventreg.exports.jobs import delete_old_jobs, run_job

        self._clean(delete_old_jobs)
        while True:
            try:
                job_id = self._jobs.get(timeout=CLEAN_EVERY)
            except queue.Empty:
                self._clean(delete_old_jobs)
                continue
            if job_id is None:
                return
            with self.app.app_context():
                try:
                    run_job(job_id, now_fn=now)
                except Exception:  # noqa: BLE001 — keep the thread alive for the next job
                    log.exception("export job %s could not be run", job_id)
                finally:
                    db.session.remove()

    def _clean(self, delete_old_jobs) -> None:
        with self.app.app_context():
            try:
                deleted = delete_old_jobs(now=now())
                db.session.commit()
                if deleted:
                    log.info("deleted %d export files older than a week", deleted)
            except Exception:  # noqa: BLE001 — try again in an hour
                log.exception("deleting old export files failed")
            finally:
                db.session.remove()
