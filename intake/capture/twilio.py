"""Capture items for Twilio inputs: the raw form parameters as JSON, under the key that
makes the same webhook twice one inbox row (MessageSid, CallSid, RecordingSid, ...).

Used by the webhook endpoints and by `intake ingest --channel sms|voice FILE`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from intake.capture.inbox import CaptureItem

# inbox channel -> (required parameters, capture key template). The key is built only from
# values that passed `invalid_params`: Twilio signs names and values run together
# ("MessageSidSM...To+1..."), so a replay that moves a boundary ("MessageSid=SM...To+1...",
# To removed) keeps a valid signature; strict shapes make such a request invalid instead
# of a new capture (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
# AccountSid (which Twilio sends with every webhook) is checked for its shape when present,
# not required: it is in no key, and some callers of ours build parameter sets without it.
KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "sms": (("MessageSid", "From", "To"), "twilio:sms:{MessageSid}"),
    "voice": (("CallSid", "From", "To"), "twilio:voice:{CallSid}"),
    "recording": (("RecordingSid",), "twilio:recording:{RecordingSid}"),
    "transcription": (("TranscriptionSid", "RecordingSid"), "twilio:transcription:{TranscriptionSid}"),
    "status": (("MessageSid", "MessageStatus"), "twilio:status:{MessageSid}:{MessageStatus}"),
    # Real-time transcription (<Start><Transcription> statusCallbackUrl): one callback per
    # event, numbered by SequenceId within its TranscriptionSid, so that pair is the key.
    "transcript": (("CallSid", "TranscriptionSid", "TranscriptionEvent", "SequenceId"),
                   "twilio:transcript:{TranscriptionSid}:{SequenceId}"),
    # The language menu's <Gather action>: one per call.
    "menu": (("CallSid",), "twilio:menu:{CallSid}"),
}

# What a file for `intake ingest` must have (an operator's file, not a request off the net).
_FILE_REQUIRED: dict[str, tuple[str, ...]] = {
    "sms": ("MessageSid", "From"), "voice": ("CallSid",), "recording": ("RecordingSid",),
    "transcription": ("TranscriptionSid", "RecordingSid"), "status": ("MessageSid", "MessageStatus"),
    "transcript": ("TranscriptionSid", "SequenceId"), "menu": ("CallSid",),
}

# What a SID parameter looks like, wherever it appears: two letters and 32 hex digits
# (the "Pattern" lines of Twilio's API reference, e.g. ^AC[0-9a-fA-F]{32}$).
_HEX = "[0-9a-fA-F]{32}"
SID_SHAPES: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern) for name, pattern in {
        "MessageSid": f"(?:SM|MM){_HEX}", "SmsSid": f"(?:SM|MM){_HEX}",
        "SmsMessageSid": f"(?:SM|MM){_HEX}", "CallSid": f"CA{_HEX}", "ParentCallSid": f"CA{_HEX}",
        "RecordingSid": f"RE{_HEX}", "TranscriptionSid": f"TR{_HEX}", "AccountSid": f"AC{_HEX}",
        "MessagingServiceSid": f"MG{_HEX}", "ConferenceSid": f"CF{_HEX}",
    }.items()
}
# Shapes that differ by kind. A real-time transcription's SID is GT + 32 hex (the Calls
# Transcriptions resource, ^GT[0-9a-fA-F]{32}$), a recording transcription's TR + 32 hex.
# SequenceId is part of the key: digits only, so no replay can shift a boundary into it.
KIND_SHAPES: dict[str, dict[str, re.Pattern[str]]] = {
    "transcript": {
        "TranscriptionSid": re.compile(f"GT{_HEX}"),
        "SequenceId": re.compile("[0-9]{1,9}"),
        "TranscriptionEvent": re.compile("transcription-(?:started|content|stopped|error)"),
    },
    "menu": {"Digits": re.compile("[0-9*#]{0,4}")},
}
# https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
MESSAGE_STATUSES = frozenset({
    "queued", "sending", "sent", "failed", "delivered", "undelivered", "receiving", "received",
    "accepted", "scheduled", "read", "partially_delivered", "canceled"})
# An address: E.164, a channel prefix (whatsapp:, messenger:, client:, sip:...), or a
# short/alphanumeric sender; no spaces at the ends, no control characters, bounded.
_ADDRESS = re.compile(r"[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]{0,254}[^\s\x00-\x1f\x7f])?")


def missing_params(kind: str, params: Mapping[str, str]) -> list[str]:
    required, _ = KINDS[kind]
    return [name for name in required if not (params.get(name) or "").strip()]


def invalid_params(kind: str, params: Mapping[str, str]) -> list[str]:
    """Names of parameters whose value has the wrong shape for a Twilio webhook (empty
    when the request may be captured). Every SID parameter present is checked, not only
    the required ones; a missing required one is reported by `missing_params`."""
    shapes = {**SID_SHAPES, **KIND_SHAPES.get(kind, {})}
    bad = [name for name, shape in shapes.items()
           if name in params and not shape.fullmatch(params[name])]
    if kind == "status" and "MessageStatus" in params and params["MessageStatus"] not in MESSAGE_STATUSES:
        bad.append("MessageStatus")
    bad += [name for name in ("From", "To") if name in params and name in KINDS[kind][0]
            and not _ADDRESS.fullmatch(params[name])]
    return bad


def check_params(kind: str, params: Mapping[str, str]) -> dict[str, str]:
    """The key values of a webhook, checked; raises ValueError naming what is wrong."""
    missing = missing_params(kind, params)
    if missing:
        raise ValueError(f"{kind} webhook without {', '.join(missing)}")
    invalid = invalid_params(kind, params)
    if invalid:
        raise ValueError(f"{kind} webhook with malformed {', '.join(invalid)}")
    return {name: params[name] for name in KINDS[kind][0]}


def capture_key(kind: str, params: Mapping[str, str], strict: bool = True) -> str:
    """The idempotency key; `strict` (webhooks) builds it from checked values only, files
    given to `intake ingest` by an operator are only stripped, and bounded to the inbox
    column (a hand-made file may carry a parameter longer than any Twilio SID)."""
    from intake.tickets.store import bounded

    _, template = KINDS[kind]
    if strict:
        return template.format(**check_params(kind, params))
    return bounded(template.format(**{k: (params.get(k) or "").strip() for k in KINDS[kind][0]}), 255)


def make_item(kind: str, params: Mapping[str, str], url: str,
              repeated: Mapping[str, list[str]] | None = None,
              received_at: dt.datetime | None = None, source: str = "webhook",
              strict: bool = True) -> CaptureItem:
    """The inbox item for one Twilio request. Raises ValueError naming missing (or, when
    `strict`, malformed) parameters."""
    required = KINDS[kind][0] if strict else _FILE_REQUIRED[kind]
    missing = [name for name in required if not (params.get(name) or "").strip()]
    if missing:
        raise ValueError(f"{kind} webhook without {', '.join(missing)}")
    key = capture_key(kind, params, strict=strict)
    received = (received_at or dt.datetime.now(dt.timezone.utc)).isoformat()
    document: dict[str, Any] = {"params": dict(params), "url": url, "received_at": received}
    if repeated:
        document["repeated"] = {k: list(v) for k, v in repeated.items()}
    raw = json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")
    sid_name = required[0]
    meta = {"source": source, "sid": params[sid_name].strip()}
    if kind == "transcript":
        # Ids only (no text): what assembling a call's transcript looks rows up by.
        meta.update(sid=params["TranscriptionSid"].strip(), call=(params.get("CallSid") or "").strip(),
                    event=(params.get("TranscriptionEvent") or "").strip())
    return CaptureItem(kind, key, raw, meta=meta)


def decode_params(raw: bytes) -> dict[str, str]:
    """The webhook parameters of a stored Twilio capture (the document `make_item` wrote),
    every value a string. The one reader of that document: processing, reprocess and the
    voicemail's caller lookup all come here."""
    data = json.loads(raw.decode("utf-8"))
    params = data.get("params", data) if isinstance(data, dict) else {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in params.items()}


