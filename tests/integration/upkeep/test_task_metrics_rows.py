"""The task duration rows are shared by every worker process: concurrent flushes add up
exactly (an upsert per bucket, taken in one order, so two writers never deadlock), and a
flush that cannot reach the database keeps its samples for the next one."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from intake.tickets.records import TaskDuration
from intake.upkeep import task_metrics
from intake.upkeep.task_metrics import TaskTimes
from tests.flows import make_runtime

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROUNDS = 40


def test_concurrent_flushes_add_up(db_url: str, tmp_path: Path) -> None:
    rt = make_runtime(db_url, tmp_path)
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def worker(order: list[tuple[str, float]]) -> None:
        times = TaskTimes(flush_seconds=0)
        start.wait()
        try:
            for _ in range(ROUNDS):
                for task, seconds in order:
                    times.observe(task, seconds)
                times.flush(rt)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    samples = [("intake.sweep", 0.01), ("intake.process_inbox", 2.0), ("intake.send_outbox", 700.0)]
    threads = [threading.Thread(target=worker, args=(order,)) for order in (samples, samples[::-1], samples[1:])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(100)
    assert errors == []
    with rt.sessions() as session:
        stored = {(b.task, b.le): b.count for b in task_metrics.read(session)}
    assert stored == {("intake.sweep", "0.05"): 2 * ROUNDS, ("intake.process_inbox", "2.5"): 3 * ROUNDS,
                      ("intake.send_outbox", "+Inf"): 3 * ROUNDS}


def test_a_failed_flush_keeps_its_samples(tmp_path: Path) -> None:
    rt = make_runtime(f"sqlite:///{tmp_path}/intake.db", tmp_path)
    times = TaskTimes(flush_seconds=0)
    times.observe("intake.sweep", 0.01)
    TaskDuration.__table__.drop(rt.engine)  # the write fails (no table), as for a database away
    times.flush(rt)
    assert times._pending  # kept
    TaskDuration.__table__.create(rt.engine)
    times.observe("intake.sweep", 0.02)
    times.flush(rt)
    with rt.sessions() as session:
        assert [(b.task, b.count) for b in task_metrics.read(session)] == [("intake.sweep", 2)]
