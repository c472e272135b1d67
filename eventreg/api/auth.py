"""Bearer-token authentication for the API (cookies are never trusted here: no CSRF exposure)."""

from flask import request
from flask_babel import lazy_gettext as _l

from eventreg.accounts.models import User
from eventreg.accounts.services import user_for_token
from eventreg.core.errors import DomainError


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def api_actor() -> User | None:
    """The user of the bearer token, None without one. Raises Unauthorized for a bad token."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(_l("Use 'Authorization: Bearer <token>'."))
    user = user_for_token(token.strip())
    if user is None:
        raise Unauthorized(_l("Unknown or revoked token."))
    return user
