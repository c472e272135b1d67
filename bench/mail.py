"""Mail throughput: order confirmations through the outbox worker into a local SMTP server.

Creates a fresh PostgreSQL database, migrates it, creates one event with pending invoice orders (one
attendee each, whose email is the buyer's) and marks them paid, one transaction per order, which
queues exactly one confirmation per order (HTML and text, two QR PNGs, a ticket PDF, an .ics): the
"queue" rate. Then, against an aiosmtpd server in its own process that counts Message-IDs and
discards the bodies:

  baseline 1  one smtplib connection sending already composed bytes (200 distinct messages, cycled);
  baseline 2  compose() then smtplib, message after message, without outbox or database bookkeeping;
  outbox      --workers processes, each running deliver_all_due in its own app, until all are SENT,
              with every worker's peak RSS at 10 %, 50 % and 100 % of the messages;

checks that every Message-ID arrived exactly once, and profiles one worker (cProfile) on a further
sample. See bench/README.md.

    .venv/bin/python bench/mail.py --messages 10000 --workers 2
"""

import argparse
import contextlib
import cProfile
import math
import multiprocessing as mp
import os
import pstats
import queue
import re
import smtplib
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from rush import create_database, drop_database, free_port, percentile_ms, postgres_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # spawned processes inherit sys.path
CTX = mp.get_context("spawn")  # workers start clean, as separate worker processes would
# rush.py (next to this file) provides the database setup and the PostgreSQL CPU count.
SENDER = "Påmelding <noreply@eventreg.test>"
PRICE_ORE = 2950_00
TARGETS = {"ratio": 0.5, "rss_growth": 0.10}  # worker rate / plain loop rate; RSS growth 10 % → 100 %
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)

# Pending invoice orders, one attendee each with the buyer's email, half in Norwegian, half in English.
PENDING_ORDERS = """
    INSERT INTO "order" (code, event_id, status, payment_method, buyer_name, buyer_email, buyer_language,
                         total_ore, manage_token, created_at, expires_at)
    SELECT 'M' || lpad(g::text, 7, '0'), :event, 'pending', 'invoice',
           CASE WHEN g % 2 = 0 THEN 'Åse Ødegård ' ELSE 'Kari Nordmann ' END || g,
           'buyer' || g || '@example.org', CASE WHEN g % 2 = 0 THEN 'nb' ELSE 'en' END,
           :price, md5('order' || g), now(), now() + interval '14 days'
    FROM generate_series(1, :n) AS g
"""
ATTENDEES = """
    INSERT INTO attendee (order_id, event_id, ticket_type_id, position, name, email, language,
                          price_ore, vat_rate, manage_token)
    SELECT id, event_id, :type, 0, buyer_name, buyer_email, buyer_language, total_ore, 25,
           md5('attendee' || id)
    FROM "order" WHERE event_id = :event
"""


