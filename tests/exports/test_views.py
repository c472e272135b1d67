"""The exports page and the downloads: what the files look like to Excel and openpyxl, the files
prepared in the background (progress, download, failure, retry), and who may have them."""

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import url_for
from openpyxl import load_workbook

from eventreg.core.clock import now
from eventreg.events.models import Event
from eventreg.exports.jobs import run_job, start_job
from eventreg.exports.models import ExportJob, ExportStatus
from eventreg.exports.services import EXPORTS
from eventreg.extensions import db
from tests.exports.conftest import INJECTIONS, NAMES
from tests.web.conftest import csrf_from, text

BASE = "/manage/events/forum/exports"
KINDS = ["attendees", "orders", "answers", "checkins"]
FORMATS = ["csv", "xlsx"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def olav(english, forum, login):
    login("olav@example.org")
    return english


@pytest.fixture
def late_evening(monkeypatch):
    """23:30 UTC on 25 November is already the 26th in Oslo."""
    monkeypatch.setattr("eventreg.exports.views.now", lambda: datetime(2026, 11, 25, 23, 30, tzinfo=UTC))


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline=""), delimiter=";"))


def read_xlsx(response):
    return load_workbook(io.BytesIO(response.data)).active


def column(rows, title: str) -> list:
    i = list(rows[0]).index(title)
    return [r[i] for r in rows[1:]]


def test_the_page_lists_every_export_with_both_formats_and_the_hint(olav):
    page = olav.get(f"{BASE}/")
    assert page.status_code == 200
    html = text(page)
    for kind in KINDS:
        for fmt in FORMATS:
            assert f'href="{BASE}/{kind}.{fmt}"' in html
    assert "semicolons" in html and "decimal commas" in html and "Europe/Oslo" in html
    # Rows per export: 5 attendees, 3 orders, 10 answers, 4 scans.
    for kind, n in zip(KINDS, [5, 3, 10, 4], strict=True):
        card = html.split(f'data-kind="{kind}"')[1].split("</li>")[0]
        assert f"({n} rows)" in card


def test_the_organisers_event_page_links_to_the_exports(olav):
    assert f'href="{BASE}/"' in text(olav.get("/manage/events/forum/"))


def test_attendees_csv_for_norwegian_excel(olav, late_evening):
    r = olav.get(f"{BASE}/attendees.csv")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert r.headers["Content-Disposition"] == "attachment; filename=forum-attendees-2026-11-26.csv"
    assert r.headers["Cache-Control"] == "private, no-store"
    assert r.data.startswith(b"\xef\xbb\xbf")
    rows = read_csv(r)
    assert len({len(row) for row in rows}) == 1
    assert column(rows, "Name") == [*NAMES, "'=cmd|' /C calc'!A0"]
    assert column(rows, "Organisation")[:3] == [
        "'" + v for v in (INJECTIONS[0], INJECTIONS[2], INJECTIONS[3])
    ]
    assert column(rows, "Reference")[0] == "'" + INJECTIONS[1]
    assert column(rows, "Price paid (kr)")[0] == "1234,50"
    assert column(rows, "VAT (kr)")[0] == "246,90"
    assert column(rows, "Registered at")[0] == "2027-05-10 14:00"
    assert column(rows, "First check-in")[0] == "2027-05-27 08:30"
    assert column(rows, "Cancelled or refunded") == [
        "",
        "Ticket cancelled or refunded",
        "",
        "",
        "Order cancelled",
    ]


def test_attendees_xlsx(olav, late_evening):
    r = olav.get(f"{BASE}/attendees.xlsx")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == XLSX
    assert r.headers["Content-Disposition"] == "attachment; filename=forum-attendees-2026-11-26.xlsx"
    sheet = read_xlsx(r)
    assert sheet.title == "Attendees" and sheet.freeze_panes == "A2"
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert column(rows, "Name") == [*NAMES, "=cmd|' /C calc'!A0"]
    organisation = list(rows[0]).index("Organisation") + 1
    cell = sheet.cell(row=2, column=organisation)
    assert (cell.value, cell.data_type) == (INJECTIONS[0], "s")  # text, never a formula
    assert column(rows, "Price paid (kr)")[0] == 1234.5
    assert column(rows, "Registered at")[0] == datetime(2027, 5, 10, 14, 0)
    assert column(rows, "Cancelled or refunded")[4] == "Order cancelled"
    with zipfile.ZipFile(io.BytesIO(r.data)) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml


