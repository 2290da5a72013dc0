"""Nothing private in clear at rest: after private cases by e-mail, SMS and voicemail, an agent's reply
carrying a card number, and a status notice, neither the raw bytes of the SQLite file (and
its WAL) nor a pg_dump of the PostgreSQL schema contain any of the sensitive strings."""

from __future__ import annotations

import email
import email.policy
import secrets
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from intake.capture.inbox import capture
from intake.capture.twilio import make_item
from intake.outbox import agents
from intake.process import pipeline
from intake.send.delivery import send_outbox
from intake.tickets.models import Outbox, Ticket
from tests.flows import ingest_raw, mail
from tests.integration.outbox.test_followups_support import email_runtime, ingest_sms, rows
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration

CARD = "4111111111111111"  # a Luhn-valid test card number
# What the people wrote (the contacts' own addresses and names stay readable: they are how a
# reply reaches them and how a ticket is found).
SECRETS = ["hunter2horse", CARD, "4111 1111 1111 1111", "13905719876", "提现三千二百六十元",
           "/Recordings/RE"]  # and the link to a private voicemail's recording


def database_bytes(db_url: str, tmp_path: Path) -> bytes:
    if db_url.startswith("sqlite"):
        path = Path(db_url.split("///", 1)[1])
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    parts = urlsplit(db_url.replace("+psycopg", ""))
    schema = parse_qs(parts.query)["options"][0].split("=", 1)[1]
    dump = subprocess.run(["pg_dump", "-h", parts.hostname or "", "-p", str(parts.port), "-U", parts.username or "",
                           "-n", schema, parts.path.lstrip("/")], capture_output=True, check=True, timeout=120)
    return dump.stdout


def ingest_voicemail(rt, transcript: str) -> pipeline.Outcome:  # type: ignore[no-untyped-def]
    """A voicemail's transcription callback (its audio cannot be fetched here: the message is
    kept, its text is the transcript)."""
    recording = "RE" + secrets.token_hex(16)
    params = {"AccountSid": "AC" + "0" * 32, "CallSid": "CA" + secrets.token_hex(16), "RecordingSid": recording,
              "TranscriptionSid": "TR" + secrets.token_hex(16), "TranscriptionStatus": "completed",
              "TranscriptionText": transcript, "From": "+15555550123", "To": "+15555550100",
              "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{recording}"}
    with rt.sessions() as session:
        captured = capture(session, rt.vault, make_item("transcription", params, "https://x/transcription"))
        session.commit()
    return pipeline.process_inbox(rt, captured.inbox_id)


def test_no_sensitive_string_in_the_raw_database(db_url: str, tmp_path: Path, smtp_server: SmtpServer) -> None:
    rt = email_runtime(db_url, tmp_path, smtp_server)
    account = ingest_raw(rt, mail(sender="Zhangwei Account <zw@example.com>",
                                  subject="my password hunter2horse locked out",
                                  body="I cannot log in. My password is hunter2horse and my phone 13905719876."))
    finance = ingest_raw(rt, mail(sender="li@example.com", subject="提现三千二百六十元没到账",
                                  message_id="<f1@example.com>",
                                  body=f"提现三千二百六十元没到账，银行卡 {CARD}。"))
    sms = ingest_sms(rt, f"password reset please, my card {CARD} was charged", sender="+8613905711234")
    voicemail = ingest_voicemail(rt, f"Hi, my password is hunter2horse, card {CARD}, please call back.")
    assert all(o.private for o in (account, finance, sms, voicemail))
    reply = agents.reply(rt, account.ticket_ref or "", f"We refunded card 4111 1111 1111 1111 ({CARD}).")
    notice = agents.set_status(rt, finance.ticket_ref or "", "resolved", notify=True)
    assert reply and notice
    for outcome in (account, finance):
        for outbox_id in outcome.outbox_ids:
            send_outbox(rt, outbox_id)
    send_outbox(rt, reply[0])
    with rt.sessions() as session:
        subjects = [t.subject for t in session.query(Ticket)]
        assert all(s.startswith("Private ") for s in subjects)  # category and ref, never their words
        assert session.query(Outbox).count() >= 4
    if db_url.startswith("sqlite"):
        with rt.engine.connect() as connection:  # everything into the main file, too
            connection.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
    raw = database_bytes(db_url, tmp_path)
    assert raw  # the scan saw the database
    found = [s for s in SECRETS if s.encode("utf-8") in raw]
    assert found == []
    # ...and the follow-ups still went out readable (sealed at rest, opened to send).
    texts = [email.message_from_bytes(m.raw, policy=email.policy.default).get_body(("plain",)).get_content()
             for m in smtp_server.received()]
    assert len(rows(rt, kind="reply")) == 1 and any("We refunded card" in t for t in texts)
