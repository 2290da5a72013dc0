"""Twilio SMS and status webhooks over real HTTP (uvicorn on loopback) against SQLite and
PostgreSQL: verified, stored once, processed into tickets; refused requests store nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from intake.process import pipeline
from intake.capture.twilio import capture_key
from intake.settings import SettingsError, load_settings
from intake.tickets.models import AttachmentRow, Contact, Inbox, Message, Outbox, Ticket, utcnow
from intake.tickets.store import open_message
from tests.integration.web.conftest_phone import *  # noqa: F403 - fixtures
from tests.integration.web.conftest_phone import PUBLIC_URL, PhoneApp
from tests.support.shared import need_shared
from tests.support.twilio_standin import TwilioStandIn

pytestmark = pytest.mark.integration

Corpus = Callable[[str], dict[str, Any]]


def count(app: PhoneApp, model: Any) -> int:
    with app.rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_corpus_sms_becomes_one_ticket_even_when_delivered_twice(phone_app: PhoneApp, corpus: Corpus) -> None:
    params = corpus("sms_inbound.json")["params"]
    first = phone_app.post("sms", params)
    assert first.status_code == 200, phone_app.log_tail()
    assert first.headers["content-type"].startswith("text/xml")
    assert "<Response" in first.text
    second = phone_app.post("sms", params)  # Twilio retries after a timeout
    assert second.status_code == 200 and second.text == first.text
    rows = phone_app.inbox()
    assert len(rows) == 1
    assert rows[0].channel == "sms" and rows[0].capture_key == f"twilio:sms:{params['MessageSid']}"
    stored = json.loads(phone_app.rt.vault.decrypt(rows[0].raw))
    assert stored["params"] == params
    assert stored["url"] == "https://support.example.com/webhooks/twilio/sms"
    outcome = pipeline.process_inbox(phone_app.rt, rows[0].id)
    assert outcome.outcome == pipeline.NEW_TICKET
    with phone_app.rt.sessions() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.ref == outcome.ticket_ref))
        assert ticket is not None and ticket.channel == "sms"
        assert ticket.contact.address == "+8613800001234"
        message = session.scalar(select(Message).where(Message.ticket_id == ticket.id))
        assert message is not None and message.dedupe_key == f"sms:{params['MessageSid']}"
        assert "A-20931" in open_message(phone_app.rt.vault, message)[0]
    # Twilio's retry was stored as the same inbox row, so processing made exactly one message.
    assert count(phone_app, Message) == 1


def test_messaging_service_and_whatsapp_payloads_validate(phone_app: PhoneApp, corpus: Corpus) -> None:
    data = corpus("sms_inbound.json")
    assert data["params"]["MessagingServiceSid"].startswith("MG")
    assert phone_app.post("sms", data["params"]).status_code == 200
    assert phone_app.post("sms", data["variants"][0]["params"]).status_code == 200
    assert len(phone_app.inbox()) == 2


def test_refused_requests_store_nothing(phone_app: PhoneApp, corpus: Corpus) -> None:
    params = corpus("sms_inbound.json")["params"]
    cases = {
        "forged": phone_app.post("sms", params, signature="H5o+AMHqsZcP8ypPkLJ7sWWLsyQ="),
        "other token": phone_app.post("sms", params, token="not-our-token"),
        "other url": phone_app.post("sms", params, sign_url="https://support.example.com/webhooks/twilio/status"),
        "no header": phone_app.post("sms", params, signature=None),
        "tampered": phone_app.post("sms", {**params, "Body": "changed"}, signature=RequestValidator(
            phone_app.token).compute_signature(PUBLIC_URL + "/webhooks/twilio/sms", params)),
    }
    for name, response in cases.items():
        assert response.status_code == 403, name
    oversized = phone_app.post("sms", {**params, "Body": "x" * 70_000})
    assert oversized.status_code == 413
    missing = phone_app.post("sms", {k: v for k, v in params.items() if k != "MessageSid"})
    assert missing.status_code == 400
    no_from = phone_app.post("sms", {k: v for k, v in params.items() if k != "From"})
    assert no_from.status_code == 400
    as_json = phone_app.post("sms", params, content_type="application/json")
    assert as_json.status_code == 415
    bad_utf8 = phone_app.post("sms", params, body=b"MessageSid=SM1&From=%2B1&Body=%FF%FE")
    assert bad_utf8.status_code in (400, 403)
    raw_latin1 = phone_app.post("sms", params, body="Body=caf\xe9".encode("latin-1"))
    assert raw_latin1.status_code == 400
    for route, required in (("voice", "CallSid"), ("recording", "RecordingSid"),
                            ("transcription", "TranscriptionSid"), ("status", "MessageStatus")):
        assert phone_app.post(route, {"AccountSid": "AC1", "From": "+15555550123"}).status_code == 400, required
    assert phone_app.inbox() == []
    metrics = requests.get(phone_app.base + "/metrics", timeout=10).text
    assert 'intake_webhook_signature_failures_total{route="sms"} 5' in metrics
    assert 'result="too_large"' in metrics and 'result="missing_params"' in metrics
    assert "+86" not in metrics and "A-20931" not in metrics
    log = phone_app.log_tail()
    assert "13800001234" not in log and "A-20931" not in log


def test_mms_media_downloaded_with_basic_auth(phone_app_factory: Callable[..., PhoneApp], tmp_path: Path,
                                              twilio_api: TwilioStandIn, corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/mms.db")
    params = corpus("mms_inbound.json")["params"]
    jpeg = b"\xff\xd8\xff\xe0" + b"j" * 1000
    # The corpus URLs point at api.twilio.com; INTAKE_TWILIO_API_BASE sends them to the stand-in.
    twilio_api.add_media(params["MediaUrl0"].removeprefix("https://api.twilio.com"), jpeg, "image/jpeg")
    # the second item (the PDF) is not served: its failure is recorded, the message kept
    assert app.post("sms", params).status_code == 200
    outcome = app.process_all()[0]
    assert outcome.outcome == pipeline.NEW_TICKET
    downloads = [r for r in twilio_api.requests if r.method == "GET"]
    assert len(downloads) == 2 and all(r.authorized for r in downloads)
    with app.rt.sessions() as session:
        message = session.scalar(select(Message))
        assert message is not None
        attachments = list(session.scalars(select(AttachmentRow)))
        assert [(a.content_type, a.size) for a in attachments] == [("image/jpeg", len(jpeg))]
        assert attachments[0].filename == "ME8b54cb19a2e46f02ef59bf00306a1348.jpg"
        assert "media 1: HTTP 404" in message.extra["media_errors"]


def test_media_over_the_size_limit_is_not_kept(phone_app_factory: Callable[..., PhoneApp], tmp_path: Path,
                                               twilio_api: TwilioStandIn, corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/big.db", max_media_bytes="1000")
    params = {**corpus("mms_inbound.json")["params"], "NumMedia": "1"}
    twilio_api.add_media(params["MediaUrl0"].removeprefix("https://api.twilio.com"), b"x" * 5000, "image/jpeg")
    assert app.post("sms", params).status_code == 200
    assert app.process_all()[0].outcome == pipeline.NEW_TICKET
    with app.rt.sessions() as session:
        message = session.scalar(select(Message))
        assert message is not None and "too large" in message.extra["media_errors"]
        assert session.scalar(select(func.count()).select_from(AttachmentRow)) == 0


def test_stop_and_start_change_the_contact_and_open_no_ticket(phone_app: PhoneApp) -> None:
    base = {"AccountSid": "AC" + "0" * 32, "From": "+8613800001234", "To": "+15555550100", "NumMedia": "0"}
    assert phone_app.post("sms", {**base, "MessageSid": "SM" + "1" * 32, "Body": " Stop "}).status_code == 200
    assert phone_app.process_all()[0].outcome == pipeline.OPT_CHANGE
    with phone_app.rt.sessions() as session:
        contact = session.scalar(select(Contact).where(Contact.address == "+8613800001234"))
        assert contact is not None and contact.sms_opted_out and contact.opt_changed_at is not None
    assert phone_app.post("sms", {**base, "MessageSid": "SM" + "2" * 32, "Body": "退订"}).status_code == 200
    assert phone_app.post("sms", {**base, "MessageSid": "SM" + "3" * 32, "Body": "HELP"}).status_code == 200
    assert [o.outcome for o in phone_app.process_all()] == [pipeline.OPT_CHANGE, pipeline.IGNORED]
    assert count(phone_app, Ticket) == 0
    assert phone_app.post("sms", {**base, "MessageSid": "SM" + "4" * 32, "Body": "start"}).status_code == 200
    assert phone_app.process_all()[0].outcome == pipeline.OPT_CHANGE
    with phone_app.rt.sessions() as session:
        contact = session.scalar(select(Contact).where(Contact.address == "+8613800001234"))
        assert contact is not None and not contact.sms_opted_out
    # "stop sending me spam please" is a message, not the keyword
    assert phone_app.post("sms", {**base, "MessageSid": "SM" + "5" * 32,
                                  "Body": "stop charging my card twice"}).status_code == 200
    assert phone_app.process_all()[0].outcome == pipeline.NEW_TICKET


def test_status_query_opens_no_ticket(phone_app: PhoneApp) -> None:
    base = {"AccountSid": "AC" + "0" * 32, "From": "+15555550123", "To": "+15555550100"}
    assert phone_app.post("sms", {**base, "MessageSid": "SM" + "6" * 32, "Body": "STATUS TK-ABC123"}).status_code == 200
    assert phone_app.post("sms", {**base, "MessageSid": "SM" + "7" * 32, "Body": "状态"}).status_code == 200
    assert [o.outcome for o in phone_app.process_all()] == [pipeline.STATUS_QUERY] * 2
    assert count(phone_app, Ticket) == 0


def test_status_callbacks_update_the_outbox_row(phone_app: PhoneApp, corpus: Corpus) -> None:
    data = corpus("message_status_callback.json")
    assert phone_app.post("sms", corpus("sms_inbound.json")["params"]).status_code == 200
    ticket_id = phone_app.process_all()[0].ticket_id
    sid = data["params"]["MessageSid"]
    with phone_app.rt.sessions() as session:
        session.add(Outbox(ticket_id=ticket_id, dedupe_key="test:status", kind="ack", channel="sms",
                           to_address="+15555550123", status="sending", provider_id=sid,
                           created_at=utcnow(), updated_at=utcnow()))
        session.commit()
    sent = next(v["params"] for v in data["variants"] if v["name"] == "sent")
    assert phone_app.post("status", data["params"]).status_code == 200  # delivered
    assert phone_app.post("status", sent).status_code == 200  # late "sent" must not step back
    assert phone_app.post("status", data["params"]).status_code == 200  # repeated: stored once
    assert [r.capture_key for r in phone_app.inbox()][1:] == [f"twilio:status:{sid}:delivered",
                                                              f"twilio:status:{sid}:sent"]
    assert [o.outcome for o in phone_app.process_all()] == [pipeline.UPDATED, pipeline.UPDATED]
    with phone_app.rt.sessions() as session:
        row = session.scalar(select(Outbox).where(Outbox.provider_id == sid))
        assert row is not None and row.status == "delivered" and row.provider_status == "sent"
    undelivered = next(v["params"] for v in data["variants"] if v["name"] == "undelivered")
    assert phone_app.post("status", undelivered).status_code == 200
    assert phone_app.process_all()[0].outcome == pipeline.IGNORED  # not one of ours


def test_a_status_callback_that_outruns_the_send_is_kept_until_the_send_is_recorded(
        phone_app: PhoneApp, corpus: Corpus) -> None:
    data = corpus("message_status_callback.json")
    assert phone_app.post("sms", corpus("sms_inbound.json")["params"]).status_code == 200
    ticket_id = phone_app.process_all()[0].ticket_id
    sid = data["params"]["MessageSid"]
    with phone_app.rt.sessions() as session:  # Twilio accepted it; we have not recorded the SID yet
        row = Outbox(ticket_id=ticket_id, dedupe_key="test:race", kind="ack", channel="sms",
                     to_address="+15555550123", status="sending", created_at=utcnow(), updated_at=utcnow())
        session.add(row)
        session.commit()
        row_id = row.id
    assert phone_app.post("status", data["params"]).status_code == 200
    [capture] = [r for r in phone_app.inbox() if r.channel == "status"]
    from intake.process.status import PENDING, apply_pending_statuses

    assert pipeline.process_inbox(phone_app.rt, capture.id).outcome == PENDING
    with phone_app.rt.sessions() as session:  # the send task records the SID
        session.get(Outbox, row_id).provider_id = sid
        assert apply_pending_statuses(session, sid) == 1
        session.commit()
    with phone_app.rt.sessions() as session:
        assert session.get(Outbox, row_id).status == "delivered"
        assert session.get(Inbox, capture.id).status == "done"


def test_health_and_metrics(phone_app: PhoneApp) -> None:
    health = requests.get(phone_app.base + "/healthz", timeout=15)
    assert health.status_code == 200 and health.json()["database"] == "ok"
    metrics = requests.get(phone_app.base + "/metrics", timeout=10)
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert "intake_database_up 1" in metrics.text


def test_without_token_webhooks_answer_503_but_health_works(phone_app_factory: Callable[..., PhoneApp],
                                                            tmp_path: Path, corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/notoken.db", token="", require_twilio=False)
    assert app.post("sms", corpus("sms_inbound.json")["params"], token="x").status_code == 503
    assert app.inbox() == []
    assert requests.get(app.base + "/healthz", timeout=15).status_code == 200
    assert requests.get(app.base + "/metrics", timeout=10).status_code == 200


def test_create_app_refuses_to_start_without_token(tmp_path: Path) -> None:
    from intake.runtime import Runtime
    from intake.web.app import create_app
    from intake.work import discard

    rt = Runtime.from_settings(load_settings(database_url=f"sqlite:///{tmp_path}/x.db", data_dir=tmp_path,
                                             twilio_auth_token=""))
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        create_app(rt, enqueue=discard, check_broker=None)
    rt.dispose()


def test_token_rotation_accepts_old_and_new(phone_app_factory: Callable[..., PhoneApp], tmp_path: Path,
                                            corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/rot.db", token="new-token,old-token")
    params = corpus("sms_inbound.json")["params"]
    assert app.post("sms", params, token="old-token").status_code == 200
    assert app.post("sms", {**params, "MessageSid": "SM" + "9" * 32}, token="new-token").status_code == 200
    assert app.post("sms", {**params, "MessageSid": "SM" + "8" * 32}, token="other").status_code == 403


def test_database_down_answers_503_and_keeps_nothing(phone_app_factory: Callable[..., PhoneApp],
                                                     free_port: Callable[[], int], corpus: Corpus) -> None:
    # A PostgreSQL URL on a port nobody listens on: nothing shared is stopped.
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"
    app = phone_app_factory(url, upgrade=False)
    response = app.post("sms", corpus("sms_inbound.json")["params"])
    assert response.status_code == 503
    assert "not stored" in app.log_tail() and "13800001234" not in app.log_tail()
    assert requests.get(app.base + "/healthz", timeout=20).status_code == 503
    assert "intake_database_up 0" in requests.get(app.base + "/metrics", timeout=20).text


def test_ingest_cli_reads_a_corpus_sms(tmp_path: Path, shared_dir: Path) -> None:
    path = need_shared("corpus", "twilio", "sms_inbound.json")
    from tests.flows import INTAKE_BIN, subprocess_env

    env = subprocess_env(f"sqlite:///{tmp_path}/cli.db", tmp_path / "var")
    done = subprocess.run([INTAKE_BIN, "ingest", "--channel", "sms", str(path), str(path)], env=env,
                          capture_output=True, timeout=90, text=True)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [line.get("outcome") for line in lines] == [pipeline.NEW_TICKET, pipeline.DUPLICATE], done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    done = subprocess.run([INTAKE_BIN, "ingest", "--channel", "sms", str(bad)], env=env,
                          capture_output=True, timeout=90, text=True)
    assert done.returncode == 1 and "not a Twilio JSON file" in done.stdout
    # The refused file stored nothing: the database still holds the one capture from above.
    from intake.db import make_engine
    from intake.tickets.models import Inbox

    engine = make_engine(f"sqlite:///{tmp_path}/cli.db")
    try:
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(Inbox)) == 1
    finally:
        engine.dispose()


def test_real_worker_turns_webhooks_into_tickets(phone_app_factory: Callable[..., PhoneApp], pg_url: str,
                                                 redis_url: str, tmp_path: Path, corpus: Corpus) -> None:
    """The production path: webhook -> inbox -> Redis -> `intake worker` -> ticket + ack."""
    from tests.e2e.processes import WorkerProcess, wait_until

    from tests.flows import subprocess_env

    app = phone_app_factory(pg_url, broker_url=redis_url)

    worker_env = subprocess_env(pg_url, tmp_path / "worker-var", INTAKE_BROKER_URL=redis_url,
                                INTAKE_ENCRYPTION_KEY=app.rt.settings.encryption_key,
                                TWILIO_AUTH_TOKEN=app.token, INTAKE_PUBLIC_URL=PUBLIC_URL)
    worker = WorkerProcess(worker_env, tmp_path / "worker.log", beat=False, concurrency=2).start()
    try:
        params = corpus("sms_inbound.json")["params"]
        assert app.post("sms", params).status_code == 200
        assert app.post("sms", {**params, "MessageSid": "SM" + "c" * 32, "From": "+15555550177",
                                "Body": "My app keeps crashing when I upload a video"}).status_code == 200

        def processed() -> bool:
            return all(row.status == "done" for row in app.inbox()) and count(app, Ticket) == 2

        wait_until(processed, 60, "the worker to process both webhooks", worker.log_tail)
        with app.rt.sessions() as session:
            acks = list(session.scalars(select(Outbox).where(Outbox.kind == "ack")))
            assert sorted(a.to_address for a in acks) == ["+15555550177", "+8613800001234"]
    finally:
        worker.stop()


CORPUS_ROUTES = {"sms_inbound.json": "sms", "mms_inbound.json": "sms", "voice_inbound.json": "voice",
                 "voice_record_action.json": "recording", "voice_recording_status_callback.json": "recording",
                 "voice_transcription_callback.json": "transcription", "message_status_callback.json": "status"}


def test_every_corpus_payload_is_accepted_by_its_route(phone_app_factory: Callable[..., PhoneApp],
                                                       tmp_path: Path, corpus: Corpus) -> None:
    app = phone_app_factory(f"sqlite:///{tmp_path}/all.db")
    keys = set()
    for name, route in CORPUS_ROUTES.items():
        data = corpus(name)
        for params in [data["params"], *(v["params"] for v in data.get("variants", []))]:
            response = app.post(route, params)
            assert response.status_code == 200, (name, response.text)
            keys.add(capture_key(route, params))
    # the record action and the recording status callback share their RecordingSid: one row
    assert sorted(row.capture_key for row in app.inbox()) == sorted(keys)
    assert len(keys) == 10
    json_body = corpus("json_body_event.json")
    refused = app.post("sms", {}, content_type="application/json", body=json_body["raw_body"].encode())
    assert refused.status_code == 415  # Event Streams JSON webhooks are not an intake route
