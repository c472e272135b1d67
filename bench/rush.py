"""A registration rush: many buyers race for the seats of one event, through the API under gunicorn.

Creates a fresh PostgreSQL database, migrates it, creates one event (a shared quota over three paid
ticket types), starts gunicorn, and lets N client processes make the attempts over keep-alive
connections. Then checks the database for overselling and measures a baseline: the same locking
transaction run directly with psycopg by as many concurrent clients. See bench/README.md.

    .venv/bin/python bench/rush.py --attempts 5000 --seats 550 --clients 16 --workers 3
"""

import argparse
import http.client
import json
import multiprocessing as mp
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("DATABASE_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PRICES_ORE = (1950_00, 2950_00, 450_00)  # early bird, regular, student: all drawing on one quota
TARGETS = {"attempts_s": 270, "orders_s": 80, "p99_ms": 300}
CTX = mp.get_context("spawn")  # clients start clean, without the parent's app and connections

# The seat count of capacity.compute_availability: attendees of live orders, per ticket type.
LIVE_SEATS = """
    SELECT attendee.ticket_type_id, count(*) FROM attendee JOIN "order" ON attendee.order_id = "order".id
    WHERE attendee.event_id = %(event)s
      AND ("order".status = 'paid' OR ("order".status = 'pending' AND "order".expires_at > %(now)s))
    GROUP BY attendee.ticket_type_id
"""
INSERT_ORDER = """
    INSERT INTO "order" (code, event_id, status, payment_method, buyer_name, buyer_email, buyer_language,
                         total_ore, manage_token, created_at, expires_at)
    VALUES (%(code)s, %(event)s, 'pending', 'card', 'Buyer', 'buyer@example.org', 'en',
            %(price)s, %(token)s, %(now)s, %(expires)s)
    RETURNING id
"""
INSERT_ATTENDEE = """
    INSERT INTO attendee (order_id, event_id, ticket_type_id, position, name, email, language,
                          price_ore, vat_rate, manage_token)
    VALUES (%(order)s, %(event)s, %(type)s, 0, 'Attendee', 'buyer@example.org', 'en', %(price)s, 25,
            gen_random_uuid()::text)
"""
PAST_ORDERS = """
    INSERT INTO "order" (code, event_id, status, payment_method, buyer_name, buyer_email, buyer_language,
                         total_ore, manage_token, created_at, paid_at)
    SELECT 'PAST' || g, :event, 'paid', 'card', 'Buyer', 'buyer@example.org', 'en', 45000, md5(g::text),
           now() - interval '1 year', now() - interval '1 year'
    FROM generate_series(1, :n) AS g
"""
PAST_ATTENDEES = """
    INSERT INTO attendee (order_id, event_id, ticket_type_id, position, name, email, language,
                          price_ore, vat_rate, manage_token)
    SELECT id, event_id, :type, 0, 'Attendee', 'buyer@example.org', 'en', total_ore, 25,
           gen_random_uuid()::text
    FROM "order" WHERE event_id = :event
"""


# --- setup ----------------------------------------------------------------------------------


def create_database() -> tuple[str, str]:
    """A new empty database: (its name, its SQLAlchemy URL)."""
    name = f"eventreg_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def migrate_and_create_events(
    db_url: str, seats: int, baseline_rounds: int, *, history: int, analyze: bool
) -> dict:
    """Runs the Alembic migrations, creates the rush event, one event per baseline round and a past
    event with `history` paid orders (a database in use is not empty), then ANALYZEs.
    Returns {slug: (event id, [ticket type ids])}."""
    sys.path.insert(0, str(ROOT))
    import flask_migrate

    from eventreg import create_app
    from eventreg.events.models import Event, EventStatus, Organiser, Quota, TicketType
    from eventreg.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url})
    events = {}
    with app.app_context():
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        for slug in ["past", "rush", *(f"baseline-{i}" for i in range(baseline_rounds))]:
            quota = Quota(name="All seats", size=seats)
            organiser = Organiser(name="Bench")
            event = Event(
                organiser=organiser,
                slug=slug,
                title={"nb": f"Rush {slug}", "en": f"Rush {slug}"},
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
            )
            db.session.add(event)
            db.session.flush()
            events[slug] = (event.id, [tt.id for tt in event.ticket_types])
        past_id, past_types = events.pop("past")
        db.session.execute(sa.text(PAST_ORDERS), {"event": past_id, "n": history})
        db.session.execute(sa.text(PAST_ATTENDEES), {"event": past_id, "type": past_types[0]})
        db.session.commit()
        if analyze:
            # Statistics, as autovacuum keeps them in production (it is off on some machines).
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        db.engine.dispose()
    return events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(db_url: str, port: int, args, log_path: Path) -> tuple[subprocess.Popen, list[str]]:
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "app:app",
        f"--bind=127.0.0.1:{port}",
        f"--workers={args.workers}",
        f"--worker-class={args.worker_class}",
        f"--threads={args.threads}",
        "--log-level=warning",
        f"--error-logfile={log_path}",
    ]
    # Every client runs on this machine, one address: per-address rate limits would stop them.
    env = {**os.environ, "DATABASE_URL": db_url, "DB_POOL_SIZE": str(args.pool_size), "RATE_LIMITS": "false"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env), cmd


