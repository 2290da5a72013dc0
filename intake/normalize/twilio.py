"""Turn Twilio webhook parameters into `InboundMessage`s and voicemail facts; pure.

Parameter names follow Twilio's "incoming message webhook" and `<Record>` pages
(https://www.twilio.com/docs/messaging/guides/webhook-request,
https://www.twilio.com/docs/voice/twiml/record). Twilio adds fields without notice, so
nothing here rejects an unknown parameter; only what a message cannot exist without
(MessageSid, From) is required.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from intake.messages import InboundMessage

__all__ = [
    "MissingParameter", "Media", "TRANSCRIPTION_UNAVAILABLE", "is_chinese_caller",
    "mask_number", "media_items", "parse_twilio_sms", "transcription_result",
    "voicemail_message",
]

TRANSCRIPTION_UNAVAILABLE = "transcription unavailable"
# Twilio's maximum for NumMedia is 10; a larger count is a forged or broken request.
MAX_MEDIA = 10
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CHANNEL_PREFIX = re.compile(r"^([a-z]+):(.*)$")


class MissingParameter(ValueError):
    """A parameter the webhook cannot be understood without is absent or empty."""


@dataclass(frozen=True)
class Media:
    """One MMS media item as announced by the webhook (not yet downloaded)."""

    index: int
    url: str
    content_type: str


def _required(params: Mapping[str, str], *names: str) -> None:
    missing = [name for name in names if not (params.get(name) or "").strip()]
    if missing:
        raise MissingParameter("missing " + ", ".join(missing))


def _address(value: str) -> str:
    """E.164 number, or `whatsapp:+…` kept with its channel prefix (the reply goes there)."""
    return re.sub(r"\s+", "", value or "")


def mask_number(number: str | None) -> str:
    """A phone number fit for a log line: +8613800001234 -> +86138****1234."""
    if not number:
        return "-"
    prefix = ""
    match = _CHANNEL_PREFIX.match(number)
    if match:
        prefix, number = match.group(1) + ":", match.group(2)
    digits = number.lstrip("+")
    plus = "+" if number.startswith("+") else ""
    if len(digits) <= 6:
        return prefix + plus + "*" * len(digits)
    return f"{prefix}{plus}{digits[:5]}****{digits[-4:]}" if len(digits) > 9 \
        else f"{prefix}{plus}{digits[:2]}****{digits[-2:]}"


def is_chinese_caller(number: str | None) -> bool:
    """Mainland China, Hong Kong, Macau and Taiwan numbers hear Chinese first."""
    bare = _address(number or "").split(":", 1)[-1]
    return bare.startswith(("+86", "+852", "+853", "+886"))


def media_items(params: Mapping[str, str]) -> list[Media]:
    """MediaUrl{N} / MediaContentType{N}, N = 0..NumMedia-1 (Twilio's incoming MMS)."""
    try:
        count = int(params.get("NumMedia") or 0)
    except ValueError:
        count = 0
    items = []
    for index in range(min(max(count, 0), MAX_MEDIA)):
        url = (params.get(f"MediaUrl{index}") or "").strip()
        if url:
            items.append(Media(index, url, params.get(f"MediaContentType{index}") or
                               "application/octet-stream"))
    return items


def _clean(text: str) -> str:
    # SMS bodies may carry stray control characters from handsets; keep newlines and tabs.
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def parse_twilio_sms(params: Mapping[str, str]) -> InboundMessage:
    """An incoming SMS / MMS / WhatsApp message. Raises `MissingParameter` without
    MessageSid or From. Media are listed in `extra`; the processing step downloads them."""
    _required(params, "MessageSid", "From")
    body = _clean(params.get("Body") or "")
    extra: list[tuple[str, str]] = [("provider", "twilio"), ("MessageSid", params["MessageSid"])]
    for name in ("AccountSid", "MessagingServiceSid", "NumSegments", "NumMedia", "FromCountry",
                 "WaId", "MessageType"):
        value = params.get(name)
        if value:
            extra.append((name, value))
    for item in media_items(params):
        extra.append((f"MediaUrl{item.index}", item.url))
        extra.append((f"MediaContentType{item.index}", item.content_type))
    return InboundMessage(
        channel="sms",
        sender=_address(params["From"]),
        sender_name=(params.get("ProfileName") or "").strip(),
        recipient=_address(params.get("To") or ""),
        text=body,
        new_text=body.strip(),
        message_id=params["MessageSid"].strip(),
        extra=tuple(extra),
    )


def voicemail_message(params: Mapping[str, str], caller: str | None = None,
                      recipient: str | None = None, text: str = "",
                      transcription: str = "pending") -> InboundMessage:
    """The voicemail a recording (or transcription) callback stands for.

    Recording status callbacks carry no From, so the caller's number comes from the
    incoming-call webhook of the same CallSid when known (`caller`)."""
    _required(params, "RecordingSid")
    extra: list[tuple[str, str]] = [("provider", "twilio"), ("RecordingSid", params["RecordingSid"]),
                                    ("transcription", transcription)]
    for name in ("CallSid", "RecordingDuration", "RecordingUrl", "AccountSid"):
        value = params.get(name)
        if value:
            extra.append((name, value))
    duration = params.get("RecordingDuration") or ""
    subject = f"Voicemail ({duration} s)" if duration.isdigit() else "Voicemail"
    return InboundMessage(
        channel="voice",
        sender=_address(caller or params.get("From") or params.get("Caller") or "") or "unknown",
        recipient=_address(recipient or params.get("To") or params.get("Called") or ""),
        subject=subject,
        text=text,
        new_text=text,
        message_id=params["RecordingSid"].strip(),
        extra=tuple(extra),
    )


def transcription_result(params: Mapping[str, str]) -> tuple[str, str]:
    """(text, state) of a transcribeCallback: state is "completed" or "failed"; a failed or
    empty transcription reads "transcription unavailable"."""
    status = (params.get("TranscriptionStatus") or "").strip().lower()
    text = _clean(params.get("TranscriptionText") or "").strip()
    if status == "completed" and text:
        return text, "completed"
    return TRANSCRIPTION_UNAVAILABLE, "failed"
