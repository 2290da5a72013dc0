"""A phone call over real HTTP: the greeting TwiML, then the recording and transcription
callbacks in either order, into one ticket; the sweeper's timeout and missed calls."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from intake.process import pipeline
from intake.process import voice
from intake.upkeep import timeouts
from intake.normalize.twilio import TRANSCRIPTION_UNAVAILABLE
from intake.tickets.models import AttachmentRow, Contact, Inbox, Message, Outbox, Ticket, utcnow
from intake.tickets.store import open_message
from tests.integration.web.conftest_phone import *  # noqa: F403 - fixtures
from tests.integration.web.conftest_phone import PUBLIC_URL, PhoneApp
from tests.support.shared import need_shared
from tests.support.twilio_standin import TwilioStandIn

pytestmark = pytest.mark.integration

Corpus = Callable[[str], dict[str, Any]]
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 400


@pytest.fixture
def sent() -> list[int]:
    """Outbox ids the sweeps asked to enqueue (see `sweep`)."""
    return []


def sweep(app: PhoneApp, sent: list[int], now: dt.datetime | None = None) -> int:
    """Run the voicemail sweep; the outbox ids it returns to enqueue go into `sent`."""
    handled, work = timeouts.sweep_transcriptions(app.rt, now=now)
    sent.extend(outbox_id for outbox_id, _private in work.send)
    return handled


def serve_recording(api: TwilioStandIn, params: dict[str, str]) -> None:
    api.add_media(params["RecordingUrl"].removeprefix("https://api.twilio.com") + ".wav", WAV, "audio/x-wav")


def voice_message(app: PhoneApp) -> tuple[Message, Ticket, str]:
    with app.rt.sessions() as session:
        messages = list(session.scalars(select(Message).where(Message.channel == "voice")))
        assert len(messages) == 1
        ticket = session.get(Ticket, messages[0].ticket_id)
        assert ticket is not None
        return messages[0], ticket, open_message(app.rt.vault, messages[0])[0]


def says(xml: str) -> tuple[ET.Element, list[tuple[str, str]]]:
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    return root, [(el.get("language", ""), el.text or "") for el in root if el.tag == "Say"]


@pytest.mark.parametrize("caller, first_language", [("+8613800001234", "zh-CN"), ("+15555550123", "en-US")])
def test_voice_twiml_greets_in_the_callers_language(phone_app_factory: Callable[..., PhoneApp], tmp_path: Path,
                                                    corpus: Corpus, caller: str, first_language: str) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/voice.db", voice_transcription="twilio-recording")
    params = {**corpus("voice_inbound.json")["params"], "From": caller, "Caller": caller}
    response = app.post("voice", params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    root, spoken = says(response.text)
    assert [verb.tag for verb in root] == ["Say", "Say", "Record", "Say", "Say", "Hangup"]
    assert spoken[0][0] == first_language and {lang for lang, _ in spoken} == {"zh-CN", "en-US"}
    record = root.find("Record")
    assert record is not None
    assert record.get("transcribe") == "true"
    assert record.get("transcribeCallback") == f"{PUBLIC_URL}/webhooks/twilio/transcription"
    assert record.get("recordingStatusCallback") == f"{PUBLIC_URL}/webhooks/twilio/recording"
    assert record.get("action") == f"{PUBLIC_URL}/webhooks/twilio/recording"
    assert record.get("maxLength") == "120" and record.get("finishOnKey") == "#"
    # Twilio retrying the call webhook gets the same answer and one stored row
    assert app.post("voice", params).text == response.text
    assert len(app.inbox()) == 1
    assert app.process_all()[0].outcome == pipeline.IGNORED
    with app.rt.sessions() as session:
        contact = session.scalar(select(Contact).where(Contact.address == caller))
        assert contact is not None


def test_call_recording_transcription_make_one_ticket(phone_app: PhoneApp, twilio_api: TwilioStandIn,
                                                      corpus: Corpus) -> None:
    call = corpus("voice_inbound.json")["params"]
    action = corpus("voice_record_action.json")["params"]
    recording = corpus("voice_recording_status_callback.json")["params"]
    transcription = corpus("voice_transcription_callback.json")["params"]
    serve_recording(twilio_api, recording)
    assert phone_app.post("voice", call).status_code == 200
    closing = phone_app.post("recording", action)  # the <Record action> request
    assert closing.status_code == 200
    root, spoken = says(closing.text)
    assert spoken and root[-1].tag == "Hangup"
    status = phone_app.post("recording", recording)  # the status callback, same RecordingSid
    assert status.status_code == 200 and ET.fromstring(status.text).tag == "Response"
    assert [o.outcome for o in phone_app.process_all()] == [pipeline.IGNORED, pipeline.NEW_TICKET]
    message, ticket, text = voice_message(phone_app)
    assert text == "" and message.extra["transcription"] == "pending"
    assert message.extra["RecordingSid"] == recording["RecordingSid"]
    assert message.extra["CallSid"] == call["CallSid"] and message.extra["RecordingDuration"] == "37"
    assert message.sender == call["From"]  # from the call webhook: the action/status lack none here
    with phone_app.rt.sessions() as session:
        audio = list(session.scalars(select(AttachmentRow)))
        assert [(a.content_type, a.size) for a in audio] == [("audio/x-wav", len(WAV))]
        voice_row = session.scalar(select(Inbox).where(Inbox.channel == "voice"))
        assert voice_row is not None and voice_row.outcome == voice.VOICEMAIL_OUTCOME
    assert all(r.authorized for r in twilio_api.requests if r.method == "GET")
    assert phone_app.post("transcription", transcription).status_code == 200
    assert phone_app.post("transcription", transcription).status_code == 200  # repeated
    assert [o.outcome for o in phone_app.process_all()] == [pipeline.UPDATED]
    message, ticket, text = voice_message(phone_app)
    assert text == transcription["TranscriptionText"]
    assert message.extra["transcription"] == "completed"
    assert ticket.channel == "voice" and ticket.language == "en"
    assert ticket.subject.startswith("Hi, this is Sam")  # routed on the transcript, not on ""
    with phone_app.rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_transcription_before_recording_still_one_message(phone_app: PhoneApp, twilio_api: TwilioStandIn,
                                                          corpus: Corpus) -> None:
    recording = corpus("voice_recording_status_callback.json")["params"]
    transcription = {**corpus("voice_transcription_callback.json")["params"],
                     "TranscriptionText": "My app keeps crashing when I upload a video, please help."}
    serve_recording(twilio_api, recording)
    assert phone_app.post("transcription", transcription).status_code == 200
    assert phone_app.process_all()[0].outcome == pipeline.UPDATED
    assert phone_app.post("recording", recording).status_code == 200
    assert phone_app.process_all()[0].outcome == pipeline.DUPLICATE
    message, ticket, text = voice_message(phone_app)
    assert text == transcription["TranscriptionText"]
    assert message.sender == transcription["From"]
    assert ticket.category == "technical" and ticket.department == "technical_support"
    with phone_app.rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AttachmentRow)) == 1


def test_failed_transcription_reads_unavailable(phone_app_factory: Callable[..., PhoneApp], tmp_path: Path,
                                                twilio_api: TwilioStandIn, corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/failed.db")
    transcription = {**corpus("voice_transcription_callback.json")["params"],
                     "TranscriptionStatus": "failed", "TranscriptionText": ""}
    assert app.post("transcription", transcription).status_code == 200
    assert app.process_all()[0].outcome == pipeline.UPDATED
    message, _, text = voice_message(app)
    assert text == TRANSCRIPTION_UNAVAILABLE and message.extra["transcription"] == "failed"
    assert "audio_error" in message.extra  # the recording was not served: noted, message kept


def test_missing_transcription_times_out(phone_app_factory: Callable[..., PhoneApp], db_url: str,
                                         twilio_api: TwilioStandIn, corpus: Corpus, sent: list[int]) -> None:
    # A timeout far above any pause a loaded machine can put between two lines; the
    # sweeps after it pass an explicit `now` instead of sleeping.
    app = phone_app_factory(db_url, transcription_timeout="60")
    recording = corpus("voice_recording_status_callback.json")["params"]
    serve_recording(twilio_api, recording)
    mobile = "+8613800001234"  # a caller's number must be a valid mobile to be texted back
    call = {**corpus("voice_inbound.json")["params"], "From": mobile, "Caller": mobile}
    assert app.post("voice", call).status_code == 200
    assert app.post("recording", recording).status_code == 200
    app.process_all()
    assert sweep(app, sent) == 0  # not yet
    assert sweep(app, sent, now=utcnow() + dt.timedelta(seconds=65)) == 1
    message, ticket, text = voice_message(app)
    assert text == TRANSCRIPTION_UNAVAILABLE and message.extra["transcription"] == "timeout"
    with app.rt.sessions() as session:  # the caller is acknowledged by SMS, and it is enqueued
        acks = list(session.scalars(select(Outbox).where(Outbox.ticket_id == ticket.id)))
        assert [(a.kind, a.channel, a.to_address, a.status) for a in acks] == [("ack", "sms", mobile, "queued")]
        assert sent == [acks[0].id]
    assert sweep(app, sent, now=utcnow() + dt.timedelta(seconds=65)) == 0  # done once
    # the transcript arriving late still replaces the placeholder, without a second ack
    before = list(sent)
    assert app.post("transcription", corpus("voice_transcription_callback.json")["params"]).status_code == 200
    outcome = app.process_all()[0]
    assert outcome.outcome == pipeline.UPDATED and outcome.outbox_ids == []
    assert voice_message(app)[2].startswith("Hi, this is Sam") and sent == before


def test_absent_recording_and_missed_call_ticket(phone_app_factory: Callable[..., PhoneApp], tmp_path: Path,
                                                 corpus: Corpus, sent: list[int]) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/missed.db", transcription_timeout="60",
                            missed_call_tickets="true")
    data = corpus("voice_recording_status_callback.json")
    absent = next(v["params"] for v in data["variants"] if v["name"] == "absent")
    assert app.post("voice", corpus("voice_inbound.json")["params"]).status_code == 200
    assert app.post("recording", absent).status_code == 200
    assert [o.outcome for o in app.process_all()] == [pipeline.IGNORED, pipeline.IGNORED]
    later = utcnow() + dt.timedelta(seconds=65)
    assert sweep(app, sent, now=later) == 1
    assert sweep(app, sent, now=later) == 0
    message, ticket, text = voice_message(app)
    assert text == timeouts.MISSED_CALL_TEXT and ticket.channel == "voice"
    assert ticket.contact.address == "+15555550123"


def test_ingest_cli_reads_a_voice_transcription_file(tmp_path: Path, shared_dir: Path) -> None:
    import json
    import subprocess

    from tests.flows import INTAKE_BIN, subprocess_env

    path = need_shared("corpus", "twilio", "voice_transcription_callback.json")
    env = subprocess_env(f"sqlite:///{tmp_path}/cli.db", tmp_path / "var",
                         INTAKE_TWILIO_API_BASE="http://127.0.0.1:9")  # no download leaves the machine
    done = subprocess.run([INTAKE_BIN, "ingest", "--channel", "voice", str(path)], env=env,
                          capture_output=True, timeout=90, text=True)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines and lines[0].get("outcome") == pipeline.UPDATED, done.stdout + done.stderr
    assert lines[0]["ticket"].startswith("TK-")


def test_private_voicemail_is_sealed_with_its_audio(phone_app_factory: Callable[..., PhoneApp], tmp_path: Path,
                                                    twilio_api: TwilioStandIn, corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/private.db")
    recording = corpus("voice_recording_status_callback.json")["params"]
    serve_recording(twilio_api, recording)
    assert app.post("recording", recording).status_code == 200
    secret = "Someone stole my account, my password was hunter22 and I cannot log in."
    transcription = {**corpus("voice_transcription_callback.json")["params"], "TranscriptionText": secret}
    assert app.post("transcription", transcription).status_code == 200
    app.process_all()
    message, ticket, text = voice_message(app)
    assert text == secret
    assert ticket.private and message.private and message.text is None and message.text_secret
    assert "hunter22" not in ticket.subject
    with app.rt.sessions() as session:
        audio = session.scalar(select(AttachmentRow))
        assert audio is not None and audio.encrypted and audio.content != WAV
        assert app.rt.vault.decrypt(audio.content) == WAV


def test_processing_logs_mask_numbers_and_carry_no_text(phone_app_factory: Callable[..., PhoneApp],
                                                        tmp_path: Path, corpus: Corpus,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/logs.db")
    call = {**corpus("voice_inbound.json")["params"], "From": "+8613800001234", "Caller": "+8613800001234"}
    recording = corpus("voice_recording_status_callback.json")["params"]
    transcription = {**corpus("voice_transcription_callback.json")["params"], "From": "+8613800001234"}
    stop = {"MessageSid": "SM" + "a" * 32, "From": "+8613800001234", "To": "+15555550100", "Body": "STOP"}
    for route, params in (("voice", call), ("recording", recording), ("transcription", transcription),
                          ("sms", stop)):
        assert app.post(route, params).status_code == 200
    with caplog.at_level("INFO", logger="intake"):
        app.process_all()
    text = caplog.text
    assert "+86138****1234" in text
    assert "13800001234" not in text
    assert "replacement router" not in text and "STOP" not in text
    assert recording["RecordingSid"] in text
