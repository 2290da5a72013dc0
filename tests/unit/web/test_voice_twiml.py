"""The TwiML of a Chinese and an English call, parsed: the language menu, then
<Start><Transcription> in the caller's language before the greeting's <Record>; the
region choice; the other backends; a broken voice config names its setting."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from intake.process.transcription import transcriber
from intake.settings import DEFAULTS_DIR, SettingsError
from intake.web.voice_twiml import (
    VoiceConfig, call_twiml, language_twiml, load_voice_config, menu_language, region_language,
)

BASE = "https://support.example.com"
CHINESE, AMERICAN, FRENCH = "+8613800001234", "+15555550123", "+33612345678"
REALTIME = transcriber("twilio-realtime")


@pytest.fixture
def config() -> VoiceConfig:
    return load_voice_config(DEFAULTS_DIR / "voice.yaml")


def parse(xml: str) -> ET.Element:
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    return root


def test_the_call_is_answered_with_the_language_menu(config: VoiceConfig) -> None:
    root = parse(call_twiml(config, REALTIME, CHINESE, BASE))
    (gather,) = list(root)
    assert gather.tag == "Gather" and gather.get("numDigits") == "1" and gather.get("timeout") == "5"
    assert gather.get("action") == f"{BASE}/webhooks/twilio/menu" and gather.get("actionOnEmptyResult") == "true"
    assert [(say.get("language"), say.text) for say in gather] == [
        ("zh-CN", "普通话请按 1。"), ("en-US", "For English, press 2.")]
    english_first = parse(call_twiml(config, REALTIME, AMERICAN, BASE)).find("Gather")
    assert english_first is not None and [s.get("language") for s in english_first] == ["en-US", "zh-CN"]


@pytest.mark.parametrize("language, code, say, fallback", [
    ("zh", "cmn-Hans-CN", "zh-CN", False), ("en", "en-US", "en-US", True)])
def test_voicemail_twiml_transcribes_in_the_callers_language(config: VoiceConfig, language: str, code: str,
                                                             say: str, fallback: bool) -> None:
    root = parse(language_twiml(config, REALTIME, language, BASE))
    assert [verb.tag for verb in root] == ["Start", "Say", "Record", "Say", "Hangup"]
    start = root.find("Start/Transcription")
    assert start is not None
    assert start.attrib == {
        "name": "voicemail", "languageCode": code, "track": "inbound_track", "partialResults": "false",
        "transcriptionEngine": "google", "statusCallbackUrl": f"{BASE}/webhooks/twilio/transcript",
        "statusCallbackMethod": "POST"}
    assert {say_el.get("language") for say_el in root.iter("Say")} == {say}
    record = root.find("Record")
    assert record is not None and record.get("action") == f"{BASE}/webhooks/twilio/recording"
    assert record.get("recordingStatusCallback") == f"{BASE}/webhooks/twilio/recording"
    assert (record.get("transcribe") == "true") is fallback  # Twilio's English-only fallback


def test_menu_keys_and_the_default(config: VoiceConfig) -> None:
    assert menu_language(config, "1") == "zh" and menu_language(config, "2") == "en"
    assert menu_language(config, "") == menu_language(config, "9") == menu_language(config, None) == "zh"


def test_region_choice() -> None:
    config = load_voice_config(Path(__file__).resolve().parents[3] / "config" / "voice.yaml")
    assert config.choose_language == "region"
    assert region_language(config, CHINESE) == "zh" and region_language(config, "+85291234567") == "zh"
    assert region_language(config, AMERICAN) == "en" and region_language(config, FRENCH) == "zh"
    root = parse(call_twiml(config, REALTIME, AMERICAN, BASE))
    start = root.find("Start/Transcription")
    assert start is not None and start.get("languageCode") == "en-US"


def test_other_backends_keep_the_bilingual_recording(config: VoiceConfig) -> None:
    recording = parse(call_twiml(config, transcriber("twilio-recording"), CHINESE, BASE))
    assert [v.tag for v in recording] == ["Say", "Say", "Record", "Say", "Say", "Hangup"]
    assert recording.find("Record").get("transcribe") == "true"  # type: ignore[union-attr]
    none = parse(call_twiml(config, transcriber("none"), CHINESE, BASE))
    assert none.find("Start") is None and none.find("Record").get("transcribe") is None  # type: ignore[union-attr]


@pytest.mark.parametrize("extra, complaint", [
    ("language: {choose: guess}\n", "language.choose"),
    ("language: {default: fr}\n", "language.default"),
    ("language: {menu: {digits: {'1': fr}}}\n", "language.menu.digits"),
    ("language: {menu: {digits: {'12': zh}}}\n", "language.menu.digits"),
    ("transcription: {language_codes: {zh: ''}}\n", "transcription.language_codes"),
    ("language: [1, 2]\n", "INTAKE_VOICE_CONFIG"),
])
def test_a_broken_voice_config_names_its_setting(tmp_path: Path, extra: str, complaint: str) -> None:
    base = (DEFAULTS_DIR / "voice.yaml").read_text(encoding="utf-8")
    base = base.split("\nlanguage:", 1)[0] + "\n"
    path = tmp_path / "voice.yaml"
    path.write_text(base + extra, encoding="utf-8")
    with pytest.raises(SettingsError, match="INTAKE_VOICE_CONFIG") as raised:
        load_voice_config(path)
    assert complaint in str(raised.value)