@pytest.mark.parametrize("kind", KINDS)
def test_every_export_in_both_formats_has_the_same_table(olav, kind):
    r_csv, r_xlsx = olav.get(f"{BASE}/{kind}.csv"), olav.get(f"{BASE}/{kind}.xlsx")
    assert (r_csv.status_code, r_xlsx.status_code) == (200, 200)
    disposition = r_xlsx.headers["Content-Disposition"]
    assert disposition.startswith(f"attachment; filename=forum-{kind}-") and disposition.endswith(".xlsx")
    rows_csv = read_csv(r_csv)
    rows_xlsx = [[c.value for c in row] for row in read_xlsx(r_xlsx).iter_rows()]
    assert rows_csv[0] == rows_xlsx[0]
    assert len(rows_csv) == len(rows_xlsx) > 1


def test_orders_csv_money_and_invoice(olav, forum):
    rows = read_csv(olav.get(f"{BASE}/orders.csv"))
    assert column(rows, "Order") == [forum.invoice_order, forum.card_order, forum.cancelled_order]
    assert column(rows, "Total (kr)") == ["3703,50", "1234,50", "0,00"]
    assert column(rows, "Refunded (kr)")[0] == "1234,50"
    assert column(rows, "Invoice number")[0] == "1"
    assert column(rows, "Buyer")[1] == NAMES[3]


def test_checkins_xlsx_times_in_oslo(olav):
    rows = [[c.value for c in row] for row in read_xlsx(olav.get(f"{BASE}/checkins.xlsx")).iter_rows()]
    assert column(rows, "Scanned at")[0] == datetime(2027, 5, 27, 8, 30)
    assert column(rows, "Offline") == ["No", "No", "Yes", "No"]


def test_norwegian_files_have_norwegian_headers(olav):
    page = olav.get("/")
    olav.post("/lang/nb", data={"csrf_token": csrf_from(text(page)), "next": "/"})
    rows = read_csv(olav.get(f"{BASE}/attendees.csv"))
    assert "Navn" in rows[0]
    assert read_xlsx(olav.get(f"{BASE}/attendees.xlsx")).title == "Deltakere"


def test_the_demo_conference_exports_in_every_format(app, demo, english, login):
    login("organiser@demo.example.org", "organiser-demo-fjord")
    for kind in KINDS:
        rows_csv = read_csv(english.get(f"/manage/events/esbf-2027/exports/{kind}.csv"))
        sheet = read_xlsx(english.get(f"/manage/events/esbf-2027/exports/{kind}.xlsx"))
        assert [c.value for c in sheet[1]] == rows_csv[0]
        assert sheet.max_row == len(rows_csv)
    header = read_csv(english.get("/manage/events/esbf-2027/exports/attendees.csv"))[0]
    assert {"Country", "Which language?", "Dietary needs"} <= set(header)


@pytest.mark.parametrize(
    "path", ["nothing.csv", "attendees.pdf", "attendees.csv.gz", "Attendees.csv", "attendees"]
)
def test_unknown_exports_and_formats_are_404(olav, path):
    assert olav.get(f"{BASE}/{path}").status_code == 404


# -- files prepared in the background ------------------------------------------------------------


def prepare(client, kind="attendees", fmt="csv"):
    page = text(client.get(f"{BASE}/"))
    return client.post(f"{BASE}/jobs", data={"csrf_token": csrf_from(page), "kind": kind, "fmt": fmt})


def job_id_of(response) -> int:
    assert response.status_code == 302, response.status_code
    return int(response.headers["Location"].rsplit("#job-", 1)[1])


def run(app, job_id: int, **kw):
    with app.app_context():
        status = run_job(job_id, **kw)
        db.session.remove()
    return status


@pytest.fixture
def other_events_job(app, forum):
    """A ready file of the other event (organised by other@)."""
    with app.app_context():
        event = db.session.scalar(sa.select(Event).where(Event.slug == "other"))
        job = start_job(event, kind="orders", fmt="csv", language="en", actor=None, now=now())
        db.session.commit()
        job_id = job.id
        run_job(job_id)
        db.session.remove()
    return job_id


