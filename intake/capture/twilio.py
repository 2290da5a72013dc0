"""Capture items for Twilio inputs: the raw form parameters as JSON, under the key that
makes the same webhook twice one inbox row (MessageSid, CallSid, RecordingSid, ...).

Used by the webhook endpoints and by `intake ingest --channel sms|voice FILE`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from intake.capture.inbox import CaptureItem

# inbox channel -> (required parameters, capture key template)
KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "sms": (("MessageSid", "From"), "twilio:sms:{MessageSid}"),
    "voice": (("CallSid",), "twilio:voice:{CallSid}"),
    "recording": (("RecordingSid",), "twilio:recording:{RecordingSid}"),
    "transcription": (("TranscriptionSid", "RecordingSid"), "twilio:transcription:{TranscriptionSid}"),
    "status": (("MessageSid", "MessageStatus"), "twilio:status:{MessageSid}:{MessageStatus}"),
}


def missing_params(kind: str, params: Mapping[str, str]) -> list[str]:
    required, _ = KINDS[kind]
    return [name for name in required if not (params.get(name) or "").strip()]


def capture_key(kind: str, params: Mapping[str, str]) -> str:
    """The idempotency key, bounded to the inbox column (a hand-made file may carry a
    parameter longer than any Twilio SID)."""
    from intake.tickets.store import bounded

    _, template = KINDS[kind]
    return bounded(template.format(**{k: params[k].strip() for k in KINDS[kind][0]}), 255)


def make_item(kind: str, params: Mapping[str, str], url: str,
              repeated: Mapping[str, list[str]] | None = None,
              received_at: dt.datetime | None = None, source: str = "webhook") -> CaptureItem:
    """The inbox item for one Twilio request. Raises ValueError naming missing parameters."""
    missing = missing_params(kind, params)
    if missing:
        raise ValueError(f"{kind} webhook without {', '.join(missing)}")
    received = (received_at or dt.datetime.now(dt.timezone.utc)).isoformat()
    document: dict[str, Any] = {"params": dict(params), "url": url, "received_at": received}
    if repeated:
        document["repeated"] = {k: list(v) for k, v in repeated.items()}
    raw = json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")
    sid_name = KINDS[kind][0][0]
    return CaptureItem(kind, capture_key(kind, params), raw,
                       meta={"source": source, "sid": params[sid_name].strip()})


def decode_params(raw: bytes) -> dict[str, str]:
    """The webhook parameters of a stored Twilio capture (the document `make_item` wrote),
    every value a string. The one reader of that document: processing, reprocess and the
    voicemail's caller lookup all come here."""
    data = json.loads(raw.decode("utf-8"))
    params = data.get("params", data) if isinstance(data, dict) else {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in params.items()}


def voice_kind(params: Mapping[str, str]) -> str:
    """Which voice callback a parameter set is: transcription, recording or the call."""
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
    return make_item(kind, params, url, source="file")
