"""Rate limits, all in one table, applied to endpoints by name once the blueprints exist.

Counters live in Redis in production (RATE_LIMIT_STORAGE=redis://...), so every app server behind
the load balancer counts the same requests; the embedded default counts in memory. Behind a reverse
proxy, PROXY_COUNT makes the client's address the one the proxy saw."""

from dataclasses import dataclass

from flask import Flask, request
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user


def _guessing(response) -> bool:
    """Wrong API tokens and unknown private links: what someone guessing would get."""
    return response.status_code in (401, 404)


def _login_email() -> str:
    return "login:" + request.form.get("email", "").strip().lower()[:254]


def _failed(response) -> bool:
    return response.status_code == 401


def _account() -> str:
    return f"account:{current_user.id}" if current_user.is_authenticated else get_remote_address()


def _no_voucher() -> bool:
    return not request.args.get("voucher_code")


@dataclass(frozen=True)
class Limit:
    value: str
    methods: tuple[str, ...] | None = None  # None: every method
    key_func: object = None  # None: the client's address
    deduct_when: object = None  # None: every request counts
    exempt_when: object = None
    message: object = None


LOCKED_OUT = _l("Too many failed logins for this account. Try again in 15 minutes.")

LIMITS: dict[str, tuple[Limit, ...]] = {
    # Guessing passwords: per address, and per account whatever the address (a lockout).
    "accounts.login": (
        Limit("30 per minute", methods=("POST",)),
        Limit(
            "10 per 15 minutes",
            methods=("POST",),
            key_func=_login_email,
            deduct_when=_failed,
            message=LOCKED_OUT,
        ),
    ),
    # A session left open must not let anyone guess the password behind it.
    "accounts.change_password": (Limit("10 per 15 minutes", key_func=_account),),
    # Registering, and guessing voucher codes on the registration page.
    "registration.register": (
        Limit("20 per minute", methods=("POST",)),
        Limit("30 per minute", methods=("GET",), exempt_when=_no_voucher),
    ),
    "registration.join_waitlist": (Limit("10 per minute"),),
    "api.create": (Limit("20 per minute"),),
    "api.waitlist": (Limit("10 per minute"),),
    "api.events": (Limit("120 per minute"),),
    "api.event": (Limit("120 per minute"),),
    # Scanner device tokens are handed out here.
    "checkin.device": (Limit("10 per minute"),),
}


def init_rate_limits(app: Flask) -> Limiter:
    """A limiter of this app's own (its settings and counters are per app, as tests need)."""
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter = Limiter(
        key_func=get_remote_address,
        # Every route: an address that keeps guessing is stopped, whatever it tries next.
        application_limits=["60 per minute"],
        application_limits_deduct_when=_guessing,
        app=app,
    )
    for endpoint, limits in LIMITS.items():
        # Flask-Limiter checks a decorated view when it is called: the wrapper must be what runs.
        view = app.view_functions[endpoint]
        for limit in limits:
            view = limiter.limit(
                limit.value,
                methods=list(limit.methods) if limit.methods else None,
                key_func=limit.key_func,
                deduct_when=limit.deduct_when,
                exempt_when=limit.exempt_when,
                error_message=limit.message,
            )(view)
        app.view_functions[endpoint] = view
    app.extensions["rate_limiter"] = limiter  # the wrappers only hold it weakly
    return limiter