def test_each_export_can_be_prepared_in_the_background(olav):
    html = text(olav.get(f"{BASE}/"))
    for kind in KINDS:
        card = html.split(f'data-kind="{kind}"')[1].split("</li>")[0]
        assert f'action="{BASE}/jobs"' in card and f'name="kind" value="{kind}"' in card
        assert '<option value="csv">CSV</option>' in card and "Prepare in background" in card
    assert "No files prepared in the background in the last week." in html
    assert 'src="/static/exports/jobs.js"' in html and "<script>" not in html


def test_a_prepared_file_shows_its_progress_then_its_download_link(app, olav):
    r = prepare(olav, "attendees", "csv")
    job_id = job_id_of(r)
    assert r.headers["Location"] == f"{BASE}/#job-{job_id}"
    html = text(olav.get(f"{BASE}/"))
    card = html.split(f'id="job-{job_id}"')[1].split("</li>")[0]
    assert 'data-active="true"' in card and "Attendees · CSV" in card
    assert "Waiting for the worker" in card and "0 of 5 rows" in card
    assert f'<progress id="job-{job_id}-progress" max="5" value="0"' in card
    state = olav.get(f"{BASE}/jobs/{job_id}.json").get_json()
    assert {k: state[k] for k in ("status", "active", "done", "total", "percent", "download_url")} == {
        "status": "queued",
        "active": True,
        "done": 0,
        "total": 5,
        "percent": 0,
        "download_url": None,
    }
    assert olav.get(f"{BASE}/jobs/{job_id}/download").status_code == 409

    assert run(app, job_id) == ExportStatus.DONE
    state = olav.get(f"{BASE}/jobs/{job_id}.json").get_json()
    assert (state["status"], state["active"], state["percent"]) == ("done", False, 100)
    assert state["progress_text"] == "5 of 5 rows" and state["status_text"] == "Ready"
    assert state["download_url"] == f"{BASE}/jobs/{job_id}/download"
    file = olav.get(state["download_url"])
    assert file.status_code == 200 and file.headers["Cache-Control"] == "private, no-store"
    assert file.data == olav.get(f"{BASE}/attendees.csv").data
    html = text(olav.get(f"{BASE}/"))
    card = html.split(f'id="job-{job_id}"')[1].split("</li>")[0]
    assert 'data-active="false"' in card and f'href="{BASE}/jobs/{job_id}/download"' in card
    assert 'class="job-download" hidden' not in card and 'class="job-retry" hidden' in card


def test_a_double_click_prepares_one_file(olav):
    first, second = job_id_of(prepare(olav, "orders", "xlsx")), job_id_of(prepare(olav, "orders", "xlsx"))
    assert first == second
    assert text(olav.get(f"{BASE}/")).count('class="card job"') == 1


def test_a_failed_file_shows_why_and_can_be_tried_again(app, olav, monkeypatch):
    job_id = job_id_of(prepare(olav, "checkins", "xlsx"))
    monkeypatch.setitem(EXPORTS, "checkins", lambda event, lang: 1 / 0)
    assert run(app, job_id) == ExportStatus.FAILED
    monkeypatch.undo()
    html = text(olav.get(f"{BASE}/"))
    card = html.split(f'id="job-{job_id}"')[1].split("</li>")[0]
    assert "Failed" in card and "ZeroDivisionError" in card
    assert 'class="job-retry" hidden' not in card
    state = olav.get(f"{BASE}/jobs/{job_id}.json").get_json()
    assert state["can_retry"] and state["status"] == "failed" and not state["active"]

    r = olav.post(f"{BASE}/jobs/{job_id}/retry", data={"csrf_token": csrf_from(html)})
    assert r.status_code == 302 and r.headers["Location"] == f"{BASE}/#job-{job_id}"
    assert olav.get(f"{BASE}/jobs/{job_id}.json").get_json()["status"] == "queued"
    assert run(app, job_id) == ExportStatus.DONE


def test_a_ready_file_is_not_prepared_again_by_retry(app, olav):
    job_id = job_id_of(prepare(olav))
    run(app, job_id)
    html = text(olav.get(f"{BASE}/"))
    r = olav.post(f"{BASE}/jobs/{job_id}/retry", data={"csrf_token": csrf_from(html)}, follow_redirects=True)
    assert r.status_code == 200
    assert "This file is ready: download it, or prepare a new one." in text(r)


def test_a_file_a_dead_worker_left_offers_to_try_again(app, olav, monkeypatch):
    job_id = job_id_of(prepare(olav))
    later = now() + timedelta(minutes=11)
    monkeypatch.setattr("eventreg.exports.views.now", lambda: later)
    state = olav.get(f"{BASE}/jobs/{job_id}.json").get_json()
    assert state["can_retry"] and not state["active"] and state["status"] == "queued"
    assert "the worker has stopped" in state["status_text"]


