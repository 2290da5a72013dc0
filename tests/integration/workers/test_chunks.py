"""The chunk tasks' bodies against a real database (SQLite and PostgreSQL), with the
arguments a forged or corrupted broker message could carry."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.capture.inbox import CaptureItem, capture
from intake.runtime import Runtime
from intake.tickets.models import Inbox, Message, Outbox
from tests.flows import mail, make_runtime
from workers import chunks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _capture(rt: Runtime, n: int, private: bool = False, start: int = 0) -> list[int]:
    ids = []
    with rt.sessions() as session:
        for i in range(start, start + n):
            ids.append(capture(session, rt.vault, CaptureItem(
                "email", f"c:{i}", mail(subject=f"Upload fails ({i})", message_id=f"<c{i}@example.com>",
                                        sender=f"User {i} <user{i}@example.com>"), private=private)).inbox_id)
        session.commit()
    return ids


def _messages(rt: Runtime) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) or 0


def test_a_chunk_is_processed_and_its_follow_ups_handed_on(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    ids = _capture(rt, 5)
    send, careful = chunks.process_chunk(rt, ids)
    assert careful.process == () and _messages(rt) == 5
    with rt.sessions() as session:
        queued = set(session.scalars(select(Outbox.id)))
    assert {i for i, _ in send.send} == queued and queued
    assert chunks.send_chunk(rt, [i for i, _ in send.send]).send == ()  # the file backend takes them all
    rt.dispose()


def test_repeated_missing_and_forged_ids_make_one_message_per_mail(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    ids = _capture(rt, 3)
    forged: list[object] = [ids[0], ids[0], ids[1], ids[0], 10**9, -1, 0, "1; DROP TABLE inbox", None, True,
                            2**70, 1.5, ids[2], ids[2]]
    _, careful = chunks.process_chunk(rt, forged)  # type: ignore[arg-type]
    assert careful.process == ()
    assert _messages(rt) == 3
    # Run again (a redelivered chunk): nothing more.
    assert chunks.process_chunk(rt, ids) == (chunks.Work(), chunks.Work())
    assert _messages(rt) == 3
    assert chunks.send_chunk(rt, ["x", -5, 10**9]).send == ()  # type: ignore[list-item]
    rt.dispose()


def test_rows_tried_before_go_to_the_single_row_task_with_their_privacy(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var")
    fresh = _capture(rt, 2)
    tried = _capture(rt, 1, private=True, start=2)[0]
    with rt.sessions() as session:  # an earlier attempt whose worker died
        row = session.get(Inbox, tried)
        assert row is not None
        row.attempts = 1
        session.commit()
    _, careful = chunks.process_chunk(rt, [*fresh, tried])
    assert careful.process == ((tried, True),)
    assert _messages(rt) == 2
    rt.dispose()


def test_a_huge_chunk_is_processed_in_transactions_of_bounded_size(tmp_path: Path) -> None:
    rt = make_runtime(f"sqlite:///{tmp_path}/intake.db", tmp_path / "var")
    ids = _capture(rt, 250)
    _, careful = chunks.process_chunk(rt, ids + ids)
    assert careful.process == () and _messages(rt) == 250
    rt.dispose()
