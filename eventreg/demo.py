"""Demo data: a sample conference, a course, a prison course and a network group, with staff logins.

`seed_demo()` is idempotent: what exists (by event slug or user email) is left alone."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from eventreg.accounts.models import EventRoleKind, User
from eventreg.accounts.services import create_user, grant_event_role
from eventreg.checkin.services import ListData, save_list
from eventreg.core.clock import now as clock_now
from eventreg.events.models import (
    Event,
    EventSession,
    EventStatus,
    Organiser,
    Question,
    QuestionKind,
    QuestionScope,
    Quota,
    RegistrationMode,
    Sponsor,
    TicketType,
    Visibility,
)
from eventreg.extensions import db
from eventreg.registration.models import Voucher, VoucherKind

OSLO = ZoneInfo("Europe/Oslo")

DEMO_USERS = [
    # email, name, password, admin, member
    ("admin@demo.example.org", "Ingrid Admin", "admin-demo-fjord", True, False),
    ("organiser@demo.example.org", "Olav Organiser", "organiser-demo-fjord", False, False),
    ("checkin@demo.example.org", "Kari Check-in", "checkin-demo-fjord", False, False),
    ("sponsor@demo.example.org", "Siri Sponsor", "sponsor-demo-fjord", False, False),
    ("member@demo.example.org", "Amina Member", "member-demo-fjord", False, True),
]


def _t(nb: str, en: str) -> dict:
    return {"nb": nb, "en": en}


def _oslo(*args) -> datetime:
    return datetime(*args, tzinfo=OSLO)


def _conference() -> Event:
    event = Event(
        slug="esbf-2027",
        title=_t("European Social Business Forum 2027", "European Social Business Forum 2027"),
        description=_t(
            "To dager om sosialt entreprenørskap og mikrofinans, med workshops og nettverk.",
            "Two days on social business and microfinance, with workshops and networking.",
        ),
        venue="Oslo Kongressenter, Youngs gate 21, Oslo",
        starts_at=_oslo(2027, 5, 27, 9, 0),
        ends_at=_oslo(2027, 5, 28, 17, 0),
        status=EventStatus.PUBLISHED,
        total_capacity=600,
    )
    seats = Quota(name="All conference seats", size=550)
    comps = Quota(name="Speakers and press", size=50)
    event.quotas = [seats, comps]

    def ticket(pos, nb, en, price_kr, vat, visibility=Visibility.PUBLIC, quota=seats, **kw):
        return TicketType(
            name=_t(nb, en),
            price_ore=price_kr * 100,
            vat_rate=vat,
            visibility=visibility,
            position=pos,
            quotas=[quota],
            **kw,
        )

    early = ticket(0, "Tidlig påmelding", "Early bird", 1950, 25, sales_end=_oslo(2027, 2, 1, 0, 0))
    regular = ticket(1, "Ordinær", "Regular", 2950, 25)
    member = ticket(2, "Medlem", "Member", 1450, 25, Visibility.MEMBERS)
    student = ticket(3, "Student", "Student", 450, 25)
    speaker = ticket(4, "Foredragsholder", "Speaker", 0, 0, Visibility.VOUCHER, comps)
    press = ticket(5, "Presse", "Press", 0, 0, Visibility.VOUCHER, comps)
    event.ticket_types = [early, regular, member, student, speaker, press]

    day1, day2 = "27.05 14:00", "28.05 10:00"
    event.sessions = [
        EventSession(
            name=_t(
                "Mikrofinans for innvandrergründere",
                "Microfinance for immigrant founders",
            ),
            slot=day1,
            starts_at=_oslo(2027, 5, 27, 14, 0),
            room="Sal A",
            capacity=40,
        ),
        EventSession(
            name=_t("Å måle sosial effekt", "Measuring social impact"),
            slot=day1,
            starts_at=_oslo(2027, 5, 27, 14, 0),
            room="Sal B",
            capacity=60,
        ),
        EventSession(
            name=_t("Forretningsmodeller for sosiale virksomheter", "Social business models"),
            slot=day2,
            starts_at=_oslo(2027, 5, 28, 10, 0),
            room="Plenum",
            capacity=80,
        ),
    ]
    interpreter = Question(
        label=_t("Trenger du tolk?", "Do you need an interpreter?"),
        kind=QuestionKind.YESNO,
        position=4,
    )
    event.questions = [
        Question(
            label=_t("Land", "Country"),
            kind=QuestionKind.COUNTRY,
            required=True,
            position=0,
        ),
        Question(label=_t("Organisasjon", "Organisation"), kind=QuestionKind.ORGANISATION, position=1),
        Question(
            label=_t("Type organisasjon", "Organisation type"),
            kind=QuestionKind.ORG_TYPE,
            required=True,
            position=2,
        ),
        Question(label=_t("Sektor", "Sector"), kind=QuestionKind.SECTOR, position=3),
        interpreter,
        Question(
            label=_t("Hvilket språk?", "Which language?"),
            kind=QuestionKind.TEXT,
            required=True,
            position=5,
            depends_on=interpreter,
            depends_on_value="yes",
        ),
        Question(
            label=_t("Matpreferanser", "Dietary needs"),
            kind=QuestionKind.MULTIPLE,
            position=6,
            choices=[
                {"value": "vegetarian", "nb": "Vegetar", "en": "Vegetarian"},
                {"value": "vegan", "nb": "Vegansk", "en": "Vegan"},
                {"value": "halal", "nb": "Halal", "en": "Halal"},
                {"value": "gluten", "nb": "Glutenfri", "en": "Gluten free"},
            ],
        ),
        Question(
            label=_t("Hvor hørte du om forumet?", "How did you hear about the forum?"),
            kind=QuestionKind.CHOICE,
            scope=QuestionScope.ORDER,
            position=7,
            choices=[
                {"value": "newsletter", "nb": "Nyhetsbrev", "en": "Newsletter"},
                {"value": "colleague", "nb": "Kollega", "en": "Colleague"},
                {"value": "social", "nb": "Sosiale medier", "en": "Social media"},
            ],
        ),
    ]
    event.sponsors = [Sponsor(name="Nordic Impact Fund", level="gold")]
    return event


def _course() -> Event:
    event = Event(
        slug="grunderkurs-2027",
        title=_t("Gründerkurs for nye i Norge", "Entrepreneurship course for newcomers"),
        description=_t(
            "Gratis kurs over fire kvelder: fra idé til egen bedrift. Undervisning på norsk og engelsk.",
            "A free course over four evenings: from idea to your own business. Taught in Norwegian and English.",  # noqa: E501
        ),
        venue="Grønland kulturstasjon, Oslo",
        starts_at=_oslo(2027, 3, 2, 18, 0),
        ends_at=_oslo(2027, 3, 23, 21, 0),
        status=EventStatus.PUBLISHED,
        attendee_email_required=False,
    )
    event.quotas = [Quota(name="Course places", size=25)]
    event.ticket_types = [
        TicketType(name=_t("Deltaker", "Participant"), price_ore=0, quotas=list(event.quotas))
    ]
    event.questions = [
        Question(
            label=_t("Har du en forretningsidé?", "Do you have a business idea?"),
            kind=QuestionKind.YESNO,
            required=True,
        ),
        Question(
            label=_t("Hvem melder på? (organisasjon)", "Who is registering? (organisation)"),
            kind=QuestionKind.TEXT,
            scope=QuestionScope.ORDER,
            position=1,
        ),
    ]
    return event


def _prison_course() -> Event:
    event = Event(
        slug="okonomikurs-fengsel-2027",
        title=_t(
            "Økonomikurs i fengsel (med Røde Kors)",
            "Economy course in prison (with the Red Cross)",
        ),
        description=_t(
            "Kurs i personlig økonomi. Deltakerne meldes på av kursansvarlige.",
            "A course in personal finance. Participants are registered by the course staff.",
        ),
        venue="Oslo fengsel",
        starts_at=_oslo(2027, 4, 6, 10, 0),
        ends_at=_oslo(2027, 4, 6, 14, 0),
        status=EventStatus.PUBLISHED,
        registration_mode=RegistrationMode.STAFF,
        attendee_email_required=False,
        waitlist_enabled=False,
    )
    event.quotas = [Quota(name="Places", size=15)]
    event.ticket_types = [
        TicketType(
            name=_t("Deltaker", "Participant"),
            price_ore=0,
            visibility=Visibility.HIDDEN,
            quotas=list(event.quotas),
        )
    ]
    return event


def _network_group() -> Event:
    event = Event(
        slug="nettverksgruppe-oslo-2027",
        title=_t("Nettverksgruppe Oslo sentrum", "Network group Oslo centre"),
        description=_t(
            "Månedlig møte for medlemmer: 3–5 gründere.",
            "Monthly meeting for members: 3–5 founders.",
        ),
        venue="Kontoret, Oslo",
        starts_at=_oslo(2027, 2, 10, 17, 0),
        ends_at=_oslo(2027, 2, 10, 19, 0),
        status=EventStatus.PUBLISHED,
        members_only=True,
        total_capacity=5,
    )
    event.ticket_types = [TicketType(name=_t("Medlem", "Member"), price_ore=0)]
    return event


def _organiser() -> Organiser:
    """The demo seller (a made-up organisation number and bank account with valid check digits)."""
    organiser = db.session.scalar(sa.select(Organiser).order_by(Organiser.id))
    if organiser is None:
        organiser = Organiser(
            name="Mikrofinans Norge",
            org_number="997654323",
            address="Storgata 10\n0155 Oslo",
            email="post@demo.example.org",
            bank_account="15031234562",
            invoice_due_days=14,
        )
        db.session.add(organiser)
    return organiser


def _checkin_lists(event: Event) -> None:
    """The doors of the conference: everybody at the main entrance, one workshop room, and the
    second day's entrance, open from 07:30 that morning."""
    save_list(event, ListData(name="Hovedinngang / Main entrance"))
    workshop = event.sessions[0]
    save_list(event, ListData(name=f"Rom / Room: {workshop.name['nb']}", session_id=workshop.id))
    day2 = event.starts_at.astimezone(OSLO).date() + timedelta(days=1)
    save_list(
        event,
        ListData(
            name="Dag 2 / Day 2",
            allow_reentry=True,
            opens_at=_oslo(day2.year, day2.month, day2.day, 7, 30),
            closes_at=_oslo(day2.year, day2.month, day2.day, 23, 0),
        ),
    )