def make_app(db_url: str, smtp_port: int):
    from eventreg import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": db_url,
            "DB_POOL_SIZE": 2,
            "MAIL_WORKER": "manual",  # nothing delivers but the worker the bench runs
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp_port,
            "MAIL_DEFAULT_SENDER": SENDER,
            "PUBLIC_URL": "https://events.example.org",
        }
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def machine_cpu_seconds() -> float:
    """CPU time spent by everything on this machine so far (all cores, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait (guest is in user)
    return busy / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process, in MB."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


# --- the SMTP server ------------------------------------------------------------------------


def smtp_server(port: int, received, ready, control) -> None:
    """aiosmtpd on its own process: counts messages (shared `received`) and their Message-IDs,
    discards the bodies. Commands on `control`: "take" (send the Message-ID counts and start
    afresh), "stop"."""
    from aiosmtpd.controller import Controller

    ids: Counter = Counter()
    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            content = envelope.content
            match = MESSAGE_ID.search(content, 0, max(0, content.find(b"\r\n\r\n")))
            with lock:
                ids[match.group(1).decode() if match else ""] += 1
            with received.get_lock():
                received.value += 1
            return "250 Message accepted"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while (command := control.recv()) != "stop":
        if command == "take":
            with lock:
                control.send(dict(ids))
                ids.clear()
    controller.stop()


class Server:
    def __init__(self):
        self.port = free_port()
        self.received = CTX.Value("q", 0)
        self._control, child_end = CTX.Pipe()
        ready = CTX.Event()
        self.proc = CTX.Process(target=smtp_server, args=(self.port, self.received, ready, child_end))
        self.proc.start()
        if not ready.wait(30):
            raise SystemExit("the SMTP server did not start")

    def take(self) -> dict[str, int]:
        """Message-ID → copies received since the last take."""
        self._control.send("take")
        return self._control.recv()

    def stop(self) -> None:
        self._control.send("stop")
        self.proc.join(30)


# --- setup ----------------------------------------------------------------------------------


def migrate_and_create_orders(db_url: str, smtp_port: int, n: int) -> tuple[int, list[int]]:
    """Runs the migrations, creates the event and `n` pending invoice orders, and the event's
    signing key (the first ticket would create it). Returns (event id, order ids)."""
    import flask_migrate

    from eventreg.events.models import Event, EventStatus, Organiser, Quota, TicketType
    from eventreg.extensions import db
    from eventreg.tickets.services import signing_key

    app = make_app(db_url, smtp_port)
    with app.app_context():
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        quota = Quota(name="Seats", size=n)
        organiser = Organiser(name="Bench")
        event = Event(
            organiser=organiser,
            slug="mail",
            title={"nb": "Forum for sosialt entreprenørskap 2027", "en": "Social Enterprise Forum 2027"},
            venue="Oslo Kongressenter, Youngs gate 21, Oslo",
            starts_at=datetime(2027, 5, 27, 7, 0, tzinfo=UTC),
            ends_at=datetime(2027, 5, 28, 15, 0, tzinfo=UTC),
            status=EventStatus.PUBLISHED,
            quotas=[quota],
            ticket_types=[
                TicketType(
                    name={"nb": "Ordinær", "en": "Regular"},
                    price_ore=PRICE_ORE,
                    vat_rate=25,
                    position=0,
                    quotas=[quota],
                )
            ],
        )
        db.session.add(event)
        db.session.flush()
        params = {"event": event.id, "type": event.ticket_types[0].id, "price": PRICE_ORE, "n": n}
        db.session.execute(sa.text(PENDING_ORDERS), params)
        db.session.execute(sa.text(ATTENDEES), params)
        signing_key(event, now=datetime.now(UTC))
        db.session.commit()
        order_ids = list(db.session.scalars(sa.text('SELECT id FROM "order" ORDER BY id')))
        event_id = event.id
        db.engine.dispose()
    return event_id, order_ids


def queue_confirmations(db_url: str, smtp_port: int, order_ids: list[int]) -> float:
    """Marks each order paid in its own transaction (mark_paid queues the confirmation); returns
    the seconds it took. Then ANALYZEs, as autovacuum would."""
    from eventreg.core.clock import now
    from eventreg.extensions import db
    from eventreg.registration.models import Order
    from eventreg.registration.services import mark_paid

    app = make_app(db_url, smtp_port)
    with app.app_context():
        start = time.perf_counter()
        for order_id in order_ids:
            mark_paid(db.session.get(Order, order_id), now=now())
            db.session.commit()
        seconds = time.perf_counter() - start
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()
    return seconds


def outbox_state(db_url: str) -> tuple[Counter, list[str]]:
    """(messages per status, Message-IDs of all messages)."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, message_id FROM outbox_message")).all()
    engine.dispose()
    return Counter(status for status, _ in rows), [message_id for _, message_id in rows]


# --- baselines ------------------------------------------------------------------------------


