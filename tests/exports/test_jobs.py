"""Exports prepared in the background: the job makes the same file as the direct download, its
progress is committed in steps that other connections see, a failure is recorded with its reason,
a job left by a dead worker can be tried again (and the dead worker, waking up, writes nothing),
old files are deleted, and the job runs in the app's thread and on a real Celery worker."""

import csv
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from kombu.exceptions import OperationalError
from openpyxl import load_workbook

from eventreg.audit.models import AuditEntry
from eventreg.core.errors import Conflict, ValidationError
from eventreg.events.models import Event
from eventreg.exports import jobs
from eventreg.exports.jobs import (
    can_retry,
    delete_old_jobs,
    get_job,
    is_stalled,
    jobs_of,
    retry_job,
    run_job,
    start_job,
)
from eventreg.exports.models import ExportJob, ExportStatus
from eventreg.exports.services import EXPORTS, export_file
from eventreg.extensions import db
from eventreg.tasks import delete_old_exports
from tests.exports.conftest import NAMES, staff_user
from tests.web.conftest import csrf_from

T0 = datetime(2027, 5, 30, 10, 0, tzinfo=UTC)
KINDS = list(EXPORTS)


def event_of(slug: str = "forum") -> Event:
    return db.session.scalar(sa.select(Event).where(Event.slug == slug))


def olav():
    return staff_user("olav@example.org")


def job_row(job_id: int) -> ExportJob:
    """The job as committed, read afresh."""
    db.session.expire_all()
    return db.session.get(ExportJob, job_id)


def queued(kind="attendees", fmt="csv", *, language="en", at=T0) -> int:
    job = start_job(event_of(), kind=kind, fmt=fmt, language=language, actor=olav(), now=at)
    db.session.commit()
    return job.id


def content_of(job_id: int) -> bytes:
    return db.session.scalar(sa.select(ExportJob.content).where(ExportJob.id == job_id))


def clock(*times):
    """A clock that gives `times` in turn, then keeps giving the last one."""
    left = list(times)
    return lambda: left.pop(0) if len(left) > 1 else left[0]


# --- the file ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_csv_job_makes_the_same_bytes_as_the_direct_export(ctx, forum, kind):
    job_id = queued(kind, "csv")
    assert run_job(job_id, now_fn=lambda: T0, step=2) == ExportStatus.DONE
    job = job_row(job_id)
    direct = export_file(EXPORTS[kind](event_of(), lang="en"), "csv")
    assert content_of(job_id) == direct
    assert job.filename == f"forum-{kind}-2027-05-30.csv"
    assert (job.status, job.done, job.total, job.error) == (ExportStatus.DONE, job.total, job.total, None)
    assert job.total == len(EXPORTS[kind](event_of(), lang="en").rows) > 0
    assert job.finished_at == T0


def test_an_xlsx_job_makes_a_workbook_with_the_rows_of_the_export(ctx, forum):
    job_id = queued("attendees", "xlsx")
    assert run_job(job_id, now_fn=lambda: T0) == ExportStatus.DONE
    sheet = load_workbook(io.BytesIO(content_of(job_id))).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    table = EXPORTS["attendees"](event_of(), lang="en")
    assert sheet.title == "Attendees"
    assert rows[0] == table.header
    assert len(rows) == len(table.rows) + 1
    assert [r[table.header.index("Name")] for r in rows[1:]] == [*NAMES, "=cmd|' /C calc'!A0"]
    assert job_row(job_id).filename == "forum-attendees-2027-05-30.xlsx"


def test_the_file_is_in_the_language_it_was_asked_in(ctx, forum):
    job_id = queued("attendees", "csv", language="nb")
    run_job(job_id, now_fn=lambda: T0)
    header = next(csv.reader(io.StringIO(content_of(job_id).decode("utf-8-sig")), delimiter=";"))
    assert "Navn" in header and "Name" not in header


# --- progress ------------------------------------------------------------------------------------


def test_progress_goes_up_in_steps_each_committed_for_other_connections(ctx, forum):
    job_id = queued("attendees", "csv")  # 5 attendees
    seen = []

    def look_from_elsewhere(_session):
        with db.engine.connect() as conn:
            row = conn.execute(
                sa.select(ExportJob.status, ExportJob.done, ExportJob.total).where(ExportJob.id == job_id)
            ).one()
            seen.append((ExportStatus(row.status), row.done, row.total))

    session = db.session()
    sa.event.listen(session, "after_commit", look_from_elsewhere)
    try:
        run_job(job_id, now_fn=lambda: T0, step=2)
    finally:
        sa.event.remove(session, "after_commit", look_from_elsewhere)
    running = ExportStatus.RUNNING
    assert seen == [
        (running, 0, 5),  # claimed
        (running, 0, 5),  # the table is built
        (running, 2, 5),
        (running, 4, 5),
        (running, 5, 5),
        (ExportStatus.DONE, 5, 5),
    ]