# Demo delegates: (name, country, organisation, org type, sector, language, shares contact with sponsors)
DEMO_DELEGATES = [
    ("Ada Øverby", "NO", "Mikrolån Vest", "social_enterprise", "microfinance", "nb", True),
    ("Jonas Ødegård", "NO", "Oslo kommune", "public", "social", "nb", False),
    ("Amina Yusuf", "SO", "Hiil Finance", "finance", "microfinance", "en", True),
    ("Muhammad Rahman", "BD", "Grameen Trust", "ngo", "microfinance", "en", True),
    ("Fatima Zahra Alaoui", "MA", "Al Amana", "finance", "microfinance", "en", False),
    ("عائشة الحربي", "SA", "Jeddah Social Lab", "social_enterprise", "education", "en", True),
    ("山田 花子", "JP", "Kyoto Impact", "company", "technology", "en", True),
    ("Иван Петров", "UA", "Kyiv Makers", "company", "technology", "en", False),
    ("Chiamaka Okafor", "NG", "Lagos Women Fund", "ngo", "microfinance", "en", True),
    ("Lucía Fernández", "ES", "Fundación Semilla", "ngo", "agriculture", "en", False),
    ("Sigrid Haugen", "NO", "NTNU", "academia", "education", "nb", True),
    ("Erik Lunde", "NO", "Lunde Bakeri", "company", "retail", "nb", False),
    ("Priya Natarajan", "IN", "SEWA Bank", "finance", "microfinance", "en", True),
    ("Kwame Mensah", "GH", "Accra Solar", "social_enterprise", "environment", "en", True),
    ("Marta Kowalska", "PL", "Fundusz Mikro", "finance", "microfinance", "en", False),
    ("Hassan Ali", "PK", "Akhuwat", "ngo", "microfinance", "en", True),
    ("Ingrid Solberg", "NO", "Røde Kors", "ngo", "social", "nb", True),
    ("Nguyễn Thị Lan", "VN", "Hanoi Crafts", "social_enterprise", "culture", "en", False),
    ("Tesfaye Bekele", "ET", "Addis Coffee Coop", "company", "agriculture", "en", True),
    ("Leila Haddad", "LB", "Beirut Bridges", "ngo", "education", "en", False),
    ("Astrid Berg", "SE", "Uppsala universitet", "academia", "education", "en", True),
    ("Mikkel Nielsen", "DK", "Social Kapital", "finance", "microfinance", "en", False),
    ("Zanele Dlamini", "ZA", "Soweto Starters", "social_enterprise", "retail", "en", True),
    ("Olena Shevchenko", "UA", "Lviv Health Hub", "ngo", "health", "en", True),
]


