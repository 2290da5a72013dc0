"""One attacker, one victim's mailbox: acknowledgements cannot be multiplied by plus-tags,
dots or case, nor by spreading over one domain, and a stranger's first acknowledgement
never repeats their subject (it would be us mailing the attacker's words to the victim)."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from intake.outbox import agents
from intake.outbox.loop_guard import mailbox_key
from intake.send.delivery import send_outbox
from tests.flows import ingest_raw, mail
from tests.integration.outbox.test_followups_support import email_runtime, rows
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

SPAM_SUBJECT = "You won a $500 gift card! Claim it at http://evil.example/win"


def test_plus_tags_dots_and_case_are_one_mailbox() -> None:
    assert mailbox_key("Victim+tag7@Example.com") == "victim@example.com"
    assert mailbox_key("v.i.c.t.i.m+x@googlemail.com") == "victim@gmail.com"
    assert mailbox_key("v.ictim@example.com") == "v.ictim@example.com"  # dots only fold at Gmail
    assert mailbox_key("+8613800001234") == "+8613800001234"


def test_plus_addressing_does_not_multiply_acknowledgements(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server, ack_limit_per_hour=3)
    for n in range(19):  # the measured attack: victim+tagN@ and case variants, one run
        sender = f"victim+tag{n}@example.com" if n % 2 else f"VICTIM+t{n}@Example.com"
        outcome = ingest_raw(rt, mail(sender=sender, subject=SPAM_SUBJECT, message_id=f"<spam-{n}@evil.example>",
                                      body=f"claim number {n}"))
        for outbox_id in outcome.outbox_ids:
            send_outbox(rt, outbox_id)
    received = smtp_server.received()
    assert len(received) == 3
    reasons = {r.suppressed_reason for r in rows(rt, kind="ack") if r.status == "suppressed"}
    assert reasons == {"rate_limited"}
    for raw in received:  # a stranger: the reference and a neutral title, never their subject
        subject = str(email.message_from_bytes(raw.raw, policy=email.policy.default)["Subject"])
        assert "gift card" not in subject and "evil.example" not in subject and "[TK-" in subject


def test_one_domain_has_its_own_hourly_ceiling(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server, ack_limit_per_hour=3, ack_limit_per_domain_per_hour=5)
    queued = []
    for n in range(8):  # eight different mailboxes of one domain
        outcome = ingest_raw(rt, mail(sender=f"user{n}@catchall.example", message_id=f"<d-{n}@catchall.example>",
                                      subject=f"Question {n}"))
        queued += outcome.outbox_ids
    assert len(queued) == 5
    suppressed = [r.suppressed_reason for r in rows(rt, kind="ack") if r.status == "suppressed"]
    assert suppressed == ["rate_limited_domain"] * 3


def test_a_sender_an_agent_answered_sees_their_subject(db_url: str, tmp_path: Path,
                                                      smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    first = ingest_raw(rt, mail(subject="Upload fails", message_id="<k-1@example.com>"))
    send_outbox(rt, first.outbox_ids[0])
    replies = agents.reply(rt, first.ticket_ref or "", "Please try version 2.1.")
    assert replies is not None
    send_outbox(rt, replies[0])
    second = ingest_raw(rt, mail(subject="App crashes", message_id="<k-2@example.com>", body="It crashes on start."))
    send_outbox(rt, second.outbox_ids[0])
    subjects = [str(email.message_from_bytes(m.raw, policy=email.policy.default)["Subject"])
                for m in smtp_server.received()]
    assert "Upload fails" not in subjects[0] and "App crashes" in subjects[2]
