"""Erasure of a person (`erase_contact`, `intake contacts erase`): afterwards none of their
strings (address, number, message text, attachment bytes) are in the raw bytes of the
SQLite file and its WAL or in a pg_dump, nor in the follow-up files; everyone else's
tickets are intact, a ticket shared with others keeps their messages; an unknown address
is one clear line; erasing twice is harmless."""

from __future__ import annotations

import secrets
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.capture.inbox import CaptureItem, capture
from intake.capture.twilio import make_item
from intake.process import pipeline
from intake.runtime import Runtime
from intake.send.delivery import send_outbox
from intake.tickets.erasure import erase_contact
from intake.tickets.models import AttachmentRow, Contact, Inbox, Message, Outbox, Ticket
from intake.tickets import corrections, status_links
from intake.tickets.records import Correction, DataRemoval, StatusLink
from tests.flows import ingest_raw, mail, make_runtime
from tests.integration.tickets.test_private_bytes_at_rest import database_bytes

pytestmark = pytest.mark.integration

ALICE = "Alice.Erased@Example.com"
ALICE_PHONE = "+8613800138000"
BOB = "bob.stays@example.org"
CAROL = "carol.stays@example.net"
ALICE_STRINGS = [b"alice.erased@example.com", b"Alice.Erased", b"8613800138000", b"ALICE-BODY-7731",
                 b"ALICE-ATTACHED-5521", b"ALICE-SMS-4419", b"ALICE-WAITING-3310", b"ALICE-SUBJECT-2290",
                 b"ALICE-ON-BOBS-8812", b"Alice Erased"]
OTHERS = [b"BOB-KEEPS-4411", b"BOB-OWN-6620", b"CAROL-KEEPS-1187", BOB.encode(), CAROL.encode()]


def with_attachment(sender: str, subject: str, body: str, content: bytes, message_id: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = sender, "support@example.test", subject, message_id
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    msg.set_content(body)
    msg.add_attachment(content, maintype="application", subtype="octet-stream", filename="notes.bin")
    return msg.as_bytes()


def ingest_sms(rt: Runtime, body: str, sender: str) -> pipeline.Outcome:
    params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": "AC" + "0" * 32,
              "From": sender, "To": "+15555550100", "Body": body, "NumMedia": "0", "NumSegments": "1"}
    with rt.sessions() as session:
        captured = capture(session, rt.vault, make_item("sms", params, "https://support.example.com/twilio/sms"))
        session.commit()
    return pipeline.process_inbox(rt, captured.inbox_id)


def send_all(rt: Runtime) -> None:
    with rt.sessions() as session:
        ids = list(session.scalars(select(Outbox.id).where(Outbox.status == "queued")))
    for outbox_id in ids:
        send_outbox(rt, outbox_id)


def our_message_id(rt: Runtime, ticket_id: int) -> str:
    with rt.sessions() as session:
        found = session.scalar(select(Outbox.header_message_id).where(
            Outbox.ticket_id == ticket_id, Outbox.header_message_id.is_not(None)).limit(1))
    assert found
    return found


def populate(rt: Runtime) -> dict[str, int]:
    """Alice's own ticket (with an attachment), a ticket she opened that Bob joined, Bob's
    ticket she wrote on, Carol's ticket, Alice's SMS ticket and STOP, and a mail of hers
    still waiting to be processed."""
    own = ingest_raw(rt, with_attachment(f"Alice Erased <{ALICE}>", "ALICE-SUBJECT-2290 upload broken",
                                         "ALICE-BODY-7731 the upload fails", b"ALICE-ATTACHED-5521" * 20,
                                         "<a1@example.com>"))
    shared = ingest_raw(rt, mail(sender=f"Alice Erased <{ALICE}>", subject="ALICE-SUBJECT-2290 again",
                                 body="ALICE-BODY-7731 second case", message_id="<a2@example.com>"))
    bob_own = ingest_raw(rt, mail(sender=f"Bob <{BOB}>", subject="Bob's problem", body="BOB-OWN-6620 my case",
                                  message_id="<b1@example.org>"))
    send_all(rt)
    bob_joins = ingest_raw(rt, mail(sender=f"Bob <{BOB}>", subject="Re: your case", body="BOB-KEEPS-4411 me too",
                                    message_id="<b2@example.org>",
                                    extra_headers="In-Reply-To: <a2@example.com>\n"
                                                  f"References: {our_message_id(rt, shared.ticket_id or 0)}"))
    alice_on_bobs = ingest_raw(rt, mail(sender=f"Alice Erased <{ALICE}>", subject="Re: Bob's problem",
                                        body="ALICE-ON-BOBS-8812 same here", message_id="<a3@example.com>",
                                        extra_headers=f"In-Reply-To: {our_message_id(rt, bob_own.ticket_id or 0)}"))
    carol = ingest_raw(rt, mail(sender=f"Carol <{CAROL}>", subject="Carol's", body="CAROL-KEEPS-1187 video playback stutters",
                                message_id="<c1@example.net>"))
    sms = ingest_sms(rt, "ALICE-SMS-4419 my account is locked", ALICE_PHONE)
    ingest_sms(rt, "STOP", ALICE_PHONE)
    send_all(rt)
    with rt.sessions() as session:  # captured, not processed yet
        capture(session, rt.vault, CaptureItem("email", "test:waiting", mail(
            sender=ALICE, body="ALICE-WAITING-3310", message_id="<a4@example.com>")))
        session.commit()
    assert bob_joins.ticket_id == shared.ticket_id and alice_on_bobs.ticket_id == bob_own.ticket_id
    return {"own": own.ticket_id or 0, "shared": shared.ticket_id or 0, "bob": bob_own.ticket_id or 0,
            "carol": carol.ticket_id or 0, "sms": sms.ticket_id or 0}


