"""Domain errors and the one place that turns them into 4xx pages or JSON."""

from flask import jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    """A business rule said no. `message` is translated, `code` is for machines."""

    status = 400
    code = "error"

    def __init__(
        self,
        message=None,
        *,
        code: str | None = None,
        fields: dict | None = None,
        **details,
    ):
        self.message = message or _l("The request could not be completed.")
        if code:
            self.code = code
        self.fields = fields or {}
        self.details = details
        super().__init__(self.message)

    def to_json(self) -> dict:
        body = {"error": self.code, "message": str(self.message)}
        if self.fields:
            body["fields"] = {k: [str(m) for m in v] for k, v in self.fields.items()}
        body.update(self.details)
        return body


class ValidationError(DomainError):
    status = 422
    code = "validation"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class SoldOut(Conflict):
    code = "sold_out"


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register_error_handlers(app) -> None:
    from eventreg.extensions import db

    @app.errorhandler(DomainError)
    def domain_error(err: DomainError):
        db.session.rollback()
        if wants_json():
            return jsonify(err.to_json()), err.status
        return render_template("error.html", message=err.message, status=err.status), err.status

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        db.session.rollback()
        if wants_json():
            body = {"error": err.name.lower().replace(" ", "_"), "message": err.description}
            data = getattr(err, "data", None)  # flask-smorest/webargs put schema errors here
            if data and "messages" in data:
                body["error"] = "validation"
                body["fields"] = dict(_flatten(data["messages"].get("json", data["messages"])))
            return jsonify(body), err.code
        return render_template("error.html", message=err.description, status=err.code), err.code

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        if wants_json():
            return jsonify({"error": "internal", "message": "Internal error"}), 500
        return render_template("error.html", message="Internal error", status=500), 500


def _flatten(messages, prefix=""):
    """{"attendees": {0: {"name": ["..."]}}} → ("attendees.0.name", ["..."]), like service errors."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), messages if isinstance(messages, list) else [messages]