def baselines(db_url, smtp_port, n_bytes, n_compose, distinct, results) -> None:
    """Baseline 1: `distinct` messages composed beforehand, sent `n_bytes` times in turn over one
    smtplib connection. Baseline 2: compose() and send, `n_compose` messages, one connection."""
    try:
        from eventreg.extensions import db
        from eventreg.mail.compose import compose
        from eventreg.mail.models import OutboxMessage

        app = make_app(db_url, smtp_port)
        with app.app_context():
            messages = list(
                db.session.scalars(
                    sa.select(OutboxMessage).order_by(OutboxMessage.id).limit(max(distinct, n_compose))
                )
            )
            compose(messages[-1])  # warm-up: fonts, templates, translations
            composed = [(*compose(m), m.recipient_email) for m in messages[-distinct:]]
            db.session.expire_all()

            smtp = smtplib.SMTP("127.0.0.1", smtp_port)
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(n_bytes):
                sender, raw, recipient = composed[i % len(composed)]
                smtp.sendmail(sender, [recipient], raw)
            bytes_seconds, bytes_cpu = time.perf_counter() - start, time.process_time() - cpu
            smtp.quit()

            compose_times, compose_cpu = [], []
            smtp = smtplib.SMTP("127.0.0.1", smtp_port)
            start, cpu = time.perf_counter(), time.process_time()
            for m in messages[:n_compose]:
                t, c = time.perf_counter(), time.process_time()
                sender, raw = compose(m)
                compose_times.append(time.perf_counter() - t)
                compose_cpu.append(time.process_time() - c)
                smtp.sendmail(sender, [m.recipient_email], raw)
            compose_seconds, loop_cpu = time.perf_counter() - start, time.process_time() - cpu
            smtp.quit()
        results.put(
            {
                "bytes_rate": n_bytes / bytes_seconds,
                "bytes_cpu": bytes_cpu / n_bytes,
                "compose_rate": n_compose / compose_seconds,
                "compose_loop_cpu": loop_cpu / n_compose,
                "compose_times": compose_times,
                "compose_cpu": compose_cpu,
                "sizes": [len(raw) for _, raw, _ in composed],
            }
        )
    except BaseException:
        results.put({"error": traceback.format_exc()})


# --- the outbox workers ---------------------------------------------------------------------


class Stopwatch:
    """Wraps functions that deliver_due calls (in this process only) to add up where a worker's
    time goes, wall clock and CPU; each call costs two perf_counter and two process_time calls."""

    def __init__(self):
        self.seconds: defaultdict[str, float] = defaultdict(float)  # wall clock
        self.cpu: defaultdict[str, float] = defaultdict(float)  # this process's CPU
        self.compose_times: list[float] = []

    def install(self) -> None:
        from eventreg.mail import compose, services, transport
        from eventreg.tickets import documents

        self._wrap(compose, "compose", "compose", self.compose_times)
        self._wrap(documents, "html_to_pdf", "WeasyPrint (ticket PDF)")
        self._wrap(documents, "qr_png", "QR PNGs")
        self._wrap(transport.SmtpTransport, "send", "SMTP send")
        self._wrap(transport, "open_transport", "SMTP connect")
        self._wrap(transport.SmtpTransport, "__exit__", "SMTP connect")
        self._wrap(services, "_claim_due", "claim (database)")

    def _wrap(self, owner, name: str, label: str, each: list | None = None) -> None:
        function = getattr(owner, name)

        def timed(*args, **kwargs):
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.seconds[label] += elapsed
                self.cpu[label] += time.process_time() - cpu
                if each is not None:
                    each.append(elapsed)

        setattr(owner, name, timed)

    def reset(self) -> None:
        self.seconds.clear()
        self.cpu.clear()
        self.compose_times.clear()


def warm_up() -> None:
    """Composes one queued message without sending it: fonts, templates and translations load."""
    from eventreg.extensions import db
    from eventreg.mail.compose import compose
    from eventreg.mail.models import OutboxMessage

    compose(db.session.scalars(sa.select(OutboxMessage).limit(1)).one())
    db.session.remove()


