"""eventreg: conference and event registration."""

import sqlite3

import sqlalchemy as sa
from flask import Flask

from eventreg.config import INSTANCE, ROOT, load_settings


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(INSTANCE),
    )
    settings = load_settings(overrides)
    app.config.update(settings)
    app.config.update(
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings),
        BABEL_DEFAULT_LOCALE="nb",
        BABEL_DEFAULT_TIMEZONE=settings["DEFAULT_TIMEZONE"],
        BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "translations"),
        API_TITLE="eventreg API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        WTF_CSRF_TIME_LIMIT=None,  # a long registration form must not fail on a stale token
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=1024 * 1024,  # no registration is bigger; refuse floods early
    )
    INSTANCE.mkdir(exist_ok=True)

    from eventreg import extensions as ext
    from eventreg.core.i18n import select_locale

    ext.db.init_app(app)
    ext.migrate.init_app(app, ext.db, directory=str(ROOT / "migrations"))
    ext.csrf.init_app(app)
    ext.babel.init_app(app, locale_selector=select_locale)
    ext.login_manager.init_app(app)
    ext.api.init_app(app)
    ext.mail.init_app(app)
    _import_models()
    _register_blueprints(app)

    from eventreg.core.ratelimits import init_rate_limits

    init_rate_limits(app)
    if settings["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    from eventreg.core.errors import register_error_handlers
    from eventreg.core.security import init_security
    from eventreg.core.templating import register_template_helpers

    init_security(app)
    register_error_handlers(app)
    register_template_helpers(app)

    from eventreg.cli import register_commands
    from eventreg.tasks import celery_init_app

    register_commands(app)
    celery_init_app(app)

    from eventreg.mail.delivery import init_delivery

    init_delivery(app)
    return app


def _engine_options(settings: dict) -> dict:
    if settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A writer waits up to 30 s for the write lock instead of failing at once.
        return {"connect_args": {"timeout": 30}}
    # No pre-ping: it would cost a round trip per request. A connection broken by a database
    # restart fails one request, and the pool then replaces all the connections it had.
    return {"pool_size": settings["DB_POOL_SIZE"], "max_overflow": 10, "pool_recycle": 3600}


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record):
    if isinstance(dbapi_conn, sqlite3.Connection):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


def _import_models() -> None:
    # Every model must be known to the metadata before Alembic or a query looks at it.
    import eventreg.accounts.models  # noqa: F401
    import eventreg.audit.models  # noqa: F401
    import eventreg.checkin.models  # noqa: F401
    import eventreg.events.models  # noqa: F401
    import eventreg.exports.models  # noqa: F401
    import eventreg.mail.models  # noqa: F401
    import eventreg.payments.models  # noqa: F401
    import eventreg.registration.models  # noqa: F401
    import eventreg.tickets.models  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from eventreg.accounts.views import bp as accounts_bp
    from eventreg.admin.views import bp as admin_bp
    from eventreg.api.builder import blp as builder_api_blp
    from eventreg.api.checkin import blp as checkin_api_blp
    from eventreg.api.views import blp as api_blp
    from eventreg.attendees.views import bp as attendees_bp
    from eventreg.builder.views import bp as builder_bp
    from eventreg.checkin.manage import bp as checkin_manage_bp
    from eventreg.checkin.views import bp as checkin_bp
    from eventreg.dashboard.views import bp as dashboard_bp
    from eventreg.events.views import bp as events_bp
    from eventreg.exports.views import bp as exports_bp
    from eventreg.extensions import api, csrf
    from eventreg.health.views import bp as health_bp
    from eventreg.payments.views import bp as payments_bp
    from eventreg.privacy.views import bp as privacy_bp
    from eventreg.registration.views import bp as registration_bp
    from eventreg.sponsors.views import bp as sponsors_bp
    from eventreg.tickets.views import bp as tickets_bp

    for bp in (
        events_bp,
        registration_bp,
        accounts_bp,
        admin_bp,
        tickets_bp,
        payments_bp,
        checkin_bp,
        checkin_manage_bp,
        dashboard_bp,
        exports_bp,
        privacy_bp,
        sponsors_bp,
        builder_bp,
        attendees_bp,
        health_bp,
    ):
        app.register_blueprint(bp)
    for blp in (api_blp, checkin_api_blp, builder_api_blp):
        csrf.exempt(blp)  # the API authenticates with bearer tokens, never with cookies
        api.register_blueprint(blp, url_prefix="/api/v1")
