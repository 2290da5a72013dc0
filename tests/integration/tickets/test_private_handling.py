"""Private cases: encrypted at rest, redacted in every view and log, keys rotate."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select, text

from intake.crypto import Vault, generate_key
from intake.runtime import Runtime
from intake.settings import load_settings
from intake.tickets.models import AttachmentRow, Inbox, Message, Ticket
from tests.flows import INTAKE_BIN, ingest_raw, mail, make_runtime, subprocess_env

pytestmark = pytest.mark.integration

CARD = "6222 0212 3456 7894"  # passes Luhn
SECRET_WORDS = ["6222 0212", "3456 7894", "48,500", "hunter2", "Shenzhen"]
FINANCE_MAIL = mail(
    subject="Withdrawal of 48,500 CNY not received",
    body=(f"My creator earnings withdrawal of 48,500 CNY to card {CARD} never arrived.\n"
          "My password is hunter2 if you need to check. I live in Shenzhen.\n"),
    message_id="<finance-1@example.com>")


@pytest.fixture
def rt(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    runtime = make_runtime(db_url, tmp_path / "var", encryption_key=generate_key())
    yield runtime
    runtime.dispose()


def dump_rows(rt: Runtime) -> bytes:
    """Every column of every row of the tables that hold message content, as bytes."""
    out = b""
    with rt.engine.connect() as conn:
        for table in ("tickets", "messages", "attachments", "inbox", "outbox", "contacts"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                for value in row:
                    out += value if isinstance(value, bytes) else str(value).encode()
    return out


def test_private_case_is_not_readable_in_the_database(rt) -> None:  # type: ignore[no-untyped-def]
    outcome = ingest_raw(rt, FINANCE_MAIL)
    assert outcome.private
    stored = dump_rows(rt)
    # Whole fragments: a bare "6222" can turn up in a timestamp's microseconds.
    for word in ("6222 0212", "3456 7894", "hunter2", "48,500", "never arrived"):
        assert word.encode() not in stored, word
    with rt.sessions() as session:
        ticket = session.scalar(select(Ticket))
        message = session.scalar(select(Message))
        assert ticket.private and "category:payment" in ticket.private_reasons
        assert message.text is None and message.text_secret is not None
        assert ticket.department == "finance_support"


def test_a_private_message_seals_the_earlier_public_ones(rt) -> None:  # type: ignore[no-untyped-def]
    first = ingest_raw(rt, mail(subject="Suggestion: dark mode", body="Please add a dark mode to the editor",
                                message_id="<s1@example.com>"))
    assert not first.private
    ingest_raw(rt, mail(subject=f"Re: [{first.ticket_ref}]", body=f"Also my card {CARD} was charged twice",
                        message_id="<s2@example.com>"))
    stored = dump_rows(rt)
    assert b"dark mode to the editor" not in stored and b"6222 0212" not in stored


def test_attachments_of_private_messages_are_encrypted(rt) -> None:  # type: ignore[no-untyped-def]
    raw = (b"Message-ID: <att@example.com>\r\nFrom: a@example.com\r\nTo: support@example.test\r\n"
           b"Subject: refund for double charge\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n"
           b"I was charged twice, please refund.\r\n--XX\r\nContent-Type: text/plain; name=statement.txt\r\n"
           b"Content-Disposition: attachment; filename=statement.txt\r\n\r\nSTATEMENT-LINE-123456\r\n--XX--\r\n")
    assert ingest_raw(rt, raw).private
    with rt.sessions() as session:
        attachment = session.scalar(select(AttachmentRow))
        assert attachment.encrypted and b"STATEMENT-LINE" not in attachment.content
        assert b"STATEMENT-LINE" in rt.vault.decrypt(attachment.content)


def test_key_rotation_keeps_everything_readable(db_url: str, tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    rt = make_runtime(db_url, tmp_path / "var", encryption_key=old)
    ingest_raw(rt, FINANCE_MAIL)
    rotated = Runtime.from_settings(load_settings(database_url=db_url, data_dir=tmp_path / "var",
                                                  encryption_key=f"{new},{old}"))
    from intake.upkeep.keys import rotate_keys

    counts = rotate_keys(rotated)
    assert counts["inbox.raw"] == 1 and counts["messages.text_secret"] == 1
    only_new = Vault([new])
    with rotated.sessions() as session:
        message = session.scalar(select(Message))
        assert "hunter2" in only_new.decrypt_text(message.text_secret)
        assert only_new.decrypt(session.scalar(select(Inbox.raw))) == FINANCE_MAIL
    rt.dispose()
    rotated.dispose()


def test_logs_of_a_private_case_carry_none_of_its_text(rt, caplog) -> None:  # type: ignore[no-untyped-def]
    from intake.logs import RedactingFilter

    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.DEBUG):
        outcome = ingest_raw(rt, FINANCE_MAIL)
        from intake.process import pipeline

        pipeline.process_inbox(rt, 1)  # a re-delivered task logs too
    assert outcome.private
    assert caplog.records, "the pipeline logs what it did"
    for word in SECRET_WORDS + ["Withdrawal", "alice@example.com"]:
        assert word not in caplog.text, word
    assert outcome.ticket_ref in caplog.text  # ids are logged


def test_cli_views_redact_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "finance.eml"
    path.write_bytes(FINANCE_MAIL)
    env = subprocess_env(f"sqlite:///{tmp_path}/intake.db", tmp_path / "var")
    done = subprocess.run([INTAKE_BIN, "ingest", str(path)], env=env, capture_output=True, text=True, check=True)
    ref = json.loads(done.stdout)["ticket"]
    assert "hunter2" not in done.stderr and "6222 0212" not in done.stderr
    listing = subprocess.run([INTAKE_BIN, "tickets", "list", "--json"], env=env, capture_output=True,
                             text=True, check=True).stdout
    shown = subprocess.run([INTAKE_BIN, "tickets", "show", ref, "--json"], env=env, capture_output=True,
                           text=True, check=True).stdout
    for output in (listing, shown):
        for word in ("6222 0212", "hunter2"):
            assert word not in output
    assert json.loads(listing)["private"] is True
    revealed = subprocess.run([INTAKE_BIN, "tickets", "show", ref, "--json", "--show-private"], env=env,
                              capture_output=True, text=True, check=True).stdout
    assert "hunter2" in revealed and "48,500" in revealed


def test_cli_private_reads_are_audited(tmp_path: Path) -> None:
    """`--show-private` on the command line leaves a record, as a token's read does: which
    ticket, when, by which operating-system user, never the content; a redacted view none."""
    import getpass

    from intake.tickets.records import PrivateRead

    path = tmp_path / "finance.eml"
    path.write_bytes(FINANCE_MAIL)
    url = f"sqlite:///{tmp_path}/intake.db"
    env = subprocess_env(url, tmp_path / "var")
    ref = json.loads(subprocess.run([INTAKE_BIN, "ingest", str(path)], env=env, capture_output=True, text=True,
                                    check=True).stdout)["ticket"]
    public = tmp_path / "public.eml"
    public.write_bytes(mail(subject="Dark mode please", body="Please add a dark mode", sender="bo@example.com",
                            message_id="<dm@example.com>"))
    subprocess.run([INTAKE_BIN, "ingest", str(public)], env=env, capture_output=True, text=True, check=True)
    for argv in (["tickets", "show", ref, "--json"], ["tickets", "list", "--json"]):
        subprocess.run([INTAKE_BIN, *argv], env=env, capture_output=True, text=True, check=True)
    rt = make_runtime(url, tmp_path / "var")
    with rt.sessions() as session:
        assert session.scalars(select(PrivateRead)).all() == []  # redacted views are no reads
    for argv in (["tickets", "show", ref, "--json", "--show-private"], ["tickets", "list", "--json", "--show-private"]):
        subprocess.run([INTAKE_BIN, *argv], env=env, capture_output=True, text=True, check=True)
    with rt.sessions() as session:
        reads = session.scalars(select(PrivateRead).order_by(PrivateRead.id)).all()
        assert [(r.ticket_ref, r.via, r.token_id, r.actor) for r in reads] == [
            (ref, "cli", None, f"cli:{getpass.getuser()}")] * 2  # the public ticket listed is no private read
