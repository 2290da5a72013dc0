"""Worker guards with a real Celery worker (prefork pool, Redis broker, PostgreSQL): no input
can hold a worker, and none is retried forever.

- A capture whose processing runs past the soft time limit, every time, ends `failed` with
  reason `time_limit` after INTAKE_PROCESS_MAX_ATTEMPTS attempts.
- A capture whose pool process is SIGKILLed mid-task, every time, ends `failed` with
  reason `worker_lost` after INTAKE_PROCESS_MAX_ATTEMPTS attempts, although Celery hands the
  task out again each time (late acks, reject on worker lost): attempts are counted in the
  database before processing starts.

Either way the raw input is kept, health counts it, and the mail behind it is processed.
The misbehaviour comes from a test module wrapping the CLI (tests/e2e/misbehaving_worker.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from intake.capture.inbox import CaptureItem, capture
from intake.process.reprocess import reprocess
from intake.runtime import Runtime
from intake.tickets.models import Inbox
from intake.upkeep.health import counts
from intake.work import Work
from tests.e2e.processes import WorkerProcess, wait_until
from tests.flows import mail, make_runtime, subprocess_env
from workers.app import make_celery
from workers.dispatch import Dispatcher

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MAX_ATTEMPTS = 3

GUARDS = {"INTAKE_LOG_LEVEL": "INFO", "INTAKE_PROCESS_MAX_ATTEMPTS": str(MAX_ATTEMPTS), "INTAKE_WORKER_MAX_MEMORY_MB": "512"}
# Short limits for the mail that hangs. For the mail that kills its worker the limits stay
# well above the second or so the pool takes to notice a dead process: a hard time limit
# that fired first would end the task as timed out, left to the sweeper (also counted, as
# `worker_lost`, but only after INTAKE_STALE_AFTER).
FAST_LIMITS = {"INTAKE_TASK_SOFT_TIME_LIMIT": "1", "INTAKE_TASK_TIME_LIMIT": "3"}
KILL_LIMITS = {"INTAKE_TASK_SOFT_TIME_LIMIT": "8", "INTAKE_TASK_TIME_LIMIT": "10"}


def _capture(rt: Runtime, subject: str, n: int) -> int:
    with rt.sessions() as session:
        inbox_id = capture(session, rt.vault, CaptureItem(
            "email", f"guard:{n}", mail(subject=subject, message_id=f"<guard{n}@example.com>",
                                        sender=f"User {n} <user{n}@example.com>"))).inbox_id
        session.commit()
    return inbox_id


def _row(rt: Runtime, inbox_id: int) -> Inbox:
    with rt.sessions() as session:
        row = session.scalar(select(Inbox).where(Inbox.id == inbox_id))
        assert row is not None
        return row


def _run(pg_url: str, redis_url: str, tmp_path: Path, subject: str, limits: dict[str, str]
         ) -> tuple[Runtime, Inbox, Inbox]:
    guards = {**GUARDS, **limits}
    env = subprocess_env(pg_url, tmp_path / "var", INTAKE_BROKER_URL=redis_url, **guards)
    rt = make_runtime(pg_url, tmp_path / "var", broker_url=redis_url,
                      **{k.removeprefix("INTAKE_").lower(): v for k, v in guards.items() if k != "INTAKE_LOG_LEVEL"})
    dispatch = Dispatcher(make_celery(rt.settings))
    worker = WorkerProcess(env, tmp_path / "worker.log", queues="process,private,outbound", beat=False,
                           concurrency=1, command=[sys.executable, "-m", "tests.e2e.misbehaving_worker"])
    worker.start()
    try:
        poison = _capture(rt, subject, 1)
        dispatch(Work.of(process=[poison]))
        wait_until(lambda: _row(rt, poison).status != "captured", 200,
                   f"the {subject} mail to be quarantined", worker.log_tail)
        good = _capture(rt, "Cannot upload videos", 2)
        dispatch(Work.of(process=[good]))
        wait_until(lambda: _row(rt, good).status == "done", 60, "the next mail", worker.log_tail)
        assert worker.alive(), worker.log_tail()
    finally:
        worker.kill()
    return rt, _row(rt, poison), _row(rt, good)


def test_a_capture_over_its_time_limit_every_time_is_quarantined(pg_url: str, redis_url: str,
                                                                  tmp_path: Path) -> None:
    rt, poison, good = _run(pg_url, redis_url, tmp_path, "SLEEP", FAST_LIMITS)
    assert (poison.status, poison.failure_reason, poison.attempts) == ("failed", "time_limit", MAX_ATTEMPTS)
    assert poison.claimed_at is None and "SoftTimeLimitExceeded" in (poison.last_error or "")
    assert rt.vault.decrypt(poison.raw).startswith(b"Message-ID: <guard1@")  # raw kept
    assert good.status == "done" and good.attempts == 1
    assert counts(rt)["quarantined"] == {"time_limit": 1}
    rt.dispose()


def test_a_capture_whose_worker_is_killed_every_time_is_quarantined(pg_url: str, redis_url: str,
                                                                     tmp_path: Path) -> None:
    rt, poison, good = _run(pg_url, redis_url, tmp_path, "DIE", KILL_LIMITS)
    assert (poison.status, poison.failure_reason, poison.attempts) == ("failed", "worker_lost", MAX_ATTEMPTS)
    assert poison.claimed_at is None
    assert good.status == "done" and good.attempts == 1
    assert counts(rt)["quarantined"] == {"worker_lost": 1}

    # Replayable once fixed (here: processed in this process, without the misbehaving
    # handler): `intake reprocess --failed`.
    assert reprocess(rt, failed_only=True)["processed"] == 1
    assert _row(rt, poison.id).status == "done"
    rt.dispose()
