"""A real SMTP server for the tests (aiosmtpd on a thread) that can be stopped and restarted on
the same port, and told to refuse some recipients or to go away after n messages."""

import email
import socket
import threading
from email import policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    # aiosmtpd cannot listen on port 0: it connects to its own port to see that it is up.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(self):
        self.port = free_port()
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse: set[str] = set()  # recipients answered with 550
        self.die_after: int | None = None  # answer 421 to message n+1 and shut down
        self._controller: Controller | None = None
        self._lock = threading.Lock()

    # aiosmtpd handler hooks (run on the server's thread)
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            if self.die_after is not None and len(self.received) >= self.die_after:
                self.die_after = None
                threading.Thread(target=self.stop).start()
                return "421 4.3.2 Shutting down"
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            controller, self._controller = self._controller, None
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def reset(self) -> None:
        self.received.clear()
        self.refuse.clear()
        self.die_after = None
        self.start()

    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(raw, policy=policy.default) for _, _, raw in self.received]

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages() if m["To"].addresses[0].addr_spec == address]
