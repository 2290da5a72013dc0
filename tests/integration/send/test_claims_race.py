"""Exactly-once claims under real concurrency: two processes (fork, not threads) go for the
same rows at the same moment, on SQLite and on PostgreSQL.

Outbox: each row is sent once, whatever the interleaving of the two claims. Inbox: each
capture becomes one message. A barrier lines the two processes up before every row, so
their claims really do collide.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from intake.capture.inbox import CaptureItem, capture_many
from intake.process import pipeline
from intake.runtime import Runtime
from intake.send.delivery import RetryLater, send_outbox
from intake.tickets.models import Inbox, Message, Outbox
from tests.flows import mail, make_runtime

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROWS = 40
ROUNDS = 3  # each process claims each row this many times
CONTEXT = multiprocessing.get_context("fork")


class CountingSender:
    """Counts every send in a file shared by the processes (one O_APPEND write per send)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: Any, outbox_id: int) -> str:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{outbox_id} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
        return f"counted:{outbox_id}"


def _captures(rt: Runtime, n: int) -> list[int]:
    items = [CaptureItem("email", f"race:{i}", mail(sender=f"User {i} <user{i}@example.com>",
                                                    message_id=f"<race{i}@example.com>"))
             for i in range(n)]
    with rt.sessions() as session:
        ids = [c.inbox_id for c in capture_many(session, rt.vault, items)]
        session.commit()
    return ids


def _child(settings: Any, ids: list[int], barrier: Any, sent_log: Path, what: str) -> None:
    rt = Runtime.from_settings(settings)  # its own engine: no connection crosses the fork
    rt._cache["replies.email_sender"] = CountingSender(sent_log)
    for _ in range(ROUNDS):
        for row_id in ids:
            barrier.wait(timeout=60)
            try:
                if what == "send":
                    send_outbox(rt, row_id)
                else:
                    pipeline.process_inbox(rt, row_id)
            except (RetryLater, pipeline.Busy):
                pass  # the other process has it right now
    rt.dispose()


def _race(rt: Runtime, ids: list[int], sent_log: Path, what: str) -> None:
    rt.engine.dispose()
    barrier = CONTEXT.Barrier(2)
    children = [CONTEXT.Process(target=_child, args=(rt.settings, ids, barrier, sent_log, what))
                for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(180)
    assert [c.exitcode for c in children] == [0, 0]


def test_two_processes_claiming_the_same_outbox_rows_send_each_once(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var", ack_limit_per_hour=100)
    inbox_ids = _captures(rt, ROWS)
    outbox_ids = [i for inbox_id in inbox_ids for i in pipeline.process_inbox(rt, inbox_id).outbox_ids]
    assert len(outbox_ids) == ROWS

    sent_log = tmp_path / "sent.log"
    _race(rt, outbox_ids, sent_log, "send")

    sends = Counter(int(line.split()[0]) for line in sent_log.read_text().splitlines())
    assert sends == Counter({i: 1 for i in outbox_ids}), "a row was sent twice (or not at all)"
    with rt.sessions() as session:
        rows = session.execute(select(Outbox.status, Outbox.attempts).where(Outbox.id.in_(outbox_ids))).all()
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    rt.dispose()


def test_two_workers_processing_the_same_capture_store_one_message(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var", ack_limit_per_hour=100)
    inbox_ids = _captures(rt, ROWS)

    _race(rt, inbox_ids, tmp_path / "sent.log", "process")

    with rt.sessions() as session:
        per_capture = dict(session.execute(
            select(Message.inbox_id, func.count()).where(Message.inbox_id.in_(inbox_ids))
            .group_by(Message.inbox_id)).all())
        rows = session.execute(select(Inbox.status, Inbox.attempts, Inbox.claimed_at)
                               .where(Inbox.id.in_(inbox_ids))).all()
        acks = session.scalar(select(func.count()).select_from(Outbox))
    assert per_capture == {i: 1 for i in inbox_ids}, "a capture was stored twice (or not at all)"
    assert {(r.status, r.claimed_at) for r in rows} == {("done", None)}
    assert {r.attempts for r in rows} == {1}  # the loser's claim never counted an attempt
    assert acks == ROWS
    rt.dispose()
