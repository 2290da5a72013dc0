"""What callers hear and what the call asks of Twilio: the voice config (INTAKE_VOICE_CONFIG)
and the TwiML built from it.

With real-time transcription the caller's language is chosen first (a one-key menu, or
the number's region), because Twilio's speech-to-text needs the language up front:

    call  -> <Gather numDigits=1> menu  -> /menu -> voicemail TwiML in that language
          -> (region)                      voicemail TwiML in the number's language
    voicemail: <Start><Transcription languageCode track=inbound_track partialResults=false
               statusCallbackUrl=/transcript>, greeting, <Record>, closing, <Hangup>

Twilio pages: https://www.twilio.com/docs/voice/twiml/transcription (attributes of
<Transcription>), https://www.twilio.com/docs/voice/twiml/gather (numDigits, timeout,
actionOnEmptyResult), https://www.twilio.com/docs/voice/twiml/record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from twilio.twiml.voice_response import Start, VoiceResponse

from intake.normalize.twilio import is_chinese_caller
from intake.process.transcription import CallPlan, Transcriber, TwilioRealtime
from intake.settings import SettingsError

PREFIX = "/webhooks/twilio"
LANGUAGES = ("zh", "en")
# Numbers whose region speaks English (NANP, UK, Ireland, Australia, New Zealand); other
# regions other than the Chinese ones get the configured default.
_ENGLISH_REGIONS = ("+1", "+44", "+353", "+61", "+64")


@dataclass(frozen=True)
class VoiceConfig:
    greeting: Mapping[str, str]
    closing: Mapping[str, str]
    say_language: Mapping[str, str]
    voice: Mapping[str, str]
    max_length: int = 120
    finish_on_key: str = "#"
    timeout: int = 5
    play_beep: bool = True
    choose_language: str = "menu"  # menu | region
    default_language: str = "zh"
    menu_prompt: Mapping[str, str] | None = None
    menu_digits: Mapping[str, str] | None = None
    menu_timeout: int = 5
    transcription_engine: str = "google"
    language_codes: Mapping[str, str] | None = None
    english_recording_fallback: bool = True


def load_voice_config(path: Path) -> VoiceConfig:
    """The voice config (intake/defaults/voice.yaml or INTAKE_VOICE_CONFIG), checked at start: a broken file stops the app with its name."""
    try:
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        record = data.get("record") or {}
        language = data.get("language") or {}
        menu = language.get("menu") or {}
        realtime = data.get("transcription") or {}
        config = VoiceConfig(
            greeting=dict(data["greeting"]), closing=dict(data["closing"]),
            say_language=dict(data.get("say_language") or {"zh": "zh-CN", "en": "en-US"}),
            voice=dict(data.get("voice") or {}),
            max_length=int(record.get("max_length", 120)),
            finish_on_key=str(record.get("finish_on_key", "#")),
            timeout=int(record.get("timeout", 5)), play_beep=bool(record.get("play_beep", True)),
            choose_language=str(language.get("choose", "menu")),
            default_language=str(language.get("default", "zh")),
            menu_prompt=dict(menu.get("prompt") or {"zh": "普通话请按 1。", "en": "For English, press 2."}),
            menu_digits={str(k): str(v) for k, v in (menu.get("digits") or {"1": "zh", "2": "en"}).items()},
            menu_timeout=int(menu.get("timeout", 5)),
            transcription_engine=str(realtime.get("engine", "google")),
            language_codes=dict(realtime.get("language_codes") or {"zh": "cmn-Hans-CN", "en": "en-US"}),
            english_recording_fallback=bool(realtime.get("english_recording_fallback", True)))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SettingsError(f"INTAKE_VOICE_CONFIG ({path}) is unusable: {type(exc).__name__}: {exc}") from None
    _check(config, path)
    return config


def _check(config: VoiceConfig, path: Path) -> None:
    where = f"INTAKE_VOICE_CONFIG ({path})"
    for language in LANGUAGES:
        if not config.greeting.get(language) or not config.closing.get(language):
            raise SettingsError(f"{where} needs greeting.{language} and closing.{language}")
    if config.choose_language not in ("menu", "region"):
        raise SettingsError(f"{where}: language.choose must be 'menu' or 'region'")
    if config.default_language not in LANGUAGES:
        raise SettingsError(f"{where}: language.default must be 'zh' or 'en'")
    if set((config.menu_digits or {}).values()) - set(LANGUAGES):
        raise SettingsError(f"{where}: language.menu.digits must map keys to 'zh' or 'en'")
    if any(len(d) != 1 or d not in "0123456789*#" for d in (config.menu_digits or {})):
        raise SettingsError(f"{where}: language.menu.digits must be single keys (0-9, * or #)")
    if not all((config.language_codes or {}).get(language) for language in LANGUAGES):
        raise SettingsError(f"{where}: transcription.language_codes needs zh and en")


# -- the caller's language --------------------------------------------------------------------

def menu_language(config: VoiceConfig, digits: str | None) -> str:
    """The language a menu key chose; no key or another key: the default."""
    return (config.menu_digits or {}).get((digits or "").strip(), config.default_language)


def region_language(config: VoiceConfig, caller: str | None) -> str:
    if is_chinese_caller(caller):
        return "zh"
    if (caller or "").startswith(_ENGLISH_REGIONS):
        return "en"
    return config.default_language


# -- TwiML ---------------------------------------------------------------------------------------

def _say(response: VoiceResponse, config: VoiceConfig, texts: Mapping[str, str], languages: tuple[str, ...]) -> None:
    for language in languages:
        attributes = {"language": config.say_language.get(language, "en-US")}
        if config.voice.get(language):
            attributes["voice"] = config.voice[language]
        response.say(texts[language], **attributes)


def _both(caller: str | None) -> tuple[str, str]:
    return ("zh", "en") if is_chinese_caller(caller) else ("en", "zh")


def _xml(response: VoiceResponse) -> str:
    return str(response.to_xml(xml_declaration=True))


def _record(response: VoiceResponse, config: VoiceConfig, callback_base: str, transcribe: bool) -> None:
    recording_url = f"{callback_base}{PREFIX}/recording"
    attributes: dict[str, Any] = {}
    if transcribe:
        attributes = {"transcribe": True, "transcribe_callback": f"{callback_base}{PREFIX}/transcription"}
    response.record(
        action=recording_url, method="POST", max_length=config.max_length,
        finish_on_key=config.finish_on_key, timeout=config.timeout, play_beep=config.play_beep,
        recording_status_callback=recording_url, recording_status_callback_method="POST", **attributes)


def voicemail_twiml(config: VoiceConfig, caller: str | None, callback_base: str, transcribe: bool = True) -> str:
    """Both languages (the caller's region first), <Record> (transcribed by Twilio when
    `transcribe`, both callbacks to us), closing line, hang up: the TwiML of the
    twilio-recording and none backends.

    The closing after <Record> is heard when nothing was recorded (Twilio then skips the
    action URL and goes on with the next verb, https://www.twilio.com/docs/voice/twiml/record)."""
    response = VoiceResponse()
    _say(response, config, config.greeting, _both(caller))
    _record(response, config, callback_base, transcribe)
    _say(response, config, config.closing, _both(caller))
    response.hangup()
    return _xml(response)


def realtime_voicemail_twiml(config: VoiceConfig, plan: CallPlan, language: str, callback_base: str) -> str:
    """The voicemail in one language, transcribed live: <Start><Transcription> before the
    greeting, so it already listens when the caller starts; only the caller's track (our
    greeting is not theirs), final results only (one callback per utterance)."""
    response = VoiceResponse()
    if plan.realtime_language:
        start = Start()
        start.transcription(
            name="voicemail", language_code=plan.realtime_language, track="inbound_track",
            partial_results=False, transcription_engine=config.transcription_engine,
            status_callback_url=f"{callback_base}{PREFIX}/transcript", status_callback_method="POST")
        response.append(start)
    _say(response, config, config.greeting, (language,))
    _record(response, config, callback_base, plan.record_transcribe)
    _say(response, config, config.closing, (language,))
    response.hangup()
    return _xml(response)


def menu_twiml(config: VoiceConfig, caller: str | None, callback_base: str) -> str:
    """"普通话请按 1, for English press 2": one key, then /menu. With no key Twilio calls
    /menu all the same (actionOnEmptyResult), which answers in the default language."""
    response = VoiceResponse()
    gather = response.gather(input="dtmf", num_digits=1, timeout=config.menu_timeout,
                             action=f"{callback_base}{PREFIX}/menu", method="POST", action_on_empty_result=True)
    for language in _both(caller):
        attributes = {"language": config.say_language.get(language, "en-US")}
        if config.voice.get(language):
            attributes["voice"] = config.voice[language]
        gather.say((config.menu_prompt or {})[language], **attributes)
    return _xml(response)


def call_twiml(config: VoiceConfig, backend: Transcriber, caller: str | None, callback_base: str) -> str:
    """The answer to the incoming call."""
    if not isinstance(backend, TwilioRealtime):
        return voicemail_twiml(config, caller, callback_base, transcribe=backend.plan(
            "en", config.language_codes or {}, config.english_recording_fallback).record_transcribe)
    if config.choose_language == "menu":
        return menu_twiml(config, caller, callback_base)
    return language_twiml(config, backend, region_language(config, caller), callback_base)


def language_twiml(config: VoiceConfig, backend: Transcriber, language: str, callback_base: str) -> str:
    plan = backend.plan(language, config.language_codes or {}, config.english_recording_fallback)
    return realtime_voicemail_twiml(config, plan, language, callback_base)


def closing_twiml(config: VoiceConfig, caller: str | None) -> str:
    response = VoiceResponse()
    _say(response, config, config.closing, _both(caller))
    response.hangup()
    return _xml(response)
