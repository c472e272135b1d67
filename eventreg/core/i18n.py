"""Language choice (nb/en) and helpers for texts stored in both languages."""

from flask import has_request_context, request, session
from flask_babel import get_locale

LANGUAGES = ("nb", "en")
DEFAULT_LANGUAGE = "nb"
# Browsers in Norway often send "no" or "nn"; both mean we should answer in bokmål.
_ALIASES = {"no": "nb", "nn": "nb", "nb": "nb", "en": "en"}


def select_locale() -> str:
    """The attendee's own choice (remembered in the session), else the browser's, else nb."""
    if not has_request_context():  # jobs and CLI commands choose the language explicitly
        return DEFAULT_LANGUAGE
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    for lang, _q in request.accept_languages:
        primary = lang.split("-")[0].lower()
        if primary in _ALIASES:
            return _ALIASES[primary]
    return DEFAULT_LANGUAGE


def current_language() -> str:
    return str(get_locale() or DEFAULT_LANGUAGE)[:2]


def localized(text: dict | None, lang: str | None = None) -> str:
    """Pick the text in `lang` (default: the request's), falling back to any language given."""
    if not text:
        return ""
    lang = lang or current_language()
    return text.get(lang) or text.get(DEFAULT_LANGUAGE) or next(iter(text.values()), "")
