"""The exports page and the downloads: what the files look like to Excel and openpyxl, and who
may have them."""

import csv
import io
import zipfile
from datetime import UTC, datetime

import pytest
from flask import url_for
from openpyxl import load_workbook

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
    login("organiser@demo.example.org", "organiser-demo")
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


# -- who may -------------------------------------------------------------------------------------


def export_urls(app, slug: str = "forum") -> list[str]:
    """Every URL of the blueprint (each export in each format): a new route is checked here too."""
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("exports."):
                continue
            assert rule.methods - {"HEAD", "OPTIONS"} == {"GET"}, rule
            if "kind" in rule.arguments:
                urls += [url_for(rule.endpoint, slug=slug, kind=k, fmt=f) for k in KINDS for f in FORMATS]
            else:
                urls.append(url_for(rule.endpoint, slug=slug))
    assert len(urls) == 1 + len(KINDS) * len(FORMATS)
    return urls


def test_anonymous_visitors_are_sent_to_the_login_page(app, english, forum):
    for url in export_urls(app):
        r = english.get(url)
        assert r.status_code == 302, url
        assert r.headers["Location"].startswith("/login?next="), url


@pytest.mark.parametrize("who", ["door@example.org", "other@example.org"])
def test_check_in_staff_and_other_organisers_are_refused(app, english, forum, login, who):
    login(who)
    for url in export_urls(app):
        r = english.get(url)
        assert r.status_code == 403, url
        assert "Åse" not in r.get_data(as_text=True)


def test_unknown_events_are_404(app, olav):
    for url in export_urls(app, slug="no-such-event"):
        assert olav.get(url).status_code == 404, url


def test_the_organiser_may_download_everything(app, olav):
    for url in export_urls(app):
        assert olav.get(url).status_code == 200, url
