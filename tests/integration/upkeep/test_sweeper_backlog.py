"""The sweeper sweeps only the stale: a backlog of 5,000 captures older than the stale window,
swept again and again, has each row re-enqueued at most once per window; rows merely
waiting in the queue (enqueued recently) or claimed by a worker are left alone; private
mailboxes' captures go to the private queue.

No broker: the sweeper returns `Work`, which is what a task would enqueue.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select, update

from intake.capture.inbox import CaptureItem, capture_many
from intake.process import claims
from intake.tickets.models import Inbox, utcnow
from intake.upkeep.sweeper import sweep
from tests.flows import mail, make_runtime

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BACKLOG = 5000
STALE = 300.0


def test_a_backlog_is_enqueued_at_most_once_per_window(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path / "var", stale_after=STALE)
    start = utcnow()
    backlog: list[int] = []
    with rt.sessions() as session:
        for first in range(0, BACKLOG, 1000):
            backlog += [c.inbox_id for c in capture_many(session, rt.vault, [
                CaptureItem("email", f"backlog:{i}", mail(message_id=f"<b{i}@example.com>"),
                            mailbox="finance" if i % 7 == 0 else "support", private=i % 7 == 0)
                for i in range(first, first + 1000)])]
        # all of them enqueued long ago, and never taken (the broker lost them)
        session.execute(update(Inbox).values(enqueued_at=start - dt.timedelta(seconds=2 * STALE)))
        session.commit()
        fresh = capture_many(session, rt.vault, [CaptureItem("email", "fresh", mail(message_id="<f@x>"))])[0]
        session.commit()  # captured (and enqueued) just now: merely queued, not stale
    with rt.sessions() as session:
        private = set(session.scalars(select(Inbox.id).where(Inbox.private)))
    assert len(private) == len(range(0, BACKLOG, 7))

    enqueued: dict[int, list[dt.datetime]] = defaultdict(list)

    def sweep_at(seconds: float) -> int:
        now = start + dt.timedelta(seconds=seconds)
        summary, work = sweep(rt, now)
        assert work.send == ()
        for inbox_id, is_private in work.process:
            assert is_private == (inbox_id in private), "a private capture would go to the general queue"
            enqueued[inbox_id].append(now)
        assert summary["inbox"] == len(work.process)
        return len(work.process)

    # Three sweeps inside one window: 1,000 each, never the same row twice.
    assert [sweep_at(s) for s in (0, 60, 120)] == [1000, 1000, 1000]
    assert all(len(times) == 1 for times in enqueued.values()) and len(enqueued) == 3000

    # A worker claims one of the rest: a claimed row is touched, not stale.
    taken = max(i for i in backlog if i not in enqueued)
    claimed = claims.claim(rt, taken, now=start + dt.timedelta(seconds=150))
    assert isinstance(claimed, claims.Claim)

    # Later sweeps: the remaining 2,000 (minus the claimed one), then rows again only once
    # their window has passed.
    for s in (180, 240, 290):
        sweep_at(s)
    assert fresh.inbox_id not in enqueued
    for s in (STALE + 10, STALE + 70, STALE + 130, 2 * STALE + 20):
        sweep_at(s)
    for inbox_id, times in enqueued.items():
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        assert all(gap >= STALE for gap in gaps), f"inbox {inbox_id} re-enqueued within a window"
    assert taken not in enqueued or min(enqueued[taken]) >= start + dt.timedelta(seconds=150 + STALE)
    assert set(backlog) - {taken} <= set(enqueued), "a stale row was never re-enqueued"
    rt.dispose()
