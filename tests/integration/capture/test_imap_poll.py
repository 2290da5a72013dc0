"""IMAP capture against a real Dovecot: watermark, flags and moves, dedupe, leases, limits."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from intake.process import pipeline
from intake.capture import imap
from intake.mailboxes import get_mailbox
from intake.tickets.models import Inbox, MailboxState, Message, Ticket
from tests.flows import INTAKE_BIN, mail, make_runtime, subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def runtime_for(box: Any, tmp_path: Path, db_url: str | None = None, security: str = "starttls",
                **overrides: Any):  # type: ignore[no-untyped-def]
    env = box.imap_settings(security)
    settings = {
        "imap_host": env["INTAKE_IMAP_HOST"], "imap_port": int(env["INTAKE_IMAP_PORT"]),
        "imap_user": env["INTAKE_IMAP_USER"], "imap_password": env["INTAKE_IMAP_PASSWORD"],
        "imap_security": security, "imap_tls_verify": False, "imap_start": "all",
        "imap_timeout": 10.0,
    }
    settings.update(overrides)
    return make_runtime(db_url or f"sqlite:///{tmp_path}/intake.db", tmp_path / "var", **settings)


def poll_and_process(rt) -> tuple[imap.PollResult, list[pipeline.Outcome]]:  # type: ignore[no-untyped-def]
    result = imap.poll(rt, get_mailbox(rt.settings, "default"))
    return result, [pipeline.process_inbox(rt, i) for i in result.captured]


def count(rt, model) -> int:  # type: ignore[no-untyped-def]
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def seen_flags(box: Any, folder: str) -> list[tuple[bytes, ...]]:
    client = box.connect("none")
    try:
        client.select_folder(folder, readonly=True)
        return [data[b"FLAGS"] for data in client.fetch("1:*", ["FLAGS"]).values()]
    finally:
        client.logout()


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_poll_captures_then_flags_and_moves(mailbox, tmp_path: Path, security: str) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        mailbox.append(mail(subject=f"Upload fails {i}", message_id=f"<p{i}@example.com>"))
    rt = runtime_for(mailbox, tmp_path, security=security)
    result, outcomes = poll_and_process(rt)
    assert len(result.captured) == 3
    assert [o.outcome for o in outcomes] == [pipeline.NEW_TICKET] * 3
    assert mailbox.count("INBOX") == 0
    assert mailbox.count("Processed") == 3
    assert all(b"\\Seen" in flags for flags in seen_flags(mailbox, "Processed"))
    again, _ = poll_and_process(rt)
    assert again.captured == [] and count(rt, Inbox) == 3


def test_mail_already_read_by_a_person_is_still_captured(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mailbox.append(mail(), flags=[b"\\Seen"])
    rt = runtime_for(mailbox, tmp_path)
    result, outcomes = poll_and_process(rt)
    assert len(result.captured) == 1 and outcomes[0].outcome == pipeline.NEW_TICKET


def test_start_now_ignores_old_mail_then_takes_new(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        mailbox.append(mail(message_id=f"<old{i}@example.com>", body=f"old {i}"))
    rt = runtime_for(mailbox, tmp_path, imap_start="now")
    result, _ = poll_and_process(rt)
    assert result.captured == [] and mailbox.count("INBOX") == 5
    mailbox.append(mail(message_id="<new@example.com>", body="new one"))
    result, outcomes = poll_and_process(rt)
    assert len(result.captured) == 1
    assert mailbox.count("INBOX") == 5  # the old ones are left alone


def test_start_since_backfills_from_a_date(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = mailbox.connect("none")
    try:
        for day, tag in ((dt.datetime(2026, 1, 5, 12), "january"), (dt.datetime(2026, 3, 5, 12), "march"),
                         (dt.datetime(2026, 4, 5, 12), "april")):
            client.append("INBOX", mail(message_id=f"<{tag}@example.com>", body=tag), msg_time=day)
    finally:
        client.logout()
    rt = runtime_for(mailbox, tmp_path, imap_start="since:2026-03-01")
    result, _ = poll_and_process(rt)
    assert len(result.captured) == 2
    assert mailbox.count("INBOX") == 1


def test_same_message_appended_twice_is_one_message(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    raw = mail()
    mailbox.append(raw)
    mailbox.append(raw)
    rt = runtime_for(mailbox, tmp_path)
    result, _ = poll_and_process(rt)
    assert len(result.captured) == 1 and result.duplicates == 1
    assert count(rt, Message) == 1
    assert mailbox.count("INBOX") == 0  # both copies are taken out of the inbox


def test_uidvalidity_reset_rescans_without_duplicates(mailbox, tmp_path: Path, db_url: str) -> None:  # type: ignore[no-untyped-def]
    mailbox.load(20, seed=7)
    rt = runtime_for(mailbox, tmp_path, db_url, imap_processed_folder="")  # leave mail in place
    result, outcomes = poll_and_process(rt)
    assert len(result.captured) == 20
    messages = count(rt, Message)
    old, new = mailbox.reset_uidvalidity()
    assert old != new
    again, _ = poll_and_process(rt)
    assert again.uidvalidity_changed
    assert again.captured == [] and again.duplicates == 20
    assert count(rt, Message) == messages
    mailbox.append(mail(message_id="<after-reset@example.com>"))
    third, _ = poll_and_process(rt)
    assert len(third.captured) == 1


def test_oversize_mail_keeps_headers_and_is_quarantined(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mailbox.append(mail(subject="Huge video attached", body="x" * 20000, message_id="<big@example.com>"))
    mailbox.append(mail(subject="Small one", message_id="<small@example.com>"))
    rt = runtime_for(mailbox, tmp_path, max_message_bytes=5000)
    result, outcomes = poll_and_process(rt)
    assert result.oversize == 1 and len(outcomes) == 2
    assert sorted(o.parse_error for o in outcomes) == [False, True]
    assert mailbox.count("Quarantine") == 1 and mailbox.count("Processed") == 1
    with rt.sessions() as session:
        big = session.scalar(select(Ticket).where(Ticket.parse_error.is_(True)))
        assert big is not None and big.subject == "Huge video attached"


def test_one_poller_per_mailbox(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mailbox.append(mail())
    rt = runtime_for(mailbox, tmp_path)
    with rt.sessions() as session:
        assert imap.acquire_lease(session, "default", "INBOX", 60, owner="other-worker")
    with pytest.raises(imap.MailboxBusy):
        imap.poll(rt, get_mailbox(rt.settings, "default"))
    with rt.sessions() as session:  # the other holder died: its lease runs out
        state = session.get(MailboxState, "default")
        state.lease_until = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        session.commit()
    result, _ = poll_and_process(rt)
    assert len(result.captured) == 1


def test_mail_left_behind_by_a_dead_poller_is_moved_not_recaptured(mailbox, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for i in range(4):
        mailbox.append(mail(message_id=f"<d{i}@example.com>", body=f"body {i}"))
    rt = runtime_for(mailbox, tmp_path)

    # No real server can be made to kill our poller exactly between the commit and the
    # MOVE, so the fault is injected at that seam; Dovecot and the database stay real.
    def die(*args: Any) -> None:
        raise ConnectionResetError("poller killed between commit and MOVE")

    monkeypatch.setattr(imap, "_move", die)
    with pytest.raises(ConnectionResetError):
        imap.poll(rt, get_mailbox(rt.settings, "default"))
    assert count(rt, Inbox) == 4 and mailbox.count("INBOX") == 4
    monkeypatch.undo()
    result, _ = poll_and_process(rt)
    assert result.captured == [] and result.duplicates == 0
    assert mailbox.count("INBOX") == 0 and mailbox.count("Processed") == 4
    assert count(rt, Inbox) == 4


def test_a_hung_server_is_dropped_and_the_lease_released(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    try:
        rt = make_runtime(f"sqlite:///{tmp_path}/intake.db", tmp_path / "var", imap_host="127.0.0.1",
                          imap_port=port, imap_user="u", imap_password="p", imap_security="none",
                          imap_timeout=1.0)
        started = time.monotonic()
        with pytest.raises((socket.timeout, TimeoutError, OSError)):
            imap.poll(rt, get_mailbox(rt.settings, "default"))
        assert time.monotonic() - started < 10
        with rt.sessions() as session:
            state = session.get(MailboxState, "default")
            assert state.lease_owner is None and state.last_error
    finally:
        for conn in accepted:
            conn.close()
        listener.close()


def test_poll_once_command_prints_a_summary(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mailbox.load(5, seed=3)
    env = subprocess_env(f"sqlite:///{tmp_path}/intake.db", tmp_path / "var", INTAKE_IMAP_START="all",
                         **mailbox.imap_settings("starttls"))
    done = subprocess.run([INTAKE_BIN, "poll", "--once"], env=env, capture_output=True, text=True,
                          timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["mailbox"] == "default" and summary["captured"] == 5 and summary["failed"] == 0
    assert sum(summary["outcomes"].values()) == 5
    listing = subprocess.run([INTAKE_BIN, "tickets", "list", "--json"], env=env, capture_output=True,
                             text=True, timeout=60, check=True)
    rows = [json.loads(line) for line in listing.stdout.splitlines()]
    assert sum(r["message_count"] for r in rows) == 5
    assert set(rows[0]) >= {"ref", "status", "channel", "category", "department", "priority", "private",
                            "contact", "subject", "message_count", "created_at"}


def test_reconcile_reports_uncaptured_mail(mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mailbox.append(mail(message_id="<r1@example.com>"))
    rt = runtime_for(mailbox, tmp_path)
    poll_and_process(rt)
    mailbox.append(mail(message_id="<r2@example.com>", body="arrived later"))
    from intake.capture.reconcile import reconcile

    report = reconcile(rt)
    [box] = report["mailboxes"]
    assert box["messages"] == 1 and len(box["not_yet_polled"]) == 1
    assert report["captures_without_ticket"] == []


def test_a_poller_whose_lease_ran_out_moves_nothing(mailbox, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Measured in the chaos run: a poller whose lease lapsed on a loaded machine kept moving
    mail another poller was moving too, and COPY-based moves left second copies in
    Processed. Now it renews before every move and stops when the lease is gone; the
    holder moves what it captured."""
    for i in range(6):
        mailbox.append(mail(subject=f"Upload fails {i}", message_id=f"<l{i}@example.com>"))
    rt = runtime_for(mailbox, tmp_path, imap_batch_size=2)
    real = imap.acquire_lease
    calls = []

    def lapses_after_the_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real(*args, **kwargs) if len(calls) == 1 else False

    monkeypatch.setattr(imap, "acquire_lease", lapses_after_the_first)
    first = imap.poll(rt, get_mailbox(rt.settings, "default"))
    assert first.lease_lost and len(first.captured) == 2
    assert mailbox.count("INBOX") == 6 and mailbox.count("Processed") == 0
    monkeypatch.setattr(imap, "acquire_lease", real)
    with rt.sessions() as session:  # the other poller's lease has run out in turn
        session.execute(imap.update(MailboxState).values(lease_owner=None))
        session.commit()
    second = imap.poll(rt, get_mailbox(rt.settings, "default"))
    assert len(second.captured) == 4 and count(rt, Inbox) == 6
    assert mailbox.count("INBOX") == 0 and mailbox.count("Processed") == 6
