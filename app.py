"""WSGI entry point: `flask --app app run`, `gunicorn app:app`, `celery -A app.celery_app worker --beat`."""

from eventreg import create_app

app = create_app()
celery_app = app.extensions["celery"]
