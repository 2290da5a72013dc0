"""Files on the command line: `intake classify` triages them without storing anything (the
CLI contract of issue 4); `intake ingest` turns each into a capture item."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def classify_files(paths: list[str], channel: str, emit: Callable[[dict[str, Any]], None]) -> int:
    from intake.messages import InboundMessage
    from intake.normalize.email import ParseFailure, parse_email
    from intake.process.flow import Caps
    from intake.settings import get_settings
    from intake.triage import load_rules, triage_message
    from intake.triage.decide import decided_by

    settings = get_settings()
    rules = load_rules(settings.triage_config, data_dir=settings.data_dir)
    caps = Caps.of(settings)
    status = 0
    for path in paths:
        try:
            raw = Path(path).read_bytes()
            if channel == "email":
                msg = parse_email(raw, max_attachment_bytes=caps.max_attachment_bytes, limits=caps.mail)
            else:
                text = raw.decode("utf-8").strip()
                msg = InboundMessage(channel=channel, sender="", text=text, new_text=text)  # type: ignore[arg-type]
        except (OSError, UnicodeDecodeError, ParseFailure) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            emit({"source": path, "error": f"cannot read {channel} file: {reason}"})
            status = 1
            continue
        triage = triage_message(msg, rules, max_scored_chars=caps.scored_chars)
        emit({"source": path, "category": triage.category, "department": triage.department,
              "private": triage.private, "private_reasons": list(triage.private_reasons),
              "priority": triage.priority, "language": triage.language,
              "decided_by": decided_by(triage.reasons), "redacted_text": triage.redacted_text})
    return status


def ingest_item(channel: str, path: str, raw: bytes) -> Any:
    import hashlib

    from intake.capture.inbox import CaptureItem

    if channel == "email":
        return CaptureItem("email", "file:" + hashlib.sha256(raw).hexdigest(), raw, mailbox=None,
                           meta={"source": "file"})
    from intake.capture.twilio import capture_item_from_json

    return capture_item_from_json(channel, raw)
