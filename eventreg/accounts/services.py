"""Accounts, roles and API tokens."""

import functools
import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from eventreg.accounts.models import ApiToken, EventRole, EventRoleKind, User
from eventreg.core import clock
from eventreg.core.errors import FIX_FIELDS, Forbidden, NotFound, ValidationError
from eventreg.extensions import db

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 200  # hashing is deliberately slow; nobody needs a longer one
# zxcvbn's estimate, 0-4: 3 means it needs at least 10^8 guesses, far beyond the rate-limited
# login and slow work even against a stolen (deliberately slow, scrypt) hash.
PASSWORD_MIN_SCORE = 3
_ZXCVBN_MAX = 72  # zxcvbn refuses longer input; the first 72 characters are strength enough


def password_problems(password: str, *, email: str = "", name: str = "") -> list:
    """What is wrong with a new password (translated messages, empty when it is good): too short,
    too long, or easy to guess (common passwords, words, names, dates, keyboard patterns, the
    person's own email or name)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return [_l("Use at least %(n)d characters.", n=PASSWORD_MIN_LENGTH)]
    if len(password) > PASSWORD_MAX_LENGTH:
        return [_l("Use at most %(n)d characters.", n=PASSWORD_MAX_LENGTH)]
    own = [part for part in (email, email.split("@")[0], *name.split(), "eventreg") if part]
    if zxcvbn(password[:_ZXCVBN_MAX], user_inputs=own)["score"] < PASSWORD_MIN_SCORE:
        return [
            _l(
                "This password is too easy to guess (a common password, a word, a name, a date or "
                "your email). A few unrelated words together make a good one."
            )
        ]
    return []


def _check_new_password(password: str, *, email: str, name: str, field: str = "password") -> None:
    problems = password_problems(password, email=email, name=name)
    if problems:
        raise ValidationError(FIX_FIELDS, fields={field: problems})


def create_user(email: str, name: str, password: str, *, is_admin=False, is_member=False) -> User:
    """Raises ValidationError for an email in use or a password that breaks the rules."""
    email = email.strip().lower()
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise ValidationError(
            _l("A user with this email already exists."),
            fields={"email": [_l("Already in use.")]},
        )
    _check_new_password(password, email=email, name=name)
    user = User(
        email=email,
        name=name,
        password_hash=generate_password_hash(password),
        is_admin=is_admin,
        is_member=is_member,
    )
    db.session.add(user)
    db.session.flush()
    return user


@functools.cache
def _unknown_user_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(email: str, password: str) -> User | None:
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        # As slow as a wrong password, so the time taken tells nobody which emails have accounts.
        check_password_hash(_unknown_user_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def change_password(user: User, *, current: str, new: str) -> None:
    """Sets a new password after checking the current one, and ends the user's sessions (the
    caller logs the current one in again). Raises ValidationError (`current_password` wrong,
    `new_password` breaking the rules or the same as before)."""
    if not check_password_hash(user.password_hash, current):
        raise ValidationError(
            FIX_FIELDS, fields={"current_password": [_l("This is not your current password.")]}
        )
    if new == current:
        raise ValidationError(FIX_FIELDS, fields={"new_password": [_l("Choose a new password.")]})
    _check_new_password(new, email=user.email, name=user.name, field="new_password")
    _store_password(user, new)


def set_password(user: User, password: str) -> None:
    """Sets the password without the old one (the sysadmin's `flask set-password`) and ends
    every session of the user. Raises ValidationError for a password that breaks the rules."""
    _check_new_password(password, email=user.email, name=user.name)
    _store_password(user, password)


def _store_password(user: User, password: str) -> None:
    user.password_hash = generate_password_hash(password)
    end_sessions(user)


def end_sessions(user: User) -> None:
    """Logs the user out everywhere: every session cookie issued so far stops working."""
    user.session_epoch += 1
    db.session.flush()


def user_for_session(session_id: str) -> User | None:
    """The user of a session id (`User.get_id`), None when it is malformed or ended."""
    user_id, _, epoch = session_id.partition(":")
    if not (user_id.isdigit() and epoch.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.session_epoch == int(epoch) else None


def grant_event_role(
    user: User, event_id: int, role: EventRoleKind, *, sponsor_id: int | None = None
) -> EventRole:
    """The user's role for the event, granted if they do not have it yet. `sponsor_id`: for a
    sponsor member, the sponsor company they belong to (given for an existing role, it moves
    them to that company)."""
    existing = db.session.scalar(
        sa.select(EventRole).where(
            EventRole.user_id == user.id,
            EventRole.event_id == event_id,
            EventRole.role == role,
        )
    )
    if existing:
        if sponsor_id is not None and existing.sponsor_id != sponsor_id:
            existing.sponsor_id = sponsor_id
            db.session.flush()
        return existing
    granted = EventRole(user=user, event_id=event_id, role=role, sponsor_id=sponsor_id)
    db.session.add(granted)
    db.session.flush()
    return granted


def has_event_role(user: User | None, event_id: int, *roles: EventRoleKind) -> bool:
    """Admins have every role; an organiser may also do what check-in staff may do."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_admin:
        return True
    wanted = set(roles)
    if EventRoleKind.CHECKIN in wanted:
        wanted.add(EventRoleKind.ORGANISER)
    return any(r.event_id == event_id and r.role in wanted for r in user.roles)


def require_event_role(user: User | None, event_id: int, *roles: EventRoleKind) -> None:
    """Raises Forbidden unless `user` has one of `roles` for the event."""
    if not has_event_role(user, event_id, *roles):
        raise Forbidden(_l("You do not have access to this event."))


def staff_events(user: User) -> list[int] | None:
    """Ids of the events the user organises; None means all (admin)."""
    if user.is_admin:
        return None
    return sorted({r.event_id for r in user.roles if r.role == EventRoleKind.ORGANISER})


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_token(email: str) -> str:
    """Creates a token for the user and returns it; only its hash is kept, so it is shown once."""
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(_l("No such user."))
    raw = "ert_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=_hash_token(raw)))
    db.session.flush()
    return raw


def issue_device_token(user: User, label: str, *, expires_at: datetime) -> str:
    """A token for one scanner (a phone or laptop at a gate), shown once and valid until
    `expires_at`; it acts with its user's roles."""
    raw = "ert_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_hash=_hash_token(raw), label=label[:100], expires_at=expires_at))
    db.session.flush()
    return raw


# Built once, as scanners ask with every scan; user and roles come in the same query.
_TOKEN = (
    sa.select(ApiToken)
    .where(ApiToken.token_hash == sa.bindparam("token_hash"))
    .options(joinedload(ApiToken.user).joinedload(User.roles))
)


def list_tokens(user: User, *, now: datetime) -> list[ApiToken]:
    """The user's tokens that still work (API and scanner tokens), newest first."""
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .where(
                ApiToken.user_id == user.id,
                sa.or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            )
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke_token(user: User, token_id: int) -> ApiToken:
    """Deletes one of the user's tokens: the next request with it is 401. Raises NotFound for a
    token that is not the user's (or is gone already)."""
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if token is None:
        raise NotFound(_l("No such token."))
    db.session.delete(token)
    db.session.flush()
    return token


def revoke_all_tokens(user: User) -> int:
    """Deletes every token of the user (a lost phone, someone leaving); returns how many."""
    result = db.session.execute(sa.delete(ApiToken).where(ApiToken.user_id == user.id))
    return result.rowcount


def user_for_token(raw: str, *, now: datetime | None = None) -> User | None:
    token = db.session.scalar(_TOKEN, {"token_hash": _hash_token(raw)})
    if token is None or (token.expires_at is not None and token.expires_at <= (now or clock.now())):
        return None
    return token.user