def test_each_progress_report_is_a_sign_of_life(ctx, forum):
    job_id = queued()
    times = [T0 + timedelta(seconds=s) for s in range(20)]
    run_job(job_id, now_fn=clock(*times), step=1)
    # Claim, table built, 5 rows, file name and the end: the last one is the finishing time.
    assert job_row(job_id).finished_at > T0 + timedelta(seconds=5)


# --- failing, stalling, retrying -----------------------------------------------------------------


def test_a_failing_export_is_recorded_with_its_reason_and_can_be_tried_again(ctx, forum, monkeypatch):
    job_id = queued("attendees", "xlsx")

    def breaks_half_way(table, fmt, *, progress, every):
        progress(2)
        raise OSError("No space left on device")

    monkeypatch.setattr(jobs, "export_file", breaks_half_way)
    assert run_job(job_id, now_fn=lambda: T0) == ExportStatus.FAILED
    job = job_row(job_id)
    assert job.status == ExportStatus.FAILED and job.done == 2  # the bar stops where it broke
    assert job.error == (
        "The file could not be made (OSError: No space left on device). Try again; if it fails "
        "again, tell the administrator."
    )
    assert content_of(job_id) is None and can_retry(job, now=T0)

    monkeypatch.undo()
    retry_job(job, actor=olav(), now=T0 + timedelta(minutes=1))
    db.session.commit()
    job = job_row(job_id)
    assert (job.status, job.done, job.error) == (ExportStatus.QUEUED, 0, None)
    assert run_job(job_id, now_fn=lambda: T0 + timedelta(minutes=2)) == ExportStatus.DONE
    assert load_workbook(io.BytesIO(content_of(job_id))).active.max_row == 6


def test_an_export_that_breaks_before_the_first_row_fails_too(ctx, forum, monkeypatch):
    job_id = queued()
    monkeypatch.setitem(EXPORTS, "attendees", lambda event, lang: 1 / 0)
    assert run_job(job_id, now_fn=lambda: T0) == ExportStatus.FAILED
    job = job_row(job_id)
    assert "(ZeroDivisionError: division by zero)" in job.error
    assert (job.done, job.finished_at) == (0, T0)


def test_a_running_job_cannot_be_retried_until_ten_minutes_without_progress(ctx, forum):
    job_id = queued()
    db.session.execute(
        sa.update(ExportJob)
        .where(ExportJob.id == job_id)
        .values(status=ExportStatus.RUNNING, done=3, finished_at=T0)  # a worker died here
    )
    db.session.commit()
    job = job_row(job_id)
    almost = T0 + timedelta(minutes=9, seconds=59)
    assert not is_stalled(job, now=almost) and not can_retry(job, now=almost)
    with pytest.raises(Conflict) as err:
        retry_job(job, actor=olav(), now=almost)
    assert err.value.code == "export_running"
    assert run_job(job_id, now_fn=lambda: almost) is None  # not queued: no other worker takes it

    later = T0 + timedelta(minutes=10)
    assert is_stalled(job, now=later) and can_retry(job, now=later)
    retry_job(job, actor=olav(), now=later)
    db.session.commit()
    assert run_job(job_id, now_fn=lambda: later) == ExportStatus.DONE
    assert job_row(job_id).done == 5


def test_a_queued_job_nobody_took_is_stalled_after_ten_minutes(ctx, forum):
    job = job_row(queued(at=T0))
    assert not is_stalled(job, now=T0 + timedelta(minutes=9))
    assert is_stalled(job, now=T0 + timedelta(minutes=10))


def test_a_worker_thought_dead_that_wakes_up_writes_nothing(ctx, app, forum, monkeypatch):
    job_id = queued()
    real_export_file = jobs.export_file
    later = T0 + timedelta(minutes=11)

    def slow_worker(table, fmt, *, progress, every):
        progress(1)
        # Meanwhile, in another request, the organiser retries the job (no progress for 11 minutes).
        with app.app_context():
            retry_job(db.session.get(ExportJob, job_id), actor=None, now=later)
            db.session.commit()
        return real_export_file(table, fmt, progress=progress, every=every)

    monkeypatch.setattr(jobs, "export_file", slow_worker)
    assert run_job(job_id, now_fn=lambda: T0, step=2) is None
    job = job_row(job_id)
    assert (job.status, job.done, job.finished_at) == (ExportStatus.QUEUED, 0, None)
    assert content_of(job_id) is None

    monkeypatch.undo()
    assert run_job(job_id, now_fn=lambda: later) == ExportStatus.DONE


