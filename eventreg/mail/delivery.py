"""Who runs the outbox worker, and waking it when a transaction that queued mail commits.

- "thread": a daemon thread in each app process (the embedded default: no extra process).
- "celery": a Celery task on Redis (production); beat also sweeps every SWEEP_SECONDS for retries.
- "manual": nothing runs by itself; `flask deliver-mail` or a test calls the worker.
Several processes may deliver at once: messages are claimed in the database (services.py)."""

import logging
import threading

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from eventreg.core.clock import now
from eventreg.extensions import db

log = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0  # retries fall due while nobody commits; look at least this often


def init_delivery(app: Flask) -> None:
    mode = app.config["MAIL_WORKER"]
    if mode == "thread":
        worker = MailThread(app)
        app.extensions["mail_worker"] = worker
        # Start on the first request too, so mail queued before a restart goes out.
        app.before_request(worker.ensure_started)


@sa.event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if not session.info.pop("outbox_dirty", False):
        return
    app = current_app._get_current_object()
    mode = app.config["MAIL_WORKER"]
    if mode == "thread":
        app.extensions["mail_worker"].wake()
    elif mode == "celery":
        from eventreg.tasks import deliver_mail

        try:
            deliver_mail.apply_async(retry=False)
        except Exception:  # noqa: BLE001 — the beat sweep delivers it a little later
            log.warning("could not reach the Celery broker; mail waits for the next sweep", exc_info=True)


class MailThread:
    def __init__(self, app: Flask):
        self.app = app
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = False

    def ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="mail-worker", daemon=True)
                    self._thread.start()

    def wake(self) -> None:
        self.ensure_started()
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        """Finishes the current round and ends the thread (for shutdown and tests)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        from eventreg.mail.services import deliver_all_due

        while not self._stopping:
            with self.app.app_context():
                try:
                    deliver_all_due(now_fn=now)
                except Exception:  # noqa: BLE001 — keep the worker alive; the next round retries
                    log.exception("mail delivery round failed")
                finally:
                    db.session.remove()
            self._wake.wait(SWEEP_SECONDS)
            self._wake.clear()
