"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives and answers as scripted.

    server = SmtpServer().start()
    server.script("RCPT", "451 4.3.0 try later", "451 4.3.0 try later")  # then 250 again
    ... code under test sends to server.host:server.port ...
    server.wait_for(1)[0].raw

Optional STARTTLS (`tls=True`, self-signed, verify with `server.cert_path`) and AUTH
(`auth=("user", "password")`, PLAIN/LOGIN, only after STARTTLS when tls is on).
"""

from __future__ import annotations

import collections
import logging
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.ports import LOOPBACK, free_port

Stage = Literal["MAIL", "RCPT", "DATA"]
TEMPFAIL = "451 4.3.0 try later"


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes  # exactly the DATA the client sent (dot-unstuffed)
    mail_options: tuple[str, ...] = ()
    authenticated_as: str | None = None
    tls: bool = False


@dataclass
class _Attempt:
    stage: Stage
    argument: str
    reply: str
    at: float = field(default_factory=time.monotonic)


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        reply = self.owner._next_reply("MAIL", address, "250 2.1.0 OK")
        if reply.startswith("2"):
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
        return reply

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        reply = self.owner._next_reply("RCPT", address, "250 2.1.5 OK")
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.owner._next_reply("DATA", envelope.mail_from or "", "250 2.0.0 queued as TEST")
        if reply.startswith("2"):
            raw = envelope.original_content or b""
            auth_data = session.auth_data if session.authenticated else None
            auth_user = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None
            self.owner._store(ReceivedMessage(
                mail_from=envelope.mail_from or "", rcpt_tos=tuple(envelope.rcpt_tos),
                raw=raw if isinstance(raw, bytes) else raw.encode(),
                mail_options=tuple(envelope.mail_options),
                authenticated_as=auth_user,
                tls=session.ssl is not None))
        return reply


class SmtpServer:
    """aiosmtpd on 127.0.0.1:free port, in its own thread."""

    def __init__(self, tls: bool = False, auth: tuple[str, str] | None = None) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.tls = tls
        self.auth = auth
        self.cert_path: Path | None = None
        self.messages: list[ReceivedMessage] = []
        self.attempts: list[_Attempt] = []
        self._scripts: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        self._controller: Controller | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # -- scripting ------------------------------------------------------------------------
    def script(self, stage: Stage, *replies: str) -> None:
        """Queue replies for the next commands of this stage; after them, the normal 250."""
        with self._lock:
            self._scripts[stage].extend(replies)

    def fail_next(self, stage: Stage, times: int = 1, reply: str = TEMPFAIL) -> None:
        self.script(stage, *([reply] * times))

    def _next_reply(self, stage: Stage, argument: str, default: str) -> str:
        with self._lock:
            queue = self._scripts[stage]
            reply = queue.popleft() if queue else default
            self.attempts.append(_Attempt(stage, argument, reply))
            return reply

    def _store(self, message: ReceivedMessage) -> None:
        with self._received:
            self.messages.append(message)
            self._received.notify_all()

    # -- reading ----------------------------------------------------------------------------
    def received(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least `count` messages arrived; AssertionError on timeout."""
        with self._received:
            if not self._received.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"SMTP server got {len(self.messages)} messages, "
                                     f"expected {count} within {timeout} s")
            return list(self.messages)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.attempts.clear()
            self._scripts.clear()

    def count_attempts(self, stage: Stage) -> int:
        with self._lock:
            return sum(1 for attempt in self.attempts if attempt.stage == stage)

    # -- life cycle ---------------------------------------------------------------------------
    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        assert self.auth is not None
        ok = (isinstance(auth_data, LoginPassword)
              and (auth_data.login.decode(), auth_data.password.decode()) == self.auth)
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": True}
        if self.tls:
            from tests.support.dovecot import _self_signed_cert
            import ssl

            self._tmp = tempfile.TemporaryDirectory(prefix="intake-smtp-")
            self.cert_path = Path(self._tmp.name) / "cert.pem"
            key_path = Path(self._tmp.name) / "key.pem"
            _self_signed_cert(self.cert_path, key_path)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_path, key_path)
            kwargs.update(tls_context=context, require_starttls=False)
        if self.auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self.tls)
        last: Exception | None = None
        for _attempt in range(3):
            self.port = free_port()
            controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                    ready_timeout=10, **kwargs)
            try:
                controller.start()
            except Exception as exc:  # port taken between probe and bind: try another
                last = exc
                continue
            self._controller = controller
            return self
        raise RuntimeError(f"aiosmtpd did not start on 127.0.0.1: {last!r}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# aiosmtpd logs every command under "mail.log", and a warning about its own deprecated
# Session.login_data on every AUTH; keep test output readable
logging.getLogger("mail.log").setLevel(logging.ERROR)
