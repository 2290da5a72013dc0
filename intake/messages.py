"""The shared language of intake: plain values that pass between pipeline steps.

Nothing here touches the network, the disk or the database. Every normalizer returns an
`InboundMessage`; triage returns a `Triage`; the store turns both into rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

Channel = Literal["email", "sms", "voice"]
Language = Literal["zh", "en", "mixed", "unknown"]
Category = Literal["technical", "account", "content_review", "payment", "feedback", "other"]
Priority = Literal["urgent", "high", "normal", "low"]


@dataclass(frozen=True)
class Attachment:
    """One file carried by a message (email part, MMS media, voicemail audio)."""

    filename: str
    content_type: str
    content: bytes
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class LoopSignals:
    """Why a message must never be answered automatically (RFC 3834 and friends).

    `reasons` is empty for a message written by a person.
    """

    reasons: tuple[str, ...] = ()
    is_bounce: bool = False
    # For a bounce (multipart/report), the Message-IDs it reports on, so the follow-up it
    # answers can be marked failed.
    bounced_message_ids: tuple[str, ...] = ()

    @property
    def automated(self) -> bool:
        return bool(self.reasons)


@dataclass(frozen=True)
class InboundMessage:
    """One inbound message, whatever channel brought it."""

    channel: Channel
    sender: str  # email address (lower-cased) or E.164 phone number
    sender_name: str = ""
    recipient: str = ""  # the support address / number it was sent to
    subject: str = ""
    text: str = ""  # full readable text (HTML converted)
    new_text: str = ""  # text without quoted history and signature
    language: Language = "unknown"
    message_id: str | None = None  # RFC 5322 Message-ID without <>, or provider SID
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    sent_at: dt.datetime | None = None
    attachments: tuple[Attachment, ...] = ()
    loop: LoopSignals = field(default_factory=LoopSignals)
    parse_error: str | None = None  # set when the raw input could only be partly read
    # channel-specific facts worth keeping (call duration, recording SID, media count, ...)
    extra: tuple[tuple[str, str], ...] = ()

    def extra_value(self, key: str) -> str | None:
        for k, v in self.extra:
            if k == key:
                return v
        return None


@dataclass(frozen=True)
class PiiSpan:
    """A piece of personal or secret data found in a text: [start, end) and its kind."""

    kind: str  # card, id, passport, phone, email, secret, address, bank_account
    start: int
    end: int


@dataclass(frozen=True)
class Triage:
    """What triage decided about a message, and why."""

    category: Category
    department: str
    priority: Priority
    language: Language
    private: bool
    private_reasons: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()  # rule hits that led to category / priority
    pii: tuple[PiiSpan, ...] = ()
    redacted_text: str = ""
