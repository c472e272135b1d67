"""Background work on Celery (Redis as broker) in production.

Run a worker with the periodic jobs: `celery -A app.celery_app worker --beat`. The embedded
default needs no worker: start.sh runs `flask --app app expire-holds --every 60` beside the app,
and mail is delivered by a thread in the app process (MAIL_WORKER=thread, see mail/delivery.py), as
are the exports prepared in the background (EXPORT_WORKER, see exports/worker.py)."""

from celery import Celery, Task, shared_task
from flask import Flask

from eventreg.core.clock import now
from eventreg.mail.delivery import SWEEP_SECONDS

EXPIRE_HOLDS_EVERY = 60.0  # seconds; holds are also given back lazily, so this is about offers
RECONCILE_EVERY = 300.0
REMINDERS_EVERY = 3600.0
PURGE_EVERY = 24 * 3600.0  # retention periods are counted in days
OLD_EXPORTS_EVERY = 3600.0  # export files are kept a week, to the hour


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=app.config["REDIS_URL"],
        result_backend=app.config["REDIS_URL"],
        task_ignore_result=False,
        broker_connection_retry_on_startup=True,
        task_default_queue=app.config["CELERY_QUEUE"],
        beat_schedule={
            "expire-holds": {"task": "eventreg.expire_holds", "schedule": EXPIRE_HOLDS_EVERY},
            # Retries fall due while nobody commits; the after-commit wake-up covers new mail.
            "deliver-mail": {"task": "eventreg.deliver_mail", "schedule": SWEEP_SECONDS},
            # Lost Stripe webhooks and refunds Stripe has not confirmed yet.
            "reconcile-payments": {"task": "eventreg.reconcile_payments", "schedule": RECONCILE_EVERY},
            "invoice-reminders": {"task": "eventreg.send_invoice_reminders", "schedule": REMINDERS_EVERY},
            "purge-personal-data": {"task": "eventreg.purge_personal_data", "schedule": PURGE_EVERY},
            "delete-old-exports": {"task": "eventreg.delete_old_exports", "schedule": OLD_EXPORTS_EVERY},
        },
        timezone="UTC",
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


@shared_task(name="eventreg.expire_holds")
def expire_holds() -> int:
    """Expires stale holds and waiting-list offers of every event; returns how many orders expired."""
    from eventreg.registration.services import expire_all_holds

    return expire_all_holds(now=now())


@shared_task(name="eventreg.deliver_mail", ignore_result=True)
def deliver_mail() -> None:
    """Delivers every message of the outbox that is due (several workers may run it at once)."""
    from eventreg.mail.services import deliver_all_due

    deliver_all_due(now_fn=now)


@shared_task(name="eventreg.reconcile_payments")
def reconcile_payments() -> dict:
    """Asks Stripe about card payments whose webhook has not come, and retries pending refunds."""
    from eventreg.payments.services import card_payments_available, reconcile

    return reconcile(now=now()) if card_payments_available() else {}


@shared_task(name="eventreg.send_invoice_reminders")
def send_invoice_reminders() -> int:
    """One reminder for each unpaid invoice past its due date."""
    from eventreg.payments.invoices import send_reminders

    return send_reminders(now=now())


@shared_task(name="eventreg.purge_personal_data")
def purge_personal_data() -> int:
    """Erases the personal data of events whose retention period has run out; returns how many
    attendees and buyers it erased (two schedulers running it at once are safe)."""
    from eventreg.privacy.services import purge_due

    return purge_due(now=now())


@shared_task(name="eventreg.run_export", ignore_result=True)
def run_export(job_id: int) -> None:
    """Makes one export prepared in the background (the job row says how it went)."""
    from eventreg.exports.jobs import run_job

    run_job(job_id, now_fn=now)


@shared_task(name="eventreg.delete_old_exports")
def delete_old_exports() -> int:
    """Deletes the export files older than a week; returns how many."""
    from eventreg.exports.jobs import delete_old_jobs
    from eventreg.extensions import db

    deleted = delete_old_jobs(now=now())
    db.session.commit()
    return deleted
