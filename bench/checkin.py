"""Check-in throughput: gates redeeming tickets through the API under gunicorn, and an offline
scanner syncing its scans.

Creates a fresh PostgreSQL database, migrates it, creates one published free event with
--attendees paid orders (one attendee each), check-in lists, a check-in staff user with a device
token, and the signed QR of every attendee. Then, against gunicorn:

  redeem      --clients processes redeem disjoint slices of the QRs on "Main entrance" over
              keep-alive connections (every scan a first admission: "ok"), then all again
              (every scan a repeat: "already_redeemed");
  baseline    as many psycopg processes run the minimal check-in transaction in plain SQL (lock
              the attendee row, read its admissions, insert the admission, commit) on a list of
              its own, per round;
  sync        one scanner uploads --attendees offline scans of "Day 2" in batches of --batch,
              then the same upload again (idempotent: nothing new may be recorded);

and checks in the database that every attendee was admitted exactly once per list. A third
target, the scanner page's offline verify time in a browser, is measured by `browser_rows()`,
added when the scanner page exists. See bench/README.md.

    .venv/bin/python bench/checkin.py --attendees 5000 --clients 16 --workers 3
"""

import argparse
import hashlib
import http.client
import json
import multiprocessing as mp
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from mail import cpu_model, machine_cpu_seconds
from rush import (
    create_database,
    drop_database,
    free_port,
    percentile_ms,
    postgres_cpu_seconds,
    wait_until_up,
    workers_cpu_seconds,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # spawned processes inherit sys.path
CTX = mp.get_context("spawn")  # clients start clean, without the parent's app and connections
SLUG = "checkin"
TARGETS = {"redeems_s": 300, "p99_ms": 100, "sync_s": 10.0, "browser_ms": 20}
GATE_TZ = ZoneInfo("Europe/Oslo")  # offline scanners send local time with its offset

# Names in several scripts, so the JSON answers and the package are not all ASCII.
NAMES = [
    "Åse Ødegård",
    "Kari Nordmann",
    "Máret Sárá Gaup",
    "Дмитрий Иванов",
    "Ελένη Παπαδοπούλου",
    "محمد الأحمد",
    "李小龙",
    "佐藤 花子",
    "Nguyễn Văn An",
    "श्रुति शर्मा",
]
# Paid orders of the free event, one attendee each (status paid: a free order is paid at once).
ORDERS = """
    INSERT INTO "order" (code, event_id, status, payment_method, buyer_name, buyer_email, buyer_language,
                         total_ore, manage_token, created_at, paid_at)
    SELECT :prefix || lpad(g::text, 7, '0'), :event, 'paid', 'free',
           (CAST(:names AS text[]))[1 + g % cardinality(CAST(:names AS text[]))] || ' ' || g,
           'guest' || g || '@example.org', CASE WHEN g % 2 = 0 THEN 'nb' ELSE 'en' END,
           0, md5(:prefix || g), now() - interval '30 days', now() - interval '30 days'
    FROM generate_series(1, :n) AS g
"""
ATTENDEES = """
    INSERT INTO attendee (order_id, event_id, ticket_type_id, position, name, email, language,
                          price_ore, vat_rate, manage_token)
    SELECT id, event_id, CASE WHEN id % 5 = 0 THEN :type2 ELSE :type1 END, 0, buyer_name, buyer_email,
           buyer_language, 0, 0, md5('attendee' || id)
    FROM "order" WHERE event_id = :event
"""
# A past event's admissions, so the checkin table is not empty when the bench starts. {names} and
# {values}: the other columns with a default in the model (see checkin_defaults).
PAST_CHECKINS = """
    INSERT INTO checkin (list_id, attendee_id, nonce, entry_no, scanned_at, recorded_at, gate{names})
    SELECT :list, id, md5('past' || id), 1, now() - interval '1 year', now() - interval '1 year',
           'Gate 1'{values}
    FROM attendee WHERE event_id = :event
"""
# The minimal transaction a check-in needs (baseline): lock the ticket, read its admissions,
# write the admission, commit.
LOCK_ATTENDEE = "SELECT ticket_version FROM attendee WHERE id = %s FOR UPDATE"
READ_ADMISSIONS = """
    SELECT entry_no, undone_at FROM checkin
    WHERE list_id = %s AND attendee_id = %s AND entry_no IS NOT NULL ORDER BY entry_no DESC
"""
INSERT_CHECKIN = """
    INSERT INTO checkin (list_id, attendee_id, nonce, entry_no, scanned_at, recorded_at, gate, user_id{names})
    VALUES (%(list)s, %(attendee)s, %(nonce)s, %(entry_no)s, %(now)s, %(now)s, 'Baseline', %(user)s{values})
"""
# Per list of the event: rows, counting admissions, people admitted, conflicts, doubled people.
LIST_STATE = """
    SELECT l.name,
           count(c.id),
           count(c.id) FILTER (WHERE c.entry_no IS NOT NULL AND c.undone_at IS NULL),
           count(DISTINCT c.attendee_id) FILTER (WHERE c.entry_no IS NOT NULL AND c.undone_at IS NULL),
           count(c.id) FILTER (WHERE c.conflict IS NOT NULL),
           (SELECT count(*) FROM (
                SELECT 1 FROM checkin d
                WHERE d.list_id = l.id AND d.entry_no IS NOT NULL AND d.undone_at IS NULL
                GROUP BY d.attendee_id HAVING count(*) > 1) AS doubled)
    FROM checkin_list l LEFT JOIN checkin c ON c.list_id = l.id
    WHERE l.event_id = :event
    GROUP BY l.id, l.name
"""


# --- setup ----------------------------------------------------------------------------------


def make_app(db_url: str):
    from eventreg import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": db_url, "DB_POOL_SIZE": 2, "MAIL_WORKER": "manual"})


def checkin_defaults() -> dict:
    """The checkin columns the raw INSERTs here do not name, with the model's scalar default (what
    the ORM writes for them): offline, conflict, ..."""
    from eventreg.checkin.models import Checkin

    named = {
        "id",
        "list_id",
        "attendee_id",
        "nonce",
        "entry_no",
        "scanned_at",
        "recorded_at",
        "gate",
        "user_id",
    }
    return {
        c.name: c.default.arg
        for c in Checkin.__table__.columns
        if c.name not in named and c.default is not None and c.default.is_scalar
    }


def with_defaults(sql: str, defaults: dict, style: str) -> str:
    """`sql` with the default columns added, as named parameters d_<column> (`style` "text": :name,
    "psycopg": %(name)s)."""
    marker = ":d_{}" if style == "text" else "%(d_{})s"
    return sql.format(
        names="".join(f", {name}" for name in defaults),
        values="".join(", " + marker.format(name) for name in defaults),
    )


def setup(db_url: str, n: int, baseline_rounds: int, *, history: int) -> dict:
    """Migrations; the event with `n` paid orders of one attendee each, its lists, the staff user
    and device token, every attendee's QR; a past event with `history` attendees, all checked in.
    Then ANALYZE. Returns what the rest of the bench needs."""
    import flask_migrate

    from eventreg.accounts.models import EventRoleKind
    from eventreg.accounts.services import create_user, grant_event_role, issue_device_token
    from eventreg.checkin.services import ListData, save_list
    from eventreg.events.models import Event, EventStatus, Organiser, Quota, TicketType
    from eventreg.extensions import db
    from eventreg.registration.models import Attendee
    from eventreg.tickets.services import signing_key, ticket_qr

    app = make_app(db_url)
    out: dict = {}
    with app.app_context():
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        organiser = Organiser(name="Bench")
        events = {}
        for slug, size in (("past", history), (SLUG, n)):
            quota = Quota(name="All seats", size=max(size, 1))
            event = Event(
                organiser=organiser,
                slug=slug,
                title={"nb": f"Innsjekk {slug}", "en": f"Check-in {slug}"},
                venue="Oslo Kongressenter",
                starts_at=datetime(2027, 5, 27, 7, 0, tzinfo=UTC),
                ends_at=datetime(2027, 5, 28, 15, 0, tzinfo=UTC),
                status=EventStatus.PUBLISHED,
                quotas=[quota],
                ticket_types=[
                    TicketType(
                        name={"nb": name_nb, "en": name_en},
                        price_ore=0,
                        vat_rate=0,
                        position=i,
                        quotas=[quota],
                    )
                    for i, (name_nb, name_en) in enumerate(
                        [("Deltaker", "Attendee"), ("Foredragsholder", "Speaker")]
                    )
                ],
            )
            db.session.add(event)
            db.session.flush()
            events[slug] = event
            types = {"type1": event.ticket_types[0].id, "type2": event.ticket_types[1].id}
            params = {"event": event.id, "n": size, "prefix": slug[0].upper(), "names": NAMES, **types}
            db.session.execute(sa.text(ORDERS), params)
            db.session.execute(sa.text(ATTENDEES), params)
        past_list = save_list(events["past"], ListData(name="Main entrance"))
        defaults = checkin_defaults()
        db.session.execute(
            sa.text(with_defaults(PAST_CHECKINS, defaults, "text")),
            {"list": past_list.id, "event": events["past"].id, **{f"d_{k}": v for k, v in defaults.items()}},
        )

        event = events[SLUG]
        lists = {
            name: save_list(event, ListData(name=name)).id
            for name in [
                "Main entrance",
                "Day 2",
                *(f"Baseline {i + 1}" for i in range(baseline_rounds)),
                "Profile",
                "Profile sync",
                "Browser",
            ]
        }
        staff = create_user("door@example.org", "Dørvakt Åsmund", "bench-password")
        grant_event_role(staff, event.id, EventRoleKind.CHECKIN)
        now = datetime.now(UTC)
        token = issue_device_token(staff, "Gate bench", expires_at=now + timedelta(days=1))
        signing_key(event, now=now)
        db.session.commit()

        attendees = db.session.scalars(
            sa.select(Attendee).where(Attendee.event_id == event.id).order_by(Attendee.id)
        ).all()
        start = time.perf_counter()
        qrs = [(a.id, ticket_qr(a, now=now)) for a in attendees]
        qr_seconds = time.perf_counter() - start
        db.session.commit()
        # Statistics, as autovacuum keeps them in production (it is off on some machines).
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        out = {
            "event_id": event.id,
            "lists": lists,
            "user_id": staff.id,
            "checkin_defaults": defaults,
            "token": token,
            "qrs": qrs,
            "qr_seconds": qr_seconds,
        }
        db.engine.dispose()
    return out


def list_state(db_url: str, event_id: int) -> dict[str, tuple]:
    """List name → (rows, counting admissions, people admitted, conflicts, people admitted twice)."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(LIST_STATE), {"event": event_id}).all()
    engine.dispose()
    return {name: tuple(rest) for name, *rest in rows}


# --- client processes -----------------------------------------------------------------------


def run_clients(target, per_client: list[tuple], on_release=None, timeout: float = 600) -> tuple[float, list]:
    """Starts one process of `target` per argument tuple, releases them together (calling
    `on_release` just before); returns (start time, their results). A client that fails stops the
    bench; none is left running."""
    barrier, results = CTX.Barrier(len(per_client) + 1), CTX.Queue()
    procs = [CTX.Process(target=target, args=(*args, barrier, results), daemon=True) for args in per_client]
    try:
        for p in procs:
            p.start()
        barrier.wait(timeout=120)  # all clients are ready (imported, connected)
        if on_release is not None:
            on_release()
        barrier.wait(timeout=120)  # go
        t0 = time.perf_counter()
        collected = []
        deadline = time.monotonic() + timeout
        while len(collected) < len(procs):  # before join: a full pipe would block the child
            try:
                kind, payload = results.get(timeout=1)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise SystemExit("the clients did not finish in time") from None
                if sum(p.exitcode not in (None, 0) for p in procs):
                    raise SystemExit("a client process died") from None
                continue
            if kind == "error":
                raise SystemExit(f"a client failed:\n{payload}")
            collected.append(payload)
        for p in procs:
            p.join(30)
        return t0, collected
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)


def redeem_client(port, path, token, gate, scans, barrier, results) -> None:
    """Redeems each (attendee id, QR) of `scans` in turn on one keep-alive connection; records
    (start, end, HTTP status, result, whether the answer names the right attendee)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        records = []
        barrier.wait(timeout=300)  # ready
        barrier.wait(timeout=300)  # go
        cpu_start = time.process_time()
        for attendee_id, qr in scans:
            body = json.dumps({"qr": qr, "gate": gate, "nonce": uuid.uuid4().hex}).encode()
            start = time.perf_counter()
            try:
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                status, data = response.status, response.read()
            except (OSError, http.client.HTTPException):
                conn.close()  # counted as status 0; the next request reconnects
                status, data = 0, b""
            end = time.perf_counter()
            result, right = "", False
            if data:
                try:
                    answer = json.loads(data)
                except ValueError:
                    answer = {}
                result = answer.get("result") or answer.get("code") or answer.get("error") or ""
                right = (answer.get("attendee") or {}).get("id") == attendee_id
            records.append((start, end, status, str(result), right))
        conn.close()
        results.put(("ok", (records, time.process_time() - cpu_start)))
    except BaseException:  # noqa: BLE001 — the parent reports it and stops
        results.put(("error", traceback.format_exc()))


def baseline_client(conninfo, list_id, user_id, defaults, attendee_ids, barrier, results) -> None:
    """The minimal check-in transaction in plain SQL, once per attendee of the slice."""
    try:
        import psycopg

        insert = with_defaults(INSERT_CHECKIN, defaults, "psycopg")
        params = {"list": list_id, "user": user_id, **{f"d_{k}": v for k, v in defaults.items()}}
        commits = []
        with psycopg.connect(conninfo) as conn:
            barrier.wait(timeout=300)  # ready
            barrier.wait(timeout=300)  # go
            for attendee_id in attendee_ids:
                conn.execute(LOCK_ATTENDEE, (attendee_id,))
                rows = conn.execute(READ_ADMISSIONS, (list_id, attendee_id)).fetchall()
                if not any(undone_at is None for _, undone_at in rows):
                    now = datetime.now(UTC)
                    entry_no = rows[0][0] + 1 if rows else 1
                    values = {
                        "attendee": attendee_id,
                        "nonce": uuid.uuid4().hex,
                        "entry_no": entry_no,
                        "now": now,
                    }
                    conn.execute(insert, {**params, **values})
                conn.commit()
                commits.append(time.perf_counter())
        results.put(("ok", commits))
    except BaseException:  # noqa: BLE001
        results.put(("error", traceback.format_exc()))


# --- the phases -----------------------------------------------------------------------------


def start_gunicorn(db_url: str, port: int, args, log_path: Path, access_path: Path):
    """As rush.py starts it, plus an access log of each request's method, path, status and time
    in the worker (from the request read to the response written, µs): the server's own latency,
    without the time a request waits for a free worker."""
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "app:app",
        f"--bind=127.0.0.1:{port}",
        f"--workers={args.workers}",
        f"--worker-class={args.worker_class}",
        f"--threads={args.threads}",
        "--log-level=warning",
        f"--error-logfile={log_path}",
        f"--access-logfile={access_path}",
        "--access-logformat=%(m)s %(U)s %(s)s %(D)s",
    ]
    # Every client runs on this machine, one address: per-address rate limits would stop them.
    env = {**os.environ, "DATABASE_URL": db_url, "DB_POOL_SIZE": str(args.pool_size), "RATE_LIMITS": "false"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env), cmd


