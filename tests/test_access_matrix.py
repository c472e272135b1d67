"""Who may use which route: every route of the app, walked with every role.

Each endpoint belongs to exactly one access rule below; a new route without a rule fails
`test_every_route_has_an_access_rule`, so nobody can add a page and forget who may see it.
Denials are what this test is for: each rule says which roles must be turned away, and how
(403, 401 for the API without a token, the login page for anonymous visitors, 404 for a private
link with the wrong token)."""

import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from eventreg.accounts.models import ApiToken
from eventreg.accounts.services import create_api_token
from eventreg.checkin.services import ListData, redeem, save_list
from eventreg.events.models import Lead, Sponsor
from eventreg.extensions import db
from eventreg.mail.models import OutboxMessage
from eventreg.payments.models import SalesDocument
from eventreg.registration.services import create_order
from tests.factories import NOW, make_event, make_user, order_data

# "attendee" has opened their own ticket link (no login); "other_sponsor" sponsors the other event.
ROLES = (
    "anonymous",
    "attendee",
    "member",
    "sponsor",
    "other_sponsor",
    "staff",
    "other_organiser",
    "organiser",
    "admin",
)
VISITORS = {"anonymous", "attendee"}  # not logged in
STAFF = {"staff", "organiser", "admin"}  # check-in: organisers may do what staff do
ORGANISERS = {"organiser", "admin"}


@dataclass(frozen=True)
class Rule:
    allowed: frozenset  # roles that get through; everybody else is turned away
    kind: str = "page"  # page: login redirect for anonymous; api: 401 without a token; link: private link


def rule(allowed, kind="page") -> Rule:
    return Rule(frozenset(allowed), kind)


PUBLIC = rule(ROLES, "public")
LINK = rule(ROLES, "link")  # anybody with the link; a wrong token is 404
ORGANISER = rule(ORGANISERS)
LOGGED_IN = rule(set(ROLES) - VISITORS)
CHECKIN = rule(STAFF)
CHECKIN_API = rule(STAFF, "api")
ORGANISER_API = rule(ORGANISERS, "api")