def outbox_worker(db_url, smtp_port, index, barrier, results, may_exit) -> None:
    """One worker process: warms up, waits for the others, runs deliver_all_due once (the job of
    the Celery task), reports, and stays alive until the parent has read its memory."""
    try:
        from eventreg.core.clock import now
        from eventreg.extensions import db
        from eventreg.mail.services import deliver_all_due

        app = make_app(db_url, smtp_port)
        stopwatch = Stopwatch()
        stopwatch.install()
        with app.app_context():
            warm_up()
            stopwatch.reset()
            barrier.wait()
            cpu, start = time.process_time(), time.perf_counter()
            report = deliver_all_due(now_fn=now)
            end = time.perf_counter()
            db.session.remove()
        results.put(
            {
                "index": index,
                "sent": report.sent,
                "retrying": report.retrying,
                "failed": report.failed,
                "seconds": end - start,
                "end": end,
                "cpu": time.process_time() - cpu,
                "parts": dict(stopwatch.seconds),
                "parts_cpu": dict(stopwatch.cpu),
                "compose_times": stopwatch.compose_times,
            }
        )
    except BaseException:
        barrier.abort()
        results.put({"index": index, "error": traceback.format_exc()})
    may_exit.wait()


def run_workers(db_url: str, server: Server, n: int, k: int) -> dict:
    barrier, results, may_exit = CTX.Barrier(k + 1), CTX.Queue(), CTX.Event()
    procs = [
        CTX.Process(target=outbox_worker, args=(db_url, server.port, i, barrier, results, may_exit))
        for i in range(k)
    ]
    for p in procs:
        p.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a worker failed: see its traceback
        barrier.wait(timeout=300)
    start, base = time.perf_counter(), server.received.value
    cpu_before = {
        "server": cpu_seconds(server.proc.pid),
        "postgres": postgres_cpu_seconds(),
        "machine": machine_cpu_seconds(),
    }
    marks = {10: math.ceil(n / 10), 50: math.ceil(n / 2)}
    rss: dict[int, list] = {}
    done: list[dict] = []
    next_report = 0.1
    while len(done) < k:
        with contextlib.suppress(queue.Empty):
            done.append(results.get(timeout=0.05))
        count = server.received.value - base
        for pct, at in marks.items():
            if pct not in rss and count >= at:
                rss[pct] = [rss_mb(p.pid) for p in procs]
        if count >= next_report * n:
            print(f"  {count} / {n} received after {time.perf_counter() - start:.0f} s", flush=True)
            next_report += 0.1
    rss[100] = [rss_mb(p.pid) for p in procs]  # every worker is done and waits for may_exit
    cpu = {
        "server": cpu_seconds(server.proc.pid) - cpu_before["server"],
        "postgres": postgres_cpu_seconds() - cpu_before["postgres"],
        "machine": machine_cpu_seconds() - cpu_before["machine"],
    }
    may_exit.set()
    for p in procs:
        p.join(60)
    errors = [r["error"] for r in done if "error" in r]
    if errors:
        raise SystemExit("a worker failed:\n" + "\n".join(errors))
    return {
        "workers": sorted(done, key=lambda r: r["index"]),
        "seconds": max(r["end"] for r in done) - start,
        "rss": rss,
        "cpu": cpu,
    }


# --- profile --------------------------------------------------------------------------------


def profiled_worker(db_url, smtp_port, stats_path, results) -> None:
    try:
        from eventreg.core.clock import now
        from eventreg.extensions import db
        from eventreg.mail.services import deliver_all_due

        app = make_app(db_url, smtp_port)
        with app.app_context():
            warm_up()
            profile = cProfile.Profile()
            profile.enable()
            report = deliver_all_due(now_fn=now)
            profile.disable()
            db.session.remove()
        profile.dump_stats(stats_path)
        results.put({"sent": report.sent})
    except BaseException:
        results.put({"error": traceback.format_exc()})


# (label, file the function is in, function name): cumulative times, nested as indented.
PROFILE_ROWS = [
    ("deliver_all_due (everything)", "eventreg/mail/services.py", "deliver_all_due"),
    ("compose()", "eventreg/mail/compose.py", "compose"),
    ("  ticket_pdf()", "eventreg/tickets/documents.py", "ticket_pdf"),
    ("    WeasyPrint: parse + layout", "weasyprint/__init__.py", "render"),
    ("    WeasyPrint: write PDF, fonts", "weasyprint/document.py", "write_pdf"),
    ("  qr_png() (2 per message)", "eventreg/tickets/documents.py", "qr_png"),
    ("  ticket_qr() (2 per message)", "eventreg/tickets/services.py", "ticket_qr"),
    ("  render_template() (mail + PDF)", "flask/templating.py", "render_template"),
    ("  event_ics()", "eventreg/tickets/documents.py", "event_ics"),
    ("  MIME as_bytes()", "eventreg/mail/compose.py", "as_bytes"),
    ("SMTP sendmail", "smtplib.py", "sendmail"),
    ("SQL: all statements", "sqlalchemy/engine/base.py", "_execute_context"),
    ("SQL: COMMIT", "sqlalchemy/engine/base.py", "_commit_impl"),
    ("  _claim_due()", "eventreg/mail/services.py", "_claim_due"),
    ("  Session.commit() (incl. flush)", "sqlalchemy/orm/session.py", "commit"),
]


