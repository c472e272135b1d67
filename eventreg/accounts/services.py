"""Accounts, roles and API tokens."""

import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from eventreg.accounts.models import ApiToken, EventRole, EventRoleKind, User
from eventreg.core import clock
from eventreg.core.errors import Forbidden, NotFound, ValidationError
from eventreg.extensions import db


def create_user(email: str, name: str, password: str, *, is_admin=False, is_member=False) -> User:
    email = email.strip().lower()
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise ValidationError(
            _l("A user with this email already exists."),
            fields={"email": [_l("Already in use.")]},
        )
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


def authenticate(email: str, password: str) -> User | None:
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user and check_password_hash(user.password_hash, password):
        return user
    return None


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


def user_for_token(raw: str, *, now: datetime | None = None) -> User | None:
    token = db.session.scalar(_TOKEN, {"token_hash": _hash_token(raw)})
    if token is None or (token.expires_at is not None and token.expires_at <= (now or clock.now())):
        return None
    return token.user
