"""Capture keys of real-time transcription callbacks and of the language menu: one inbox
row per TranscriptionSid + SequenceId, and shapes checked so a signed replay cannot move a
boundary into the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intake.capture.twilio import capture_item_from_json, capture_key, invalid_params, make_item, missing_params

DATA = Path(__file__).resolve().parents[2] / "data" / "twilio" / "realtime_transcription_zh_voicemail.json"
EVENTS = json.loads(DATA.read_text(encoding="utf-8"))["events"]


def test_key_is_transcription_sid_and_sequence() -> None:
    first, again = EVENTS[1], dict(EVENTS[1])
    again["Timestamp"] = "2026-11-30T09:16:00Z"  # a redelivery may differ elsewhere: same key
    assert capture_key("transcript", first) == capture_key("transcript", again) == \
        f"twilio:transcript:{first['TranscriptionSid']}:2"
    assert len({capture_key("transcript", e) for e in EVENTS}) == len(EVENTS)
    item = make_item("transcript", first, "https://x/webhooks/twilio/transcript")
    assert item.meta == {"source": "webhook", "sid": first["TranscriptionSid"], "call": first["CallSid"],
                         "event": "transcription-content"}
    assert "TranscriptionData" not in json.dumps(item.meta)


@pytest.mark.parametrize("name, value", [
    ("SequenceId", "2a"), ("SequenceId", ""), ("SequenceId", "1" * 10), ("SequenceId", " 2"),
    ("TranscriptionSid", "TR" + "0" * 32), ("TranscriptionSid", "GT" + "0" * 31),
    ("TranscriptionEvent", "transcription-contentX"), ("CallSid", "CA123"),
])
def test_malformed_key_values_are_refused(name: str, value: str) -> None:
    params = {**EVENTS[1], name: value}
    assert missing_params("transcript", params) or name in invalid_params("transcript", params)
    with pytest.raises(ValueError):
        make_item("transcript", params, "https://x")


def test_menu_key_and_digits() -> None:
    params = {"CallSid": "CA" + "1" * 32, "From": "+8613800001234", "To": "+15555550100", "Digits": "1"}
    assert capture_key("menu", params) == "twilio:menu:CA" + "1" * 32
    assert invalid_params("menu", {**params, "Digits": ""}) == []
    assert invalid_params("menu", {**params, "Digits": "1; drop"}) == ["Digits"]


def test_ingest_file_of_a_transcript_callback() -> None:
    item = capture_item_from_json("voice", json.dumps({"params": EVENTS[2]}).encode())
    assert item.channel == "transcript" and item.capture_key.endswith(":3")
