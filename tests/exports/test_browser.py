"""The exports page in headless Chromium: the organiser prepares a file in the background, watches
the progress bar move while a worker makes it (the page polls the job's JSON), and downloads the
file from the link that appears, without reloading. Screenshots: test-artifacts/exports-*.png."""

import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

from eventreg.exports import jobs
from eventreg.exports.jobs import run_job
from eventreg.extensions import db

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.browser
def test_the_progress_bar_moves_and_the_download_link_appears(page, live_server, app, forum, monkeypatch):
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(f"{live_server}/login")
    page.locator(".lang-switch button[lang=en]").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#email").fill("olav@example.org")
    page.locator("#password").fill("secret-pw-kaffe")
    page.locator("form button[type=submit]").last.click()
    page.goto(f"{live_server}/manage/events/forum/exports/")

    card = page.locator("li.export[data-kind=attendees]")
    card.get_by_label("Prepare in background as").select_option("csv")
    card.get_by_role("button", name="Prepare in background").click()
    job = page.locator("li.job").first
    expect(job).to_contain_text("Waiting for the worker")
    expect(job.locator(".job-rows")).to_have_text("0 of 5 rows")
    expect(job.get_by_role("link", name="Download")).to_be_hidden()
    job_id = int(job.get_attribute("id").removeprefix("job-"))

    # A worker makes it in steps of 2 rows, and waits after the first step until the page has
    # shown it: the page is never reloaded, so only the poller can move the bar.
    first_step, go_on = threading.Event(), threading.Event()
    real_export_file = jobs.export_file

    def gated(table, fmt, *, progress, every):
        def step(done):
            progress(done)
            if done == 2:
                first_step.set()
                go_on.wait(30)

        return real_export_file(table, fmt, progress=step, every=every)

    monkeypatch.setattr(jobs, "export_file", gated)

    def worker():
        with app.app_context():
            run_job(job_id, step=2)
            db.session.remove()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        assert first_step.wait(30)
        bar = job.locator("progress")
        expect(bar).to_have_attribute("value", "2")
        expect(bar).to_have_attribute("max", "5")
        expect(job.locator(".job-rows")).to_have_text("2 of 5 rows")
        expect(job).to_contain_text("Being prepared")
        job.screenshot(path=ARTIFACTS / "exports-job-running.png")
    finally:
        go_on.set()
        thread.join(30)

    link = job.get_by_role("link", name="Download")
    expect(link).to_be_visible()
    expect(job.locator(".job-status-text")).to_have_text("Ready")
    expect(bar).to_be_hidden()
    page.screenshot(path=ARTIFACTS / "exports-job-ready.png", full_page=True)
    with page.expect_download() as download:
        link.click()
    saved = download.value
    assert saved.suggested_filename.startswith("forum-attendees-") and saved.suggested_filename.endswith(
        ".csv"
    )
    data = Path(saved.path()).read_bytes()
    direct = page.request.get(f"{live_server}/manage/events/forum/exports/attendees.csv").body()
    assert data == direct and "Åse Ødegård" in data.decode("utf-8-sig") and "陈伟" in data.decode("utf-8-sig")
