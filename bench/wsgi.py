"""The gunicorn entry point of the benchmark: `app.py`'s app, plus a placeholder for the order page.

Every created order links to `registration.manage`; until that view exists the API answers 500
after the order was committed. The placeholder (used only when the view is missing) lets the
benchmark measure the sale itself; rush.py says when it was used."""

from app import app

PLACEHOLDER = "registration.manage" not in app.view_functions
if PLACEHOLDER:
    app.add_url_rule("/orders/<code>/<token>", "registration.manage", lambda code, token: ("", 404))
