"""A Chinese voicemail through the real webhooks with real-time transcription
(INTAKE_VOICE_TRANSCRIPTION=twilio-realtime, the default): call, language menu, transcript
callbacks out of order and duplicated, recording, stop -> one private, routed, redacted
ticket acknowledged in Chinese. Then the hostile inputs of the new route, the timeout of a
transcription that never stops, and two workers assembling the same call."""

from __future__ import annotations

import datetime as dt
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from intake.capture.inbox import capture_many
from intake.capture.twilio import make_item
from intake.process import pipeline
from intake.process.voice import UTTERANCE_OUTCOME
from intake.runtime import Runtime
from intake.tickets.models import AttachmentRow, Inbox, Message, Outbox, Ticket, utcnow
from intake.tickets.store import open_message, outbox_bodies
from intake.tickets.views import list_tickets, ticket_detail
from intake.upkeep import timeouts
from intake.work import Work
from tests.integration.tickets.test_private_bytes_at_rest import database_bytes
from tests.integration.web.conftest_phone import *  # noqa: F403 - fixtures
from tests.integration.web.conftest_phone import PhoneApp
from tests.support.twilio_standin import TwilioStandIn

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "data" / "twilio" / "realtime_transcription_zh_voicemail.json"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 400
CARD = "6222021234567894"


def recorded() -> dict[str, Any]:
    return dict(json.loads(DATA.read_text(encoding="utf-8")))


def serve_recording(api: TwilioStandIn, params: dict[str, str]) -> None:
    api.add_media(params["RecordingUrl"].removeprefix("https://api.twilio.com") + ".wav", WAV, "audio/x-wav")


def voice_messages(app: PhoneApp) -> list[Message]:
    with app.rt.sessions() as session:
        return list(session.scalars(select(Message).where(Message.channel == "voice")))


def count(app: PhoneApp, model: Any) -> int:
    with app.rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def post_all(app: PhoneApp, route: str, payloads: list[dict[str, str]]) -> None:
    for params in payloads:
        response = app.post(route, params)
        assert response.status_code == 200, (response.status_code, response.text, app.log_tail())


def run_chinese_voicemail(app: PhoneApp, api: TwilioStandIn, data: dict[str, Any]) -> tuple[Message, Ticket, str]:
    serve_recording(api, data["recording"])
    answer = app.post("voice", data["call"])
    assert answer.status_code == 200
    gather = ET.fromstring(answer.text).find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    menu = app.post("menu", data["menu"])  # the caller pressed 1
    assert menu.status_code == 200
    start = ET.fromstring(menu.text).find("Start/Transcription")
    assert start is not None and start.get("languageCode") == "cmn-Hans-CN"
    started, first, second, third, stopped = data["events"]
    # Out of order, the second utterance delivered twice (Twilio retries), the stop before
    # the last utterance and before the recording.
    post_all(app, "transcript", [started, third, first, stopped, second, second])
    post_all(app, "recording", [data["recording"]])
    assert count(app, Inbox) == 8  # call, menu, 5 transcript events (one kept once), recording
    outcomes = app.process_all()
    assert pipeline.NEW_TICKET in [o.outcome for o in outcomes]
    messages = voice_messages(app)
    assert len(messages) == 1
    with app.rt.sessions() as session:
        ticket = session.get(Ticket, messages[0].ticket_id)
        assert ticket is not None
        session.expunge(ticket)
    return messages[0], ticket, open_message(app.rt.vault, messages[0])[0]


