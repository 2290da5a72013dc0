"""Batched sending for one-shot runs: every acknowledgement once, however often it runs,
and failures fall back to the careful one-row path."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from intake.process.batch import process_captured
from intake.send.batch import send_batch
from intake.tickets.models import Outbox
from intake.capture.inbox import CaptureItem, capture_many
from tests.flows import mail, make_runtime

pytestmark = pytest.mark.integration


def capture(rt, raws: list[bytes]) -> list[int]:  # type: ignore[no-untyped-def]
    with rt.sessions() as session:
        ids = [c.inbox_id for c in capture_many(
            session, rt.vault, [CaptureItem("email", f"k{i}", raw) for i, raw in enumerate(raws)])]
        session.commit()
    return ids


def test_one_shot_run_acknowledges_each_new_ticket_once(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    raws = [mail(subject=f"Video upload fails {i}", sender=f"user{i}@example.com",
                 message_id=f"<b{i}@example.com>") for i in range(12)]
    outcomes = process_captured(rt, capture(rt, raws), workers=1, chunk=5, send=True)
    assert all(o is not None and o.outcome == "new_ticket" for o in outcomes.values())
    files = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    assert len(files) == 12
    with rt.sessions() as session:
        rows = session.scalars(select(Outbox)).all()
        assert {r.status for r in rows} == {"sent"} and all(r.attempts == 1 for r in rows)
        ids = [r.id for r in rows]
    # A second run over the same rows (a retried command, a sweeper) sends nothing again.
    assert set(send_batch(rt, ids).values()) == {"sent"}
    assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == 12
    rt.dispose()


def test_a_failing_row_takes_the_careful_path(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    outcomes = process_captured(rt, capture(rt, [mail(sender="ok@example.com", message_id="<ok@x>"),
                                                 mail(sender="bad@example.com", message_id="<bad@x>",
                                                      subject="other")]),
                                workers=1, send=False)
    ids = [i for o in outcomes.values() if o for i in o.outbox_ids]
    with rt.sessions() as session:  # a recipient the sender refuses (a broken address)
        row = session.scalar(select(Outbox).where(Outbox.to_address == "bad@example.com"))
        row.to_address = "bad address@@example.com"
        session.commit()
        bad_id = row.id
    statuses = send_batch(rt, ids)
    assert statuses[bad_id] == "failed"
    assert [s for i, s in statuses.items() if i != bad_id] == ["sent"]
    with rt.sessions() as session:
        row = session.get(Outbox, bad_id)
        assert row.error_code == "bad_address" and row.attempts == 1
    rt.dispose()


def test_a_crash_before_the_batch_records_its_file_sends_writes_nothing_twice(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file backend's sends are recorded together after the batch; a crash before that
    leaves the rows `sending`, and the careful path takes them after the lease."""
    import datetime as dt

    from intake.send import batch as send_batch_module
    from intake.send import delivery
    from intake.tickets.models import utcnow

    rt = make_runtime(db_url, tmp_path / "var")
    raws = [mail(subject=f"Upload fails {i}", sender=f"u{i}@example.com", message_id=f"<k{i}@x>") for i in range(3)]
    outcomes = process_captured(rt, capture(rt, raws), workers=1, send=False)
    ids = [i for o in outcomes.values() if o for i in o.outbox_ids]

    def crash(*args: object) -> str:
        raise RuntimeError("killed before the record")

    monkeypatch.setattr(send_batch_module, "record_sent_many", crash)
    with pytest.raises(RuntimeError):
        send_batch(rt, ids)
    monkeypatch.undo()
    outbox = tmp_path / "var" / "outbox"
    written = {p.name: p.read_bytes() for p in outbox.glob("*.eml")}
    assert len(written) == 3
    with rt.sessions() as session:
        assert set(session.scalars(select(Outbox.status).where(Outbox.id.in_(ids)))) == {"sending"}
    later = utcnow() + dt.timedelta(seconds=delivery.lease_seconds(rt.settings) + 5)
    monkeypatch.setattr(delivery, "utcnow", lambda: later)
    assert [delivery.send_now(rt, i) for i in ids] == ["sent"] * 3
    assert {p.name: p.read_bytes() for p in outbox.glob("*.eml")} == written  # nothing written twice
    rt.dispose()


@pytest.mark.timeout(120)
def test_a_batch_over_smtp_records_each_send_as_it_goes(db_url: str, tmp_path: Path, smtp_server) -> None:  # type: ignore[no-untyped-def]
    """SMTP cannot take a row twice as once: each send is recorded the moment it leaves,
    and what reaches the server is the row's mail (directly built, read back here)."""
    import email
    import email.policy

    rt = make_runtime(db_url, tmp_path / "var", email_backend="smtp", smtp_host=smtp_server.host,
                      smtp_port=smtp_server.port, smtp_security="none", smtp_timeout=10.0)
    raws = [mail(subject=f"提现没到账 {i}", sender=f"用户 {i} <u{i}@example.com>", message_id=f"<s{i}@x>")
            for i in range(3)]
    outcomes = process_captured(rt, capture(rt, raws), workers=1, send=False)
    ids = [i for o in outcomes.values() if o for i in o.outbox_ids]
    assert set(send_batch(rt, ids).values()) == {"sent"}
    received = smtp_server.wait_for(3)
    with rt.sessions() as session:
        rows = {r.header_message_id: r for r in session.scalars(select(Outbox).where(Outbox.id.in_(ids)))}
        for message in received:
            parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
            row = rows[str(parsed["Message-ID"]).strip("<>")]
            assert str(parsed["Subject"]) == row.subject and message.rcpt_tos == (row.to_address,)
            assert parsed["In-Reply-To"] is not None and not parsed.defects
            assert row.status == "sent" and row.provider_id and row.sent_at is not None
    assert set(send_batch(rt, ids).values()) == {"sent"} and len(smtp_server.received()) == 3
    rt.dispose()


def test_a_file_the_disk_refuses_is_retried_alone_and_the_rest_are_sent(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file backend writes a batch's files together; one whose fsync fails (a full or
    failing disk) is neither named in the outbox folder nor recorded as sent: it waits for
    its retry, and the rest of the batch is sent once."""
    import os

    rt = make_runtime(db_url, tmp_path / "var")
    raws = [mail(subject=f"Video upload fails {i}", sender=f"user{i}@example.com",
                 message_id=f"<f{i}@example.com>") for i in range(6)]
    outcomes = process_captured(rt, capture(rt, raws), workers=1, send=False)
    ids = sorted(i for o in outcomes.values() if o for i in o.outbox_ids)
    real_fsync, victim = os.fsync, f".outbox-{ids[2]}.eml."

    def failing_fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1].startswith(victim):
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    statuses = send_batch(rt, ids)
    outbox = tmp_path / "var" / "outbox"
    assert statuses[ids[2]] in ("queued", "failed") and statuses[ids[2]] != "sent"
    assert all(statuses[i] == "sent" for i in ids if i != ids[2])
    assert sorted(p.name for p in outbox.iterdir()) == sorted(f"outbox-{i}.eml" for i in ids if i != ids[2])
    monkeypatch.setattr(os, "fsync", real_fsync)
    with rt.sessions() as session:  # its retry, once due, writes it once
        row = session.get(Outbox, ids[2])
        assert row is not None and row.status == "queued" and row.last_error and "OSError" in row.last_error
        row.next_attempt_at = None
        session.commit()
    from intake.send.delivery import send_outbox

    assert send_outbox(rt, ids[2]) == "sent"
    assert len(list(outbox.glob("*.eml"))) == 6
    rt.dispose()
