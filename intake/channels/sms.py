"""Outbound SMS: the Twilio Messages API, or files / the console (INTAKE_SMS_BACKEND).

Also the arithmetic of SMS segments (GSM 03.38 vs UCS-2), which the composer uses to
keep every follow-up within two segments, and the question "can this number get an SMS"
(phonenumbers' number type).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from intake.settings import Settings

# -- segments ----------------------------------------------------------------------------------

# GSM 03.38 default alphabet and its extension table (each extension char costs two septets).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = set("^{}\\[~]|€\f")
MAX_SEGMENTS = 2


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # gsm7 | ucs2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int

    @property
    def fits(self) -> bool:
        return self.segments <= MAX_SEGMENTS


def sms_size(body: str) -> SmsSize:
    """Segments of a body: GSM-7 160 alone / 153 per part; UCS-2 70 / 67 (3GPP TS 23.038,
    and https://www.twilio.com/docs/glossary/what-sms-character-limit)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in body):
        units = sum(2 if ch in _GSM_EXTENDED else 1 for ch in body)
        single, part, encoding = 160, 153, "gsm7"
    else:
        units = len(body.encode("utf-16-le")) // 2  # an emoji is two code units
        single, part, encoding = 70, 67, "ucs2"
    segments = 1 if units <= single else -(-units // part)
    return SmsSize(encoding, units, segments)


# -- who can receive one -----------------------------------------------------------------------

NOT_SMS_CAPABLE = "not_sms_capable"  # the outbox row's suppressed_reason

def sms_capability(number: str, *, strict: bool) -> str | None:
    """None when `number` can receive an SMS, else the reason it cannot.

    strict (a caller's number from a voice call): a valid number whose type is MOBILE or
    FIXED_LINE_OR_MOBILE. Not strict (they texted us): any possible E.164 number; short
    codes and alphanumeric sender ids are machines and get no answer.
    """
    import phonenumbers
    from phonenumbers import PhoneNumberType

    if not number or not number.startswith("+"):
        return NOT_SMS_CAPABLE  # 'anonymous', 'restricted', 'unknown', short codes
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return NOT_SMS_CAPABLE
    if not strict:
        return None if phonenumbers.is_possible_number(parsed) else NOT_SMS_CAPABLE
    if not phonenumbers.is_valid_number(parsed):
        return NOT_SMS_CAPABLE
    kind = phonenumbers.number_type(parsed)
    if kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return None
    return NOT_SMS_CAPABLE


# -- senders -----------------------------------------------------------------------------------

class SmsSendError(Exception):
    """A failed attempt. `code` is Twilio's error code (or a transport error name)."""

    def __init__(self, code: str, detail: str, *, permanent: bool, maybe_sent: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = " ".join(detail.split())[:500]
        self.permanent = permanent
        self.maybe_sent = maybe_sent
        self.retry_after = retry_after


@dataclass(frozen=True)
class OutgoingSms:
    to: str
    body: str
    ticket_ref: str


@dataclass(frozen=True)
class SmsResult:
    provider_id: str
    provider_status: str | None = None


class SmsSender(Protocol):
    def send(self, sms: OutgoingSms, outbox_id: int) -> SmsResult: ...

    def find_sent(self, sms: OutgoingSms, outbox_id: int, since: dt.datetime) -> SmsResult | None:
        """Whether an earlier, interrupted attempt did reach the provider."""


# Twilio error codes that no retry can fix (https://www.twilio.com/docs/api/errors).
PERMANENT_CODES = {
    21211: "invalid 'To' number",
    21214: "'To' number cannot be reached",
    21408: "region not enabled",
    21610: "recipient unsubscribed (STOP)",
    21612: "cannot route to this number",
    21614: "'To' number is not a mobile number",
    21617: "body too long",
    30003: "unreachable handset",
    30005: "unknown destination",
    30006: "landline or unreachable carrier",
    30007: "carrier filtered",
}
_TWILIO_ORIGIN = re.compile(r"^https://[a-z0-9.-]*\.twilio\.com(?=/|$)")


def _redirecting_client_class() -> Any:
    from twilio.http.http_client import TwilioHttpClient

    class RedirectingTwilioHttpClient(TwilioHttpClient):  # type: ignore[misc]
        """The library's own client with every https://<x>.twilio.com origin rewritten to
        INTAKE_TWILIO_API_BASE (a regional edge, an egress proxy, a local stand-in). The
        library builds, signs and parses requests exactly as against Twilio. It also keeps
        the last response's headers per thread, for 429 Retry-After."""

        def __init__(self, api_base: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.api_base = api_base.rstrip("/")
            self.local = threading.local()
            host = urlsplit(self.api_base).hostname or ""
            if self.session is not None and host in ("127.0.0.1", "localhost", "::1"):
                self.session.trust_env = False  # no HTTP(S)_PROXY for loopback

        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if self.api_base:
                url = _TWILIO_ORIGIN.sub(self.api_base, url)
            response = super().request(method, url, *args, **kwargs)
            self.local.headers = dict(response.headers or {})
            return response

        def last_headers(self) -> dict[str, str]:
            return getattr(self.local, "headers", {})

    return RedirectingTwilioHttpClient


class TwilioSmsSender:
    """The real twilio Client. No transport-level retries: a POST retried blindly is how
    an SMS gets sent twice; retries are ours, with a look-up first (send.py)."""

    timeout = 30.0

    def __init__(self, settings: Settings) -> None:
        from twilio.rest import Client

        self.http = _redirecting_client_class()(settings.twilio_api_base, timeout=self.timeout)
        tokens = settings.twilio_auth_tokens
        self.client = Client(settings.twilio_account_sid, tokens[0] if tokens else "",
                             http_client=self.http)
        self.from_number = settings.twilio_from_number
        self.service_sid = settings.twilio_messaging_service_sid
        self.status_callback = (settings.public_url.rstrip("/") + "/webhooks/twilio/status"
                                if settings.public_url else None)

    def send(self, sms: OutgoingSms, outbox_id: int) -> SmsResult:
        from twilio.base.exceptions import TwilioRestException

        kwargs: dict[str, Any] = {"to": sms.to, "body": sms.body}
        if self.service_sid:
            kwargs["messaging_service_sid"] = self.service_sid
        else:
            kwargs["from_"] = self.from_number
        if self.status_callback:
            kwargs["status_callback"] = self.status_callback
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise self._rest_error(exc) from None
        except Exception as exc:  # noqa: BLE001 - requests' timeouts and connection errors
            raise _transport_error(exc) from None
        return SmsResult(provider_id=str(message.sid), provider_status=str(message.status or "") or None)

    def find_sent(self, sms: OutgoingSms, outbox_id: int, since: dt.datetime) -> SmsResult | None:
        """Look for a message to this number with this body created since `since` (list
        filtered by To, and From when we send from a number; newest first). Raises
        SmsSendError (transient) when the look-up itself fails: then we cannot tell, and
        must not send again yet."""
        filters: dict[str, Any] = {"to": sms.to, "limit": 50, "page_size": 50}
        if not self.service_sid and self.from_number:
            filters["from_"] = self.from_number
        try:
            found = self.client.messages.list(**filters)
        except Exception as exc:  # noqa: BLE001 - TwilioException, requests' errors
            status = getattr(exc, "status", None) or getattr(getattr(exc, "args", [None, None])[-1], "status_code", "")
            raise SmsSendError("lookup_failed", f"message look-up failed ({type(exc).__name__} {status})".strip(),
                               permanent=False) from None
        margin = since - dt.timedelta(minutes=5)  # clocks differ
        for message in found:
            created = message.date_created
            if created is not None and created < margin:
                continue
            if _same_body(message.body or "", sms.body):
                return SmsResult(provider_id=str(message.sid), provider_status=str(message.status or "") or None)
        return None

    def _rest_error(self, exc: Any) -> SmsSendError:
        status = int(exc.status or 0)
        code = str(exc.code or status)
        if exc.code in PERMANENT_CODES:
            return SmsSendError(code, PERMANENT_CODES[exc.code], permanent=True)
        if status == 429 or status >= 500:
            retry_after = None
            value = self.http.last_headers().get("Retry-After") or self.http.last_headers().get("retry-after")
            if value:
                try:
                    retry_after = float(value)
                except ValueError:
                    retry_after = None
            return SmsSendError(code, f"HTTP {status}", permanent=False, retry_after=retry_after)
        if status in (401, 403):
            # Our credentials, not this message: keep retrying until the deadline.
            return SmsSendError(code, f"HTTP {status} (credentials)", permanent=False)
        return SmsSendError(code, f"HTTP {status}", permanent=True)


def _same_body(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _transport_error(exc: BaseException) -> SmsSendError:
    import requests

    # A timeout or a dropped connection after the request went out: Twilio may have
    # created the message. Retry only after a look-up.
    sent = not isinstance(exc, requests.exceptions.ConnectTimeout) and not (
        isinstance(exc, requests.exceptions.ConnectionError)
        and "NewConnectionError" in repr(exc))
    name = "timeout" if isinstance(exc, requests.exceptions.Timeout) else type(exc).__name__
    return SmsSendError(name, type(exc).__name__, permanent=False, maybe_sent=sent)


class FileSmsSender:
    """One .json per follow-up in the outbox folder (to, from, body, ticket)."""

    def __init__(self, directory: Path, from_number: str) -> None:
        self.directory = directory
        self.from_number = from_number

    def send(self, sms: OutgoingSms, outbox_id: int) -> SmsResult:
        from intake.channels.local import atomic_write_once

        size = sms_size(sms.body)
        data = json.dumps({"to": sms.to, "from": self.from_number, "body": sms.body,
                           "ticket": sms.ticket_ref, "outbox_id": outbox_id,
                           "encoding": size.encoding, "segments": size.segments},
                          ensure_ascii=False, indent=2).encode("utf-8")
        atomic_write_once(self.directory, f"outbox-{outbox_id}.json", data)
        return SmsResult(provider_id=f"file:outbox-{outbox_id}.json", provider_status="sent")

    def find_sent(self, sms: OutgoingSms, outbox_id: int, since: dt.datetime) -> SmsResult | None:
        if (self.directory / f"outbox-{outbox_id}.json").exists():
            return SmsResult(provider_id=f"file:outbox-{outbox_id}.json", provider_status="sent")
        return None


class ConsoleSmsSender:
    def send(self, sms: OutgoingSms, outbox_id: int) -> SmsResult:
        sys.stderr.write(f"--- outbox {outbox_id} (sms to {sms.to}, {sms.ticket_ref}) ---\n"
                         f"{sms.body}\n--- end ---\n")
        sys.stderr.flush()
        return SmsResult(provider_id=f"console:{outbox_id}", provider_status="sent")

    def find_sent(self, sms: OutgoingSms, outbox_id: int, since: dt.datetime) -> SmsResult | None:
        return None


def make_sms_sender(settings: Settings) -> SmsSender:
    if settings.sms_backend == "twilio":
        return TwilioSmsSender(settings)
    if settings.sms_backend == "console":
        return ConsoleSmsSender()
    assert settings.outbox_dir is not None
    return FileSmsSender(settings.outbox_dir, settings.twilio_from_number)