def test_chinese_voicemail_end_to_end(phone_app: PhoneApp, twilio_api: TwilioStandIn, db_url: str,
                                      tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = recorded()
    caplog.set_level("DEBUG")
    message, ticket, text = run_chinese_voicemail(phone_app, twilio_api, data)
    assert text == data["transcript"]  # the utterances in SequenceId order, each once
    assert message.extra["transcription"] == "completed"
    assert message.extra["transcription_source"] == "realtime" and message.extra["utterances"] == 3
    transcript_rows = [row for row in phone_app.inbox() if row.channel == "transcript"]
    assert transcript_rows and all(row.ticket_id == ticket.id and row.private for row in transcript_rows)
    # routed by what was said, private because it speaks of a bank card
    assert ticket.category == "payment" and ticket.department == "finance_support"
    assert ticket.private and message.private and message.text is None
    assert ticket.language == "zh"
    with phone_app.rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AttachmentRow)) == 1  # the audio stays
        assert count(phone_app, Ticket) == 1
        views = json.dumps([list_tickets(session, phone_app.rt.vault),
                            ticket_detail(session, phone_app.rt.vault, ticket.ref)], ensure_ascii=False)
        acks = list(session.scalars(select(Outbox).where(Outbox.ticket_id == ticket.id)))
    # without the private scope: the card masked, every other digit hidden
    assert CARD not in views and CARD[4:12] not in views and "卡号是[CARD]" in views
    assert [(a.kind, a.channel, a.to_address) for a in acks] == [("ack", "sms", data["call"]["From"])]
    sms = outbox_bodies(phone_app.rt.vault, acks[0].body_text, acks[0].body_html)[0]  # sealed at rest
    assert "我们已收到" in sms and ticket.ref in sms and CARD not in sms
    logged = "\n".join(r.getMessage() for r in caplog.records) + phone_app.log_tail()
    assert CARD not in logged and "银行卡" not in logged and "到账" not in logged
    # nothing said in clear at rest: not in the callbacks' rows, the message, the ack
    stored = database_bytes(db_url, tmp_path)
    assert CARD.encode() not in stored and "银行卡".encode() not in stored and b"/Recordings/RE" not in stored
    # a replayed callback after all that changes nothing
    post_all(phone_app, "transcript", [data["events"][2]])
    assert phone_app.process_all() == [] and count(phone_app, Outbox) == 1


def test_chinese_voicemail_that_is_not_private_names_its_department_in_chinese(
        phone_app_factory: Callable[..., PhoneApp], tmp_path: Path, twilio_api: TwilioStandIn) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/technical.db")
    data = recorded()
    said = ["你好，我上传视频的时候应用一直闪退。", "重新安装以后还是打不开。", "请帮我看一下，谢谢。"]
    for event, text in zip(data["events"][1:4], said):
        event["TranscriptionData"] = json.dumps({"transcript": text, "confidence": 0.9}, ensure_ascii=False)
    message, ticket, text = run_chinese_voicemail(app, twilio_api, data)
    assert text == "\n".join(said) and not ticket.private
    assert ticket.department == "technical_support" and ticket.language == "zh"
    assert ticket.subject == said[0]  # a voicemail opened the ticket: routed and named by what was said
    with app.rt.sessions() as session:
        (ack,) = session.scalars(select(Outbox).where(Outbox.kind == "ack"))
        sms = outbox_bodies(app.rt.vault, ack.body_text, ack.body_html)[0]
    assert ack.channel == "sms" and "技术支持" in sms and "我们已收到" in sms


def test_chinese_voicemail_with_the_card_in_chinese_numerals(phone_app: PhoneApp, twilio_api: TwilioStandIn) -> None:
    data = recorded()
    numerals = data["chinese_numerals_utterance"]
    spoken = json.loads(data["events"][2]["TranscriptionData"])
    data["events"][2]["TranscriptionData"] = json.dumps({**spoken, "transcript": numerals}, ensure_ascii=False)
    message, ticket, text = run_chinese_voicemail(phone_app, twilio_api, data)
    assert numerals in text and ticket.private and ticket.department == "finance_support"
    with phone_app.rt.sessions() as session:
        views = json.dumps([list_tickets(session, phone_app.rt.vault),
                            ticket_detail(session, phone_app.rt.vault, ticket.ref)], ensure_ascii=False)
        sms = [outbox_bodies(phone_app.rt.vault, o.body_text, o.body_html)[0] for o in session.scalars(select(Outbox))]
    assert "六二二二" not in views and "七八九四" not in views and "[CARD]" in views
    assert not any("六二二二" in s for s in sms)


def test_english_call_in_region_mode_uses_realtime_and_the_fallback(phone_app_factory: Callable[..., PhoneApp],
                                                                    tmp_path: Path) -> None:
    config = Path(__file__).resolve().parents[3] / "config" / "voice.yaml"  # choose: region
    app = phone_app_factory(f"sqlite:///{tmp_path}/region.db", voice_config=str(config))
    call = {**recorded()["call"], "From": "+15555550123", "Caller": "+15555550123"}
    root = ET.fromstring(app.post("voice", call).text)
    start = root.find("Start/Transcription")
    assert start is not None and start.get("languageCode") == "en-US" and start.get("track") == "inbound_track"
    record = root.find("Record")
    assert record is not None and record.get("transcribe") == "true"  # English keeps the fallback
    assert [say.get("language") for say in root.iter("Say")] == ["en-US", "en-US"]


