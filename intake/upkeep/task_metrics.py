"""Task durations for /metrics, measured in worker processes and kept in the database.

Why the database: the web process that serves /metrics is not the worker process that ran
the task, and in a deployment not even on the same machine (docker-compose runs web and
worker in separate containers). prometheus_client's multiprocess mode needs one shared
directory for every process, which two containers do not have; Redis is not there on the
embedded default. The database is the one store every process of a deployment shares, and
the numbers are small: one row per task name and bucket, added to in one upsert.

Each worker process adds up its samples in memory and writes them at most every
INTAKE_TASK_METRICS_FLUSH_SECONDS (and when it stops), so a busy worker costs one short
write every few seconds, not one per task. Samples of a process killed before its flush
are lost; for a histogram that is a gap, not a wrong number.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.db import insert_for
from intake.runtime import Runtime
from intake.tickets.records import TaskDuration

log = logging.getLogger("intake.task_metrics")

# Upper bounds (seconds): from a quick send to a poll near its time limit.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
INF = "+Inf"
MAX_TASK_NAME = 64


def bucket_of(seconds: float) -> str:
    for bound in BUCKETS:
        if seconds <= bound:
            return repr(bound)
    return INF


@dataclass(frozen=True)
class Bucket:
    task: str
    le: str
    count: int
    seconds: float


class TaskTimes:
    """The samples of one process not yet written."""

    def __init__(self, flush_seconds: float) -> None:
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], list[float]] = {}
        self._last_flush = time.monotonic()

    def observe(self, task: str, seconds: float) -> bool:
        """Add one task run; True when it is time to flush."""
        if not math.isfinite(seconds) or seconds < 0:
            return False
        key = (task[:MAX_TASK_NAME], bucket_of(seconds))
        with self._lock:
            entry = self._pending.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] += seconds
            return time.monotonic() - self._last_flush >= self.flush_seconds

    @property
    def pending(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def flush(self, rt: Runtime) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._last_flush = time.monotonic()
        if not pending:
            return
        try:
            with rt.sessions() as session:
                add(session, [Bucket(task, le, int(n), s) for (task, le), (n, s) in pending.items()])
                session.commit()
        except Exception as exc:  # noqa: BLE001 - metrics must never fail a task: keep them for the next try
            log.warning("task durations not recorded (%s); kept for the next flush", type(exc).__name__)
            with self._lock:
                for key, (n, s) in pending.items():
                    entry = self._pending.setdefault(key, [0, 0.0])
                    entry[0] += n
                    entry[1] += s


def add(session: Session, buckets: list[Bucket]) -> None:
    """Add counts to the stored buckets (an upsert per bucket, so concurrent workers add up)."""
    insert = insert_for(session)
    for bucket in sorted(buckets, key=lambda b: (b.task, b.le)):  # one lock order for all writers
        statement = insert(TaskDuration).values(task=bucket.task, le=bucket.le, count=bucket.count,
                                                seconds=bucket.seconds)
        session.execute(statement.on_conflict_do_update(
            index_elements=["task", "le"],
            set_={"count": TaskDuration.count + statement.excluded.count,
                  "seconds": TaskDuration.seconds + statement.excluded.seconds}))


def read(session: Session) -> list[Bucket]:
    return [Bucket(row.task, row.le, int(row.count), float(row.seconds))
            for row in session.scalars(select(TaskDuration).order_by(TaskDuration.task, TaskDuration.le))]