def _demo_registrations(event: Event, *, now: datetime) -> None:
    """Delegates registered in small invoice-paid groups (most invoices settled), so the dashboard,
    exports and the sponsor pages of the conference have something to show."""
    from eventreg.payments.invoices import InvoiceDetails, main_document, mark_invoice_paid
    from eventreg.registration.self_service import set_sponsor_consent
    from eventreg.registration.services import AttendeeData, OrderData, create_order

    q = {question.kind: question.id for question in event.questions}
    regular, student = event.ticket_types[1], event.ticket_types[3]
    workshops = event.sessions
    for start in range(0, len(DEMO_DELEGATES), 3):
        group = DEMO_DELEGATES[start : start + 3]
        attendees = [
            AttendeeData(
                name=name,
                email=f"delegate{start + i}@demo.example.org",
                ticket_type_id=(student if (start + i) % 5 == 4 else regular).id,
                language=language,
                answers={
                    q[QuestionKind.COUNTRY]: country,
                    q[QuestionKind.ORGANISATION]: organisation,
                    q[QuestionKind.ORG_TYPE]: org_type,
                    q[QuestionKind.SECTOR]: sector,
                },
                session_ids=[workshops[(start + i) % 2].id, workshops[2].id],
            )
            for i, (name, country, organisation, org_type, sector, language, _c) in enumerate(group)
        ]
        order = create_order(
            event,
            OrderData(
                buyer_name=group[0][0],
                buyer_email=f"delegate{start}@demo.example.org",
                buyer_language=group[0][5],
                attendees=attendees,
                payment_method="invoice",
                invoice=InvoiceDetails(
                    org_number="923609016", org_name=group[0][2], address="Postboks 1\n0101 Oslo"
                ),
            ),
            now=now,
        )
        if start % 4 != 3:  # a few invoices stay open
            mark_invoice_paid(main_document(order), now=now, via="demo")
        for attendee, delegate in zip(order.attendees, group, strict=True):
            if delegate[6]:
                set_sponsor_consent(attendee, True, now=now, via="attendee")


