"""Where a voicemail's text comes from, behind one interface chosen by
INTAKE_VOICE_TRANSCRIPTION, and how Twilio's real-time transcription callbacks become it.

    twilio-realtime   <Start><Transcription> in the caller's language; each final utterance
                      arrives as its own callback, assembled here in SequenceId order
    twilio-recording  <Record transcribe="true">: one callback with the text, English only
    none              no text: the voicemail is final when recorded (an agent listens)

A desk that may not send audio to Twilio adds its own `Transcriber` (one that says what the
call must ask of Twilio, here nothing, and whether a recorded voicemail waits for text),
then hands its text to `intake.process.voice.finalize_voicemail`.

Callback parameters follow Twilio's <Transcription> page
(https://www.twilio.com/docs/voice/twiml/transcription, statusCallbackUrl):
TranscriptionEvent (transcription-started | -content | -stopped | -error), CallSid,
TranscriptionSid, SequenceId, Timestamp, Track, Final, LanguageCode and TranscriptionData,
a JSON object {"transcript": ..., "confidence": ...}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.capture.twilio import decode_params
from intake.crypto import Vault
from intake.failures import UserError
from intake.tickets.models import Inbox

STARTED = "transcription-started"
CONTENT = "transcription-content"
STOPPED = "transcription-stopped"
ERROR = "transcription-error"
EVENTS = frozenset({STARTED, CONTENT, STOPPED, ERROR})
REALTIME_SOURCE = "realtime"
RECORDING_SOURCE = "recording"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


# -- the backend interface ------------------------------------------------------------------

@dataclass(frozen=True)
class CallPlan:
    """What a call's TwiML asks of Twilio for the voicemail's text."""

    realtime_language: str | None  # BCP-47 code for <Start><Transcription>; None: none
    record_transcribe: bool  # <Record transcribe="true"> (Twilio's, English only)


class Transcriber(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def waits_for_text(self) -> bool:
        """A recorded voicemail stays "pending" until its text comes (or the timeout):
        False for a backend that gives none, so the caller is acknowledged at once."""
        ...

    def plan(self, language: str, codes: Mapping[str, str], english_fallback: bool) -> CallPlan: ...


@dataclass(frozen=True)
class TwilioRealtime:
    name: str = "twilio-realtime"
    waits_for_text: bool = True

    def plan(self, language: str, codes: Mapping[str, str], english_fallback: bool) -> CallPlan:
        # Twilio's recording transcription understands English only: a fallback for en calls.
        return CallPlan(codes.get(language) or None, english_fallback and language == "en")


@dataclass(frozen=True)
class TwilioRecording:
    name: str = "twilio-recording"
    waits_for_text: bool = True

    def plan(self, language: str, codes: Mapping[str, str], english_fallback: bool) -> CallPlan:
        return CallPlan(None, True)


@dataclass(frozen=True)
class NoTranscription:
    name: str = "none"
    waits_for_text: bool = False

    def plan(self, language: str, codes: Mapping[str, str], english_fallback: bool) -> CallPlan:
        return CallPlan(None, False)


TRANSCRIBERS: dict[str, Transcriber] = {
    t.name: t for t in (TwilioRealtime(), TwilioRecording(), NoTranscription())}


def transcriber(name: str) -> Transcriber:
    """The backend named by INTAKE_VOICE_TRANSCRIPTION (the setting's type admits no other)."""
    return TRANSCRIBERS[name]


# -- one callback, pure -----------------------------------------------------------------------

@dataclass(frozen=True)
class TranscriptEvent:
    event: str
    call_sid: str
    transcription_sid: str
    sequence: int
    final: bool = False
    track: str = ""
    text: str = ""
    confidence: float | None = None


def parse_event(params: Mapping[str, str], max_chars: int) -> TranscriptEvent:
    """A real-time transcription callback. Raises UserError (the sender's fault, kept and
    shown to ops, never retried) for an unknown event, a SequenceId that is not a number
    or TranscriptionData that is not a JSON object with a string transcript. The text is
    cleaned and cut to `max_chars`; the cost is linear in the parameters' size."""
    event = (params.get("TranscriptionEvent") or "").strip()
    if event not in EVENTS:
        raise UserError("transcript callback with an unknown TranscriptionEvent")
    sequence = (params.get("SequenceId") or "").strip()
    if not sequence.isascii() or not sequence.isdigit() or len(sequence) > 9:
        raise UserError("transcript callback with a SequenceId that is not a number")
    base = TranscriptEvent(event, (params.get("CallSid") or "").strip(),
                           (params.get("TranscriptionSid") or "").strip(), int(sequence))
    if event != CONTENT:
        return base
    data = _transcription_data(params.get("TranscriptionData") or "")
    text = _SPACES.sub(" ", _CONTROL.sub("", str(data["transcript"]))).strip()[:max_chars]
    confidence = data.get("confidence")
    return TranscriptEvent(
        event, base.call_sid, base.transcription_sid, base.sequence,
        final=(params.get("Final") or "").strip().lower() == "true",
        track=(params.get("Track") or "").strip(), text=text,
        confidence=float(confidence) if isinstance(confidence, (int, float))
        and not isinstance(confidence, bool) else None)


def _transcription_data(raw: str) -> dict[str, object]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise UserError("transcript callback whose TranscriptionData is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("transcript", ""), str):
        raise UserError("transcript callback whose TranscriptionData has no text transcript")
    data.setdefault("transcript", "")
    return data


@dataclass(frozen=True)
class Transcript:
    """A call's real-time transcript as far as its callbacks go."""

    text: str
    utterances: int
    stopped: bool  # a transcription-stopped or -error callback came
    cut: bool  # callbacks or characters over the caps were left out


def assemble(events: Iterable[TranscriptEvent], stopped: bool, max_chars: int, cut: bool = False) -> Transcript:
    """The final inbound utterances in SequenceId order (Twilio may deliver them in any
    order, and twice), one per line, up to `max_chars`. Partial results and the other
    track are left out (the TwiML asks for neither; a forged-but-signed one changes nothing)."""
    by_key = {(e.transcription_sid, e.sequence): e for e in events
              if e.event == CONTENT and e.final and e.text and e.track in ("", "inbound_track")}
    lines: list[str] = []
    size = 0
    for key in sorted(by_key):
        text = by_key[key].text
        if size + len(text) > max_chars:
            cut = True
            break
        lines.append(text)
        size += len(text) + 1
    return Transcript("\n".join(lines), len(lines), stopped, cut)


# -- a call's callbacks, from the inbox -------------------------------------------------------

def call_transcript(session: Session, vault: Vault, call_sid: str, max_events: int, max_chars: int) -> Transcript:
    """Assemble the transcript of a call from its captured callbacks (whatever their
    processing status: a callback not yet processed still holds its utterance). A callback
    that cannot be read is left out here; its own processing marks it failed with the reason.
    Reads at most `max_events` callbacks, in arrival order."""
    of_call = (Inbox.channel == "transcript", Inbox.meta["call"].as_string() == call_sid)
    stopped = session.scalar(select(Inbox.id).where(
        *of_call, Inbox.meta["event"].as_string().in_((STOPPED, ERROR))).limit(1)) is not None
    # Streamed: at most one batch of raw callbacks (each up to INTAKE_MAX_WEBHOOK_BYTES) in
    # memory at a time; what is kept of each is its text, cut to `max_chars`.
    rows = session.execute(
        select(Inbox.raw).where(*of_call, Inbox.meta["event"].as_string() == CONTENT)
        .order_by(Inbox.id).limit(max_events + 1).execution_options(yield_per=100))
    events: list[TranscriptEvent] = []
    seen = 0
    for (raw,) in rows:
        seen += 1
        if seen > max_events:
            break
        try:
            events.append(parse_event(decode_params(vault.decrypt(raw)), max_chars))
        except (UserError, ValueError):
            continue
    rows.close()
    return assemble(events, stopped, max_chars, cut=seen > max_events)