def test_a_done_job_is_not_retried(ctx, forum):
    job_id = queued()
    run_job(job_id, now_fn=lambda: T0)
    with pytest.raises(Conflict) as err:
        retry_job(job_row(job_id), actor=olav(), now=T0 + timedelta(hours=1))
    assert err.value.code == "export_done"


def test_two_workers_handed_the_same_job_make_it_once(ctx, forum):
    job_id = queued()
    assert run_job(job_id, now_fn=lambda: T0) == ExportStatus.DONE
    assert run_job(job_id, now_fn=lambda: T0) is None
    assert run_job(987654, now_fn=lambda: T0) is None  # unknown (deleted) job


# --- asking for a job ----------------------------------------------------------------------------


def test_asking_twice_while_it_is_made_gives_the_same_job_and_one_audit_entry(ctx, forum):
    first = queued("orders", "xlsx")
    assert queued("orders", "xlsx", at=T0 + timedelta(seconds=1)) == first
    assert queued("orders", "csv") != first  # another format is another file
    assert queued("orders", "xlsx", language="nb") != first
    entries = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "export_job.create").order_by(AuditEntry.id)
    ).all()
    assert len(entries) == 3
    assert entries[0].after == {"kind": "orders", "fmt": "xlsx", "language": "en"}
    assert entries[0].actor_name == "olav@example.org" and entries[0].object_id == first

    run_job(first, now_fn=lambda: T0)
    assert queued("orders", "xlsx", at=T0 + timedelta(minutes=1)) != first  # a new file once done


def test_the_job_knows_its_size_before_it_starts(ctx, forum):
    job = job_row(queued("answers", "csv"))
    assert (job.status, job.done, job.total) == (ExportStatus.QUEUED, 0, 10)
    assert len(job.token) >= 40


@pytest.mark.parametrize(
    "kind, fmt, language, field",
    [
        ("guests", "csv", "en", "kind"),
        ("attendees", "pdf", "en", "fmt"),
        ("attendees", "csv", "de", "language"),
    ],
)
def test_unknown_exports_formats_and_languages_are_refused(ctx, forum, kind, fmt, language, field):
    with pytest.raises(ValidationError) as err:
        start_job(event_of(), kind=kind, fmt=fmt, language=language, actor=olav(), now=T0)
    assert list(err.value.fields) == [field]
    assert db.session.scalar(sa.select(sa.func.count(ExportJob.id))) == 0


def test_another_events_job_is_not_found(ctx, forum):
    job_id = queued()
    assert get_job(event_of(), job_id).id == job_id
    with pytest.raises(Exception) as err:
        get_job(event_of("other"), job_id)
    assert err.value.status == 404


# --- a week later --------------------------------------------------------------------------------


def test_files_are_deleted_after_a_week(ctx, forum):
    old, recent = queued("orders", at=T0), queued("answers", at=T0 + timedelta(days=2))
    run_job(old, now_fn=lambda: T0)
    week = T0 + timedelta(days=7)
    assert [j.id for j in jobs_of(event_of(), now=week - timedelta(seconds=1))] == [recent, old]
    assert [j.id for j in jobs_of(event_of(), now=week)] == [recent]
    assert delete_old_jobs(now=week - timedelta(seconds=1)) == 0
    assert delete_old_jobs(now=week) == 1
    db.session.commit()
    assert db.session.scalars(sa.select(ExportJob.id)).all() == [recent]


def test_the_beat_job_deletes_old_files(app, ctx, forum, monkeypatch):
    keep = queued("orders", at=datetime.now(UTC))
    queued(at=datetime(2020, 1, 1, tzinfo=UTC))
    schedule = app.extensions["celery"].conf.beat_schedule["delete-old-exports"]
    assert schedule["task"] == "eventreg.delete_old_exports" and schedule["schedule"] <= 24 * 3600
    assert delete_old_exports() == 1
    assert db.session.scalars(sa.select(ExportJob.id)).all() == [keep]


def test_asking_for_a_new_file_deletes_the_events_old_ones(ctx, forum):
    queued("attendees", at=T0)
    queued("orders", at=T0 + timedelta(days=8))
    assert db.session.scalars(sa.select(ExportJob.kind)).all() == ["orders"]


