"""The embedded broker is polled (a look into the queue folder every 50 ms): a pool process
that finishes a task must have its next one already reserved, or it idles until the next
look after every task. Redis pushes: one reserved task per process keeps a second worker
from being starved of a burst another worker holds."""

from __future__ import annotations

from pathlib import Path

from intake.settings import load_settings
from workers.app import make_celery


def test_prefetch_per_pool_process_by_broker(tmp_path: Path) -> None:
    embedded = load_settings(database_url=f"sqlite:///{tmp_path}/intake.db", data_dir=tmp_path / "data")
    assert make_celery(embedded, worker=False).conf.worker_prefetch_multiplier == 2
    redis = load_settings(database_url=f"sqlite:///{tmp_path}/intake.db", data_dir=tmp_path / "data",
                          broker_url="redis://127.0.0.1:6379/15")
    app = make_celery(redis, worker=False)
    assert app.conf.worker_prefetch_multiplier == 1 and app.conf.task_acks_late
