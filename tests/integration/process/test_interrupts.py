"""A task's soft time limit (an "interrupt") is never taken for one input's failure: the
chunk path and the in-process retries let it through, so the chunk task ends on time and
hands its rows, untouched and claimable at once, to the single-row task. Without this the
fallbacks swallowed the limit and retried in-process until the hard limit killed the task,
and the chunk's rows waited for the sweeper."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from intake import failures
from intake.capture.inbox import CaptureItem, capture
from intake.process import batch, flow
from intake.tickets.models import Inbox
from tests.flows import mail, make_runtime

pytestmark = pytest.mark.integration


class OutOfTime(Exception):
    """Stands for Celery's SoftTimeLimitExceeded (an Exception, raised inside the work)."""


def captured(rt, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    with rt.sessions() as session:
        for n in range(count):
            ids.append(capture(session, rt.vault, CaptureItem("email", f"test:interrupt{n}", mail(
                sender=f"user{n}@example.com", subject=f"upload fails {n}", body=f"case {n}",
                message_id=f"<interrupt{n}@example.com>"))).inbox_id)
        session.commit()
    return ids


@pytest.mark.parametrize("where", ["prepare", "store"])
def test_an_interrupt_leaves_the_chunk_untouched_and_claimable(db_url: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    rt = make_runtime(db_url, tmp_path)
    ids = captured(rt, 5)
    failures.register_interrupt(OutOfTime)
    slow_subject = "upload fails 3"

    if where == "prepare":
        real = flow.prepare_email

        def prepare(raw, meta, rules, caps):  # type: ignore[no-untyped-def]
            if slow_subject.encode() in raw:
                raise OutOfTime()
            return real(raw, meta, rules, caps)
        monkeypatch.setattr(batch.pipeline, "prepare_email", prepare)
    else:
        def store(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise OutOfTime()
        monkeypatch.setattr(batch.pipeline, "store_messages", store)
    with pytest.raises(OutOfTime):
        batch.process_captured(rt, ids, workers=1, send=False)
    with rt.sessions() as session:
        rows = session.execute(select(Inbox.status, Inbox.attempts, Inbox.failure_reason)
                               .where(Inbox.id.in_(ids))).all()
    # nothing failed, nothing counted, nothing left claimed: the single-row task takes each
    assert [(r.status, r.attempts, r.failure_reason) for r in rows] == [("captured", 0, None)] * 5
    monkeypatch.undo()
    outcomes = batch.process_captured(rt, ids, workers=1, send=False)
    assert all(o is not None for o in outcomes.values()) and len(outcomes) == 5


def test_other_exceptions_are_still_one_inputs_failure(db_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rt = make_runtime(db_url, tmp_path)
    ids = captured(rt, 3)
    real = flow.prepare_email

    def prepare(raw, meta, rules, caps):  # type: ignore[no-untyped-def]
        if b"upload fails 1" in raw:
            raise ValueError("a bug")
        return real(raw, meta, rules, caps)
    monkeypatch.setattr(batch.pipeline, "prepare_email", prepare)
    monkeypatch.setattr(flow, "prepare_email", prepare)
    outcomes = batch.process_captured(rt, ids, workers=1, send=False)
    assert outcomes[ids[0]] is not None and outcomes[ids[2]] is not None
    assert outcomes[ids[1]] is None  # failed, with its reason recorded