@pytest.mark.parametrize("first", ["realtime_empty", "recording_transcript"])
def test_english_fallback_and_realtime_give_one_text_and_one_ack(phone_app_factory: Callable[..., PhoneApp],
                                                                 tmp_path: Path, twilio_api: TwilioStandIn,
                                                                 first: str) -> None:
    """An English call asks both: a real-time transcript that came out empty gives way to
    Twilio's recording transcription; a real one replaces it. One acknowledgement either way."""
    app = phone_app_factory(f"sqlite:///{tmp_path}/fallback.db")
    data = recorded()
    english = "+15555550123"
    call = {**data["call"], "From": english, "Caller": english}
    events = [{**event, "LanguageCode": "en-US"} for event in data["events"]]
    said = "My withdrawal to my bank account has not arrived for a week."
    events[1]["TranscriptionData"] = json.dumps({"transcript": said, "confidence": 0.97})
    recording_text = {"AccountSid": data["call"]["AccountSid"], "CallSid": call["CallSid"],
                      "RecordingSid": data["recording"]["RecordingSid"], "TranscriptionSid": "TR" + "7" * 32,
                      "TranscriptionStatus": "completed", "TranscriptionText": "my with drawl has not arrived",
                      "RecordingUrl": data["recording"]["RecordingUrl"], "From": english, "To": call["To"]}
    serve_recording(twilio_api, data["recording"])
    post_all(app, "voice", [call])
    post_all(app, "menu", [{**data["menu"], "From": english, "Caller": english, "Digits": "2"}])
    post_all(app, "recording", [data["recording"]])
    if first == "realtime_empty":
        post_all(app, "transcript", [events[0], events[4]])  # started, stopped: nothing said
        app.process_all()
        assert voice_messages(app)[0].extra["transcription"] == "failed"
        post_all(app, "transcription", [recording_text])
        app.process_all()
        expected = recording_text["TranscriptionText"]
    else:
        post_all(app, "transcription", [recording_text])
        app.process_all()
        post_all(app, "transcript", [events[0], events[1], events[4]])
        app.process_all()
        expected = said
    (message,) = voice_messages(app)
    assert open_message(app.rt.vault, message)[0] == expected
    assert message.extra["transcription"] == "completed"
    with app.rt.sessions() as session:
        ticket = session.get(Ticket, message.ticket_id)
        assert ticket is not None and ticket.department == "finance_support" and ticket.language == "en"
    assert count(app, Outbox) == 1


def test_forged_or_unsigned_transcript_callbacks_store_nothing(phone_app: PhoneApp) -> None:
    event = recorded()["events"][1]
    assert phone_app.post("transcript", event, signature=None).status_code == 403
    assert phone_app.post("transcript", event, token="not-our-token").status_code == 403
    assert phone_app.post("transcript", event, signature="H5o+AMHqsZcP8ypPkLJ7sWWLsyQ=").status_code == 403
    assert phone_app.post("transcript", event, sign_url=phone_app.public_url + "/webhooks/twilio/recording"
                          ).status_code == 403
    tampered = {**event, "TranscriptionData": json.dumps({"transcript": "改过的", "confidence": 1})}
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(phone_app.token).compute_signature(
        phone_app.public_url + "/webhooks/twilio/transcript", event)
    assert phone_app.post("transcript", tampered, signature=signature).status_code == 403
    assert phone_app.inbox() == []


