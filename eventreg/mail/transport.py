"""Where composed messages go: an SMTP server (through Flask-Mail's connection), or, in the
embedded default (no MAIL_SERVER), one .eml file per message in OUTBOX_DIR."""

import os
import re
import smtplib
from pathlib import Path

from flask import current_app

from eventreg.extensions import mail


def open_transport() -> "SmtpTransport | FolderTransport":
    """The configured transport, connected. Raises OSError (smtplib errors included) when the
    server cannot be reached."""
    if current_app.config["MAIL_SERVER"]:
        return SmtpTransport(current_app.config["MAIL_TIMEOUT"])
    return FolderTransport(Path(current_app.config["OUTBOX_DIR"]))


def is_permanent(error: Exception) -> bool:
    """A 5xx answer (unknown mailbox, refused content): retrying will not help."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and 500 <= error.smtp_code < 600


class SmtpTransport:
    """One SMTP connection for a batch; reconnects after an error."""

    def __init__(self, timeout: int):
        self.timeout = timeout
        self.conn = None
        self._connect()

    def _connect(self) -> None:
        conn = mail.connect()
        conn.__enter__()
        # Flask-Mail sets no timeout; without one a hung server would stall the worker forever.
        conn.host.sock.settimeout(self.timeout)
        self.conn = conn

    def send(self, message_id: str, sender: str, recipient: str, raw: bytes) -> None:
        if self.conn is None:
            self._connect()
        self.conn.host.sendmail(sender, [recipient], raw)

    def reset(self) -> None:
        if self.conn is not None:
            try:
                self.conn.host.close()
            finally:
                self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.conn is not None:
            try:
                self.conn.host.quit()
            except (OSError, smtplib.SMTPException):
                self.conn.host.close()
            self.conn = None


class FolderTransport:
    """Writes <message-id>.eml files. The name comes from the Message-ID and the file appears
    complete or not at all (rename), so a repeated delivery rewrites the same file."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, message_id: str, sender: str, recipient: str, raw: bytes) -> None:
        name = re.sub(r"[^A-Za-z0-9._@-]", "_", message_id.strip("<>"))
        temp = self.folder / f".{name}.tmp"
        temp.write_bytes(raw)
        os.replace(temp, self.folder / f"{name}.eml")

    def reset(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass
