"""Domain errors and the one place that turns them into 4xx pages or JSON."""

from flask import jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from eventreg.core.security import current_request_id


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


class ErrorBody(Schema):
    """The JSON body of every error answer (see `to_json` and the handlers below); the API
    documents each error response with it."""

    error = fields.String(required=True, metadata={"description": "A machine code: not_found, sold_out, ..."})
    message = fields.String(required=True, metadata={"description": "For people, in the request's language"})
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": 'Messages per field: {"attendees.0.email": ["..."]}'},
    )
    available = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(allow_none=True),
        metadata={"description": "sold_out: seats left per ticket type id"},
    )
    waitlist = fields.Boolean(metadata={"description": "sold_out: whether the event has a waiting list"})
    sessions = fields.List(fields.Integer(), metadata={"description": "session_full: the full workshops"})
    request_id = fields.String(metadata={"description": "internal: the reference in the server's log"})


class ValidationError(DomainError):
    status = 422
    code = "validation"


FIX_FIELDS = _l("Please correct the marked fields.")


class FieldErrors:
    """Collects per-field messages, so that one call reports every problem at once."""

    def __init__(self):
        self.fields: dict[str, list] = {}

    def add(self, key: str, message) -> None:
        self.fields.setdefault(key, []).append(message)

    def __contains__(self, key: str) -> bool:
        return key in self.fields

    def raise_if_any(self) -> None:
        """Raises ValidationError (422) with every message collected, if there is any."""
        if self.fields:
            raise ValidationError(FIX_FIELDS, fields=self.fields)


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


# Werkzeug's own texts are English only; these are the ones attendees can meet.
HTTP_MESSAGES = {
    400: _l("The request could not be understood."),
    404: _l("This page does not exist."),
    405: _l("This action is not possible here."),
    413: _l("The request is too large."),
    429: _l("Too many requests. Please wait a minute and try again."),
    422: _l("Please correct the marked fields."),
}


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

    @app.errorhandler(CSRFError)
    def csrf_error(err: CSRFError):
        message = _l(
            "The form could not be sent because its security token was missing or out of date. "
            "Please go back, reload the page and try again."
        )
        return render_template("error.html", message=message, status=400), 400

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        db.session.rollback()
        message = str(HTTP_MESSAGES.get(err.code, err.description))
        if getattr(getattr(err, "limit", None), "error_message", None):
            message = str(err.description)  # a rate limit with its own words (the login lockout)
        if wants_json():
            body = {"error": err.name.lower().replace(" ", "_"), "message": message}
            data = getattr(err, "data", None)  # flask-smorest/webargs put schema errors here
            if data and "messages" in data:
                body["error"] = "validation"
                body["fields"] = dict(_flatten(data["messages"].get("json", data["messages"])))
            return jsonify(body), err.code
        return render_template("error.html", message=message, status=err.code), err.code

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error")
        message = _l("Something went wrong on our side. Nothing was saved; please try again.")
        reference = current_request_id()  # the same id is in the log line above
        if wants_json():
            return jsonify({"error": "internal", "message": str(message), "request_id": reference}), 500
        return render_template("error.html", message=message, status=500, reference=reference), 500


def _flatten(messages, prefix=""):
    """{"attendees": {0: {"name": ["..."]}}} → ("attendees.0.name", ["..."]), like service errors."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), messages if isinstance(messages, list) else [messages]