def test_hostile_transcript_callbacks(phone_app_factory: Callable[..., PhoneApp], tmp_path: Path,
                                      twilio_api: TwilioStandIn) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/hostile.db", transcript_max_chars="500")
    data = recorded()
    started, first, second, third, stopped = data["events"]
    # a SequenceId that is not a number, a recording transcription's SID, an unknown event: 400
    for bad in ({**first, "SequenceId": "2a"}, {**first, "SequenceId": "-1"}, {**first, "SequenceId": "9" * 12},
                {**first, "TranscriptionSid": "TR" + "0" * 32}, {**first, "TranscriptionEvent": "transcription-done"}):
        assert app.post("transcript", bad).status_code == 400
    assert app.inbox() == []
    # over the body limit: 413, nothing kept
    huge = {**first, "TranscriptionData": json.dumps({"transcript": "长" * 70_000})}
    assert app.post("transcript", huge).status_code == 413 and app.inbox() == []
    # within the limit: kept, cut to INTAKE_TRANSCRIPT_MAX_CHARS
    long = {**second, "TranscriptionData": json.dumps({"transcript": "again " * 2_000, "confidence": 0.5})}
    malformed = {**third, "TranscriptionData": '{"transcript": "没有结尾'}
    deep = {**third, "SequenceId": "9", "TranscriptionData": "[" * 8_000 + "]" * 8_000}
    post_all(app, "transcript", [started, first, long, malformed, deep, stopped])
    serve_recording(twilio_api, data["recording"])
    post_all(app, "recording", [data["recording"]])
    # as the worker runs them: the sender's fault is recorded, not raised
    outcomes = [pipeline.process_with_retries(app.rt, row.id) for row in app.inbox() if row.status == "captured"]
    assert [o is None for o in outcomes].count(True) == 2
    rows = {row.capture_key.rsplit(":", 1)[-1]: row for row in app.inbox() if row.channel == "transcript"}
    for sequence in ("4", "9"):  # unreadable: failed with the reason, raw kept, never retried
        assert rows[sequence].status == "failed" and rows[sequence].failure_reason == "user_error"
        assert "TranscriptionData" in (rows[sequence].last_error or "")
        assert "没有结尾" not in (rows[sequence].last_error or "")
    (message,) = voice_messages(app)
    text = open_message(app.rt.vault, message)[0]
    assert text.startswith(json.loads(first["TranscriptionData"])["transcript"])
    assert len(text) <= 500 and message.extra["transcription"] == "completed"


def test_thousands_of_callbacks_for_one_call_are_capped(phone_app_factory: Callable[..., PhoneApp], tmp_path: Path,
                                                        twilio_api: TwilioStandIn) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/flood.db", transcript_max_events="1000")
    data = recorded()
    template, stopped = data["events"][1], data["events"][4]
    flood = [{**template, "SequenceId": str(n), "TranscriptionData": json.dumps({"transcript": f"第{n}句"})}
             for n in range(10, 2510)]
    with app.rt.sessions() as session:  # captured as the webhook captures them (the route is tested above)
        captured = capture_many(session, app.rt.vault, [make_item("transcript", p, "https://x") for p in flood])
        session.commit()
    assert len({c.inbox_id for c in captured}) == 2500
    post_all(app, "transcript", flood[:3] + [{**stopped, "SequenceId": "9999"}])  # replays: no new rows
    serve_recording(twilio_api, data["recording"])
    post_all(app, "voice", [data["call"]])
    post_all(app, "recording", [data["recording"]])
    ids = [row.id for row in app.inbox() if row.channel == "recording"
           or (row.channel == "transcript" and row.meta.get("event") != "transcription-content")]
    outcomes = [pipeline.process_inbox(app.rt, inbox_id) for inbox_id in ids]
    assert {o.outcome for o in outcomes} <= {pipeline.NEW_TICKET, pipeline.UPDATED, "transcript_waiting"}
    (message,) = voice_messages(app)
    assert message.extra["utterances"] <= 1000 and message.extra["transcript_cut"] is True
    assert len(open_message(app.rt.vault, message)[0]) <= app.rt.settings.transcript_max_chars
    assert count(app, Outbox) == 1


