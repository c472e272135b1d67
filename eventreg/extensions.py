"""Flask extensions, created unbound and attached in create_app."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from eventreg.core.db import Base, IdConverter
from eventreg.core.errors import ErrorBody


class JsonApi(Api):
    """flask-smorest documenting errors with the body our error handlers write. No catch-all
    "default" response: each operation lists the error statuses it can answer."""

    ERROR_SCHEMA = ErrorBody
    DEFAULT_ERROR_RESPONSE_NAME = None

    def init_app(self, app, *args, **kwargs):
        # Before any blueprint adds a route: ids in every URL (pages too) are bounded (404
        # beyond), and the document shows the bound.
        app.url_map.converters["int"] = IdConverter
        super().init_app(app, *args, **kwargs)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()
api = JsonApi()
mail = Mail()