def voice_kind(params: Mapping[str, str]) -> str:
    """Which voice callback a parameter set is: transcription, recording or the call."""
    if params.get("TranscriptionEvent"):
        return "transcript"
    if params.get("TranscriptionSid"):
        return "transcription"
    if params.get("RecordingSid"):
        return "recording"
    return "voice"


def capture_item_from_json(channel: str, raw: bytes) -> CaptureItem:
    """A file for `intake ingest --channel sms|voice`: `{"params": {...}}` (the corpus shape,
    `path_hint` used as the URL) or the bare parameters. Raises ValueError when unusable."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a Twilio JSON file: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a Twilio JSON file: expected an object of webhook parameters")
    params_obj = data.get("params", data)
    if not isinstance(params_obj, dict):
        raise ValueError("not a Twilio JSON file: 'params' must be an object")
    params = {str(k): "" if v is None else str(v) for k, v in params_obj.items()
              if not isinstance(v, (dict, list))}
    if channel == "sms":
        kind = "sms"
    elif channel == "voice":
        kind = voice_kind(params)
    else:
        raise ValueError(f"channel {channel!r} has no Twilio JSON form")
    url = str(data.get("path_hint") or data.get("url") or "") if "params" in data else ""
    return make_item(kind, params, url, source="file", strict=False)
