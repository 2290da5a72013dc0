"""Twilio parameters -> InboundMessage / voicemail facts / capture items: pure, on the corpus
and on the odd cases kept in tests/data/twilio/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intake.normalize.twilio import (
    TRANSCRIPTION_UNAVAILABLE, MissingParameter, is_chinese_caller, mask_number, media_items,
    parse_twilio_sms, transcription_result, voicemail_message,
)
from intake.capture.twilio import capture_item_from_json, voice_kind
from tests.support.shared import need_shared

DATA = Path(__file__).resolve().parents[2] / "data" / "twilio"


def corpus(shared_dir: Path, name: str) -> dict[str, Any]:
    path = need_shared("corpus", "twilio", name)
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_chinese_sms_from_corpus(shared_dir: Path) -> None:
    params = corpus(shared_dir, "sms_inbound.json")["params"]
    msg = parse_twilio_sms(params)
    assert msg.channel == "sms"
    assert msg.sender == "+8613800001234" and msg.recipient == "+15555550100"
    assert msg.message_id == "SMbb58628cfdc36630c2075a68d40a8cd1"
    assert msg.text == params["Body"] and "A-20931" in msg.new_text
    assert msg.extra_value("MessagingServiceSid") == "MG0b441649517b17c2232635805f026349"
    assert msg.attachments == ()


def test_whatsapp_variant_keeps_channel_prefix_and_profile_name(shared_dir: Path) -> None:
    params = corpus(shared_dir, "sms_inbound.json")["variants"][0]["params"]
    msg = parse_twilio_sms(params)
    assert msg.sender == "whatsapp:+8613800001234"
    assert msg.sender_name == "Li Wei"
    assert msg.extra_value("WaId") == "8613800001234"


def test_mms_lists_its_media(shared_dir: Path) -> None:
    params = corpus(shared_dir, "mms_inbound.json")["params"]
    items = media_items(params)
    assert [(m.index, m.content_type) for m in items] == [(0, "image/jpeg"), (1, "application/pdf")]
    msg = parse_twilio_sms(params)
    assert msg.extra_value("MediaUrl1") == params["MediaUrl1"]
    assert msg.extra_value("NumMedia") == "2"


def test_missing_message_sid_or_from_is_refused() -> None:
    with pytest.raises(MissingParameter, match="MessageSid"):
        parse_twilio_sms({"From": "+15555550123", "Body": "hi"})
    with pytest.raises(MissingParameter, match="From"):
        parse_twilio_sms({"MessageSid": "SM1", "From": "  "})


def test_odd_sms_files_in_test_data() -> None:
    for path in sorted(DATA.glob("sms_*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        msg = parse_twilio_sms(data["params"])
        expected = data["expect"]
        assert msg.text == expected["text"], path.name
        assert msg.new_text == expected["new_text"], path.name
        assert msg.sender == expected["sender"], path.name
        assert len(media_items(data["params"])) == expected["media"], path.name


def test_media_count_is_bounded_and_gaps_skipped() -> None:
    params = {"NumMedia": "50", **{f"MediaUrl{i}": f"https://api.twilio.com/m{i}" for i in range(12)}}
    params["MediaUrl3"] = ""
    items = media_items(params)
    assert len(items) == 9 and all(item.index != 3 for item in items)
    assert media_items({"NumMedia": "x"}) == []


def test_mask_number() -> None:
    assert mask_number("+8613800001234") == "+86138****1234"
    assert mask_number("whatsapp:+8613800001234") == "whatsapp:+86138****1234"
    assert "5550123" not in mask_number("+15555550123")
    assert mask_number(None) == "-"
    assert mask_number("+123") == "+***"


def test_chinese_callers() -> None:
    assert is_chinese_caller("+8613800001234")
    assert is_chinese_caller("+85291234567")
    assert not is_chinese_caller("+15555550123")
    assert not is_chinese_caller(None)


def test_voicemail_from_recording_callback(shared_dir: Path) -> None:
    params = corpus(shared_dir, "voice_recording_status_callback.json")["params"]
    msg = voicemail_message(params, caller="+15555550123", recipient="+15555550100")
    assert msg.channel == "voice" and msg.text == ""
    assert msg.message_id == "RE74355b1630de1e6879c8409f9318ba58"
    assert msg.sender == "+15555550123"
    assert msg.extra_value("transcription") == "pending"
    assert msg.extra_value("RecordingDuration") == "37"
    assert msg.extra_value("CallSid") == "CA07a993f1853987da763d0d3dd8ead4cc"
    assert msg.subject == "Voicemail (37 s)"
    assert voicemail_message(params).sender == "unknown"


def test_transcription_results(shared_dir: Path) -> None:
    params = corpus(shared_dir, "voice_transcription_callback.json")["params"]
    text, state = transcription_result(params)
    assert state == "completed" and text.startswith("Hi, this is Sam")
    failed = {**params, "TranscriptionStatus": "failed", "TranscriptionText": ""}
    assert transcription_result(failed) == (TRANSCRIPTION_UNAVAILABLE, "failed")
    assert transcription_result({**params, "TranscriptionText": "   "}) == (TRANSCRIPTION_UNAVAILABLE, "failed")


def test_capture_items_from_corpus_files(shared_dir: Path) -> None:
    folder = need_shared("corpus", "twilio")
    sms = capture_item_from_json("sms", (folder / "sms_inbound.json").read_bytes())
    assert sms.channel == "sms" and sms.capture_key == "twilio:sms:SMbb58628cfdc36630c2075a68d40a8cd1"
    stored = json.loads(sms.raw)
    assert stored["params"]["Body"].startswith("您好") and stored["url"].startswith("https://support.example.com")
    transcription = capture_item_from_json("voice", (folder / "voice_transcription_callback.json").read_bytes())
    assert transcription.channel == "transcription"
    assert transcription.capture_key == "twilio:transcription:TR96373ee6fa9b3da7a542389ee078ba54"
    recording = capture_item_from_json("voice", (folder / "voice_recording_status_callback.json").read_bytes())
    assert recording.channel == "recording"
    assert recording.capture_key == "twilio:recording:RE74355b1630de1e6879c8409f9318ba58"
    bare = json.dumps({"CallSid": "CA1", "From": "+15555550123"}).encode()
    assert capture_item_from_json("voice", bare).capture_key == "twilio:voice:CA1"
    assert voice_kind({"CallSid": "CA1", "RecordingSid": "RE1"}) == "recording"


@pytest.mark.parametrize("raw, message", [
    (b"{not json", "not a Twilio JSON file"),
    (b"[1, 2]", "expected an object"),
    (b'{"params": "x"}', "'params' must be an object"),
    (b'{"params": {"Body": "hi"}}', "without MessageSid, From"),
    (b"\xff\xfe", "not a Twilio JSON file"),
])
def test_unusable_json_files_are_refused_clearly(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        capture_item_from_json("sms", raw)


def test_voice_config_ships_and_a_broken_one_names_its_setting(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from intake.settings import SettingsError, get_settings
    from intake.web.twilio_hooks import load_voice_config, voicemail_twiml

    config = load_voice_config(get_settings().voice_config)  # the packaged default
    root = ET.fromstring(voicemail_twiml(config, "+8613800001234", "https://support.example.com"))
    assert [el.get("language") for el in root if el.tag == "Say"] == ["zh-CN", "en-US", "zh-CN", "en-US"]
    broken = tmp_path / "voice.yaml"
    broken.write_text("greeting: {zh: 你好}\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="INTAKE_VOICE_CONFIG"):
        load_voice_config(broken)
    with pytest.raises(SettingsError, match="INTAKE_VOICE_CONFIG"):
        load_voice_config(tmp_path / "missing.yaml")
