"""Agent replies and status changes reach the sender on the ticket's channel, threaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from intake.outbox import agents
from intake.send.delivery import send_outbox
from intake.tickets.models import Message, Ticket
from intake.tickets.store import open_message
from tests.flows import ingest_raw, mail
from tests.integration.outbox.test_followups_support import (
    SUPPORT, email_runtime, ingest_sms, parse, row, sms_runtime, ticket,
)
from tests.support.shared import need_shared
from tests.support.smtp import SmtpServer
from tests.support.twilio_standin import TwilioStandIn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_agent_reply_by_email_threads_to_their_last_message(db_url: str, tmp_path: Path,
                                                            smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    first = ingest_raw(rt, mail(message_id="<m1@example.com>"))
    ref = first.ticket_ref or ""
    ingest_raw(rt, mail(subject=f"Re: Cannot upload videos [{ref}]", message_id="<m2@example.com>",
                        body="More details: it fails at 99%.", extra_headers="In-Reply-To: <m1@example.com>"))
    assert ticket(rt, ref).first_response_at is None
    ids = agents.reply(rt, ref.lower(), "Thanks, Alice.\n\nPlease update the app to 28.7 and try again.")
    assert ids is not None and len(ids) == 1
    assert send_outbox(rt, ids[0]) == "sent"
    reply = parse(smtp_server.wait_for(1)[0].raw)
    assert reply["In-Reply-To"] == "<m2@example.com>"
    assert reply["References"] == "<m1@example.com> <m2@example.com>"
    assert reply["Subject"] == f"Re: Cannot upload videos [{ref}]"
    assert reply["Auto-Submitted"] is None  # a person's reply (RFC 3834 section 5)
    assert reply["From"] == SUPPORT
    assert "update the app to 28.7" in reply.get_body(("plain",)).get_content()
    assert "<br>" in reply.get_body(("html",)).get_content() or "<p>" in reply.get_body(("html",)).get_content()
    assert ticket(rt, ref).first_response_at is not None
    with rt.sessions() as session:
        out = session.scalar(select(Message).where(Message.direction == "out"))
        assert out is not None and out.sent_at is not None
        assert out.header_message_id == row(rt, ids[0]).header_message_id
    # their answer to the agent threads into the ticket by our Message-ID
    back = ingest_raw(rt, mail(subject="Re: Cannot upload videos", message_id="<m3@example.com>",
                               body="It works now!", extra_headers=f"In-Reply-To: <{reply['Message-ID'][1:-1]}>"))
    assert back.ticket_ref == ref and back.outbox_ids == []


def test_agent_reply_on_a_private_ticket_is_sealed_at_rest(db_url: str, tmp_path: Path,
                                                          smtp_server: SmtpServer, shared_dir: Path) -> None:
    sample = need_shared("samples", "email_034.eml")
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outcome = ingest_raw(rt, sample.read_bytes())
    ids = agents.reply(rt, outcome.ticket_ref or "", "We have refunded the purchases.")
    assert ids is not None
    send_outbox(rt, ids[0])
    reply = parse(smtp_server.wait_for(1)[0].raw)
    assert reply["Subject"] == f"Re: [{outcome.ticket_ref}] Reply to your request"
    with rt.sessions() as session:
        out = session.scalar(select(Message).where(Message.direction == "out"))
        assert out is not None and out.private and out.text is None
        assert open_message(rt.vault, out)[0] == "We have refunded the purchases."


def test_status_change_with_notify(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    ref = ingest_raw(rt, mail()).ticket_ref or ""
    assert agents.set_status(rt, ref, "pending", notify=False) == []
    ids = agents.set_status(rt, ref, "closed", notify=True)
    assert ids is not None and len(ids) == 1
    closed = ticket(rt, ref)
    assert closed.status == "closed" and closed.closed_at is not None
    assert row(rt, ids[0]).dedupe_key == f"status:{closed.id}:closed:1"
    assert send_outbox(rt, ids[0]) == "sent"
    status = parse(smtp_server.wait_for(1)[0].raw)
    assert status["Auto-Submitted"] == "auto-replied"
    assert "closed" in status.get_body(("plain",)).get_content()
    assert agents.set_status(rt, ref, "closed", notify=True) == []  # no change, no mail
    reopened = agents.set_status(rt, ref, "open", notify=True)
    assert reopened is not None and ticket(rt, ref).closed_at is None
    assert agents.set_status(rt, "TK-000000", "open", notify=True) is None
    assert agents.reply(rt, "TK-000000", "hello") is None
    with pytest.raises(ValueError):
        agents.set_status(rt, ref, "archived", notify=False)


def test_status_notifications_never_go_to_a_robot(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    robot = ingest_raw(rt, mail(sender="Mail Delivery System <mailer-daemon@mx.example.com>",
                                subject="Undelivered Mail Returned to Sender", message_id="<d1@mx.example.com>"))
    ids = agents.set_status(rt, robot.ticket_ref or "", "resolved", notify=True)
    assert ids is not None
    assert row(rt, ids[0]).status == "suppressed"
    assert (row(rt, ids[0]).suppressed_reason or "").startswith("automated:")


def test_agent_reply_and_status_by_sms(db_url: str, tmp_path: Path, twilio_api: TwilioStandIn) -> None:
    rt = sms_runtime(db_url, tmp_path, twilio_api)
    ref = ingest_sms(rt, "Hi, my coins disappeared after the update, can you check?",
                     sender="+14155550123").ticket_ref or ""
    ids = agents.reply(rt, ref, "We found the coins and restored them. " * 20)
    assert ids is not None
    assert send_outbox(rt, ids[0]) == "sent"
    body = twilio_api.message_requests()[-1].params["Body"]
    assert body.startswith(f"{ref}: We found the coins") and body.endswith("…")
    assert row(rt, ids[0]).headers["truncated"] is True
    status_ids = agents.set_status(rt, ref, "resolved", notify=True)
    assert status_ids is not None
    send_outbox(rt, status_ids[0])
    assert twilio_api.message_requests()[-1].params["Body"].startswith(f"Your request {ref} is now resolved.")
    with rt.sessions() as session:
        t = session.scalar(select(Ticket).where(Ticket.ref == ref))
        assert t is not None and t.first_response_at is not None