def test_transcription_that_never_stops_is_closed_by_the_timeout(phone_app_factory: Callable[..., PhoneApp],
                                                                 db_url: str, twilio_api: TwilioStandIn) -> None:
    app = phone_app_factory(db_url, transcription_timeout="60")
    data = recorded()
    serve_recording(twilio_api, data["recording"])
    post_all(app, "voice", [data["call"]])
    post_all(app, "transcript", data["events"][:2])  # started, first utterance; never stopped
    post_all(app, "recording", [data["recording"]])
    outcomes = app.process_all()
    assert UTTERANCE_OUTCOME in [o.outcome for o in outcomes]
    assert voice_messages(app)[0].extra["transcription"] == "pending"
    handled, work = timeouts.sweep_transcriptions(app.rt, now=utcnow() + dt.timedelta(seconds=65))
    assert handled == 1 and len(work.send) == 1
    (message,) = voice_messages(app)
    assert message.extra["transcription"] == "timeout"
    assert open_message(app.rt.vault, message)[0] == json.loads(data["events"][1]["TranscriptionData"])["transcript"]
    # the rest arriving late replaces the text, without a second acknowledgement
    post_all(app, "transcript", data["events"][2:])
    app.process_all()
    (message,) = voice_messages(app)
    assert open_message(app.rt.vault, message)[0] == data["transcript"]
    assert count(app, Outbox) == 1


def test_sweep_assembles_a_stop_that_missed_its_recording(phone_app: PhoneApp, twilio_api: TwilioStandIn) -> None:
    """The recording and the stop processed at the same moment, each before the other was
    committed: the stop found no voicemail, the recording found no stop. The next sweep
    (well before the timeout) assembles it."""
    data = recorded()
    serve_recording(twilio_api, data["recording"])
    post_all(phone_app, "voice", [data["call"]])
    post_all(phone_app, "transcript", data["events"][:4])
    post_all(phone_app, "recording", [data["recording"]])
    phone_app.process_all()  # the recording: no stop yet, the voicemail waits
    assert voice_messages(phone_app)[0].extra["transcription"] == "pending"
    post_all(phone_app, "transcript", [data["events"][4]])
    with phone_app.rt.sessions() as session:  # its worker saw no voicemail (not yet committed)
        row = session.scalar(select(Inbox).where(Inbox.status == "captured"))
        assert row is not None
        row.status, row.outcome = "done", "transcript_waiting"
        session.commit()
    handled, work = timeouts.sweep_transcriptions(phone_app.rt)
    assert handled == 1 and len(work.send) == 1
    (message,) = voice_messages(phone_app)
    assert message.extra["transcription"] == "completed"
    assert open_message(phone_app.rt.vault, message)[0] == data["transcript"]
    assert timeouts.sweep_transcriptions(phone_app.rt) == (0, Work())


@pytest.mark.parametrize("race", ["stop_and_error", "recording_and_stop"])
def test_two_workers_assembling_the_same_call_make_one_message(phone_app: PhoneApp, twilio_api: TwilioStandIn,
                                                               race: str) -> None:
    """Two workers (each with its own engine, as two processes) assemble one call at once:
    the stop and an error event after the recording, or the recording and the stop."""
    data = recorded()
    serve_recording(twilio_api, data["recording"])
    stopped = data["events"][4]
    error = {**stopped, "SequenceId": "6", "TranscriptionEvent": "transcription-error",
             "TranscriptionError": "stream closed", "TranscriptionErrorCode": "32655"}
    post_all(phone_app, "voice", [data["call"]])
    if race == "stop_and_error":
        post_all(phone_app, "recording", [data["recording"]])
        phone_app.process_all()  # the voicemail waits for its transcript
        post_all(phone_app, "transcript", data["events"][:4])
        phone_app.process_all()
        post_all(phone_app, "transcript", [stopped, error])
    else:
        post_all(phone_app, "transcript", data["events"][:4])
        phone_app.process_all()
        post_all(phone_app, "transcript", [stopped])
        post_all(phone_app, "recording", [data["recording"]])
    rows = [row.id for row in phone_app.inbox() if row.status == "captured"]
    assert len(rows) == 2
    runtimes = [Runtime.from_settings(phone_app.rt.settings) for _ in rows]
    barrier = threading.Barrier(len(rows))
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait(10)
            assert pipeline.process_with_retries(runtimes[index], rows[index], attempts=5) is not None
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(len(rows))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for runtime in runtimes:
            runtime.dispose()
    assert errors == []
    (message,) = voice_messages(phone_app)
    assert open_message(phone_app.rt.vault, message)[0] == data["transcript"]
    assert message.extra["transcription"] == "completed"
    with phone_app.rt.sessions() as session:
        acks = list(session.scalars(select(Outbox).where(Outbox.kind == "ack")))
    assert len(acks) == 1