def seed_demo(*, with_registrations: bool = False) -> list[tuple[str, str]]:
    """Creates what is missing of the demo and returns the staff logins (email, password).
    `with_registrations` also registers the demo delegates for a new conference."""
    organiser = _organiser()
    users = {}
    for email, name, password, admin, member in DEMO_USERS:
        users[email] = db.session.scalar(sa.select(User).where(User.email == email)) or create_user(
            email, name, password, is_admin=admin, is_member=member
        )
    for build in (_conference, _course, _prison_course, _network_group):
        event = build()
        existing = db.session.scalar(sa.select(Event).where(Event.slug == event.slug))
        if existing:
            continue
        event.organiser = organiser
        db.session.add(event)
        db.session.flush()
        grant_event_role(users["organiser@demo.example.org"], event.id, EventRoleKind.ORGANISER)
        if event.slug == "esbf-2027":
            grant_event_role(users["checkin@demo.example.org"], event.id, EventRoleKind.CHECKIN)
            grant_event_role(
                users["sponsor@demo.example.org"],
                event.id,
                EventRoleKind.SPONSOR,
                sponsor_id=event.sponsors[0].id,  # a member of Nordic Impact Fund: scans leads for it
            )
            speaker, press = event.ticket_types[4], event.ticket_types[5]
            db.session.add_all(
                [
                    Voucher(
                        event_id=event.id,
                        code="SPEAKER27",
                        kind=VoucherKind.UNLOCK,
                        ticket_type=speaker,
                        max_uses=40,
                    ),
                    Voucher(
                        event_id=event.id,
                        code="PRESS27",
                        kind=VoucherKind.UNLOCK,
                        ticket_type=press,
                        max_uses=20,
                    ),
                    Voucher(
                        event_id=event.id,
                        code="MIKRO20",
                        kind=VoucherKind.PERCENT,
                        value=20,
                        max_uses=50,
                    ),
                ]
            )
            _checkin_lists(event)
            if with_registrations:
                db.session.flush()
                _demo_registrations(event, now=clock_now())
    db.session.flush()
    return [(email, password) for email, _n, password, _a, _m in DEMO_USERS]
