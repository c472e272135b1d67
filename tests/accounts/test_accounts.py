"""One's own account: password rules, changing the password, ending sessions, revoking tokens,
and the sysadmin's commands for the same."""

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from eventreg.accounts import services
from eventreg.accounts.models import ApiToken, User
from eventreg.core.errors import NotFound, ValidationError
from eventreg.extensions import db
from tests.factories import make_event, make_user
from tests.web.conftest import csrf_from, english, text  # noqa: F401 (fixture)

PASSWORD = "secret-pw-kaffe"  # tests.factories.make_user's
NEW_PASSWORD = "tre-troll-i-tåka-2027"


@pytest.mark.parametrize(
    "password, why",
    [
        ("kort-1", "at least 10"),
        ("Password123!", "too easy to guess"),  # a common password, dressed up
        ("qwertyuiop123", "too easy to guess"),  # a keyboard row
        ("ingridsolberg", "too easy to guess"),  # the person's own name
        ("isolberg@example.org", "too easy to guess"),  # their email
        ("x" * 201, "at most 200"),
    ],
)
def test_new_passwords_must_be_long_and_hard_to_guess(ctx, password, why):
    with pytest.raises(ValidationError) as err:
        services.create_user("isolberg@example.org", "Ingrid Solberg", password)
    with force_locale("en"):
        assert why in str(err.value.fields["password"][0]).lower()
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_a_long_unusual_password_in_any_script_is_accepted(ctx):
    for i, password in enumerate(["tre-troll-i-tåka-2027", "山田の古い自転車と青い傘", "кот ест суп в Осло"]):
        services.create_user(f"u{i}@example.org", "Name", password)
        assert services.authenticate(f"u{i}@example.org", password) is not None


@pytest.fixture
def ola(app):
    with app.app_context():
        make_user("ola@example.org")
        db.session.commit()


def log_in(client, email="ola@example.org", password=PASSWORD):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_from(page)})


def change(client, current, new, repeat=None):
    page = client.get("/account/").get_data(as_text=True)
    data = {
        "current_password": current,
        "new_password": new,
        "repeat_password": new if repeat is None else repeat,
    }
    return client.post("/account/password", data={**data, "csrf_token": csrf_from(page)})


def logged_in(client) -> bool:
    return client.get("/account/").status_code == 200


def test_changing_the_password_ends_every_other_session(app, ola):
    laptop, phone = app.test_client(), app.test_client()
    assert log_in(laptop).status_code == 302 and log_in(phone).status_code == 302
    r = change(laptop, PASSWORD, NEW_PASSWORD)
    assert r.status_code == 302
    assert logged_in(laptop)  # this browser goes on
    assert not logged_in(phone)  # the one left open elsewhere is out
    assert log_in(app.test_client()).status_code == 401
    assert log_in(app.test_client(), password=NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "current, new, repeat, field, message",
    [
        ("wrong-password-1", NEW_PASSWORD, None, "current_password", "not your current password"),
        (PASSWORD, "ola12345678", None, "new_password", "too easy to guess"),
        (PASSWORD, NEW_PASSWORD, "tre-troll-i-taka-2027", "repeat_password", "not the same"),
        (PASSWORD, PASSWORD, None, "new_password", "choose a new password"),
    ],
)
@pytest.mark.usefixtures("english")
def test_a_refused_change_says_why_and_keeps_the_old_password(
    app, ola, client, current, new, repeat, field, message
):
    log_in(client)
    r = change(client, current, new, repeat)
    assert r.status_code == 422
    assert message in text(r).lower() and f'id="{field}-error"' in text(r)
    assert logged_in(client)
    assert log_in(app.test_client()).status_code == 302  # the old password still works


def test_log_out_everywhere_else(app, ola):
    laptop, phone = app.test_client(), app.test_client()
    log_in(laptop), log_in(phone)
    page = laptop.get("/account/").get_data(as_text=True)
    r = laptop.post("/account/sessions/end", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 302
    assert logged_in(laptop) and not logged_in(phone)


def test_a_forged_or_ended_session_cookie_is_anonymous(app, ola):
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id))
    for session_id in (str(user_id), f"{user_id}:1", f"{user_id}:x", "", ":"):
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = session_id
            session["_fresh"] = True
        assert not logged_in(client), session_id
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = f"{user_id}:0"  # what a login gives (User.get_id)
    assert logged_in(client)


@pytest.fixture
def tokens(app, ola):
    with app.app_context():
        mine = services.create_api_token("ola@example.org")
        make_user("kari@example.org")
        karis = services.create_api_token("kari@example.org")
        make_event("forum", prices=(0,))
        db.session.commit()
        ids = dict(db.session.execute(sa.select(ApiToken.token_hash, ApiToken.id)).all())
        return {
            "mine": (mine, ids[services._hash_token(mine)]),
            "karis": (karis, ids[services._hash_token(karis)]),
        }


def api_status(app, token) -> int:
    r = app.test_client().get(
        "/api/v1/events/forum/checkin-lists", headers={"Authorization": f"Bearer {token}"}
    )
    return r.status_code


def test_a_revoked_token_stops_working_at_once(app, tokens):
    client = app.test_client()
    log_in(client)
    (mine, mine_id), (karis, karis_id) = tokens["mine"], tokens["karis"]
    page = client.get("/account/").get_data(as_text=True)
    assert "API token" in page or "API-token" in page
    assert api_status(app, mine) == 403  # known, but Ola has no role for the event
    r = client.post(f"/account/tokens/{karis_id}/revoke", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 404 and api_status(app, karis) == 403  # someone else's stays
    r = client.post(f"/account/tokens/{mine_id}/revoke", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 302 and api_status(app, mine) == 401


def test_tokens_that_ran_out_are_not_listed(ctx):
    from datetime import timedelta

    from eventreg.core.clock import now

    ola = make_user("ola@example.org")
    services.issue_device_token(ola, "old phone", expires_at=now() - timedelta(minutes=1))
    services.issue_device_token(ola, "Door 1", expires_at=now() + timedelta(days=1))
    assert [t.label for t in services.list_tokens(ola, now=now())] == ["Door 1"]
    with pytest.raises(NotFound):
        services.revoke_token(make_user("kari@example.org"), services.list_tokens(ola, now=now())[0].id)


def test_the_sysadmin_sets_a_password_and_revokes_tokens_from_the_command_line(app, tokens):
    runner = app.test_cli_runner()
    client = app.test_client()
    log_in(client)
    weak = runner.invoke(args=["set-password", "ola@example.org"], input="password1\npassword1\n")
    assert weak.exit_code != 0 and "Bruk minst 10 tegn" in weak.output  # the site's language
    done = runner.invoke(args=["set-password", "ola@example.org"], input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert done.exit_code == 0, done.output
    assert not logged_in(client)  # their sessions ended
    assert log_in(app.test_client(), password=NEW_PASSWORD).status_code == 302
    unknown = runner.invoke(
        args=["set-password", "nobody@example.org"], input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    )
    assert unknown.exit_code != 0 and "No user" in unknown.output

    revoked = runner.invoke(args=["revoke-tokens", "ola@example.org"])
    assert revoked.exit_code == 0 and "Revoked 1" in revoked.output
    assert api_status(app, tokens["mine"][0]) == 401 and api_status(app, tokens["karis"][0]) == 403


def test_create_user_refuses_a_weak_password_with_the_reason(app):
    r = app.test_cli_runner().invoke(
        args=["create-user", "new@example.org", "New Person"], input="qwerty12345\nqwerty12345\n"
    )
    assert r.exit_code != 0 and "for lett å gjette" in r.output