def workers_cpu_seconds(master_pid: int) -> float:
    """User + system CPU time used so far by the gunicorn workers (Linux /proc)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    total = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """User + system CPU time used so far by every PostgreSQL server process on this machine."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, _, rest = stat.read_text().partition(") ")
        except OSError:
            continue  # the process ended
        if name.endswith("(postgres"):
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_until_up(proc: subprocess.Popen, port: int, path: str, timeout: float = 30) -> None:
    """Waits for a 200, then warms every worker up with a few reads of the event."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("gunicorn did not answer in time")
        time.sleep(0.1)
    for _ in range(50):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        conn.getresponse().read()
        conn.close()


# --- the rush -------------------------------------------------------------------------------


def order_body(i: int, type_ids: list[int]) -> bytes:
    return json.dumps(
        {
            "buyer": {"name": f"Buyer {i}", "email": f"buyer{i}@example.org", "language": "en"},
            "attendees": [
                {
                    "name": f"Attendee {i}",
                    "email": f"attendee{i}@example.org",
                    "ticket_type_id": type_ids[i % len(type_ids)],
                    "answers": {},
                    "session_ids": [],
                }
            ],
            "payment_method": "card",
        }
    ).encode()


def rush_client(port, path, type_ids, attempts, counter, barrier, results) -> None:
    """Takes attempt numbers from the shared counter until all are taken; one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    records = []
    barrier.wait()
    cpu_start = time.process_time()
    while True:
        with counter.get_lock():
            i = counter.value
            if i >= attempts:
                break
            counter.value += 1
        body = order_body(i, type_ids)
        start = time.perf_counter()
        try:
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            status, data = response.status, response.read()
        except (OSError, http.client.HTTPException):
            conn.close()  # counted as status 0; the next request reconnects
            status, data = 0, b""
        end = time.perf_counter()
        error = json.loads(data).get("error", "") if status == 409 else ""
        records.append((start, end, status, error))
    conn.close()
    results.put((records, time.process_time() - cpu_start))