def profile_report(stats_path: str, sent: int) -> list[str]:
    stats = pstats.Stats(stats_path).stats

    def cumulative(path: str, name: str) -> float:
        return max(
            (
                ct
                for (file, _, func), (_, _, _, ct, _) in stats.items()
                if file.endswith(path) and func == name
            ),
            default=0.0,
        )

    total = cumulative("eventreg/mail/services.py", "deliver_all_due")
    lines = [f"profile of one worker delivering {sent} messages (cProfile, cumulative):", ""]
    for label, path, name in PROFILE_ROWS:
        seconds = cumulative(path, name)
        lines.append(f"  {label:<36} {1000 * seconds / sent:7.1f} ms/message  {100 * seconds / total:5.1f} %")
    lines += ["", "top own time (tottime):", ""]
    own = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:12]
    for (file, line, func), (_, calls, tottime, _, _) in own:
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
        lines.append(f"  {1000 * tottime / sent:6.2f} ms/message  {calls / sent:8.1f} calls  {func}  {where}")
    return lines


def run_profile(db_url: str, server: Server) -> list[str]:
    results = CTX.Queue()
    with tempfile.NamedTemporaryFile(suffix=".prof", delete=False) as f:
        stats_path = f.name
    try:
        proc = CTX.Process(target=profiled_worker, args=(db_url, server.port, stats_path, results))
        proc.start()
        result = results.get()
        proc.join(60)
        if "error" in result:
            raise SystemExit("the profiled worker failed:\n" + result["error"])
        return profile_report(stats_path, result["sent"])
    finally:
        os.unlink(stats_path)


# --- report ---------------------------------------------------------------------------------


def table(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'metric':<{width}}  {'value':<{vwidth}}  target")
    print(f"{'-' * width}  {'-' * vwidth}  {'-' * 14}")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<{vwidth}}  {target}")


def ms(seconds: float, per: int) -> str:
    return f"{1000 * seconds / per:.1f} ms"


def memory_rows(run: dict) -> tuple[list, list[float]]:
    """Rows with each worker's peak RSS at 10, 50 and 100 % of the messages, and its growth."""
    rows, growths = [], []
    for i, worker in enumerate(run["workers"]):
        peaks = [run["rss"][pct][i][1] if pct in run["rss"] else float("nan") for pct in (10, 50, 100)]
        growth = peaks[2] - peaks[0]
        growths.append(growth / peaks[0])
        per_message = 1024 * growth / (0.9 * worker["sent"]) if worker["sent"] else float("nan")
        rows += [
            (
                f"worker {i + 1}: peak RSS at 10 / 50 / 100 %",
                " / ".join(f"{p:.0f}" for p in peaks) + " MB",
                "",
            ),
            (
                f"worker {i + 1}: growth 10 % -> 100 %",
                f"{growth:+.1f} MB ({100 * growth / peaks[0]:+.1f} %, {per_message:+.0f} KB/message)",
                f"<= +{100 * TARGETS['rss_growth']:.0f} %",
            ),
        ]
    return rows, growths


