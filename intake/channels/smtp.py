"""Outbound email: build one follow-up as an RFC 5322 message and hand it to a sender.

`EmailSender` has three implementations chosen by INTAKE_EMAIL_BACKEND (STYLE 11):
`smtp` (smtplib, SSL / STARTTLS, AUTH), here; `file` (one .eml per follow-up in the
outbox folder, the embedded default) and `console` (the message on stderr, for
development) in `local.py`.

Every failure is an `EmailSendError` that says whether retrying can help (SMTP 4xx,
timeouts, lost connections) or not (SMTP 5xx), and whether the message may have been
accepted anyway (the connection dropped after DATA was sent), so the caller can keep
its exactly-once promise.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

from intake.channels.wire import Wire, mailbox, render
from intake.settings import Settings

# Control characters (CR, LF and friends) never reach a header: a subject or display
# name with "\r\nBcc: x" must stay one harmless line (header injection).
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
_ADDR_SPEC = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$")


def clean_header(value: str, limit: int = 900) -> str:
    """One line, no control characters, bounded: safe to put in any header field."""
    return " ".join(_CONTROL.sub(" ", value or "").split())[:limit]


# RFC 5321 section 4.5.3.1.3: a path is at most 256 octets including its angle brackets,
# so no deliverable address is longer than 254.
MAX_ADDRESS_LENGTH = 254


def valid_address(address: str) -> bool:
    return bool(address) and len(address) <= MAX_ADDRESS_LENGTH and bool(_ADDR_SPEC.match(address)) and not _CONTROL.search(address)


class _ThreadingPolicy(email.policy.EmailPolicy):
    """The SMTP policy, except that Message-ID, In-Reply-To and References are folded
    between ids only. The stock folder RFC 2047-encodes an unstructured header longer
    than a line (Outlook's 80-character Message-IDs), which breaks threading in every
    client; msg-ids are ASCII tokens and must stay literal (RFC 5322 section 3.6.4)."""

    _ID_FIELDS = ("message-id", "in-reply-to", "references")

    def _ids(self, name: str, value: object) -> str | None:
        if name.lower() not in self._ID_FIELDS:
            return None
        text = str(value)
        if not text.isascii() or _CONTROL.search(text):
            return None
        return f"{name}: " + (self.linesep + " ").join(text.split()) + self.linesep

    def fold(self, name: str, value: str) -> str:
        return self._ids(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        folded = self._ids(name, value)
        return folded.encode("ascii") if folded is not None else super().fold_binary(name, value)


SMTP_POLICY = _ThreadingPolicy(linesep="\r\n")
SMTPUTF8_POLICY = _ThreadingPolicy(linesep="\r\n", utf8=True)


class EmailSendError(Exception):
    """A failed delivery attempt. `code` is safe to show ops (an SMTP status or a name);
    `detail` is the server's text, which never quotes message content."""

    def __init__(self, code: str, detail: str, *, permanent: bool, maybe_sent: bool = False) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = clean_header(detail, 500)
        self.permanent = permanent
        self.maybe_sent = maybe_sent


@dataclass(frozen=True)
class OutgoingEmail:
    """Everything needed to build one follow-up mail; values are plain and unchecked."""

    message_id: str  # without <>
    from_address: str
    to_address: str
    subject: str
    text: str
    html: str | None = None
    to_name: str = ""
    from_name: str = ""
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_submitted: bool = True  # False for an agent's personal reply (RFC 3834 section 5)
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def _address(name: str, address: str) -> Address:
    if not valid_address(address):
        raise EmailSendError("bad_address", "address is not a plain addr-spec", permanent=True)
    local, _, domain = address.rpartition("@")
    return Address(display_name=clean_header(name, 200), username=local, domain=domain)


def _angle(message_id: str) -> str:
    return "<" + clean_header(message_id, 500).strip("<> ") + ">"


def build_message(mail: OutgoingEmail, date: object | None = None) -> EmailMessage:
    """A multipart/alternative UTF-8 message; EmailMessage with the SMTP policy encodes
    non-ASCII headers per RFC 2047 and refuses CR/LF in header values."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = _address(mail.from_name, mail.from_address)
    message["To"] = _address(mail.to_name, mail.to_address)
    message["Subject"] = clean_header(mail.subject, 900)
    when = date if isinstance(date, dt.datetime) else dt.datetime.now(dt.timezone.utc)
    message["Date"] = format_datetime(when)
    message["Message-ID"] = _angle(mail.message_id)
    if mail.in_reply_to:
        message["In-Reply-To"] = _angle(mail.in_reply_to)
    references = [r for r in mail.references if r]
    if references:
        # RFC 5322 section 3.6.4: the parent's References followed by the parent's id.
        # Long chains keep the first and the last ids (as most clients do).
        kept = references if len(references) <= 10 else [references[0], *references[-9:]]
        message["References"] = " ".join(_angle(r) for r in kept)
    if mail.auto_submitted:
        message["Auto-Submitted"] = "auto-replied"  # RFC 3834 section 5
        # Ask Exchange / Outlook not to answer this with out-of-office notes ([MS-OXCMAIL]).
        message["X-Auto-Response-Suppress"] = "All"
    for name, value in mail.extra_headers:
        message[clean_header(name, 70)] = clean_header(value, 500)
    message.set_content(mail.text, subtype="plain", charset="utf-8")
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html", charset="utf-8")
    return message


def serialize(message: EmailMessage) -> bytes:
    addresses = [a.addr_spec for name in ("From", "To") for a in message[name].addresses]
    utf8 = not all(a.isascii() for a in addresses)  # RFC 6531 internationalised address
    policy = SMTPUTF8_POLICY if utf8 else SMTP_POLICY
    return message.as_bytes(policy=policy)


def to_wire(mail: OutgoingEmail, date: dt.datetime | None = None) -> Wire:
    """A follow-up ready for a sender. Built directly (`wire.render`, the same message as
    `build_message` at a fraction of its cost) unless an address needs SMTPUTF8, which
    the EmailMessage path handles."""
    for address in (mail.from_address, mail.to_address):
        if not valid_address(address):
            raise EmailSendError("bad_address", "address is not a plain addr-spec", permanent=True)
    when = date if isinstance(date, dt.datetime) else dt.datetime.now(dt.timezone.utc)
    if not (mail.from_address.isascii() and mail.to_address.isascii()):
        return Wire(mail.from_address, mail.to_address, serialize(build_message(mail, when)))
    references = [r for r in mail.references if r]
    kept = references if len(references) <= 10 else [references[0], *references[-9:]]
    data = render(
        from_line=mailbox(clean_header(mail.from_name, 200), mail.from_address),
        to_line=mailbox(clean_header(mail.to_name, 200), mail.to_address),
        subject=clean_header(mail.subject, 900), date=when, message_id=_angle(mail.message_id),
        in_reply_to=_angle(mail.in_reply_to) if mail.in_reply_to else None,
        references=[_angle(r) for r in kept], auto_submitted=mail.auto_submitted,
        extra_headers=[(clean_header(n, 70), clean_header(v, 500)) for n, v in mail.extra_headers],
        text=mail.text, html=mail.html)
    return Wire(mail.from_address, mail.to_address, data)


class EmailSender(Protocol):
    def send(self, message: Wire, outbox_id: int) -> str:
        """Deliver; return the provider's id for the message (or our Message-ID)."""


# -- smtp --------------------------------------------------------------------------------------

class SmtpEmailSender:
    """smtplib, one connection per message (follow-ups are few; a fresh connection is the
    simplest thing that never leaves a half-dead session in a worker)."""

    def __init__(self, settings: Settings) -> None:
        self.host = settings.smtp_host
        self.security = settings.smtp_security
        self.port = settings.smtp_port or {"ssl": 465, "starttls": 587, "none": 25}[self.security]
        self.user = settings.smtp_user
        self.password = settings.smtp_password
        self.timeout = settings.smtp_timeout
        self.context = ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                  context=self.context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=self.context)
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password)
        except BaseException:
            _close(smtp)
            raise
        return smtp

    def send(self, message: Wire, outbox_id: int) -> str:
        envelope_from, rcpt, data = message.envelope_from, message.rcpt, message.data
        try:
            smtp = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            # Our configuration, not this message: retry (ops fix the password) until the
            # row's deadline instead of failing every follow-up for good.
            raise EmailSendError(f"smtp_{exc.smtp_code}", "authentication failed", permanent=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise _transport_error(exc, maybe_sent=False) from None
        stage = "MAIL"
        try:
            options = ["SMTPUTF8"] if not data.split(b"\r\n\r\n", 1)[0].isascii() else []
            if options and not smtp.has_extn("smtputf8"):
                raise EmailSendError("smtputf8", "address needs SMTPUTF8, server lacks it", permanent=True)
            if smtp.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")
            code, reply = smtp.mail(envelope_from, options)
            _check(code, reply, stage)
            stage = "RCPT"
            code, reply = smtp.rcpt(rcpt)
            _check(code, reply, stage)
            stage = "DATA"
            code, reply = smtp.data(data)
            _check(code, reply, stage)
        except EmailSendError:
            _reset_and_close(smtp)
            raise
        except (smtplib.SMTPException, OSError) as exc:
            # A connection lost while DATA was under way: the server may have queued the
            # mail before the line dropped (RFC 5321 section 4.1.1.4 has no way to ask).
            raise _transport_error(exc, maybe_sent=stage == "DATA") from None
        _quit(smtp)
        return reply.decode("utf-8", "replace")[:128] if isinstance(reply, bytes) else str(reply)[:128]


def _check(code: int, reply: bytes | str, stage: str) -> None:
    if 200 <= code < 400:
        return
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    raise EmailSendError(f"smtp_{code}", f"{stage}: {text}", permanent=code >= 500)


def _transport_error(exc: BaseException, maybe_sent: bool) -> EmailSendError:
    if isinstance(exc, smtplib.SMTPResponseException):
        # A definite answer from the server: nothing was accepted. 530/535 (authentication)
        # are our configuration, not this message: retried until the deadline.
        code = exc.smtp_code
        raw = exc.smtp_error
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return EmailSendError(f"smtp_{code}", text, permanent=code >= 500 and code not in (530, 535))
    name = "timeout" if isinstance(exc, (socket.timeout, TimeoutError)) else type(exc).__name__
    return EmailSendError(name, type(exc).__name__, permanent=False, maybe_sent=maybe_sent)


def _reset_and_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.rset()
    except (smtplib.SMTPException, OSError):
        pass
    _quit(smtp)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


def make_email_sender(settings: Settings) -> EmailSender:
    from intake.channels.local import ConsoleEmailSender, FileEmailSender

    if settings.email_backend == "smtp":
        return SmtpEmailSender(settings)
    if settings.email_backend == "console":
        return ConsoleEmailSender()
    assert settings.outbox_dir is not None
    return FileEmailSender(settings.outbox_dir)