def everything(rt: Runtime, db_url: str, tmp_path: Path) -> bytes:
    files = b"".join(p.read_bytes() for p in (tmp_path / "outbox").glob("*"))
    return database_bytes(db_url, tmp_path) + files


def holds(blob: bytes, needle: bytes) -> bool:
    """In the bytes as they are, or as pg_dump writes a bytea column (hex)."""
    return needle in blob or needle.hex().encode() in blob


def senders(rt: Runtime, ticket_id: int) -> list[str]:
    with rt.sessions() as session:
        return list(session.scalars(select(Message.sender).where(
            Message.ticket_id == ticket_id, Message.direction == "in").order_by(Message.id)))


def test_erasure_leaves_no_trace_and_others_intact(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path)
    tickets = populate(rt)
    before = everything(rt, db_url, tmp_path)
    assert all(holds(before, s) for s in (b"alice.erased@example.com", b"ALICE-BODY-7731",
                                          b"ALICE-ATTACHED-5521", b"8613800138000"))  # the check below can see them

    # an agent's correction (it keeps the text triage read, sealed) and a status link, on
    # Alice's own ticket and on the shared one: both go with what they describe
    with rt.sessions() as session:
        refs = {name: session.get(Ticket, tickets[name]).ref for name in ("own", "shared", "carol")}  # type: ignore[union-attr]
        for name in refs:
            status_links.mint(session, session.get(Ticket, tickets[name]), 30)  # type: ignore[arg-type]
        session.commit()
    for name, ref in refs.items():
        assert corrections.route(rt, ref, "feedback") is not None

    first = erase_contact(rt, "  ALICE.ERASED@example.com ")
    second = erase_contact(rt, "+86 138-0013-8000")
    assert first.found and second.found
    assert first.counts["tickets"] == 1 and first.counts["tickets_kept_shared"] == 1
    assert first.counts["attachments"] == 1 and first.counts["files"] >= 2
    assert second.counts["tickets"] == 1 and second.counts["contacts"] == 1

    after = everything(rt, db_url, tmp_path)
    assert [s for s in ALICE_STRINGS if holds(after, s)] == []
    assert [s for s in OTHERS if not holds(after, s)] == []
    with rt.sessions() as session:
        remaining = set(session.scalars(select(Ticket.id)))
        assert remaining == {tickets["shared"], tickets["bob"], tickets["carol"]}
        shared = session.get(Ticket, tickets["shared"])
        assert shared is not None and shared.contact.address == BOB  # handed over
        assert session.scalar(select(func.count()).select_from(AttachmentRow)) == 0
        audits = list(session.scalars(select(DataRemoval).order_by(DataRemoval.created_at)))
        assert [a.kind for a in audits] == ["erasure", "erasure"]
        assert session.scalar(select(func.count()).select_from(Inbox).where(Inbox.ticket_id.is_(None))) == 0
        assert set(session.scalars(select(Correction.ticket_id))) == {tickets["carol"]}
        assert set(session.scalars(select(StatusLink.ticket_id))) == {tickets["shared"], tickets["carol"]}
    assert senders(rt, tickets["shared"]) == [BOB]
    with rt.sessions() as session:  # Bob's answer no longer points at Alice's Message-ID
        assert session.scalar(select(Message.in_reply_to).where(Message.ticket_id == tickets["shared"])) is None
    assert senders(rt, tickets["bob"]) == [BOB]
    assert senders(rt, tickets["carol"]) == [CAROL]
    if db_url.startswith("sqlite"):
        assert first.scrubbed is True


def test_audit_entries_hold_no_personal_data(tmp_path: Path) -> None:
    rt = make_runtime(f"sqlite:///{tmp_path}/intake.db", tmp_path)
    ingest_raw(rt, mail(sender=ALICE, body="ALICE-BODY-7731"))
    report = erase_contact(rt, ALICE)
    with rt.sessions() as session:
        [entry] = session.scalars(select(DataRemoval))
    assert entry.id == report.audit_id and len(entry.id) == 32
    text = repr((entry.kind, entry.counts)).lower()
    assert "alice" not in text and "example" not in text
    assert set(entry.counts) >= {"contacts", "messages", "inbox", "outbox", "tickets", "attachments"}


def test_erasing_twice_or_an_unknown_address(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path)
    ingest_raw(rt, mail(sender=ALICE, body="ALICE-BODY-7731"))
    assert erase_contact(rt, ALICE).found
    again = erase_contact(rt, ALICE)
    assert not again.found and all(v == 0 for v in again.counts.values())
    assert not erase_contact(rt, "nobody@nowhere.example").found
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 0