def split_rows(run: dict, sent: int) -> list:
    """Where the workers' time went: wall clock and CPU per message, from the Stopwatch."""
    wall: defaultdict[str, float] = defaultdict(float)
    cpu: defaultdict[str, float] = defaultdict(float)
    for worker in run["workers"]:
        for label, seconds in worker["parts"].items():
            wall[label] += seconds
        for label, seconds in worker["parts_cpu"].items():
            cpu[label] += seconds
    for parts, total in (
        (wall, sum(w["seconds"] for w in run["workers"])),
        (cpu, sum(w["cpu"] for w in run["workers"])),
    ):
        parts["rest of compose (DB reads, signing, templates, MIME)"] = (
            parts["compose"] - parts["WeasyPrint (ticket PDF)"] - parts["QR PNGs"]
        )
        parts["SMTP (send; connect + quit per batch)"] = parts["SMTP send"] + parts["SMTP connect"]
        parts["database outside compose (claim, load, mark sent, commit)"] = (
            total - parts["compose"] - parts["SMTP (send; connect + quit per batch)"]
        )
    labels = [
        "compose",
        "  WeasyPrint (ticket PDF)",
        "  QR PNGs",
        "  rest of compose (DB reads, signing, templates, MIME)",
        "SMTP (send; connect + quit per batch)",
        "database outside compose (claim, load, mark sent, commit)",
        "  of which claim",
    ]
    keys = [label.strip() for label in labels[:-1]] + ["claim (database)"]
    total_wall = sum(w["seconds"] for w in run["workers"])
    return [
        (
            f"worker time: {label}",
            f"{ms(wall[key], sent)} ({100 * wall[key] / total_wall:.0f} %), CPU {ms(cpu[key], sent)}",
            "",
        )
        for label, key in zip(labels, keys, strict=True)
    ]