RULES = {
    "accounts.login": PUBLIC,
    "accounts.logout": PUBLIC,
    "accounts.account": LOGGED_IN,
    "accounts.change_password": LOGGED_IN,
    "accounts.end_other_sessions": LOGGED_IN,
    "accounts.revoke_token": LOGGED_IN,  # someone else's token is 404
    "events.index": PUBLIC,
    "health.healthz": PUBLIC,
    "events.detail": PUBLIC,
    "events.set_language": PUBLIC,
    "static": PUBLIC,
    "registration.register": PUBLIC,
    "registration.join_waitlist": PUBLIC,
    "api.events": PUBLIC,
    "api.event": PUBLIC,
    "api.create": PUBLIC,
    "api.waitlist": PUBLIC,
    "api-docs.openapi_json": PUBLIC,
    "payments.stripe_webhook": PUBLIC,  # authenticated by Stripe's signature, tested in tests/payments
    "checkin.service_worker": PUBLIC,
    "checkin.manifest": PUBLIC,
    "registration.manage": LINK,
    "registration.cancel": LINK,
    "registration.order_ics": LINK,
    "registration.order_tickets_pdf": LINK,
    "registration.ticket": LINK,
    "registration.ticket_pdf": LINK,
    "registration.ticket_ics": LINK,
    "registration.transfer": LINK,
    "registration.update_details": LINK,
    "registration.change_workshops": LINK,
    "registration.sponsor_consent": LINK,
    "registration.offer": LINK,
    "privacy.attendee_data": LINK,
    "privacy.erase_attendee": LINK,
    "privacy.order_data": LINK,
    "privacy.erase_buyer": LINK,
    "payments.pay": LINK,
    "payments.card_return": LINK,
    "payments.order_document": LINK,
    "admin.index": rule({"organiser", "other_organiser", "admin"}),
    "admin.event_orders": ORGANISER,
    "admin.register_on_behalf": ORGANISER,
    "admin.cancel": ORGANISER,
    "admin.mail_log": ORGANISER,
    "admin.resend_mail": ORGANISER,
    "payments.manage_payments": ORGANISER,
    "payments.event_document": ORGANISER,
    "payments.import_statement": ORGANISER,
    "payments.mark_paid": ORGANISER,
    "payments.refund": ORGANISER,
    "tickets.badges": ORGANISER,
    "checkin_manage.overview": ORGANISER,
    "checkin_manage.progress_json": ORGANISER,
    "checkin_manage.new_list": ORGANISER,
    "checkin_manage.edit_list": ORGANISER,
    "checkin_manage.delete_list": ORGANISER,
    "checkin_manage.undo": ORGANISER,
    "dashboard.index": ORGANISER,
    "exports.index": ORGANISER,
    "sponsors.index": rule({"sponsor", "other_sponsor", "organiser", "other_organiser", "admin"}),
    "sponsors.summary": rule({"sponsor", "organiser", "admin"}),
    "sponsors.contacts_csv": rule({"sponsor", "organiser", "admin"}),
    # Leads belong to the sponsor company: its members only (organisers and admins have none).
    "sponsors.scanner": rule({"sponsor"}),
    "sponsors.leads_page": rule({"sponsor"}),
    "sponsors.scan_lead": rule({"sponsor"}),
    "sponsors.save_lead": rule({"sponsor"}),
    "sponsors.leads_export": rule({"sponsor"}),
    "exports.download": ORGANISER,
    "exports.start_job": ORGANISER,
    "exports.job_status": ORGANISER,
    "exports.download_job": ORGANISER,
    "exports.retry_job": ORGANISER,
    "dashboard.figures": ORGANISER,
    "checkin.scanner": CHECKIN,
    "checkin.device": CHECKIN,
    "checkin_api.lists": CHECKIN_API,
    "checkin_api.one_list": CHECKIN_API,
    "checkin_api.package": CHECKIN_API,
    "checkin_api.redeem": CHECKIN_API,
    "checkin_api.undo": CHECKIN_API,
    "checkin_api.upload": CHECKIN_API,
    # The event builder's API: organisers of the event and admins; creating an event: any organiser.
    "builder_api.create_event": rule({"organiser", "other_organiser", "admin"}, "api"),
    "builder_api.update_event": ORGANISER_API,
    "builder_api.copy_event": ORGANISER_API,
    "builder_api.create_ticket_type": ORGANISER_API,
    "builder_api.update_ticket_type": ORGANISER_API,
    "builder_api.delete_ticket_type": ORGANISER_API,
    "builder_api.create_quota": ORGANISER_API,
    "builder_api.create_workshop": ORGANISER_API,
    "builder_api.create_question": ORGANISER_API,
    "builder_api.create_vouchers": ORGANISER_API,
    "builder_api.audit_log": ORGANISER_API,
    # The organiser's event-builder pages: organisers of the event and admins; a new event: any organiser.
    "builder.new_event": rule({"organiser", "other_organiser", "admin"}),
    "builder.edit_event": ORGANISER,
    "builder.set_status": ORGANISER,
    "builder.ticket_types": ORGANISER,
    "builder.new_ticket_type": ORGANISER,
    "builder.edit_ticket_type": ORGANISER,
    "builder.delete_ticket_type": ORGANISER,
    "builder.move_ticket_type": ORGANISER,
    "builder.new_quota": ORGANISER,
    "builder.edit_quota": ORGANISER,
    "builder.delete_quota": ORGANISER,
    "builder.workshops": ORGANISER,
    "builder.new_workshop": ORGANISER,
    "builder.edit_workshop": ORGANISER,
    "builder.delete_workshop": ORGANISER,
    "builder.questions": ORGANISER,
    "builder.new_question": ORGANISER,
    "builder.edit_question": ORGANISER,
    "builder.delete_question": ORGANISER,
    "builder.move_question": ORGANISER,
    "builder.vouchers": ORGANISER,
    "builder.create_voucher": ORGANISER,
    "builder.generate_vouchers": ORGANISER,
    "builder.delete_voucher": ORGANISER,
    "builder.sponsors": ORGANISER,
    "builder.new_sponsor": ORGANISER,
    "builder.edit_sponsor": ORGANISER,
    "builder.delete_sponsor": ORGANISER,
    "builder.add_member": ORGANISER,
    "builder.remove_member": ORGANISER,
    "builder.email_texts": ORGANISER,
    "builder.copy_event": ORGANISER,
    "builder.audit": ORGANISER,
    "attendees.index": ORGANISER,
    "attendees.order": ORGANISER,
    "attendees.update_details": ORGANISER,
    "attendees.change_workshops": ORGANISER,
    "attendees.resend": ORGANISER,
    "attendees.cancel": ORGANISER,
    "attendees.replace_links": ORGANISER,  # on an order of its own: the others' links stay
    "attendees.refund": ORGANISER,
    "attendees.email": ORGANISER,
    "attendees.send_email": ORGANISER,
    "attendees.mailings": ORGANISER,
}


