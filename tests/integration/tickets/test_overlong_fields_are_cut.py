"""Inbound values longer than their columns are cut, the cut recorded, never a database
error: the sender still gets a ticket (PostgreSQL enforces varchar lengths; SQLite not)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.capture.inbox import capture
from intake.capture.twilio import make_item
from intake.process import pipeline
from intake.tickets import store
from intake.tickets.models import Contact, Inbox, Message, Outbox, Ticket
from tests.flows import ingest_raw, mail, make_runtime

pytestmark = pytest.mark.integration

LONG = 1000


def test_a_mail_with_thousand_character_headers_opens_one_ticket(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    local = "a" * (LONG - len("@example.com"))
    raw = mail(subject="S" * LONG, sender=f"{'N' * LONG} <{local}@example.com>",
               message_id=f"<{'m' * (LONG - 14)}@example.com>",
               extra_headers=f"In-Reply-To: <{'r' * (LONG - 14)}@example.com>")
    outcome = ingest_raw(rt, raw)
    assert outcome.outcome == pipeline.NEW_TICKET and outcome.ticket_ref
    again = ingest_raw(rt, raw, key="test:again")  # the same mail under another capture key
    assert again.outcome == pipeline.DUPLICATE and again.ticket_id == outcome.ticket_id
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        message = session.scalars(select(Message)).one()
        assert set(message.extra["cut"]) == {"sender", "sender_name", "message_id", "in_reply_to"}
        assert message.extra["cut"]["sender"] == LONG
        assert len(message.sender) == 320 and message.sender.startswith("aaaa")
        assert message.header_message_id is not None and len(message.header_message_id) == 512
        contact = session.scalars(select(Contact)).one()
        assert contact.address == message.sender
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.subject.startswith("SSSS")
        # No deliverable address is that long (RFC 5321 4.5.3.1.3): the ack is suppressed,
        # visibly, instead of going to a cut address.
        ack = session.scalars(select(Outbox)).one()
        assert ack.status == "suppressed" and ack.suppressed_reason == "bad_address"
    rt.dispose()


def test_a_reply_to_a_cut_message_id_joins_its_ticket(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    long_id = f"<{'q' * 700}@example.com>"
    first = ingest_raw(rt, mail(subject="first", message_id=long_id))
    reply = ingest_raw(rt, mail(subject="something else", message_id="<reply@example.com>",
                                extra_headers=f"In-Reply-To: {long_id}"))
    assert first.outcome == pipeline.NEW_TICKET
    assert reply.outcome == pipeline.ADDED and reply.ticket_id == first.ticket_id
    rt.dispose()


def test_a_twilio_capture_with_overlong_parameters_opens_one_ticket(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    params = {"AccountSid": "AC" + "0" * 32, "MessageSid": "SM" + "9" * LONG, "From": "+1" + "5" * LONG,
              "To": "+15555550100", "Body": "my upload fails", "NumMedia": "0"}
    # An operator's file (intake ingest): webhooks refuse such SIDs with 400 (test_webhook_trust).
    item = make_item("sms", params, "https://x/sms", source="file", strict=False)
    assert len(item.capture_key) == 255
    with rt.sessions() as session:
        inbox_id = capture(session, rt.vault, item).inbox_id
        session.commit()
    outcome = pipeline.process_inbox(rt, inbox_id)
    assert outcome.outcome == pipeline.NEW_TICKET
    status = {"MessageSid": "SM" + "8" * LONG, "MessageStatus": "x" * LONG, "ErrorCode": "7" * LONG}
    with rt.sessions() as session:
        status_id = capture(session, rt.vault, make_item("status", status, "https://x/status", source="file", strict=False)).inbox_id
        session.commit()
    assert pipeline.process_inbox(rt, status_id).outcome == pipeline.IGNORED
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        message = session.scalars(select(Message)).one()
        assert message.dedupe_key == store.bounded("sms:" + params["MessageSid"], 128)
        assert message.extra["cut"] == {"sender": len(params["From"]), "message_id": len(params["MessageSid"])}
        assert {row.status for row in session.scalars(select(Inbox))} == {"done"}
    rt.dispose()
