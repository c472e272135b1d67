"""Page renders: the event page, the dashboard and its data, the attendee list and the sponsor
summary, for an event of 50 attendees and one of 5,000, on PostgreSQL.

Creates a fresh PostgreSQL database, migrates it and fills two events built the same way (only
the number of orders differs) with bulk inserts: five ticket types (early bird, regular, members,
student, a free voucher-only speaker ticket) drawing on a shared quota (the student ticket also on
a small quota of its own), three workshops in two time slots, six questions (country,
organisation, diet, interpreter yes/no, a conditional "which language?", one per order), a
voucher, a sponsor, two check-in lists and a few waiting-list entries. Orders of 1-3 attendees
over 90 days: paid by card (with the Stripe payment), paid by invoice (open or settled), free,
pending (holds still running and run out), expired, cancelled and refunded (with the refund); a
few single tickets cancelled out of their order; answers to every question that applies; about
half in a workshop; a third admitted at the main entrance; a third consenting to sponsor contact;
names in Latin, Cyrillic, Greek, Chinese, Arabic and Devanagari script. Then ANALYZE.

Everything is measured in this process through Flask's test client (no gunicorn, no network):
each page gets --warmup requests, then --requests timed ones; a SQLAlchemy `before_cursor_execute`
listener counts the SQL statements of every request (all timed requests of a page must run the
same number). The floor, from the same run and rendered the same way, is the login page (a
template, no query) and /healthz (one query); "x floor" is a page's p50 over the login page's.
"big/small" compares each page for 5,000 attendees with the same page for 50: its query count
must be the same (exit 1 otherwise), its time may grow only with what the page shows.

    .venv/bin/python bench/pages.py --requests 50 --warmup 5
"""

import argparse
import gc
import os
import random
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from rush import create_database, drop_database, percentile_ms

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-organiser"
ORGANISER_EMAIL = "organiser@bench.example.org"
SIZES = (50, 5000)

# Targets for the big event, p99 in ms, in-process on a shared 2-core VM. The public page is
# what buyers load during a rush; the dashboard is polled by organisers while it runs. The
# sponsor summary reads every registered attendee's answers and lists every consenting one (half
# of 5,000 here), so it may take longer: nobody polls it.
TARGETS_P99_MS = {
    "event page": 100,
    "dashboard page": 300,
    "dashboard data": 300,
    "attendee list p1": 300,
    "sponsor summary": 600,
}

FIRST = ["Åse", "Øystein", "Siri", "Kari", "Ivan", "Олена", "Дмитро", "Γιώργος", "Ελένη", "陈伟", "李娜",
         "نادية", "محمد", "प्रिया", "Jürgen", "François", "Zoë", "Nguyễn"]  # fmt: skip
LAST = ["Ødegård", "Hansen", "Bakken", "Шевченко", "Коваленко", "Παπαδόπουλος", "王", "张", "الحسن",
        "العلي", "शर्मा", "Müller", "Lefèvre", "Trần", "Nilsen"]  # fmt: skip
COUNTRIES = [("NO", "Norge", "Norway")] * 6 + [
    ("SE", "Sverige", "Sweden"),
    ("DK", "Danmark", "Denmark"),
    ("UA", "Ukraina", "Ukraine"),
    ("DE", "Tyskland", "Germany"),
    ("GR", "Hellas", "Greece"),
    ("CN", "Kina", "China"),
    ("IN", "India", "India"),
    ("SA", "Saudi-Arabia", "Saudi Arabia"),
    ("KE", "Kenya", "Kenya"),
]
ORGS = ["Mikrofinans Norge", "Sosial Entreprenør AS", "Kirkens Bymisjon", "NAV Oslo", "Ferd", "Fretex",
        "Норвезька рада", "Ελληνικό Δίκτυο", "深圳创新", "مؤسسة الخير", "Self-employed"]  # fmt: skip
DIETS = [("none", "Ingen", "None")] * 5 + [("vegan", "Vegansk", "Vegan"), ("halal", "Halal", "Halal")]


# --- the data -------------------------------------------------------------------------------


