"""A worker process's task time samples before they are written: bucketed, bounded, and
due for a flush only every INTAKE_TASK_METRICS_FLUSH_SECONDS."""

from __future__ import annotations

import math

import pytest

from intake.upkeep.task_metrics import BUCKETS, INF, TaskTimes, bucket_of


def test_buckets() -> None:
    assert bucket_of(0.0) == repr(BUCKETS[0])
    assert bucket_of(0.3) == "0.5" and bucket_of(1.0) == "1.0"
    assert bucket_of(10_000.0) == INF


@pytest.mark.parametrize("seconds", [math.nan, math.inf, -1.0])
def test_impossible_durations_are_dropped(seconds: float) -> None:
    times = TaskTimes(flush_seconds=0)
    assert times.observe("intake.sweep", seconds) is False
    assert times._pending == {}


def test_flush_is_due_by_time_and_task_names_are_bounded() -> None:
    eager, lazy = TaskTimes(flush_seconds=0), TaskTimes(flush_seconds=3600)
    assert not lazy.pending
    assert eager.observe("intake.sweep", 0.2) is True
    assert lazy.observe("intake.sweep", 0.3) is False and lazy.observe("intake.sweep", 0.4) is False
    assert lazy._pending[("intake.sweep", "0.5")] == [2, pytest.approx(0.7)] and lazy.pending
    lazy.observe("x" * 1000, 1.0)
    assert ("x" * 64, "1.0") in lazy._pending
