"""Helpers shared by the triage tests (no tests here): where the labelled samples live, how to read one."""

from __future__ import annotations

import json
from pathlib import Path

from intake.messages import InboundMessage
from tests.support.shared import SHARED_DIR

TRIAGE_DATA = Path(__file__).resolve().parents[2] / "data" / "triage"


def samples_dir() -> Path:
    return SHARED_DIR / "samples"


def sample_labels() -> dict[str, dict]:
    labels = samples_dir() / "labels.json"
    if not labels.is_file():
        return {}
    return json.loads(labels.read_text(encoding="utf-8"))


def load_message(path: Path, channel: str | None = None) -> InboundMessage:
    """An .eml through the email normalizer; any other file as an SMS/voice text."""
    if path.suffix == ".eml":
        from intake.normalize.email import parse_email

        return parse_email(path.read_bytes())
    body = path.read_text(encoding="utf-8").strip()
    channel = channel or ("voice" if path.name.startswith("voice") else "sms")
    return InboundMessage(channel=channel, sender="+10000000000", text=body, new_text=body)  # type: ignore[arg-type]
