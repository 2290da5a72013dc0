"""SMS follow-ups with the real twilio client against the local Messages API stand-in:
acknowledgements, retries, permanent errors, opt-outs, recovery after a crash, privacy,
segment limits, voicemail callers and the STATUS query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.channels.sms import sms_size
from intake.messages import InboundMessage
from intake.outbox.follow_ups import queue_acknowledgement
from intake.send.delivery import RetryLater, send_now, send_outbox
from intake.tickets import store
from intake.tickets.models import Contact, Message, Ticket, utcnow
from tests.integration.outbox.test_followups_support import (
    OUR_NUMBER, ListingTwilioStandIn, ingest_sms, list_requests, row, rows, sms_runtime, time_passes,
    worker_died_mid_send,
)
from tests.support.shared import need_shared
from tests.support.twilio_standin import TwilioStandIn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CALLER = "+8613800001234"
ZH_TEXT = "您好，我的视频上传一直失败，提示网络错误，已经试了很多次了，麻烦帮忙看看。"


@pytest.fixture
def listing_api() -> Iterator[ListingTwilioStandIn]:
    with ListingTwilioStandIn() as api:
        yield api


def test_sms_ack_through_the_real_twilio_client(db_url: str, tmp_path: Path, twilio_api: TwilioStandIn) -> None:
    rt = sms_runtime(db_url, tmp_path, twilio_api, public_url="https://support.example.com")
    outcome = ingest_sms(rt, ZH_TEXT)
    assert outcome.outcome == "new_ticket" and len(outcome.outbox_ids) == 1
    assert send_outbox(rt, outcome.outbox_ids[0]) == "sent"
    (request,) = twilio_api.message_requests()
    assert request.authorized
    assert request.params["To"] == CALLER and request.params["From"] == OUR_NUMBER
    assert request.params["StatusCallback"] == "https://support.example.com/webhooks/twilio/status"
    body = request.params["Body"]
    assert outcome.ticket_ref in body and "我们已收到" in body
    size = sms_size(body)
    assert size.encoding == "ucs2" and size.units <= 134 and size.segments <= 2
    sent = row(rt, outcome.outbox_ids[0])
    assert sent.provider_id in twilio_api.messages and sent.status == "sent"


def test_500_then_201_sends_exactly_one_sms(db_url: str, tmp_path: Path, twilio_api: TwilioStandIn) -> None:
    rt = sms_runtime(db_url, tmp_path, twilio_api)
    outbox_id = ingest_sms(rt, ZH_TEXT).outbox_ids[0]
    twilio_api.script(500)
    with pytest.raises(RetryLater):
        send_outbox(rt, outbox_id)
    assert (row(rt, outbox_id).status, row(rt, outbox_id).error_code) == ("queued", "20500")
    time_passes(rt, outbox_id)
    assert send_outbox(rt, outbox_id) == "sent"
    assert send_outbox(rt, outbox_id) == "sent"  # the task delivered twice: nothing more
    assert len(twilio_api.message_requests()) == 2
    assert len(twilio_api.messages) == 1
    assert row(rt, outbox_id).provider_id in twilio_api.messages


def test_429_waits_at_least_retry_after(db_url: str, tmp_path: Path, twilio_api: TwilioStandIn) -> None:
    rt = sms_runtime(db_url, tmp_path, twilio_api)
    outbox_id = ingest_sms(rt, ZH_TEXT).outbox_ids[0]
    twilio_api.script(TwilioStandIn.error(429, 20429, "Too Many Requests", (("Retry-After", "600"),)))
    with pytest.raises(RetryLater) as later:
        send_outbox(rt, outbox_id)
    assert later.value.delay >= 600
    assert row(rt, outbox_id).error_code == "20429"


@pytest.mark.parametrize(("code", "message"), [
    (21610, "Attempt to send to unsubscribed recipient"),
    (21211, "The 'To' number is not a valid phone number."),
    (21614, "'To' number is not a valid mobile number"),
])
def test_permanent_twilio_errors_fail_at_once(db_url: str, tmp_path: Path, twilio_api: TwilioStandIn,
                                              code: int, message: str) -> None:
    rt = sms_runtime(db_url, tmp_path, twilio_api)
    outbox_id = ingest_sms(rt, ZH_TEXT).outbox_ids[0]
    twilio_api.script(TwilioStandIn.error(400, code, message))
    assert send_outbox(rt, outbox_id) == "failed"
    failed = row(rt, outbox_id)
    assert (failed.status, failed.error_code, failed.attempts, failed.next_attempt_at) == (
        "failed", str(code), 1, None)
    assert failed.last_error
    assert send_now(rt, outbox_id) == "failed"
    assert len(twilio_api.message_requests()) == 1
    with rt.sessions() as session:
        contact = session.scalar(select(Contact).where(Contact.address == CALLER))
        assert contact is not None and contact.sms_opted_out is (code == 21610)


def test_opted_out_at_queue_time_and_at_send_time(db_url: str, tmp_path: Path, twilio_api: TwilioStandIn) -> None:
    rt = sms_runtime(db_url, tmp_path, twilio_api)
    queued = ingest_sms(rt, ZH_TEXT).outbox_ids[0]
    # STOP arrives before the worker gets to the ack
    ingest_sms(rt, "STOP")
    assert send_outbox(rt, queued) == "suppressed"
    assert row(rt, queued).suppressed_reason == "opted_out"
    # and from now on nothing is even queued
    later = ingest_sms(rt, "Another problem: my coins vanished TK-000000")
    assert later.outbox_ids == []
    assert rows(rt, kind="ack")[-1].suppressed_reason in ("opted_out", "joined_ticket")
    assert twilio_api.message_requests() == []


def test_worker_killed_after_twilio_accepted_does_not_send_again(db_url: str, tmp_path: Path,
                                                                 listing_api: ListingTwilioStandIn) -> None:
    rt = sms_runtime(db_url, tmp_path, listing_api)
    outbox_id = ingest_sms(rt, ZH_TEXT).outbox_ids[0]
    assert send_outbox(rt, outbox_id) == "sent"
    sid = row(rt, outbox_id).provider_id
    worker_died_mid_send(rt, outbox_id)  # the SID never made it to the database
    assert send_outbox(rt, outbox_id) == "sent"
    assert len(listing_api.message_requests()) == 1  # looked up, found, not resent
    assert len(list_requests(listing_api)) == 1
    assert row(rt, outbox_id).provider_id == sid


def test_worker_killed_before_twilio_got_it_sends_once(db_url: str, tmp_path: Path,
                                                       listing_api: ListingTwilioStandIn) -> None:
    rt = sms_runtime(db_url, tmp_path, listing_api)
    outbox_id = ingest_sms(rt, ZH_TEXT).outbox_ids[0]
    worker_died_mid_send(rt, outbox_id)
    assert send_outbox(rt, outbox_id) == "sent"
    assert len(list_requests(listing_api)) == 1
    assert len(listing_api.messages) == 1


def test_when_twilio_cannot_be_asked_we_wait_rather_than_risk_a_duplicate(
        db_url: str, tmp_path: Path, twilio_api: TwilioStandIn) -> None:
    rt = sms_runtime(db_url, tmp_path, twilio_api)  # this stand-in has no list: 404
    outbox_id = ingest_sms(rt, ZH_TEXT).outbox_ids[0]
    worker_died_mid_send(rt, outbox_id)
    with pytest.raises(RetryLater):
        send_outbox(rt, outbox_id)
    assert twilio_api.message_requests() == []
    assert row(rt, outbox_id).status == "queued" and row(rt, outbox_id).error_code == "lookup_failed"


def test_private_finance_sms_ack_says_nothing_of_it(db_url: str, tmp_path: Path, twilio_api: TwilioStandIn,
                                                   shared_dir: Path) -> None:
    sample = need_shared("samples", "sms_001.txt")
    text = sample.read_text(encoding="utf-8").strip()
    rt = sms_runtime(db_url, tmp_path, twilio_api)
    outcome = ingest_sms(rt, text)
    assert outcome.private
    assert send_outbox(rt, outcome.outbox_ids[0]) == "sent"
    body = twilio_api.message_requests()[0].params["Body"]
    for secret in ("6212", "2683", "769", "TX2025", "提现", "3天"):
        assert secret not in body, secret
    assert outcome.ticket_ref in body and "密码" in body
    assert sms_size(body).units <= 134


def test_english_sms_ack_is_gsm7(db_url: str, tmp_path: Path, twilio_api: TwilioStandIn) -> None:
    rt = sms_runtime(db_url, tmp_path, twilio_api)
    outcome = ingest_sms(rt, "Hi, my video upload keeps failing with a network error. Please help.",
                         sender="+14155550123")
    send_outbox(rt, outcome.outbox_ids[0])
    body = twilio_api.message_requests()[0].params["Body"]
    assert body.startswith("We received your message") and sms_size(body).encoding == "gsm7"


def _voice_ticket(rt, caller: str) -> tuple[Ticket, Message, InboundMessage]:  # type: ignore[no-untyped-def]
    msg = InboundMessage(channel="voice", sender=caller, subject="Voicemail",
                         text="My account is locked, please call me back.",
                         new_text="My account is locked, please call me back.", language="en",
                         message_id="CA" + "1" * 32)
    from intake.triage import triage_message

    triage = triage_message(msg, rt.rules)
    with rt.sessions() as session:
        contact = store.get_or_create_contact(session, caller, "phone")
        now = utcnow()
        ticket = store.create_ticket(session, rt.vault, msg, triage, contact, None, dt.timedelta(hours=4), now)
        message = store.add_message(session, rt.vault, ticket, msg, triage, None, "voice:" + caller, now)
        session.commit()
        return ticket, message, msg


@pytest.mark.parametrize(("caller", "reason"), [
    ("+14155550123", None),  # US: fixed line or mobile
    ("+8613800001234", None),  # CN mobile
    ("+442079460018", "not_sms_capable"),  # UK landline
    ("anonymous", "no_sender"),
    ("+266696687", "not_sms_capable"),  # Twilio's withheld caller id
])
def test_voicemail_callers_get_an_sms_only_when_their_number_can_take_one(
        tmp_path: Path, twilio_api: TwilioStandIn, caller: str, reason: str | None) -> None:
    rt = sms_runtime(f"sqlite:///{tmp_path}/i.db", tmp_path, twilio_api)
    ticket, message, msg = _voice_ticket(rt, caller)
    with rt.sessions() as session:
        ticket = session.get(Ticket, ticket.id)
        message = session.get(Message, message.id)
        ack = queue_acknowledgement(session, rt, ticket, message, msg, is_new=True)
        session.commit()
        assert ack is not None
        assert ack.suppressed_reason == reason
        assert ack.status == ("queued" if reason is None else "suppressed")


def test_status_query_lists_open_tickets_private_ones_by_ref_and_status_only(
        db_url: str, tmp_path: Path, twilio_api: TwilioStandIn, shared_dir: Path) -> None:
    rt = sms_runtime(db_url, tmp_path, twilio_api)
    public = ingest_sms(rt, ZH_TEXT)
    private_text = "提现没到账 都3天了 卡号6212-2683-8306-4003-769 单号TX20250402118823 麻烦快点处理"
    with rt.sessions() as session:  # a new ticket for the second message, not the same thread
        session.query(Ticket).update({Ticket.last_message_at: utcnow() - dt.timedelta(days=30)})
        session.commit()
    private = ingest_sms(rt, private_text)
    assert private.ticket_ref != public.ticket_ref and private.private
    query = ingest_sms(rt, "状态")
    assert query.outcome == "status_query"
    (answer,) = rows(rt, kind="status_query")
    assert answer.status == "queued"
    assert send_outbox(rt, answer.id) == "sent"
    body = twilio_api.message_requests()[-1].params["Body"]
    assert public.ticket_ref in body and private.ticket_ref in body
    assert "处理中" in body
    private_line = next(line for line in body.splitlines() if private.ticket_ref in line)
    assert private_line == f"{private.ticket_ref}：处理中"
    assert "6212" not in body and sms_size(body).segments <= 2