def build_event(slug: str, attendees: int, *, organiser_user, now: datetime, seed: int) -> dict:
    """One event with `attendees` attendees (see the module docstring); returns row counts."""
    from eventreg.accounts.models import EventRoleKind
    from eventreg.accounts.services import grant_event_role
    from eventreg.checkin.models import Checkin, CheckinList
    from eventreg.events.models import (
        Event,
        EventSession,
        EventStatus,
        Organiser,
        Question,
        QuestionKind,
        QuestionScope,
        Quota,
        Sponsor,
        TicketType,
        Visibility,
    )
    from eventreg.extensions import db
    from eventreg.payments.models import Payment, Refund, SalesDocument
    from eventreg.registration.models import (
        Answer,
        Attendee,
        AttendeeSession,
        Order,
        Voucher,
        VoucherKind,
        WaitingListEntry,
    )

    rnd = random.Random(seed)
    both = lambda nb, en=None: {"nb": nb, "en": en or nb}  # noqa: E731
    seats = Quota(name="All conference seats", size=attendees + attendees // 5 + 10)
    students = Quota(name="Student seats", size=attendees // 5 + 5)
    types = [
        TicketType(name=both("Tidlig", "Early bird"), price_ore=1950_00, vat_rate=25, position=0,
                   sales_end=datetime(2027, 2, 1, tzinfo=UTC), quotas=[seats]),
        TicketType(name=both("Ordinær", "Regular"), price_ore=2950_00, vat_rate=25, position=1,
                   quotas=[seats]),
        TicketType(name=both("Medlem", "Member"), price_ore=1500_00, vat_rate=25, position=2,
                   visibility=Visibility.MEMBERS, quotas=[seats]),
        TicketType(name=both("Student"), price_ore=450_00, vat_rate=25, position=3, quotas=[seats, students]),
        TicketType(name=both("Foredragsholder", "Speaker"), price_ore=0, vat_rate=0, position=4,
                   visibility=Visibility.VOUCHER, quotas=[seats]),
    ]  # fmt: skip
    sessions = [
        EventSession(name=both("Mikrolån i praksis", "Microloans"), slot="Dag 1, 13:00",
                     capacity=attendees // 3 + 5),
        EventSession(name=both("Sosiale innkjøp", "Social procurement"), slot="Dag 1, 13:00"),
        EventSession(name=both("Impact-måling", "Measuring impact"), slot="Dag 2, 10:00",
                     capacity=attendees // 2 + 5),
    ]  # fmt: skip
    interpreter = Question(kind=QuestionKind.YESNO, label=both("Trenger tolk?", "Interpreter?"), position=4)
    questions = [
        Question(kind=QuestionKind.COUNTRY, label=both("Land", "Country"), position=1, required=True),
        Question(kind=QuestionKind.ORGANISATION, label=both("Organisasjon", "Organisation"), position=2),
        Question(kind=QuestionKind.CHOICE, label=both("Kosthold", "Diet"), position=3,
                 choices=[{"value": v, "nb": nb, "en": en} for v, nb, en in DIETS[4:]]),
        interpreter,
        Question(kind=QuestionKind.CHOICE, label=both("Hvilket språk?", "Which language?"), position=5,
                 depends_on=interpreter, depends_on_value="yes",
                 choices=[{"value": "uk", "nb": "Ukrainsk", "en": "Ukrainian"},
                          {"value": "ar", "nb": "Arabisk", "en": "Arabic"}]),
        Question(kind=QuestionKind.TEXT, label=both("Hvor hørte dere om oss?", "How did you hear of us?"),
                 scope=QuestionScope.ORDER, position=6),
    ]  # fmt: skip
    event = Event(
        organiser=Organiser(name=f"Bench {slug}", org_number="997654323", bank_account="15031234562"),
        slug=slug,
        title=both("Sosialt entreprenørskap 2027", "Social Business Forum 2027"),
        description=both("Et forum.", "A forum."),
        venue="Oslo Kongressenter",
        starts_at=datetime(2027, 5, 27, 7, 0, tzinfo=UTC),
        ends_at=datetime(2027, 5, 28, 15, 0, tzinfo=UTC),
        status=EventStatus.PUBLISHED,
        quotas=[seats, students],
        ticket_types=types,
        sessions=sessions,
        questions=questions,
        sponsors=[Sponsor(name="DNB", level="gold")],
    )
    db.session.add(event)
    db.session.flush()
    db.session.add(Voucher(event_id=event.id, code="SPEAKER27", kind=VoucherKind.UNLOCK, max_uses=100,
                           ticket_type_id=types[4].id))  # fmt: skip
    db.session.add(
        Voucher(event_id=event.id, code="MIKRO20", kind=VoucherKind.PERCENT, value=20, max_uses=500)
    )
    main = CheckinList(event=event, name="Hovedinngang")
    workshop = CheckinList(event=event, name="Mikrolån", session_id=sessions[0].id)
    db.session.add_all([main, workshop])
    grant_event_role(organiser_user, event.id, EventRoleKind.ORGANISER)
    db.session.flush()

    # Orders of 1-3 attendees until `attendees` are placed, created over the last 90 days.
    orders, people = [], []
    placed = 0
    while placed < attendees:
        g = len(orders)
        size = min(1 + rnd.randrange(3), attendees - placed)
        created = now - timedelta(days=90) + timedelta(seconds=rnd.randrange(90 * 86400))
        roll = rnd.random()
        kind = rnd.choices([0, 1, 3, 4], weights=[60, 25, 10, 5])[0]  # the ticket type of the order
        method = "free" if kind == 4 else ("invoice" if rnd.random() < 0.3 else "card")
        status, expires, paid_at, closed = "paid", created + timedelta(minutes=30), created, None
        if roll < 0.06 and method == "card":
            status, paid_at, expires = "pending", None, now + timedelta(minutes=rnd.randrange(1, 30))
        elif roll < 0.09 and method == "card":
            status, paid_at = "pending", None  # a hold that ran out, not yet marked expired
        elif roll < 0.14:
            status, paid_at, closed = "expired", None, expires
        elif roll < 0.20:
            status, closed = "cancelled", created + timedelta(days=3)
        elif roll < 0.23 and method == "card":
            status, closed = "refunded", created + timedelta(days=5)
        buyer = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
        lang = rnd.choice(("nb", "nb", "en"))
        prices = [types[kind].price_ore] * size
        orders.append({
            "code": f"B{seed}-{g:06d}", "event_id": event.id, "status": status,
            "payment_method": method, "buyer_name": buyer, "buyer_email": f"buyer{g}@{slug}.example.org",
            "buyer_language": lang, "total_ore": sum(prices), "manage_token": f"{slug}-order-{g}",
            "created_at": created, "expires_at": expires, "paid_at": paid_at, "closed_at": closed,
        })  # fmt: skip
        for p in range(size):
            name = buyer if p == 0 else f"{rnd.choice(FIRST)} {rnd.choice(LAST)}"
            people.append({
                "g": g, "position": p, "event_id": event.id, "ticket_type_id": types[kind].id,
                "name": name, "email": f"a{g}-{p}@{slug}.example.org", "language": lang,
                "price_ore": prices[p], "vat_rate": types[kind].vat_rate,
                "manage_token": f"{slug}-att-{g}-{p}", "sponsor_consent": rnd.random() < 0.35,
                "cancelled_at": (created + timedelta(days=2)
                                 if status == "paid" and rnd.random() < 0.01 else None),
            })  # fmt: skip
        placed += size

    def insert(model, rows) -> list[int]:
        """Bulk insert (one statement per 1,000 rows); the new ids in the order of `rows`."""
        statement = sa.insert(model).returning(model.id, sort_by_parameter_order=True)
        return db.session.execute(statement, rows).scalars().all()

    order_ids = insert(Order, orders)
    for a in people:
        a["order_id"] = order_ids[a.pop("g")]
    attendee_ids = insert(Attendee, people)
    for o, oid in zip(orders, order_ids, strict=True):
        o["id"] = oid
    live = {o["id"] for o in orders if o["status"] in ("paid", "pending")}

    answers, choices, checkins = [], [], []
    for order in orders:
        if rnd.random() < 0.5:
            text = rnd.choice(("LinkedIn", "Nyhetsbrev", "En kollega", "Facebook"))
            answers.append({"order_id": order["id"], "attendee_id": None, "question_id": questions[5].id,
                            "question_label": questions[5].label, "value": text,
                            "display": both(text)})  # fmt: skip
    for a, aid in zip(people, attendee_ids, strict=True):
        code, nb, en = rnd.choice(COUNTRIES)
        org = rnd.choice(ORGS)
        diet = rnd.choice(DIETS)
        wants = rnd.random() < 0.08
        given = [(questions[0], code, both(nb, en)), (questions[1], org, both(org)),
                 (questions[2], diet[0], both(diet[1], diet[2])),
                 (questions[3], wants, both("Ja", "Yes") if wants else both("Nei", "No"))]  # fmt: skip
        if wants:
            given.append((questions[4], "uk", both("Ukrainsk", "Ukrainian")))
        for q, value, display in given:
            answers.append({"order_id": a["order_id"], "attendee_id": aid, "question_id": q.id,
                            "question_label": q.label, "value": value, "display": display})  # fmt: skip
        if a["order_id"] in live:
            pick = rnd.random()
            if pick < 0.3:
                choices.append({"attendee_id": aid, "session_id": sessions[0].id, "slot": sessions[0].slot})
            elif pick < 0.5:
                choices.append({"attendee_id": aid, "session_id": sessions[1].id, "slot": sessions[1].slot})
            if rnd.random() < 0.4:
                choices.append({"attendee_id": aid, "session_id": sessions[2].id, "slot": sessions[2].slot})
    paid_attendees = [aid for a, aid in zip(people, attendee_ids, strict=True)
                      if a["order_id"] in live and a["cancelled_at"] is None]  # fmt: skip
    for aid in rnd.sample(paid_attendees, len(paid_attendees) // 3):
        at = datetime(2027, 5, 27, 6, 30, tzinfo=UTC) + timedelta(seconds=rnd.randrange(7200))
        checkins.append({"list_id": main.id, "attendee_id": aid, "nonce": f"{slug}-scan-{aid}", "entry_no": 1,
                         "scanned_at": at, "recorded_at": at, "gate": f"Dør {aid % 4}",
                         "offline": aid % 10 == 0, "user_id": organiser_user.id})  # fmt: skip
    db.session.execute(sa.insert(Answer), answers)
    db.session.execute(sa.insert(AttendeeSession), choices)
    if checkins:
        db.session.execute(sa.insert(Checkin), checkins)

    payments, invoices, refunds = [], [], []
    number = 0
    for order in orders:
        if order["payment_method"] == "card" and order["status"] in ("paid", "refunded"):
            payments.append({"order_id": order["id"], "attempt": 1, "session_id": f"cs_{order['code']}",
                             "checkout_url": "https://checkout.stripe.test/x",
                             "amount_ore": order["total_ore"],
                             "status": "paid", "created_at": order["created_at"],
                             "expires_at": order["created_at"] + timedelta(hours=1),
                             "paid_at": order["paid_at"]})  # fmt: skip
        if order["payment_method"] == "invoice" and order["status"] in ("paid", "cancelled"):
            number += 1
            settled = rnd.random() < 0.4
            invoices.append({"organiser_id": event.organiser_id, "number": number, "kind": "invoice",
                             "order_id": order["id"], "status": "settled" if settled else "open",
                             "language": order["buyer_language"], "issued_at": order["created_at"],
                             "due_at": order["created_at"] + timedelta(days=14), "kid": f"{number:08d}0",
                             "lines": [], "total_ore": order["total_ore"], "seller": {},
                             "buyer": {"name": order["buyer_name"]},
                             "paid_at": order["created_at"] + timedelta(days=7) if settled else None,
                             "paid_via": "manual" if settled else None})  # fmt: skip
    payment_ids = insert(Payment, payments) if payments else []
    payment_of = {p["order_id"]: pid for p, pid in zip(payments, payment_ids, strict=True)}
    for order in orders:
        if order["status"] == "refunded":
            refunds.append({"order_id": order["id"], "amount_ore": order["total_ore"], "method": "card",
                            "status": "done", "reason": "Kan ikke komme",
                            "payment_id": payment_of[order["id"]],
                            "stripe_refund_id": f"re_{order['code']}", "created_at": order["closed_at"],
                            "done_at": order["closed_at"]})  # fmt: skip
    if invoices:
        db.session.execute(sa.insert(SalesDocument), invoices)
    if refunds:
        db.session.execute(sa.insert(Refund), refunds)
    entries = [{"event_id": event.id, "ticket_type_id": types[1].id, "seats": 1 + i % 2,
                "name": f"Venter {i}",
                "email": f"wait{i}@{slug}.example.org", "status": "waiting" if i % 3 else "expired",
                "created_at": now - timedelta(days=i)} for i in range(2 + attendees // 100)]  # fmt: skip
    db.session.execute(sa.insert(WaitingListEntry), entries)
    db.session.flush()
    return {"orders": len(orders), "attendees": len(people), "answers": len(answers),
            "workshop choices": len(choices), "check-ins": len(checkins),
            "invoices": len(invoices)}  # fmt: skip


def seed(app, now: datetime) -> dict:
    from eventreg.accounts.services import create_user
    from eventreg.extensions import db

    with app.app_context():
        user = create_user(ORGANISER_EMAIL, "Olav Organiser", PASSWORD)
        counts = {n: build_event(f"forum-{n}", n, organiser_user=user, now=now, seed=n) for n in SIZES}
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        db.session.remove()
    return counts


# --- measuring ------------------------------------------------------------------------------


class StatementCounter:
    """Counts the SQL statements sent through the app's engine."""

    def __init__(self, engine):
        self.engine, self.n = engine, 0

    def _count(self, *args):
        self.n += 1

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._count)


def logged_in_client(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"email": ORGANISER_EMAIL, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.status_code
    return client


def measure(counter: StatementCounter, pages: dict, *, warmup: int, requests: int) -> dict:
    """`pages`: {key: (client, path, check)}. The requests go round-robin over the pages (one
    request of each page, then the next round), so a busy moment of the machine hits every
    page alike and the ratios stay fair; a full garbage collection before each (not timed) so
    no page pays for the garbage another left. Per page: wall-clock p50/p99, this process's CPU time
    (p50: Python's share, less disturbed by other processes than the wall clock), the number of
    statements (the least; `stable` when every request ran the same) and the response's size."""
    for _ in range(warmup):
        for client, path, check in pages.values():
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            if check:
                check(response)
    times = {key: [] for key in pages}
    cpu = {key: [] for key in pages}
    queries = {key: set() for key in pages}
    size = {}
    for _ in range(requests):
        for key, (client, path, _check) in pages.items():
            counter.n = 0
            gc.collect()  # the garbage of the page before is not this page's to collect
            t0, c0 = time.perf_counter(), time.process_time()
            response = client.get(path)
            body = response.get_data()
            times[key].append(time.perf_counter() - t0)
            cpu[key].append(time.process_time() - c0)
            queries[key].add(counter.n)
            assert response.status_code == 200, (path, response.status_code)
            size[key] = len(body)
    return {
        key: {
            "p50": percentile_ms(times[key], 50),
            "p99": percentile_ms(times[key], 99),
            "cpu": percentile_ms(cpu[key], 50),
            "queries": min(queries[key]),
            "stable": len(queries[key]) == 1,
            "kb": size[key] / 1024,
        }
        for key in pages
    }


def pages_of(slug: str, attendees: int) -> list[tuple[str, str, bool, object]]:
    """(name, path, logged in, check of the response)."""

    def paid_count(response):
        figures = response.get_json()
        assert figures["registrations"]["paid"] > attendees // 2, figures["registrations"]

    return [
        ("event page", f"/events/{slug}", False, None),
        ("dashboard page", f"/manage/events/{slug}/dashboard/", True, None),
        ("dashboard data", f"/manage/events/{slug}/dashboard/figures.json", True, paid_count),
        ("attendee list p1", f"/manage/events/{slug}/attendees/", True, None),
        ("sponsor summary", f"/sponsor/events/{slug}/", True, None),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--only", help="measure only the pages whose name contains this")
    args = parser.parse_args()

    import flask_migrate

    from eventreg import create_app

    name, db_url = create_database()
    try:
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": db_url, "MAIL_WORKER": "manual", "RATELIMIT_ENABLED": False}
        )
        with app.app_context():
            flask_migrate.upgrade(directory=str(ROOT / "migrations"))
        t0 = time.perf_counter()
        counts = seed(app, datetime.now(UTC))
        setup = time.perf_counter() - t0
        from eventreg.extensions import db

        with app.app_context():
            engine = db.engine
        counter = StatementCounter(engine)
        anonymous, organiser = app.test_client(), logged_in_client(app)
        pages = {
            ("login page", 0): (anonymous, "/login", None),
            ("/healthz", 0): (anonymous, "/healthz", None),
        }
        for n in SIZES:
            for page, path, login, check in pages_of(f"forum-{n}", n):
                if not args.only or args.only in page:
                    pages[(page, n)] = (organiser if login else anonymous, path, check)
        with counter:
            results = measure(counter, pages, warmup=args.warmup, requests=args.requests)
        floor = {page: results.pop((page, 0)) for page in ("login page", "/healthz")}
        with app.app_context():
            db.engine.dispose()
    finally:
        drop_database(name)

    print(f"\nmachine: nproc={os.cpu_count()}; PostgreSQL; in-process (Flask test client, no gunicorn)")
    for n in SIZES:
        c = counts[n]
        print(f"  forum-{n}: " + ", ".join(f"{v} {k}" for k, v in c.items()))
    print(f"filled in {setup:.1f} s; {args.warmup} warm-up + {args.requests} timed requests per page\n")
    base = floor["login page"]["p50"]
    head = (
        f"{'page':<18} {'attendees':>9} {'queries':>7} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms':>6} "
        f"{'x floor':>7} {'KB':>6} {'big/small ms':>12} {'big/small q':>11} {'target p99':>10}  ok"
    )
    print(head)
    print("-" * len(head))
    for page, m in floor.items():
        print(
            f"{page:<18} {'':>9} {m['queries']:>7} {m['p50']:>7.1f} {m['p99']:>7.1f} {m['cpu']:>6.1f} "
            f"{m['p50'] / base:>6.1f}x {m['kb']:>6.1f}   (floor)"
        )
    missed = []
    for (page, n), m in results.items():
        small = results.get((page, SIZES[0]))
        target = TARGETS_P99_MS.get(page) if n == SIZES[-1] else None
        ok = m["stable"] and (target is None or m["p99"] <= target)
        ratio_ms = ratio_q = ""
        if n == SIZES[-1] and small:
            ratio_ms = f"{m['p50'] / small['p50']:.2f}x"
            ratio_q = f"{m['queries'] / small['queries']:.2f}x"
            ok = ok and m["queries"] == small["queries"]
        if not ok:
            missed.append(f"{page} ({n})")
        queries = f"{m['queries']}" + ("" if m["stable"] else "*")
        print(
            f"{page:<18} {n:>9} {queries:>7} {m['p50']:>7.1f} {m['p99']:>7.1f} {m['cpu']:>6.1f} "
            f"{m['p50'] / base:>6.1f}x "
            f"{m['kb']:>6.1f} {ratio_ms:>12} {ratio_q:>11} {target or '':>10}  {'yes' if ok else 'NO'}"
        )
    print(
        "\ntargets: the same queries per page for 50 and 5,000 attendees (and for every request);"
        "\n         p99 at 5,000 attendees: " + ", ".join(f"{k} <= {v} ms" for k, v in TARGETS_P99_MS.items())
    )
    print(f"\n{'TARGETS MISSED: ' + ', '.join(missed) if missed else 'all targets met'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
