"""Export times: every export in both formats for one event of 5,000 attendees on PostgreSQL.

Creates a fresh PostgreSQL database, migrates it, creates one event (two ticket types, a workshop,
three questions, a check-in list) and fills it in plain SQL: --attendees attendees in orders of two
(names in Latin, Cyrillic, Chinese and Arabic script; every other order by invoice, with its
invoice), an answer to each question and one admission each, half of them in the workshop. Then,
for each export and format, in this process:

  rows      the service builds the table (its queries and the rows)
  write     formats.to_csv / to_xlsx turn it into the file
  total     both, the best of --repeat runs
  peak      the memory Python allocated at most while doing both (tracemalloc, a separate run:
            tracing slows Python down, so it does not count in the times)
  size      the file

and the whole request through the app (Flask's test client, logged in as the organiser):
"request"; and the same file prepared in the background as the page does it: "job" is from the
POST of "Prepare in background" until the job's JSON (polled every 50 ms) says it is done, made by
the app's export thread (EXPORT_WORKER=thread) with its progress committed every 500 rows; the
file is then downloaded and checked ("job/request" compares the two); "runner" is jobs.run_job
alone, called in this thread (no hand-over, no polling). The baseline, from the
same run, is PostgreSQL writing the attendees joined with their orders as CSV by itself (COPY … TO
STDOUT: no Python at all). The database is dropped at the end, also on errors.

    .venv/bin/python bench/exports.py --attendees 5000 --repeat 3
"""

import argparse
import gc
import os
import re
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from rush import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PRICES_ORE = (2950_00, 450_00)
PASSWORD = "bench-organiser"

# Orders of two attendees; even orders by invoice (with an invoice), odd ones by card.
ORDERS = """
    INSERT INTO "order" (code, event_id, status, payment_method, buyer_name, buyer_email, buyer_language,
                         total_ore, manage_token, created_at, paid_at)
    SELECT 'X' || lpad(g::text, 7, '0'), :event, 'paid',
           CASE WHEN g % 2 = 0 THEN 'invoice' ELSE 'card' END,
           (ARRAY['Åse Ødegård', 'Бо Ли', '陈伟', 'نادية'])[g % 4 + 1] || ' ' || g,
           'buyer' || g || '@example.org', CASE WHEN g % 2 = 0 THEN 'nb' ELSE 'en' END,
           :price * 2, md5('order' || g),
           timestamptz '2027-02-01 09:00+00' + g * interval '7 minutes',
           timestamptz '2027-02-01 09:05+00' + g * interval '7 minutes'
    FROM generate_series(1, :orders) AS g
"""
ATTENDEES = """
    INSERT INTO attendee (order_id, event_id, ticket_type_id, position, name, email, language,
                          price_ore, vat_rate, manage_token, ticket_version, sponsor_consent)
    SELECT o.id, o.event_id, :type, p, (ARRAY['Åse Ødegård', 'Бо Ли', '陈伟', 'نادية'])[(o.id + p) % 4 + 1]
           || ' ' || o.id || '-' || p, 'a' || o.id || '-' || p || '@example.org', o.buyer_language,
           :price, 25, md5('attendee' || o.id || '-' || p), 1, p = 0
    FROM "order" o, generate_series(0, 1) AS p WHERE o.event_id = :event
"""
INVOICES = """
    INSERT INTO sales_document (organiser_id, number, kind, order_id, status, language, issued_at, due_at,
                                kid, lines, total_ore, seller, buyer, paid_at, paid_via)
    SELECT :organiser, row_number() OVER (ORDER BY o.id), 'invoice', o.id,
           CASE WHEN o.id % 4 = 0 THEN 'settled' ELSE 'open' END, 'nb', o.created_at,
           o.created_at + interval '14 days', lpad(o.id::text, 9, '0'), '[]'::json, o.total_ore,
           '{}'::json, json_build_object('name', o.buyer_name),
           CASE WHEN o.id % 4 = 0 THEN o.created_at + interval '3 days' END,
           CASE WHEN o.id % 4 = 0 THEN 'manual' END
    FROM "order" o WHERE o.event_id = :event AND o.payment_method = 'invoice'
"""
ANSWERS = """
    INSERT INTO answer (order_id, attendee_id, question_id, question_label, value, display)
    SELECT a.order_id, a.id, q.id, q.label,
           CASE q.position WHEN 1 THEN to_json('NO'::text)
                           WHEN 2 THEN to_json('Sosialt entreprenørskap ' || a.id % 50)
                           ELSE to_json(CASE WHEN a.id % 3 = 0 THEN 'vegan' ELSE 'none' END) END,
           CASE q.position WHEN 1 THEN json_build_object('nb', 'Norge', 'en', 'Norway')
                           WHEN 2 THEN json_build_object('nb', 'Sosialt entreprenørskap ' || a.id % 50,
                                                         'en', 'Sosialt entreprenørskap ' || a.id % 50)
                           ELSE CASE WHEN a.id % 3 = 0 THEN json_build_object('nb', 'Vegansk', 'en', 'Vegan')
                                     ELSE json_build_object('nb', 'Ingen', 'en', 'None') END END
    FROM attendee a, question q WHERE a.event_id = :event AND q.event_id = :event
"""
WORKSHOP = """
    INSERT INTO attendee_session (attendee_id, session_id, slot)
    SELECT id, :session, 'day1' FROM attendee WHERE event_id = :event AND id % 2 = 0
"""
CHECKINS = """
    INSERT INTO checkin (list_id, attendee_id, nonce, entry_no, conflict_reason, scanned_at, recorded_at,
                         gate, offline, user_id)
    SELECT :list, id, md5('scan' || id), 1, '',
           timestamptz '2027-05-27 06:30+00' + id * interval '1 second',
           timestamptz '2027-05-27 06:30+00' + id * interval '1 second',
           'Door ' || id % 4, id % 10 = 0, :user
    FROM attendee WHERE event_id = :event
"""
# The floor: PostgreSQL alone writing the attendees with their orders as CSV.
BASELINE_COPY = """
    COPY (SELECT o.code, o.status, a.name, a.email, a.language, a.ticket_type_id, a.price_ore, a.vat_rate,
                 a.sponsor_consent, o.created_at
          FROM attendee a JOIN "order" o ON a.order_id = o.id WHERE a.event_id = {event}
          ORDER BY o.created_at, o.id, a.position) TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';')
"""