@pytest.mark.parametrize(
    "data", [{"kind": "guests", "fmt": "csv"}, {"kind": "attendees", "fmt": "pdf"}, {"fmt": "csv"}, {}]
)
def test_unknown_exports_and_formats_are_not_prepared(app, olav, data):
    page = text(olav.get(f"{BASE}/"))
    r = olav.post(f"{BASE}/jobs", data={"csrf_token": csrf_from(page), **data})
    assert r.status_code == 422
    assert "No such export." in text(r) or "Choose CSV or XLSX." in text(r)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ExportJob.id))) == 0


def test_another_events_file_is_404_everywhere(app, olav, other_events_job):
    page = text(olav.get(f"{BASE}/"))
    assert olav.get(f"{BASE}/jobs/{other_events_job}.json").status_code == 404
    assert olav.get(f"{BASE}/jobs/{other_events_job}/download").status_code == 404
    r = olav.post(f"{BASE}/jobs/{other_events_job}/retry", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 404
    assert f"job-{other_events_job}" not in page
    # ... and its own organiser gets it.
    olav.post("/logout", data={"csrf_token": csrf_from(page)})
    page = olav.get("/login").get_data(as_text=True)
    olav.post(
        "/login",
        data={"email": "other@example.org", "password": "secret-pw-kaffe", "csrf_token": csrf_from(page)},
    )
    assert olav.get(f"/manage/events/other/exports/jobs/{other_events_job}/download").status_code == 200


def test_a_post_without_the_csrf_token_is_refused(app, olav):
    assert olav.post(f"{BASE}/jobs", data={"kind": "attendees", "fmt": "csv"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ExportJob.id))) == 0


# -- who may -------------------------------------------------------------------------------------


def export_routes(app, slug: str = "forum", job_id: int = 1) -> list[tuple[str, str]]:
    """Every route of the blueprint as (method, URL), each export in each format: a new route is
    checked here too."""
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("exports."):
                continue
            methods = rule.methods - {"HEAD", "OPTIONS"}
            assert methods in ({"GET"}, {"POST"}), rule
            method = methods.pop()
            if "kind" in rule.arguments:
                routes += [
                    (method, url_for(rule.endpoint, slug=slug, kind=k, fmt=f)) for k in KINDS for f in FORMATS
                ]
            elif "job_id" in rule.arguments:
                routes.append((method, url_for(rule.endpoint, slug=slug, job_id=job_id)))
            else:
                routes.append((method, url_for(rule.endpoint, slug=slug)))
    assert len(routes) == 1 + len(KINDS) * len(FORMATS) + 4
    return routes


def call(client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    csrf = csrf_from(text(client.get("/")))
    return client.post(url, data={"csrf_token": csrf, "kind": "orders", "fmt": "csv"})


@pytest.fixture
def ready_job(app, forum) -> int:
    """A ready file of the forum."""
    with app.app_context():
        event = db.session.scalar(sa.select(Event).where(Event.slug == "forum"))
        job = start_job(event, kind="attendees", fmt="csv", language="en", actor=None, now=now())
        db.session.commit()
        job_id = job.id
        run_job(job_id)
        db.session.remove()
    return job_id


def test_anonymous_visitors_are_sent_to_the_login_page(app, english, ready_job):
    for method, url in export_routes(app, job_id=ready_job):
        r = call(english, method, url)
        assert r.status_code == 302, url
        assert r.headers["Location"].startswith("/login?next="), url


@pytest.mark.parametrize("who", ["door@example.org", "other@example.org"])
def test_check_in_staff_and_other_organisers_are_refused(app, english, ready_job, login, who):
    login(who)
    for method, url in export_routes(app, job_id=ready_job):
        r = call(english, method, url)
        assert r.status_code == 403, url
        assert "Åse" not in r.get_data(as_text=True)


def test_unknown_events_are_404(app, olav, ready_job):
    for method, url in export_routes(app, slug="no-such-event", job_id=ready_job):
        assert call(olav, method, url).status_code == 404, url


def test_the_organiser_may_use_everything(app, olav, ready_job):
    for method, url in export_routes(app, job_id=ready_job):
        r = call(olav, method, url)
        assert r.status_code == (302 if method == "POST" else 200), url
