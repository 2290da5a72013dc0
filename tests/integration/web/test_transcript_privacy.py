"""What a caller said on the phone reaches no log line and no task argument: the
transcript webhook (served for real by uvicorn on loopback) hands the workers inbox ids
only, and processing the call logs ids, never words (STYLE 8, 14)."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import uvicorn
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from intake.process import pipeline
from intake.runtime import Runtime
from intake.tickets.models import Inbox
from intake.web.metrics import WebhookMetrics
from intake.web.twilio_hooks import TwilioWebhooks, load_voice_config, router
from intake.work import Work
from tests.flows import make_runtime
from tests.support.ports import LOOPBACK, free_port, wait_for_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PUBLIC_URL = "https://support.example.com"
TOKEN = "transcript-privacy-token"
DATA = Path(__file__).resolve().parents[2] / "data" / "twilio" / "realtime_transcription_zh_voicemail.json"
# Words of the transcript that occur nowhere in intake
CANARIES = ("银行卡", "到账", "麻烦帮我", "6222021234567894", "622202")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Runtime, str, list[Work]]]:
    rt = make_runtime(f"sqlite:///{tmp_path}/privacy.db", tmp_path / "var", public_url=PUBLIC_URL,
                      twilio_auth_token=TOKEN, sms_backend="file")
    works: list[Work] = []
    app = FastAPI()
    app.include_router(router(TwilioWebhooks(rt, rt.settings, WebhookMetrics(),
                                             load_voice_config(rt.settings.voice_config), works.append)))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=LOOPBACK, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for_port(port, timeout=20)
        yield rt, f"http://{LOOPBACK}:{port}", works
    finally:
        server.should_exit = True
        thread.join(10)
        rt.dispose()


def post(base: str, route: str, params: dict[str, str]) -> requests.Response:
    path = f"/webhooks/twilio/{route}"
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + path, params)
    return requests.post(base + path, data=urlencode(params).encode(), timeout=15, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})


def test_transcripts_reach_no_log_line_and_no_task_argument(served: tuple[Runtime, str, list[Work]],
                                                            caplog: pytest.LogCaptureFixture) -> None:
    rt, base, works = served
    data: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    caplog.set_level(logging.DEBUG)
    for route, params in [("voice", data["call"]), ("menu", data["menu"]),
                          *[("transcript", event) for event in data["events"]],
                          ("transcript", {**data["events"][1], "SequenceId": "7",
                                          "TranscriptionData": '{"transcript": "银行卡 unterminated'})]:
        assert post(base, route, params).status_code == 200
    # The workers get ids: every field of every Work is (id, private) pairs of integers.
    assert works and all(isinstance(i, int) and isinstance(p, bool)
                         for work in works for field in dataclasses.fields(work)
                         for i, p in getattr(work, field.name))
    with rt.sessions() as session:
        rows = [row.id for row in session.query(Inbox).order_by(Inbox.id)]
    for inbox_id in rows:
        pipeline.process_with_retries(rt, inbox_id)
    with rt.sessions() as session:
        failed = session.query(Inbox).filter(Inbox.status == "failed").one()
        assert "TranscriptionData" in (failed.last_error or "")
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert "transcript" in logged  # processing did log
    leaked = [word for word in CANARIES if word in logged or word in (failed.last_error or "")]
    assert leaked == []