def build_event(app, attendees: int) -> str:
    """The event, its organiser (a user) and its attendees; returns the organiser's email."""
    from eventreg.accounts.models import EventRoleKind
    from eventreg.accounts.services import create_user, grant_event_role
    from eventreg.checkin.models import CheckinList
    from eventreg.events.models import (
        Event,
        EventSession,
        EventStatus,
        Organiser,
        Question,
        QuestionKind,
        Quota,
        TicketType,
    )
    from eventreg.extensions import db

    with app.app_context():
        quota = Quota(name="All seats", size=attendees)
        event = Event(
            organiser=Organiser(name="Bench", org_number="997654323", bank_account="15031234562"),
            slug="esbf-2027",
            title={"nb": "Forum 2027", "en": "Forum 2027"},
            starts_at=datetime(2027, 5, 27, 7, 0, tzinfo=UTC),
            ends_at=datetime(2027, 5, 28, 15, 0, tzinfo=UTC),
            status=EventStatus.PUBLISHED,
            quotas=[quota],
            ticket_types=[
                TicketType(
                    name={"nb": f"Billett {i}", "en": f"Ticket {i}"},
                    price_ore=price,
                    vat_rate=25,
                    position=i,
                    quotas=[quota],
                )
                for i, price in enumerate(PRICES_ORE)
            ],
            sessions=[EventSession(name={"nb": "Mikrolån", "en": "Microloans"}, slot="day1")],
            questions=[
                Question(kind=QuestionKind.COUNTRY, label={"nb": "Land", "en": "Country"}, position=1),
                Question(
                    kind=QuestionKind.ORGANISATION,
                    label={"nb": "Organisasjon", "en": "Organisation"},
                    position=2,
                ),
                Question(
                    kind=QuestionKind.CHOICE,
                    label={"nb": "Kosthold", "en": "Diet"},
                    position=3,
                    choices=[
                        {"value": "vegan", "nb": "Vegansk", "en": "Vegan"},
                        {"value": "none", "nb": "Ingen", "en": "None"},
                    ],
                ),
            ],
        )
        db.session.add(event)
        db.session.flush()
        user = create_user("organiser@bench.example.org", "Olav Organiser", PASSWORD)
        grant_event_role(user, event.id, EventRoleKind.ORGANISER)
        lst = CheckinList(event=event, name="Main entrance")
        db.session.add(lst)
        db.session.flush()
        ids = {
            "event": event.id,
            "type": event.ticket_types[0].id,
            "price": PRICES_ORE[0],
            "orders": attendees // 2,
            "organiser": event.organiser_id,
            "session": event.sessions[0].id,
            "list": lst.id,
            "user": user.id,
        }
        for sql in (ORDERS, ATTENDEES, INVOICES, ANSWERS, WORKSHOP, CHECKINS):
            db.session.execute(sa.text(sql), ids)
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        return user.email


