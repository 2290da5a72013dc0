"""Task durations from the worker processes to the database, for /metrics (see
intake/upkeep/task_metrics.py for why the database): Celery's task_prerun / task_postrun
signals time each task of this app in the pool process that runs it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_shutdown

from intake.runtime import Runtime
from intake.upkeep.task_metrics import TaskTimes


def connect(app: Celery, runtime: Callable[[], Runtime], flush_seconds: float) -> None:
    times = TaskTimes(flush_seconds)
    started: dict[str, float] = {}

    def before(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        if task is not None and task.app is app and task_id:
            started[task_id] = time.monotonic()

    def after(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        begun = started.pop(task_id or "", None)
        if begun is None or task is None or task.app is not app:
            return
        if times.observe(str(task.name), time.monotonic() - begun):
            times.flush(runtime())

    def stopping(**_: Any) -> None:
        if not times.pending:  # a process that ran nothing builds no runtime to say so
            return
        try:
            times.flush(runtime())
        except Exception:  # noqa: BLE001 - a process on its way out: the samples are lost, nothing else
            pass

    # Signals are process-wide: each handler checks that the task is this app's, so two
    # apps in one process (tests, the CLI) never count a task twice.
    task_prerun.connect(before, weak=False)
    task_postrun.connect(after, weak=False)
    worker_process_shutdown.connect(stopping, weak=False)