def server_times(access_path: Path, path_end: str) -> list[float]:
    """Seconds in the worker of each request whose path ends with `path_end`, in log order."""
    out = []
    for line in access_path.read_text().splitlines():
        method, path, _, micros = line.split()
        if path.endswith(path_end):
            out.append(int(micros) / 1e6)
    return out


def cpu_now(master_pid: int) -> dict:
    return {
        "gunicorn workers": workers_cpu_seconds(master_pid),
        "PostgreSQL": postgres_cpu_seconds(),
        "machine": machine_cpu_seconds(),
    }


def cpu_since(before: dict, master_pid: int) -> dict:
    after = cpu_now(master_pid)
    return {k: after[k] - before[k] for k in before}


def redeem_pass(port: int, master_pid: int, setup_: dict, clients: int) -> dict:
    path = f"/api/v1/events/{SLUG}/checkin-lists/{setup_['lists']['Main entrance']}/redeem"
    qrs = setup_["qrs"]
    per_client = [(port, path, setup_["token"], f"Gate {k + 1}", qrs[k::clients]) for k in range(clients)]
    before = {}
    t0, collected = run_clients(redeem_client, per_client, lambda: before.update(cpu_now(master_pid)))
    cpu = cpu_since(before, master_pid)
    records = [r for client_records, _ in collected for r in client_records]
    cpu["clients"] = sum(client_cpu for _, client_cpu in collected)
    wall = max(r[1] for r in records) - t0
    return {"records": records, "t0": t0, "wall": wall, "cpu": cpu}