# Private links that need more than the link to answer 200: a waiting-list offer's own token, and
# Stripe's session id on the return from checkout (both tested in their own areas).
NEEDS_MORE = {"registration.offer", "payments.card_return"}
# Without Stripe settings the webhook answers 503, so that Stripe retries later (tests/payments).
NOT_CONFIGURED = {"payments.stripe_webhook"}


def test_every_route_has_an_access_rule(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert endpoints - RULES.keys() == set(), "routes without an access rule in tests/test_access_matrix.py"
    assert RULES.keys() - endpoints == set(), "rules for routes that no longer exist"


@pytest.fixture
def world(app):
    """Two events; a user for every role; an order with a ticket, an invoice, a check-in, a message."""
    with app.app_context():
        forum = make_event("forum", prices=(0, 100_00))
        other = make_event("other", prices=(0,))
        users = {
            "member": make_user("member@example.org", member=True),
            "sponsor": make_user("sponsor@example.org"),
            "other_sponsor": make_user("other_sponsor@example.org"),
            "staff": make_user("staff@example.org", checkin_of=forum),
            "other_organiser": make_user("other@example.org", organiser_of=other),
            "organiser": make_user("organiser@example.org", organiser_of=forum),
            "admin": make_user("admin@example.org", admin=True),
        }
        from eventreg.accounts.models import EventRoleKind
        from eventreg.accounts.services import grant_event_role

        company, other_company = Sponsor(name="Nordic Impact Fund"), Sponsor(name="Other Fund")
        forum.sponsors, other.sponsors = [company], [other_company]
        db.session.flush()
        grant_event_role(users["sponsor"], forum.id, EventRoleKind.SPONSOR, sponsor_id=company.id)
        grant_event_role(users["other_sponsor"], other.id, EventRoleKind.SPONSOR, sponsor_id=other_company.id)
        order = create_order(forum, order_data(forum), now=NOW)
        invoice_order = create_order(
            forum, order_data(forum, ticket_type=forum.ticket_types[1], payment_method="invoice"), now=NOW
        )
        lst = save_list(forum, ListData(name="Main"))
        checkin = redeem(lst, attendee_id=order.attendees[0].id, user=None, now=NOW).checkin
        db.session.flush()
        values = {
            "slug": "forum",
            "code": invoice_order.code,
            "order_token": invoice_order.manage_token,
            "ticket_token": order.attendees[0].manage_token,
            "number": db.session.scalar(
                sa.select(SalesDocument.number).where(SalesDocument.order_id == invoice_order.id)
            ),
            "message_id": db.session.scalar(sa.select(sa.func.min(OutboxMessage.id))),
            "list_id": lst.id,
            "checkin_id": checkin.id,
            "kind": "attendees",
            "fmt": "xlsx",
            "ticket_type_id": forum.ticket_types[0].id,
            "lead_id": _lead(company, order.attendees[0]),
            "job_id": _export_job(forum),
            "attendee_id": invoice_order.attendees[0].id,
            **_builder_objects(forum, company, users["sponsor"]),
        }
        tokens = {role: create_api_token(user.email) for role, user in users.items()}
        # Nobody's own: revoking it must fail for every role.
        create_api_token(make_user("nobody@example.org").email)
        values["token_id"] = db.session.scalar(sa.select(sa.func.max(ApiToken.id)))
        values["spare_code"] = create_order(forum, order_data(forum), now=NOW).code
        db.session.commit()
    # Outside the app context: each request must get its own (an open one would share `g`, and
    # with it the logged-in user and the CSRF token, between requests and clients).
    return values, tokens


def _export_job(event) -> int:
    """A file prepared in the background, ready to download."""
    from eventreg.exports.models import ExportJob, ExportStatus

    job = ExportJob(
        token="matrix-job",
        event_id=event.id,
        kind="attendees",
        fmt="csv",
        status=ExportStatus.DONE,
        done=1,
        total=1,
        content=b"\xef\xbb\xbfName\r\n",
        filename="forum-attendees.csv",
        created_at=NOW,
    )
    db.session.add(job)
    db.session.flush()
    return job.id


def _builder_objects(event, sponsor, member) -> dict:
    """What the event builder's URLs name: a quota, workshop, question, voucher, sponsor and
    the sponsor's member."""
    from eventreg.registration.models import Voucher, VoucherKind
    from tests.factories import add_question, add_session

    voucher = Voucher(event_id=event.id, code="MATRIX10", kind=VoucherKind.PERCENT, value=10)
    db.session.add(voucher)
    db.session.flush()
    return {
        "quota_id": event.quotas[0].id,
        "workshop_id": add_session(event, "Matrix workshop").id,
        "question_id": add_question(event, label="Matrix question").id,
        "voucher_id": voucher.id,
        "sponsor_id": sponsor.id,
        "member_id": member.id,
    }


def _lead(sponsor, attendee) -> int:
    """A badge the forum's sponsor scanned."""
    lead = Lead(sponsor_id=sponsor.id, attendee_id=attendee.id, scanned_at=NOW)
    db.session.add(lead)
    db.session.flush()
    return lead.id


def url_for_rule(rule, values: dict, *, wrong_token=False) -> str:
    def fill(match):
        name = match.group(2)
        if name == "token":
            if rule.rule.startswith("/tickets/"):
                token = values["ticket_token"]
            elif rule.rule.startswith("/orders/"):
                token = values["order_token"]
            else:
                token = "no-such-offer"
            return "wrong-" + token if wrong_token else token
        if name == "filename":
            return "css/app.css"
        if name == "code" and rule.rule.startswith("/lang/"):
            return "en"
        if name == "code" and rule.endpoint == "attendees.replace_links":
            return values["spare_code"]  # the matrix still needs the other order's links
        return str(values[name])

    return re.sub(r"<(?:[a-z]+:)?(?:([a-z]+):)?([a-z_]+)>", fill, rule.rule)


def csrf_of(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_what_it_may(app, world, role):
    values, tokens = world
    client = app.test_client()
    if role == "attendee":
        assert client.get(f"/tickets/{values['ticket_token']}").status_code == 200
    elif role != "anonymous":
        email = {"other_organiser": "other@example.org"}.get(role, f"{role}@example.org")
        page = client.get("/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        assert (
            client.post(
                "/login", data={"email": email, "password": "secret-pw-kaffe", "csrf_token": csrf}
            ).status_code
            == 302
        )
    csrf = csrf_of(client)
    problems = []
    # Reads first, then writes, and logging out last of all.
    rules = sorted(
        app.url_map.iter_rules(),
        key=lambda r: (r.endpoint == "accounts.logout", "POST" in r.methods, r.endpoint),
    )
    for url_rule in rules:
        access = RULES[url_rule.endpoint]
        for method in sorted(url_rule.methods & {"GET", "POST"}):
            headers = {}
            if access.kind == "api" and role not in VISITORS:
                headers["Authorization"] = f"Bearer {tokens[role]}"
            data = {"csrf_token": csrf} if method == "POST" and access.kind != "api" else None
            json = {} if method == "POST" and access.kind == "api" else None
            url = url_for_rule(url_rule, values)
            r = client.open(url, method=method, data=data, json=json, headers=headers)
            r.close()
            seen = f"{method} {url} as {role}: {r.status_code}"
            to_login = r.status_code == 302 and "/login" in r.headers.get("Location", "")
            if r.status_code >= 500 and not (url_rule.endpoint in NOT_CONFIGURED and r.status_code == 503):
                problems.append(seen + " (server error)")
            elif role in access.allowed:
                if r.status_code in (401, 403) or (to_login and url_rule.endpoint != "accounts.logout"):
                    problems.append(seen + " (should be allowed)")
                if access.kind == "link" and url_rule.endpoint not in NEEDS_MORE and r.status_code == 404:
                    problems.append(seen + " (the right private link is refused)")
            else:
                expected = {
                    "page": "login" if role in VISITORS else 403,
                    "api": 401 if role in VISITORS else 403,
                }
                want = expected[access.kind]
                if (want == "login" and not to_login) or (want != "login" and r.status_code != want):
                    problems.append(seen + f" (should be {want})")
            if access.kind == "link":
                wrong = client.open(
                    url_for_rule(url_rule, values, wrong_token=True), method=method, data=data
                )
                if wrong.status_code != 404:
                    problems.append(
                        f"{method} {wrong.request.path} as {role}: {wrong.status_code} (should be 404)"
                    )
    assert problems == [], "\n".join(problems)