# --- the workers ---------------------------------------------------------------------------------


def test_the_cli_makes_waiting_jobs_and_deletes_old_files(app, ctx, forum):
    """EXPORT_WORKER=manual, e.g. with `flask exports run` in cron."""
    first, second = queued("orders"), queued("answers")
    queued("checkins", at=datetime(2020, 1, 1, tzinfo=UTC))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["exports", "run"])
    assert result.exit_code == 0 and "3 exports made" in result.output, result.output
    assert [job_row(i).status for i in (first, second)] == [ExportStatus.DONE] * 2
    assert "0 exports made" in runner.invoke(args=["exports", "run"]).output
    result = runner.invoke(args=["exports", "delete-old"])
    assert result.exit_code == 0 and "1 old export files deleted" in result.output
    assert db.session.scalar(sa.select(sa.func.count(ExportJob.id))) == 2


def logged_in(client, email="olav@example.org"):
    page = client.get("/login")
    client.post(
        "/login",
        data={
            "email": email,
            "password": "secret-pw-kaffe",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    client.post(
        "/lang/en", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True)), "next": "/"}
    )
    return client


def prepare_and_wait(client, kind="attendees", fmt="csv", timeout=60) -> dict:
    """Asks for a file as the page does, then polls its JSON as the page does until it is ready."""
    page = client.get("/manage/events/forum/exports/").get_data(as_text=True)
    r = client.post(
        "/manage/events/forum/exports/jobs", data={"csrf_token": csrf_from(page), "kind": kind, "fmt": fmt}
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    job_id = int(r.headers["Location"].rsplit("#job-", 1)[1])
    deadline = time.monotonic() + timeout
    while True:
        state = client.get(f"/manage/events/forum/exports/jobs/{job_id}.json").get_json()
        if not state["active"] or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


def test_the_app_thread_makes_the_file_after_the_commit(second_app, forum):
    thread_app = second_app(EXPORT_WORKER="thread", MAIL_WORKER="manual")
    worker = thread_app.extensions["export_worker"]
    try:
        client = logged_in(thread_app.test_client())
        state = prepare_and_wait(client)
        assert state["status"] == "done", state
        job_file = client.get(state["download_url"])
        direct = client.get("/manage/events/forum/exports/attendees.csv")
        assert job_file.data == direct.data
        assert job_file.headers["Content-Disposition"] == direct.headers["Content-Disposition"]
    finally:
        worker.stop()


def test_exports_follow_the_mail_worker_unless_told_otherwise(second_app):
    assert second_app(MAIL_WORKER="celery").config["EXPORT_WORKER"] == "celery"
    assert second_app(MAIL_WORKER="thread", EXPORT_WORKER="manual").config["EXPORT_WORKER"] == "manual"


@pytest.mark.slow
def test_a_celery_worker_on_redis_makes_the_file_end_to_end(second_app, database_url, forum):
    from tests.registration.test_jobs import start_celery_worker

    worker = start_celery_worker(database_url, EXPORT_WORKER="celery")
    try:
        celery_app = second_app(EXPORT_WORKER="celery", MAIL_WORKER="manual")
        client = logged_in(celery_app.test_client())
        state = prepare_and_wait(client, "orders", "xlsx", timeout=90)
        if state["status"] == "done":
            sheet = load_workbook(io.BytesIO(client.get(state["download_url"]).data)).active
            direct = load_workbook(
                io.BytesIO(client.get("/manage/events/forum/exports/orders.xlsx").data)
            ).active
    finally:
        worker.terminate()
        _, err = worker.communicate(timeout=30)
    assert state["status"] == "done", (state, err.decode()[-2000:])
    assert [[c.value for c in r] for r in sheet.iter_rows()] == [
        [c.value for c in r] for r in direct.iter_rows()
    ]


def test_an_unreachable_broker_fails_the_job_instead_of_leaving_it_waiting(
    second_app,
    forum,
    monkeypatch,
):
    class Unreachable:
        def apply_async(self, *args, **kwargs):
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("eventreg.tasks.run_export", Unreachable())
    celery_app = second_app(EXPORT_WORKER="celery", MAIL_WORKER="manual")
    state = prepare_and_wait(logged_in(celery_app.test_client()), timeout=0)
    assert state["status"] == "failed" and state["can_retry"] and not state["active"]
    assert state["error"] == "The background worker could not be reached. Try again in a minute."