def measure(app, kind: str, fmt: str, repeat: int) -> dict:
    """Best-of-`repeat` times of building the rows and writing the file, then the peak memory."""
    from eventreg.events.models import Event
    from eventreg.exports import formats
    from eventreg.exports.services import EXPORTS
    from eventreg.extensions import db

    def run():
        event = db.session.scalar(sa.select(Event).where(Event.slug == "esbf-2027"))
        t0 = time.perf_counter()
        table = EXPORTS[kind](event, lang="nb")
        t1 = time.perf_counter()
        if fmt == "csv":
            data = formats.to_csv(table.header, table.rows)
        else:
            data = formats.to_xlsx(table.header, table.rows, table.title)
        t2 = time.perf_counter()
        return len(table.rows), t1 - t0, t2 - t1, len(data)

    best = None
    with app.test_request_context():
        for _ in range(repeat):
            db.session.expunge_all()
            gc.collect()
            result = run()
            if best is None or result[1] + result[2] < best[1] + best[2]:
                best = result
        db.session.expunge_all()
        gc.collect()
        tracemalloc.start()
        run()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        db.session.remove()
    rows, t_rows, t_write, size = best
    return {"rows": rows, "rows_s": t_rows, "write_s": t_write, "peak": peak, "size": size}


def logged_in_client(app, email: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.status_code
    return client


def request_seconds(client, kind: str, fmt: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(f"/manage/events/esbf-2027/exports/{kind}.{fmt}")
        best = min(best, time.perf_counter() - t0)
        assert r.status_code == 200, (kind, fmt, r.status_code)
    return best


JOB_POLL_SECONDS = 0.05


def job_seconds(client, kind: str, fmt: str, repeat: int) -> tuple[float, int]:
    """Best time from "Prepare in background" to done, and the progress commits of that job."""
    from eventreg.exports.jobs import STEP_ROWS

    base = "/manage/events/esbf-2027/exports"
    best, rows = float("inf"), 0
    for _ in range(repeat):
        page = client.get(f"{base}/").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        t0 = time.perf_counter()
        r = client.post(f"{base}/jobs", data={"csrf_token": token, "kind": kind, "fmt": fmt})
        assert r.status_code == 302, (kind, fmt, r.status_code)
        job_id = int(r.headers["Location"].rsplit("#job-", 1)[1])
        while True:
            state = client.get(f"{base}/jobs/{job_id}.json").get_json()
            if state["status"] in ("done", "failed"):
                break
            time.sleep(JOB_POLL_SECONDS)
        best = min(best, time.perf_counter() - t0)
        assert state["status"] == "done", state
        assert client.get(state["download_url"]).status_code == 200
        rows = state["total"]
    # The claim, the table built, one per STEP_ROWS rows (and the rest), the file stored.
    return best, 3 + -(-rows // STEP_ROWS)


def runner_seconds(app, kind: str, fmt: str, repeat: int) -> float:
    """Best time of jobs.run_job alone on a job queued beforehand."""
    from eventreg.events.models import Event
    from eventreg.exports.jobs import run_job, start_job
    from eventreg.extensions import db

    best = float("inf")
    for _ in range(repeat):
        with app.test_request_context():
            event = db.session.scalar(sa.select(Event).where(Event.slug == "esbf-2027"))
            job = start_job(event, kind=kind, fmt=fmt, language="nb", actor=None, now=datetime.now(UTC))
            db.session.commit()
            job_id = job.id
            db.session.expunge_all()
            gc.collect()
            t0 = time.perf_counter()
            assert run_job(job_id).value == "done"
            best = min(best, time.perf_counter() - t0)
            db.session.remove()
    return best


def baseline_seconds(db_url: str, event_id: int, repeat: int) -> tuple[float, int]:
    import psycopg

    conninfo = sa.make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    best, size = float("inf"), 0
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = bytearray()
            with cur.copy(BASELINE_COPY.format(event=int(event_id))) as copy:
                for chunk in copy:
                    out += chunk
            best, size = min(best, time.perf_counter() - t0), len(out)
    return best, size


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attendees", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import flask_migrate

    from eventreg import create_app

    name, db_url = create_database()
    try:
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": db_url, "MAIL_WORKER": "manual", "EXPORT_WORKER": "thread"}
        )
        with app.app_context():
            flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        t0 = time.perf_counter()
        email = build_event(app, args.attendees)
        setup = time.perf_counter() - t0
        from eventreg.events.models import Event
        from eventreg.extensions import db

        with app.app_context():
            event_id = db.session.scalar(sa.select(Event.id).where(Event.slug == "esbf-2027"))
        client = logged_in_client(app, email)
        results = []
        for kind in ("attendees", "orders", "answers", "checkins"):
            for fmt in ("csv", "xlsx"):
                m = measure(app, kind, fmt, args.repeat)
                m["request_s"] = request_seconds(client, kind, fmt, args.repeat)
                m["job_s"], m["commits"] = job_seconds(client, kind, fmt, args.repeat)
                m["runner_s"] = runner_seconds(app, kind, fmt, args.repeat)
                results.append((kind, fmt, m))
        base_s, base_size = baseline_seconds(db_url, event_id, args.repeat)
        app.extensions["export_worker"].stop()
        with app.app_context():
            db.engine.dispose()
    finally:
        drop_database(name)

    print(
        f"\nmachine: nproc={os.cpu_count()}; PostgreSQL, {args.attendees} attendees in {args.attendees // 2}"
    )
    print(f"orders, 3 questions, 1 check-in each; filled in {setup:.1f} s; best of {args.repeat} runs\n")
    head = f"{'export':<10} {'fmt':<4} {'rows':>6} {'rows s':>7} {'write s':>8} {'total s':>8} "
    head += f"{'request s':>9} {'job s':>6} {'job/request':>11} {'runner s':>8} {'commits':>7} "
    head += f"{'peak MB':>8} {'size KB':>8}"
    print(head)
    print("-" * len(head))
    for kind, fmt, m in results:
        print(
            f"{kind:<10} {fmt:<4} {m['rows']:>6} {m['rows_s']:>7.3f} {m['write_s']:>8.3f} "
            f"{m['rows_s'] + m['write_s']:>8.3f} {m['request_s']:>9.3f} {m['job_s']:>6.3f} "
            f"{m['job_s'] / m['request_s']:>10.2f}x {m['runner_s']:>8.3f} {m['commits']:>7} "
            f"{m['peak'] / 2**20:>8.1f} "
            f"{m['size'] / 1024:>8.0f}"
        )
    print(
        f"{'baseline':<10} {'csv':<4} {args.attendees:>6} {'':>7} {'':>8} {base_s:>8.3f} {'':>9} "
        f"{'':>6} {'':>11} {'':>8} {'':>7} {'':>8} {base_size / 1024:>8.0f}"
        "   (COPY of attendees ⋈ orders, no answers or check-ins)"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess peak RSS over the whole run: {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