def report(args, queue_seconds, base, run, arrived, statuses, expected_ids, profile) -> bool:
    n, k = args.messages, args.workers
    workers = run["workers"]
    rate = n / run["seconds"]
    b1, b2 = base["bytes_rate"], base["compose_rate"]
    sent = sum(w["sent"] for w in workers)
    expected = set(expected_ids)
    lost = len(expected - arrived.keys())
    doubled = sum(c - 1 for c in arrived.values() if c > 1)
    unknown = sum(c for i, c in arrived.items() if i not in expected)
    alone, alone_cpu = base["compose_times"], base["compose_cpu"]
    together = [t for w in workers for t in w["compose_times"]]
    worker_cpu = sum(w["cpu"] for w in workers)
    ours = worker_cpu + run["cpu"]["server"] + run["cpu"]["postgres"]
    rss_rows, growths = memory_rows(run)
    rows = [
        ("messages (confirmations)", f"{n}", ""),
        ("message size, mean", f"{statistics.mean(base['sizes']) / 1024:.0f} KB", ""),
        ("queue: mark_paid + commit, one order each", f"{n / queue_seconds:.0f} orders/s", ""),
        (
            "compose one message, alone: mean / p95",
            f"{1000 * statistics.mean(alone):.0f} / {percentile_ms(alone, 95):.0f} ms, "
            f"CPU {1000 * statistics.mean(alone_cpu):.0f} ms",
            "",
        ),
        (
            f"compose one message, {k} workers: mean / p95",
            f"{1000 * statistics.mean(together):.0f} / {percentile_ms(together, 95):.0f} ms",
            "",
        ),
        ("baseline 1: smtplib, composed bytes", f"{b1:.0f} messages/s, CPU {ms(base['bytes_cpu'], 1)}", ""),
        (
            f"baseline 2: compose + smtplib ({len(alone)})",
            f"{b2:.1f} messages/s, CPU {ms(base['compose_loop_cpu'], 1)}",
            "",
        ),
        (f"outbox: {k} workers until all SENT", f"{rate:.1f} messages/s ({run['seconds']:.0f} s)", ""),
        ("  per worker process", f"{rate / k:.2f} messages/s, CPU {ms(worker_cpu, sent)}", ""),
        ("  outbox / baseline 1", f"{rate / b1:.3f}", f">= {TARGETS['ratio']}"),
        ("  outbox / baseline 2", f"{rate / b2:.2f}", f">= {TARGETS['ratio']}"),
        ("  per worker / baseline 2", f"{rate / k / b2:.2f}", ""),
        *split_rows(run, sent),
        ("worker CPU / wall clock", " ".join(f"{w['cpu'] / w['seconds']:.2f}" for w in workers), ""),
        ("CPU per message: SMTP server", ms(run["cpu"]["server"], sent), ""),
        ("CPU per message: PostgreSQL", ms(run["cpu"]["postgres"], sent), ""),
        (
            "CPU of other processes during the run",
            f"{max(0.0, run['cpu']['machine'] - ours) / run['seconds']:.2f} of {os.cpu_count()} cores",
            "",
        ),
        *rss_rows,
        (
            "sent (worker reports)",
            f"{sent}; retrying {sum(w['retrying'] for w in workers)}, "
            f"failed {sum(w['failed'] for w in workers)}",
            f"= {n}",
        ),
        ("outbox rows by status", ", ".join(f"{s}: {c}" for s, c in sorted(statuses.items())), f"sent: {n}"),
        ("received at the server", f"{sum(arrived.values())} ({len(arrived)} Message-IDs)", f"= {n}"),
        ("lost / doubled / unknown", f"{lost} / {doubled} / {unknown}", "0 / 0 / 0"),
    ]
    print(f"\nmachine: nproc={os.cpu_count()}, {cpu_model()}; load average at start {args.load}")
    print(f"outbox: {k} worker processes, deliver_all_due (batches of 50), aiosmtpd in its own process\n")
    table(rows)
    print()
    print("\n".join(profile))
    verdicts = {
        "every message SENT and received exactly once": (
            lost == doubled == unknown == 0 and sum(arrived.values()) == sent == statuses.get("sent", 0) == n
        ),
        f"memory flat (peak RSS growth 10 -> 100 % <= {100 * TARGETS['rss_growth']:.0f} %)": all(
            g <= TARGETS["rss_growth"] for g in growths
        ),
        ">= 50 % of the plain loop (baseline 2: compose + smtplib, no outbox)": rate / b2 >= TARGETS["ratio"],
    }
    print()
    for verdict, ok in verdicts.items():
        print(f"{'yes' if ok else 'NO '}  {verdict}")
    print(
        f"info {100 * rate / b1:.1f} % of baseline 1 (bytes composed beforehand): the SMTP side alone; "
        "no sender that composes each confirmation (its ticket PDF) comes near it"
    )
    return all(verdicts.values())


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10000, help="confirmations through the outbox")
    parser.add_argument("--workers", type=int, default=2, help="outbox worker processes")
    parser.add_argument("--baseline-compose", type=int, default=500, help="messages of baseline 2")
    parser.add_argument("--distinct", type=int, default=200, help="composed messages baseline 1 cycles")
    parser.add_argument("--profile", type=int, default=100, help="messages the profiled worker delivers")
    args = parser.parse_args()
    args.load = Path("/proc/loadavg").read_text().split()[0]
    n = args.messages
    n_compose = min(args.baseline_compose, n)

    db_name, db_url = create_database()
    server = Server()
    try:
        print(f"setup: {n + args.profile} pending invoice orders ...", flush=True)
        _, order_ids = migrate_and_create_orders(db_url, server.port, n + args.profile)
        print(f"queue: marking {n} orders paid ...", flush=True)
        queue_seconds = queue_confirmations(db_url, server.port, order_ids[:n])

        print(f"baselines: {n} composed messages, then {n_compose} composed and sent ...", flush=True)
        results = CTX.Queue()
        proc = CTX.Process(
            target=baselines, args=(db_url, server.port, n, n_compose, min(args.distinct, n), results)
        )
        proc.start()
        base = results.get()
        proc.join(60)
        if "error" in base:
            raise SystemExit("the baselines failed:\n" + base["error"])
        server.take()

        print(f"outbox: {args.workers} workers deliver {n} messages ...", flush=True)
        run = run_workers(db_url, server, n, args.workers)
        arrived = server.take()
        statuses, expected_ids = outbox_state(db_url)

        print(f"profile: {args.profile} more confirmations through one profiled worker ...", flush=True)
        queue_confirmations(db_url, server.port, order_ids[n:])
        profile = run_profile(db_url, server)
        server.take()

        ok = report(args, queue_seconds, base, run, arrived, statuses, expected_ids, profile)
        return 0 if ok else 1
    finally:
        server.stop()
        drop_database(db_name)


if __name__ == "__main__":
    sys.exit(main())