def baseline_round(db_url: str, list_id: int, s: dict, clients: int) -> float:
    conninfo = sa.make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    attendee_ids = [attendee_id for attendee_id, _ in s["qrs"]]
    args = (conninfo, list_id, s["user_id"], s["checkin_defaults"])
    per_client = [(*args, attendee_ids[k::clients]) for k in range(clients)]
    t0, commits = run_clients(baseline_client, per_client)
    times = sorted(t for c in commits for t in c)
    return len(times) / (times[-1] - t0)


def fetch_package(port: int, token: str, list_id: int) -> dict:
    """GET the offline package once (what a scanner downloads before it goes offline)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    conn.request("GET", f"/api/v1/events/{SLUG}/checkin-lists/{list_id}/package", headers=_auth(token))
    response = conn.getresponse()
    data = response.read()
    seconds = time.perf_counter() - start
    conn.close()
    attendees = len(json.loads(data).get("attendees", [])) if response.status == 200 else 0
    return {"status": response.status, "seconds": seconds, "bytes": len(data), "attendees": attendees}


def warm_up(port: int, token: str, list_id: int, n: int = 30) -> None:
    """Token, event, list and key lookups once in every worker, without admitting anybody:
    a malformed QR is refused before anything is written."""
    forged = "ER1." + "A" * 101
    for _ in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(
            "POST",
            f"/api/v1/events/{SLUG}/checkin-lists/{list_id}/redeem",
            json.dumps({"qr": forged, "gate": "warm-up"}),
            {"Content-Type": "application/json", **_auth(token)},
        )
        conn.getresponse().read()
        conn.close()


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def offline_scans(qrs: list[tuple[int, str]], gates: int = 4) -> list[dict]:
    """One scan per attendee, as offline gates made them over the last hours (local time with
    offset, a few seconds apart, the gates in turn)."""
    first = datetime.now(GATE_TZ) - timedelta(hours=3)
    return [
        {
            "nonce": uuid.uuid4().hex,
            "scanned_at": (first + timedelta(seconds=2 * i)).isoformat(),
            "qr": qr,
            "gate": f"Day 2 gate {1 + i % gates}",
        }
        for i, (_, qr) in enumerate(qrs)
    ]


def sync(port: int, master_pid: int, token: str, list_id: int, scans: list[dict], batch: int) -> dict:
    """Uploads `scans` in batches over one keep-alive connection, as one scanner would; times
    from the first request to the last response."""
    path = f"/api/v1/events/{SLUG}/checkin-lists/{list_id}/scans"
    headers = {"Content-Type": "application/json", **_auth(token)}
    bodies = [json.dumps({"scans": scans[i : i + batch]}).encode() for i in range(0, len(scans), batch)]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    outcomes: dict[str, int] = {}
    statuses: dict[int, int] = {}
    latencies = []
    before = cpu_now(master_pid)
    t0 = time.perf_counter()
    for body in bodies:
        start = time.perf_counter()
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        data = response.read()
        latencies.append(time.perf_counter() - start)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if response.status == 200:
            for r in json.loads(data)["results"]:
                key = f"{r['outcome']} {r['reason']}".strip()
                outcomes[key] = outcomes.get(key, 0) + 1
    seconds = time.perf_counter() - t0
    cpu = cpu_since(before, master_pid)
    conn.close()
    return {
        "seconds": seconds,
        "statuses": statuses,
        "outcomes": outcomes,
        "latencies": latencies,
        "cpu": cpu,
    }


CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright never downloads a browser here
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


def browser_scanner(port: int, s: dict, list_id: int) -> dict:
    """The scanner page in headless Chromium, as staff use it: log in, open the list (its package
    downloads), lose the network, scan every QR offline through the page's own code path
    (`#scanner.scan(text)`, what the camera loop calls with a decoded QR), then get the network
    back and wait until the page has uploaded everything by itself.

    Per scan, the page's own clock (`data-ms`): from the decoded text to the answer on screen,
    including the Ed25519 check (WebCrypto), the rules, and the IndexedDB write of the admission."""
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{port}"
    qrs = [qr for _, qr in s["qrs"]]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # bypass_csp: Playwright's wait_for_function evaluates a string, which the page's
            # Content-Security-Policy (no eval) refuses; the page's own scripts are unaffected.
            context = browser.new_context(bypass_csp=True)
            page = context.new_page()
            page.goto(base + "/login")
            page.locator("#email").fill("door@example.org")
            page.locator("#password").fill("bench-password")
            page.locator("form button[type=submit]").last.click()
            page.wait_for_load_state()
            page.goto(f"{base}/checkin/{SLUG}/?list={list_id}")
            page.locator("#gate").fill("Browser gate")
            page.wait_for_function("document.getElementById('scanner').dataset.offlineReady === 'true'")
            page.wait_for_function(
                "/\\d\\d:\\d\\d/.test(document.getElementById('status-refreshed').textContent)"
            )
            context.set_offline(True)
            page.wait_for_function("document.getElementById('scanner').dataset.online === 'false'")
            start = time.perf_counter()
            scanned = page.evaluate(
                """async (qrs) => {
                    const root = document.getElementById('scanner');
                    const verdict = document.getElementById('verdict');
                    const ms = [], results = {};
                    for (const qr of qrs) {
                        await root.scan(qr);
                        ms.push(Number(verdict.dataset.ms));
                        results[verdict.dataset.result] = (results[verdict.dataset.result] || 0) + 1;
                    }
                    return { ms, results, pending: Number(root.dataset.pending) };
                }""",
                qrs,
            )
            scan_seconds = time.perf_counter() - start
            context.set_offline(False)
            back = time.perf_counter()
            page.wait_for_function(
                "document.getElementById('scanner').dataset.pending === '0'", timeout=120_000, polling=50
            )
            sync_seconds = time.perf_counter() - back
            version = browser.version
        finally:
            browser.close()
    return {**scanned, "scan_seconds": scan_seconds, "sync_seconds": sync_seconds, "version": version}


def browser_rows(b: dict | None, n: int, state: tuple | None) -> list[tuple[str, str, str]]:
    """Rows for the table, as report() builds them."""
    if b is None:
        return [("browser (scanner page)", "skipped (--no-browser)", "")]
    ms = sorted(b["ms"])
    p99 = percentile_ms([m / 1000 for m in ms], 99)
    results = ", ".join(f"{k}: {v}" for k, v in sorted(b["results"].items()))
    return [
        (f"browser: Chromium {b['version']}, scanner page offline", f"{len(ms)} scans", ""),
        ("  answers", results, f"ok: {n}"),
        (
            "  decoded QR to answer, p50 / p99 / max",
            f"{statistics.median(ms):.1f} / {p99:.1f} / {ms[-1]:.1f} ms",
            f"p99 <= {TARGETS['browser_ms']} ms",
        ),
        ("  all scans, wall clock (with Playwright)", f"{b['scan_seconds']:.1f} s", ""),
        ("  waiting to upload when the network came back", f"{b['pending']}", f"{n}"),
        (
            "  network back -> all uploaded by the page",
            f"{b['sync_seconds']:.2f} s",
            f"< {TARGETS['sync_s']:.0f} s",
        ),
        ("  Browser list: rows / counting / people", "{} / {} / {}".format(*state[:3]), f"{n} / {n} / {n}"),
    ]


# --- profile --------------------------------------------------------------------------------

# (label, file, function): cumulative CPU of these, per request, from cProfile.
REDEEM_PARTS = [
    ("whole request (Flask, webargs, flask-smorest)", "flask/app.py", "wsgi_app"),
    ("  user_for_token(): token, user, roles", "eventreg/accounts/services.py", "user_for_token"),
    ("  find_list(): list, event, ticket types", "eventreg/checkin/services.py", "find_list"),
    ("  services.redeem()", "eventreg/checkin/services.py", "redeem"),
    ("    _claim(): keys (cached), QR", "eventreg/checkin/services.py", "_claim"),
    ("      public_keys()", "eventreg/tickets/services.py", "public_keys"),
    ("      read_ticket() (Ed25519 verify)", "eventreg/tickets/signing.py", "read_ticket"),
    ("    locked_attendees(): lock + read", "eventreg/checkin/services.py", "locked_attendees"),
    ("    _judge()", "eventreg/checkin/services.py", "_judge"),
    ("    admissions()", "eventreg/checkin/services.py", "admissions"),
    ("  verdict_out(): ticket type, workshops", "eventreg/api/checkin.py", "verdict_out"),
    ("  commit", "sqlalchemy/orm/scoping.py", "commit"),
    ("SQL statements (Core execute + psycopg)", "sqlalchemy/engine/base.py", "_execute_context"),
]
UPLOAD_PARTS = [
    ("whole request (Flask, webargs, flask-smorest)", "flask/app.py", "wsgi_app"),
    ("  upload_scans()", "eventreg/checkin/services.py", "upload_scans"),
    ("    _claim(): QRs", "eventreg/checkin/services.py", "_claim"),
    ("    locked_attendees(): lock + read", "eventreg/checkin/services.py", "locked_attendees"),
    ("    _judge()", "eventreg/checkin/services.py", "_judge"),
    ("    flush (the batch's rows)", "sqlalchemy/orm/session.py", "_flush"),
    ("  commit", "sqlalchemy/orm/scoping.py", "commit"),
    ("SQL statements (Core execute + psycopg)", "sqlalchemy/engine/base.py", "_execute_context"),
]


def profiled_requests(db_url, token, lists, qrs, n, results) -> None:
    """In one process, through Flask's test client (no gunicorn): SQL statements per request,
    CPU per redeem without and with cProfile (CPU clock), and the same for one upload."""
    try:
        import cProfile
        import pstats

        from eventreg.extensions import db

        app = make_app(db_url)
        client = app.test_client()
        headers = _auth(token)
        redeem_path = f"/api/v1/events/{SLUG}/checkin-lists/{lists['Profile']}/redeem"
        upload_path = f"/api/v1/events/{SLUG}/checkin-lists/{lists['Profile sync']}/scans"
        statements = [0]
        with app.app_context():
            sa.event.listen(
                db.engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1)
            )

        def redeem(qr: str) -> int:
            before = statements[0]
            body = {"qr": qr, "gate": "Profile", "nonce": uuid.uuid4().hex}
            answer = client.post(redeem_path, json=body, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"redeem answered {answer.status_code}: {answer.get_data(as_text=True)}")
            return statements[0] - before

        def cpu_of(fn, items) -> float:
            start = time.process_time()
            for item in items:
                fn(item)
            return time.process_time() - start

        qr_texts = [qr for _, qr in qrs]
        warm, plain, profiled = qr_texts[:10], qr_texts[10 : 10 + n], qr_texts[10 + n : 10 + 2 * n]
        for qr in warm:
            redeem(qr)
        out = {"n": n, "statements": {"first redeem": redeem(plain[0]), "repeat redeem": redeem(plain[0])}}
        out["cpu plain"] = cpu_of(redeem, plain[1:]) / (len(plain) - 1)
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        out["cpu profiled"] = cpu_of(redeem, profiled) / len(profiled)
        profile.disable()
        stats = pstats.Stats(profile).stats
        out["redeem"] = _parts(stats, REDEEM_PARTS, len(profiled))
        out["redeem libraries"] = _libraries(stats, len(profiled))

        scans = offline_scans(qrs[: 2 * n])
        before = statements[0]
        start = time.process_time()
        client.post(upload_path, json={"scans": scans[:n]}, headers=headers)
        out["cpu upload plain"] = (time.process_time() - start) / n
        out["statements"][f"upload of {n} scans"] = statements[0] - before
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        client.post(upload_path, json={"scans": scans[n:]}, headers=headers)
        profile.disable()
        stats = pstats.Stats(profile).stats
        out["upload"] = _parts(stats, UPLOAD_PARTS, len(scans) - n)
        out["upload libraries"] = _libraries(stats, len(scans) - n)
        with app.app_context():
            db.engine.dispose()
        results.put(("ok", out))
    except BaseException:  # noqa: BLE001
        results.put(("error", traceback.format_exc()))


LIBRARIES = [  # (label, what the file name contains): own time (tottime) per library
    ("SQLAlchemy", "/sqlalchemy/"),
    ("psycopg", "/psycopg"),
    ("Flask, Werkzeug", ("/flask/", "/werkzeug/")),
    ("flask-smorest, webargs, marshmallow", ("/flask_smorest/", "/webargs/", "/marshmallow/")),
    ("eventreg", "/eventreg/"),
    ("C functions (socket I/O, Ed25519, JSON, ...)", "~"),
]


def _libraries(stats: dict, per: int) -> list[tuple[str, float]]:
    own: dict[str, float] = {label: 0.0 for label, _ in LIBRARIES}
    own["other Python"] = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in stats.items():
        label = next(
            (
                label
                for label, marks in LIBRARIES
                if any(m in filename for m in (marks if isinstance(marks, tuple) else (marks,)))
            ),
            "other Python",
        )
        own[label] += tottime
    return [(label, seconds / per) for label, seconds in own.items()]


def _parts(stats: dict, parts: list, per: int) -> list[tuple[str, float]]:
    """(label, CPU seconds per `per`) of each part: cumulative time of the matching functions."""
    out = []
    for label, path, function in parts:
        seconds = sum(
            cumulative
            for (filename, _, name), (_, _, _, cumulative, _) in stats.items()
            if name == function and filename.endswith(path)
        )
        out.append((label, seconds / per))
    return out


def run_profile(db_url: str, s: dict, n: int) -> dict:
    results = CTX.Queue()
    proc = CTX.Process(target=profiled_requests, args=(db_url, s["token"], s["lists"], s["qrs"], n, results))
    proc.start()
    try:
        kind, payload = results.get(timeout=600)
    finally:
        proc.join(30)
        if proc.is_alive():
            proc.terminate()
    if kind == "error":
        raise SystemExit(f"the profile failed:\n{payload}")
    return payload


def profile_lines(p: dict) -> list[str]:
    n = p["n"]
    lines = [
        f"profile, in one process through Flask's test client (no gunicorn), {n} first redeems and",
        f"{n} offline scans (cProfile on the CPU clock, which about doubles Python's time: read the shares):",
        "",
        "  SQL statements: " + ", ".join(f"{k} {v}" for k, v in p["statements"].items()),
        f"  CPU per redeem without / with cProfile: {1000 * p['cpu plain']:.2f}"
        f" / {1000 * p['cpu profiled']:.2f} ms;"
        f" per offline scan without: {1000 * p['cpu upload plain']:.2f} ms",
    ]
    for title, key in (("first redeem", "redeem"), (f"upload of {n} scans, per scan", "upload")):
        total = p[key][0][1]
        lines += ["", f"  {title}, cumulative:"]
        lines += [f"    {label:<46} {1000 * sec:7.2f} ms {100 * sec / total:6.1f} %" for label, sec in p[key]]
        lines += [f"  {title}, own time by library:"]
        lines += [
            f"    {label:<46} {1000 * sec:7.2f} ms {100 * sec / total:6.1f} %"
            for label, sec in p[key + " libraries"]
        ]
    return lines


# --- report ---------------------------------------------------------------------------------


def summarize(run: dict, expected: str) -> dict:
    records = run["records"]
    latencies = [end - start for start, end, *_ in records]
    statuses: dict[str, int] = {}
    for _, _, status, result, _ in records:
        key = f"{status} {result}".strip()
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "attempts": len(records),
        "statuses": statuses,
        "non200": sum(1 for r in records if r[2] != 200),
        "unexpected": sum(1 for r in records if r[2] != 200 or r[3] != expected),
        "wrong_attendee": sum(1 for r in records if r[2] == 200 and not r[4]),
        "rate": len(records) / run["wall"],
        "p50": percentile_ms(latencies, 50),
        "p99": percentile_ms(latencies, 99),
        "max": 1000 * max(latencies),
    }


def server_ms(run: dict) -> str:
    times = run.get("server", [])
    if len(times) != len(run["records"]):
        return f"{len(times)} of {len(run['records'])} requests logged"
    return f"{percentile_ms(times, 50):.0f} / {percentile_ms(times, 99):.0f} ms"


def table(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'metric':<{width}}  {'value':<{vwidth}}  target")
    print(f"{'-' * width}  {'-' * vwidth}  {'-' * 10}")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<{vwidth}}  {target}".rstrip())


def cpu_rows(label: str, cpu: dict, n: int, seconds: float) -> list[tuple[str, str, str]]:
    ours = cpu["gunicorn workers"] + cpu["PostgreSQL"] + cpu.get("clients", 0)
    rows = [
        (f"  CPU per {label}: {who}", f"{1000 * cpu[who] / n:.2f} ms", "")
        for who in ("gunicorn workers", "PostgreSQL", "clients")
        if who in cpu
    ]
    rows.append(
        (
            "  CPU of other processes meanwhile",
            f"{max(0.0, cpu['machine'] - ours) / seconds:.2f} of {os.cpu_count()} cores",
            "",
        )
    )
    return rows


def report(
    args,
    s: dict,
    first: dict,
    repeat: dict,
    baseline: list[float],
    syncs: tuple,
    states: dict,
    profile: list[str],
    b: dict | None,
) -> bool:
    n = args.attendees
    one, two = summarize(first, "ok"), summarize(repeat, "already_redeemed")
    base = statistics.median(baseline)
    sync1, sync2 = syncs
    main_after1, main_after2 = states["after redeem"]["Main entrance"], states["end"]["Main entrance"]
    day2_after1, day2_after2 = states["after sync"]["Day 2"], states["end"]["Day 2"]
    doubled = sum(state[4] for state in states["end"].values())
    package = s["package"]

    def status_text(statuses: dict) -> str:
        return ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))

    rows = [
        ("attendees (paid orders of one attendee)", f"{n}", ""),
        ("QRs signed in-process (ticket_qr)", f"{s['qr_seconds']:.1f} s", ""),
        ("redeem, first scans (Main entrance)", f"{one['attempts']} attempts", ""),
        ("  statuses", status_text(one["statuses"]), f"200 ok: {n}"),
        (
            "  non-200 / not ok / wrong attendee",
            f"{one['non200']} / {one['unexpected']} / {one['wrong_attendee']}",
            "0 / 0 / 0",
        ),
        ("  wall clock", f"{first['wall']:.2f} s", ""),
        ("  redeems/s", f"{one['rate']:.0f}", f">= {TARGETS['redeems_s']}"),
        (
            "  latency p50 / p99 / max",
            f"{one['p50']:.0f} / {one['p99']:.0f} / {one['max']:.0f} ms",
            f"p99 <= {TARGETS['p99_ms']}",
        ),
        ("  in the worker p50 / p99 (access log)", server_ms(first), ""),
        *cpu_rows("redeem", first["cpu"], one["attempts"], first["wall"]),
        ("redeem, repeat scans (already inside)", f"{two['attempts']} attempts", ""),
        ("  statuses", status_text(two["statuses"]), f"200 already_redeemed: {n}"),
        (
            "  non-200 / not already_redeemed / wrong",
            f"{two['non200']} / {two['unexpected']} / {two['wrong_attendee']}",
            "0 / 0 / 0",
        ),
        ("  redeems/s", f"{two['rate']:.0f}", ""),
        ("  latency p50 / p99 / max", f"{two['p50']:.0f} / {two['p99']:.0f} / {two['max']:.0f} ms", ""),
        ("  in the worker p50 / p99 (access log)", server_ms(repeat), ""),
        *cpu_rows("redeem", repeat["cpu"], two["attempts"], repeat["wall"]),
        (
            "Main entrance: rows / counting / people",
            "{} / {} / {}".format(*main_after1[:3]),
            f"{n} / {n} / {n}",
        ),
        ("  after the repeat pass", "{} / {} / {}".format(*main_after2[:3]), f"{n} / {n} / {n}"),
        ("baseline tx/s (psycopg, median)", f"{base:.0f}", ""),
        ("baseline rounds", " ".join(f"{b:.0f}" for b in baseline), ""),
        ("app redeems/s / baseline tx/s", f"{one['rate'] / base:.2f}", ""),
        (
            "offline package (GET, Day 2)",
            f"{package['status']}, {package['attendees']} attendees, {package['bytes'] / 1024:.0f} KB, "
            f"{1000 * package['seconds']:.0f} ms",
            "",
        ),
        (
            f"sync: {n} offline scans, batches of {args.batch}",
            f"{sync1['seconds']:.2f} s",
            f"< {TARGETS['sync_s']:.0f} s",
        ),
        (
            "  statuses / outcomes",
            f"{status_text(sync1['statuses'])}; {status_text(sync1['outcomes'])}",
            f"admitted: {n}",
        ),
        (
            "  per batch: mean / max",
            f"{1000 * statistics.mean(sync1['latencies']):.0f} / {1000 * max(sync1['latencies']):.0f} ms",
            "",
        ),
        *cpu_rows("scan", sync1["cpu"], n, sync1["seconds"]),
        ("sync again (the same scans)", f"{sync2['seconds']:.2f} s", ""),
        (
            "  statuses / outcomes",
            f"{status_text(sync2['statuses'])}; {status_text(sync2['outcomes'])}",
            f"admitted: {n}",
        ),
        ("Day 2: rows / counting / people", "{} / {} / {}".format(*day2_after1[:3]), f"{n} / {n} / {n}"),
        ("  after the second sync", "{} / {} / {}".format(*day2_after2[:3]), f"{n} / {n} / {n}"),
        ("conflicts (all lists)", f"{sum(state[3] for state in states['end'].values())}", "0"),
        ("doubled admissions (all lists)", f"{doubled}", "0"),
        *browser_rows(b, n, states["end"].get("Browser")),
    ]
    print(f"\nmachine: nproc={os.cpu_count()}, {cpu_model()}; load average at start {args.load}")
    print(f"clients: {args.clients} processes, one http.client connection each")
    print(f"gunicorn: {' '.join(args.gunicorn_cmd)}  DB_POOL_SIZE={args.pool_size}")
    print(f"code: {args.code}\n")
    table(rows)
    if profile:
        print()
        print("\n".join(profile))

    exact = (
        one["unexpected"] == one["wrong_attendee"] == 0
        and two["unexpected"] == two["wrong_attendee"] == 0
        and main_after1[:4] == main_after2[:4] == (n, n, n, 0)
        and day2_after1[:4] == day2_after2[:4] == (n, n, n, 0)
        and sync1["outcomes"] == sync2["outcomes"] == {"admitted": n}
        and doubled == 0
    )
    verdicts = {
        "every attendee admitted exactly once per list; every answer as expected": exact,
        f">= {TARGETS['redeems_s']} redeems/s (first scans)": one["rate"] >= TARGETS["redeems_s"],
        f"p99 <= {TARGETS['p99_ms']} ms (first scans)": one["p99"] <= TARGETS["p99_ms"],
        f"{n} offline scans synced in < {TARGETS['sync_s']:.0f} s": sync1["seconds"] < TARGETS["sync_s"],
    }
    if b is not None:
        p99 = percentile_ms([m / 1000 for m in b["ms"]], 99)
        verdicts.update(
            {
                f"browser: every offline scan ok, all {n} uploaded once": b["results"] == {"ok": n}
                and states["end"]["Browser"][:4] == (n, n, n, 0),
                f"browser: decoded QR to answer p99 <= {TARGETS['browser_ms']} ms": p99
                <= TARGETS["browser_ms"],
                f"browser: {n} offline scans synced in < {TARGETS['sync_s']:.0f} s": b["sync_seconds"]
                < TARGETS["sync_s"],
            }
        )
    print()
    for verdict, ok in verdicts.items():
        print(f"{'yes' if ok else 'NO '}  {verdict}")
    return all(verdicts.values())


# --- main -----------------------------------------------------------------------------------


def code_version() -> str:
    """Which code ran: the git commit (dirty: with uncommitted changes) and a hash of the app's
    Python files and migrations, which also tells two dirty trees apart."""
    try:
        git = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except OSError:
        git = ""
    digest = hashlib.sha256()
    for path in sorted(
        [*ROOT.glob("eventreg/**/*.py"), *ROOT.glob("migrations/versions/*.py"), ROOT / "app.py"]
    ):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return f"git {git or '-'}, eventreg + migrations sha256 {digest.hexdigest()[:10]}"


def _stop_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # runs the finally blocks: gunicorn stopped, database dropped


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attendees", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=16, help="client processes (gates)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class: sync or gthread")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--pool-size", type=int, default=10, help="DB_POOL_SIZE of each worker")
    parser.add_argument("--batch", type=int, default=500, help="offline scans per upload (API max 1000)")
    parser.add_argument("--baseline-rounds", type=int, default=3)
    parser.add_argument("--history", type=int, default=5000, help="checked-in attendees of a past event")
    parser.add_argument("--no-browser", action="store_true", help="skip the scanner page in Chromium")
    parser.add_argument(
        "--profile", type=int, default=200, help="redeems and scans profiled in-process (0: none)"
    )
    args = parser.parse_args()
    args.load = Path("/proc/loadavg").read_text().split()[0]
    args.code = code_version()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    n = args.attendees

    db_name, db_url = create_database()
    proc = None
    log_path = Path(tempfile.gettempdir()) / f"{db_name}-gunicorn.log"
    access_path = Path(tempfile.gettempdir()) / f"{db_name}-access.log"
    try:
        print(f"setup: {n} attendees, their QRs, lists, staff token ...", flush=True)
        s = setup(db_url, n, args.baseline_rounds, history=args.history)
        states = {}
        port = free_port()
        proc, cmd = start_gunicorn(db_url, port, args, log_path, access_path)
        args.gunicorn_cmd = ["gunicorn", *cmd[1:]]
        wait_until_up(proc, port, f"/api/v1/events/{SLUG}")
        warm_up(port, s["token"], s["lists"]["Main entrance"])

        print(f"redeem: {n} first scans by {args.clients} clients ...", flush=True)
        first = redeem_pass(port, proc.pid, s, args.clients)
        states["after redeem"] = list_state(db_url, s["event_id"])
        print(f"redeem: {n} repeat scans ...", flush=True)
        repeat = redeem_pass(port, proc.pid, s, args.clients)

        print("package, then sync: offline scans of Day 2, twice ...", flush=True)
        day2 = s["lists"]["Day 2"]
        s["package"] = fetch_package(port, s["token"], day2)
        scans = offline_scans(s["qrs"])
        sync1 = sync(port, proc.pid, s["token"], day2, scans, args.batch)
        states["after sync"] = list_state(db_url, s["event_id"])
        sync2 = sync(port, proc.pid, s["token"], day2, scans, args.batch)
        b = None
        if not args.no_browser:
            print(f"browser: the scanner page scans {n} tickets offline, then syncs ...", flush=True)
            b = browser_scanner(port, s, s["lists"]["Browser"])
        proc.terminate()
        proc.wait(timeout=30)
        proc = None
        # Redeems in log order: the warm-up's, then the first pass, then the repeats.
        times = server_times(access_path, "/redeem")[-2 * n :]
        first["server"], repeat["server"] = times[:n], times[n:]

        print(f"baseline: {args.baseline_rounds} rounds of {n} check-in transactions ...", flush=True)
        baseline = [
            baseline_round(db_url, s["lists"][f"Baseline {i + 1}"], s, args.clients)
            for i in range(args.baseline_rounds)
        ]
        states["end"] = list_state(db_url, s["event_id"])
        profile = []
        if (k := min(args.profile, (n - 10) // 2)) > 0:
            print(f"profile: {k} redeems and {k} offline scans in one process ...", flush=True)
            profile = profile_lines(run_profile(db_url, s, k))
        ok = report(args, s, first, repeat, baseline, (sync1, sync2), states, profile, b)
        if code_version() != args.code:
            print("\nWARNING: the app's code changed during the run; the figures may mix two versions")
            ok = False
        return 0 if ok else 1
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        access_path.unlink(missing_ok=True)
        if log_path.exists():
            if log_path.stat().st_size:
                print(f"gunicorn error log: {log_path}")
            else:
                log_path.unlink()
        drop_database(db_name)


if __name__ == "__main__":
    sys.exit(main())