def run_processes(target, n: int, args: tuple) -> tuple[float, list]:
    """Starts n processes of `target`, releases them together; returns (start time, their results)."""
    barrier, results = CTX.Barrier(n + 1), CTX.Queue()
    procs = [CTX.Process(target=target, args=(*args, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    collected = [results.get() for _ in procs]  # before join: a full pipe would block the child
    for p in procs:
        p.join()
    return t0, collected


# --- the baseline ---------------------------------------------------------------------------


def baseline_client(conninfo, event_id, type_ids, seats, barrier, results) -> None:
    """The app's selling transaction in plain SQL, in a loop until the event is sold out."""
    import psycopg

    commits = []
    with psycopg.connect(conninfo) as conn:
        barrier.wait()
        while True:
            now = datetime.now(UTC)
            conn.execute("UPDATE event SET sale_lock = sale_lock + 1 WHERE id = %s", (event_id,))
            used = sum(n for _, n in conn.execute(LIVE_SEATS, {"event": event_id, "now": now}))
            if used >= seats:
                conn.rollback()
                break
            type_id = type_ids[len(commits) % len(type_ids)]
            price = PRICES_ORE[type_ids.index(type_id)]
            order_id = conn.execute(
                INSERT_ORDER,
                {
                    "code": secrets.token_hex(8),
                    "event": event_id,
                    "price": price,
                    "token": secrets.token_urlsafe(32),
                    "now": now,
                    "expires": now + timedelta(minutes=30),
                },
            ).fetchone()[0]
            conn.execute(
                INSERT_ATTENDEE, {"order": order_id, "event": event_id, "type": type_id, "price": price}
            )
            conn.commit()
            commits.append(time.perf_counter())
    results.put(commits)


def baseline_tx_per_s(db_url: str, event: tuple, seats: int, clients: int) -> float:
    conninfo = sa.make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    t0, commits = run_processes(baseline_client, clients, (conninfo, *event, seats))
    times = sorted(t for c in commits for t in c)
    return len(times) / (times[-1] - t0)


# --- report ---------------------------------------------------------------------------------


def percentile_ms(values: list[float], p: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def count_sold(db_url: str, event_id: int) -> tuple[int, int]:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        orders = conn.scalar(sa.text('SELECT count(*) FROM "order" WHERE event_id = :e'), {"e": event_id})
        attendees = conn.scalar(sa.text("SELECT count(*) FROM attendee WHERE event_id = :e"), {"e": event_id})
    engine.dispose()
    return orders, attendees


def report(args, records, t0, orders, sold, baseline, gunicorn_cmd, cpu: dict) -> bool:
    ends = [r[1] for r in records]
    latencies = [end - start for start, end, _, _ in records]
    created = sorted(end for _, end, status, _ in records if status == 201)
    statuses: dict[str, int] = {}
    for _, _, status, error in records:
        key = f"{status} {error}".strip()
        statuses[key] = statuses.get(key, 0) + 1
    fivexx = sum(n for key, n in statuses.items() if key.startswith("5"))
    other = sum(n for key, n in statuses.items() if not key.startswith(("201", "409 sold_out", "5")))
    oversold = max(0, sold - args.seats)
    wall = max(ends) - t0
    attempts_s = len(records) / wall
    sold_out_at = created[min(len(created), args.seats) - 1] if created else float("nan")
    orders_s = min(len(created), args.seats) / (sold_out_at - t0)
    p50, p99 = percentile_ms(latencies, 50), percentile_ms(latencies, 99)
    lat_201 = [end - start for start, end, status, _ in records if status == 201]

    rows = [
        ("attempts", f"{len(records)}", ""),
        ("201 created (responses)", f"{len(created)}", ""),
        ("sold: orders / attendees in db", f"{orders} / {sold} of {args.seats} seats", f"= {args.seats}"),
        ("oversold", f"{oversold}", "0"),
        ("5xx", f"{fivexx}", "0"),
        ("other (not 201/409 sold_out/5xx)", f"{other}", ""),
        ("statuses", ", ".join(f"{k}: {n}" for k, n in sorted(statuses.items())), ""),
        ("wall clock, all attempts", f"{wall:.2f} s", ""),
        ("attempts/s", f"{attempts_s:.0f}", f">= {TARGETS['attempts_s']}"),
        ("sold out after", f"{sold_out_at - t0:.2f} s", ""),
        ("created orders/s until sold out", f"{orders_s:.0f}", f">= {TARGETS['orders_s']}"),
        ("latency p50 / p99, all", f"{p50:.0f} / {p99:.0f} ms", f"p99 <= {TARGETS['p99_ms']}"),
        (
            "latency p50 / p99, 201",
            f"{percentile_ms(lat_201, 50):.0f} / {percentile_ms(lat_201, 99):.0f} ms",
            "",
        ),
        *(
            (f"CPU per attempt: {who}", f"{1000 * seconds / len(records):.1f} ms", "")
            for who, seconds in cpu.items()
        ),
        ("baseline tx/s (psycopg, median)", f"{statistics.median(baseline):.0f}", ""),
        ("baseline rounds", " ".join(f"{b:.0f}" for b in baseline), ""),
        ("app orders/s / baseline tx/s", f"{orders_s / statistics.median(baseline):.2f}", ""),
    ]
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"\nmachine: nproc={os.cpu_count()}; clients: {args.clients} processes, one http.client connection")
    print(f"gunicorn: {' '.join(['gunicorn', *gunicorn_cmd[1:]])}")
    print(f"          DB_POOL_SIZE={args.pool_size}\n")
    print(f"{'metric':<{width}}  {'value':<{vwidth}}  target")
    print(f"{'-' * width}  {'-' * vwidth}  {'-' * 10}")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<{vwidth}}  {target}")
    ok = (
        oversold == 0
        and fivexx == 0
        and sold == args.seats
        and len(created) == orders
        and attempts_s >= TARGETS["attempts_s"]
        and orders_s >= TARGETS["orders_s"]
        and p99 <= TARGETS["p99_ms"]
    )
    if len(created) != orders:
        print(f"\nMISMATCH: {len(created)} responses were 201 but the database has {orders} orders")
    print(f"\n{'all targets met' if ok else 'TARGETS MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attempts", type=int, default=5000)
    parser.add_argument("--seats", type=int, default=550)
    parser.add_argument("--clients", type=int, default=16, help="client processes (concurrent buyers)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class: sync or gthread")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--pool-size", type=int, default=10, help="DB_POOL_SIZE of each worker")
    parser.add_argument("--baseline-rounds", type=int, default=3)
    parser.add_argument("--history", type=int, default=5000, help="paid orders of a past event")
    parser.add_argument("--no-analyze", action="store_true", help="leave the new tables without statistics")
    args = parser.parse_args()

    db_name, db_url = create_database()
    proc = None
    try:
        events = migrate_and_create_events(
            db_url, args.seats, args.baseline_rounds, history=args.history, analyze=not args.no_analyze
        )
        event_id, type_ids = events["rush"]
        port = free_port()
        log_path = Path(tempfile.gettempdir()) / f"{db_name}-gunicorn.log"
        proc, gunicorn_cmd = start_gunicorn(db_url, port, args, log_path)
        wait_until_up(proc, port, "/api/v1/events/rush")
        print(f"rush: {args.attempts} attempts by {args.clients} clients for {args.seats} seats ...")
        workers_before, postgres_before = workers_cpu_seconds(proc.pid), postgres_cpu_seconds()
        t0, per_client = run_processes(
            rush_client,
            args.clients,
            (port, "/api/v1/events/rush/orders", type_ids, args.attempts, CTX.Value("i")),
        )
        records = [r for client_records, _ in per_client for r in client_records]
        cpu = {
            "gunicorn workers": workers_cpu_seconds(proc.pid) - workers_before,
            "PostgreSQL": postgres_cpu_seconds() - postgres_before,
            "clients": sum(client_cpu for _, client_cpu in per_client),
        }
        proc.terminate()
        proc.wait(timeout=30)
        proc = None
        orders, sold = count_sold(db_url, event_id)
        print("baseline ...")
        baseline = [
            baseline_tx_per_s(db_url, events[f"baseline-{i}"], args.seats, args.clients)
            for i in range(args.baseline_rounds)
        ]
        ok = report(args, records, t0, orders, sold, baseline, gunicorn_cmd, cpu)
        if log_path.stat().st_size:
            print(f"gunicorn error log: {log_path}")
        else:
            log_path.unlink()
        return 0 if ok else 1
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        drop_database(db_name)


if __name__ == "__main__":
    sys.exit(main())
