"""A ticket reference is bound to its owner. The attacker's measured inputs: a stranger's mail
with `[TK-...]` in the subject, an auto-reply appended the same way, an SMS naming a private
finance ticket, and a fake bounce naming our old predictable Message-ID. Each leaves the
owner's ticket untouched; a reply to one of our (random) Message-IDs still joins."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.outbox import agents
from intake.send.delivery import send_outbox
from intake.tickets.models import Message, Ticket
from tests.flows import ingest_raw, mail
from tests.integration.outbox.test_followups_support import (
    DATA, MAIL_DOMAIN, email_runtime, ingest_sms, row, sms_runtime,
)
from tests.support.smtp import SmtpServer
from tests.support.twilio_standin import TwilioStandIn

pytestmark = pytest.mark.integration

ALICE = "Alice <alice@example.com>"
MALLORY = "Mallory <mallory@evil.example>"


def ticket(rt, ref: str) -> Ticket:  # type: ignore[no-untyped-def]
    with rt.sessions() as session:
        found = session.scalar(select(Ticket).where(Ticket.ref == ref))
        assert found is not None
        found.message_total = session.scalar(  # type: ignore[attr-defined]
            select(func.count()).select_from(Message).where(Message.ticket_id == found.id))
        return found


def test_a_strangers_reference_opens_a_linked_ticket_and_leaves_the_owners_alone(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    alice = ingest_raw(rt, mail(sender=ALICE, subject="Upload fails", message_id="<a1@example.com>"))
    ref = alice.ticket_ref or ""
    assert agents.set_status(rt, ref, "closed", notify=False) == []
    stranger = ingest_raw(rt, mail(sender=MALLORY, subject=f"Re: something [{ref}]", message_id="<x1@evil.example>",
                                   body="My password is hunter2, please reset my login."))
    assert stranger.outcome == "new_ticket" and stranger.ticket_ref != ref
    assert ticket(rt, stranger.ticket_ref or "").linked_ref == ref
    owner = ticket(rt, ref)
    assert (owner.status, owner.private, owner.message_total) == ("closed", False, 1)  # type: ignore[attr-defined]
    # An auto-reply appended the same way does not silence the owner's status notice.
    auto = mail(sender=MALLORY, subject=f"Re: [{ref}] Out of office", message_id="<x2@evil.example>",
                extra_headers="Auto-Submitted: auto-replied")
    assert ingest_raw(rt, auto).ticket_ref != ref
    notice = agents.set_status(rt, ref, "resolved", notify=True)
    assert notice and row(rt, notice[0]).status == "queued"
    # The owner's own reference still joins (and reopens) the ticket.
    again = ingest_raw(rt, mail(sender="alice@EXAMPLE.com", subject=f"Re: [{ref}] still broken",
                                message_id="<a2@example.com>"))
    assert (again.outcome, again.ticket_ref) == ("added_to_ticket", ref)


def test_a_reply_to_our_message_id_joins_and_our_answer_threads_to_the_contact(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    alice = ingest_raw(rt, mail(sender=ALICE, subject="Upload fails", message_id="<a1@example.com>"))
    assert send_outbox(rt, alice.outbox_ids[0]) == "sent"
    our_id = row(rt, alice.outbox_ids[0]).header_message_id or ""
    colleague = mail(sender="Bob <bob@example.com>", subject="Re: Upload fails", message_id="<b1@example.com>",
                     extra_headers=f"In-Reply-To: <{our_id}>\r\nReferences: <{our_id}>")
    joined = ingest_raw(rt, colleague)
    assert (joined.outcome, joined.ticket_ref) == ("added_to_ticket", alice.ticket_ref)
    reply = agents.reply(rt, alice.ticket_ref or "", "Fixed in 2.1.")
    assert reply is not None
    headers = row(rt, reply[0]).headers or {}
    assert headers["in_reply_to"] == "a1@example.com"  # Alice's, never the newcomer's
    # A guessed id of the old, predictable form joins nothing.
    guessed = mail(sender=MALLORY, subject="Re: hello", message_id="<x3@evil.example>",
                   extra_headers=f"In-Reply-To: <outbox-{alice.outbox_ids[0]}.{alice.ticket_ref}@{MAIL_DOMAIN}>")
    assert ingest_raw(rt, guessed).ticket_ref != alice.ticket_ref


def test_a_forged_bounce_of_a_predictable_id_cancels_nothing(
        db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    alice = ingest_raw(rt, mail(sender=ALICE, subject="Upload fails", message_id="<a1@example.com>"))
    reply = agents.reply(rt, alice.ticket_ref or "", "Please try version 2.1.")
    assert reply is not None
    forged_id = f"outbox-{reply[0]}.{alice.ticket_ref}@{MAIL_DOMAIN}"
    raw = (DATA / "bounce_dsn_of_our_ack.eml").read_text()
    raw = raw.replace("{{REF}}", alice.ticket_ref or "").replace("{{OUR_ID}}", forged_id)
    ingest_raw(rt, raw.encode())
    assert row(rt, reply[0]).status == "queued"


def test_an_sms_naming_a_strangers_private_ticket_opens_its_own(
        db_url: str, tmp_path: Path, twilio_api: TwilioStandIn) -> None:
    rt = sms_runtime(db_url, tmp_path, twilio_api)
    owner = ingest_sms(rt, "我的提现三天了还没到账，银行卡尾号 7016", sender="+8613800001234")
    ref = owner.ticket_ref or ""
    assert ticket(rt, ref).private
    stranger = ingest_sms(rt, f"re {ref.lower()}: please send the refund to my new card instead",
                          sender="+8613900005678")
    assert stranger.ticket_ref != ref and ticket(rt, stranger.ticket_ref or "").linked_ref == ref
    assert ticket(rt, ref).message_total == 1  # type: ignore[attr-defined]
