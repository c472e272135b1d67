"""Response headers, cookie flags and the request id that ties an error page to its log line.

The Content Security Policy allows scripts, styles and connections from this site only, so a
name or answer that smuggles markup past the escaping still cannot run (pages have no inline
script or style; tests/test_security.py keeps them that way)."""

import logging
import re
import secrets

from flask import Flask, g, has_request_context, request

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",  # QR codes are data: URLs; the scanner draws camera frames
        "media-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self'",  # the check-in scanner's service worker
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
    )
)
# A proxy's request id is kept when it looks like one (nginx: proxy_set_header X-Request-ID $request_id).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def current_request_id() -> str:
    return g.get("request_id", "-") if has_request_context() else "-"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


def init_security(app: Flask) -> None:
    https = app.config["PUBLIC_URL"].startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=https,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    handler.addFilter(_RequestIdFilter())
    app.logger.handlers[:] = [handler]

    @app.before_request
    def assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        # Private links carry their token in the URL: never hand it to another site.
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        headers["X-Request-ID"] = current_request_id()
        return response
