"""Real-time transcription callbacks, pure: one callback read (hostile ones refused with a
reason), a call's utterances assembled in order, and the backends' plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intake.failures import UserError
from intake.process import transcription
from intake.process.transcription import CONTENT, TranscriptEvent, assemble, parse_event

DATA = Path(__file__).resolve().parents[2] / "data" / "twilio" / "realtime_transcription_zh_voicemail.json"


def recorded() -> dict[str, Any]:
    return dict(json.loads(DATA.read_text(encoding="utf-8")))


def utterance(sequence: int, text: str, final: bool = True, track: str = "inbound_track",
              sid: str = "GT1") -> TranscriptEvent:
    return TranscriptEvent(CONTENT, "CA1", sid, sequence, final=final, track=track, text=text)


def test_recorded_callbacks_read_as_twilio_sends_them() -> None:
    data = recorded()
    events = [parse_event(params, 2000) for params in data["events"]]
    assert [e.event for e in events] == ["transcription-started"] + [CONTENT] * 3 + ["transcription-stopped"]
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    assert all(e.final and e.track == "inbound_track" for e in events[1:4])
    assert events[1].confidence == pytest.approx(0.9302)
    assert assemble(events, stopped=True, max_chars=2000).text == data["transcript"]


def test_assembly_orders_dedupes_and_leaves_out_partials_and_our_track() -> None:
    events = [utterance(4, "third"), utterance(2, "first"), utterance(3, "second"), utterance(3, "second"),
              utterance(5, "partial", final=False), utterance(6, "greeting", track="outbound_track"),
              utterance(7, "")]
    transcript = assemble(events, stopped=True, max_chars=100)
    assert transcript.text == "first\nsecond\nthird" and transcript.utterances == 3 and not transcript.cut


def test_assembly_is_capped_and_says_so() -> None:
    events = [utterance(n, "x" * 10) for n in range(1, 1001)]
    transcript = assemble(events, stopped=True, max_chars=100)
    assert transcript.cut and len(transcript.text) <= 100 and transcript.utterances == 9


def content(**changes: str) -> dict[str, str]:
    return {**recorded()["events"][1], **changes}


@pytest.mark.parametrize("changes, reason", [
    ({"TranscriptionData": '{"transcript": "unterminated'}, "not JSON"),
    ({"TranscriptionData": "[" * 100_000 + "]" * 100_000}, "not JSON"),  # deeper than the parser goes
    ({"TranscriptionData": '["a list"]'}, "no text transcript"),
    ({"TranscriptionData": '{"transcript": 5}'}, "no text transcript"),
    ({"TranscriptionData": ""}, "not JSON"),
    ({"SequenceId": "12a"}, "not a number"),
    ({"SequenceId": "١٢"}, "not a number"),  # Arabic-Indic digits: isdigit() but not ours
    ({"SequenceId": "9" * 30}, "not a number"),
    ({"TranscriptionEvent": "transcription-finished"}, "unknown TranscriptionEvent"),
])
def test_unreadable_callbacks_are_the_senders_fault(changes: dict[str, str], reason: str) -> None:
    with pytest.raises(UserError, match=reason) as raised:
        parse_event(content(**changes), 2000)
    assert "unterminated" not in str(raised.value)  # the reason never carries the text


def test_huge_and_repetitive_transcripts_are_cut_and_cleaned() -> None:
    huge = content(TranscriptionData=json.dumps({"transcript": "银行" * 500_000 + "\x00\x07 \n\t end"}))
    event = parse_event(huge, 2000)
    assert len(event.text) == 2000 and "\x00" not in event.text
    spaced = parse_event(content(TranscriptionData=json.dumps({"transcript": " a \x00\n\n b  "})), 2000)
    assert spaced.text == "a b"
    assert parse_event(content(TranscriptionData='{"transcript": "x", "confidence": true}'), 10).confidence is None


def test_backends_plan_what_the_call_asks_of_twilio() -> None:
    codes = {"zh": "cmn-Hans-CN", "en": "en-US"}
    realtime = transcription.transcriber("twilio-realtime")
    assert realtime.plan("zh", codes, True) == transcription.CallPlan("cmn-Hans-CN", False)
    assert realtime.plan("en", codes, True) == transcription.CallPlan("en-US", True)
    assert realtime.plan("en", codes, False) == transcription.CallPlan("en-US", False)
    assert transcription.transcriber("twilio-recording").plan("zh", codes, True) == transcription.CallPlan(None, True)
    none = transcription.transcriber("none")
    assert none.plan("zh", codes, True) == transcription.CallPlan(None, False) and not none.waits_for_text
