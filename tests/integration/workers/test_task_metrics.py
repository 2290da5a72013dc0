"""Task durations cross from the worker processes to the web process's /metrics (through
the database), and the beat's purge task runs in a real worker: an `intake worker` runs
`intake.sweep` and `intake.purge`, and the web app served by uvicorn in another process
shows `intake_task_duration_seconds` for each, its count moving with every run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from intake.settings import load_settings
from intake.tickets.models import Ticket, utcnow
from tests.e2e.processes import WorkerProcess, wait_until
from tests.flows import ingest_raw, mail, subprocess_env
from tests.integration.web.conftest_phone import *  # noqa: F403 - fixtures
from tests.integration.web.conftest_phone import PhoneApp
from workers.app import make_celery

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def task_count(app: PhoneApp, task: str) -> float:
    text = requests.get(app.base + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "intake_task_duration_seconds_count" and sample.labels.get("task") == task:
                return sample.value
    return 0.0


def test_worker_task_durations_reach_the_web_metrics(db_url: str, tmp_path: Path, redis_url: str,
                                                     phone_app_factory: Callable[..., PhoneApp]) -> None:
    web = phone_app_factory(db_url, retention_days="30", private_retention_days="7")
    rt = web.rt
    old = ingest_raw(rt, mail(sender="old@example.com"))
    with rt.sessions() as session:
        session.execute(update(Ticket).where(Ticket.id == old.ticket_id).values(
            status="closed", closed_at=utcnow() - dt.timedelta(days=40)))
        session.commit()
    env = subprocess_env(db_url, tmp_path / "worker", INTAKE_BROKER_URL=redis_url,
                         INTAKE_ENCRYPTION_KEY=rt.settings.encryption_key,
                         INTAKE_RETENTION_DAYS="30", INTAKE_PRIVATE_RETENTION_DAYS="7",
                         INTAKE_TASK_METRICS_FLUSH_SECONDS="0")
    celery = make_celery(load_settings(database_url=db_url, data_dir=tmp_path / "sender", broker_url=redis_url))
    assert celery.conf.beat_schedule["purge"]["task"] == "intake.purge"
    worker = WorkerProcess(env, tmp_path / "worker.log", queues="capture", beat=False, concurrency=1).start()
    try:
        assert task_count(web, "intake.sweep") == 0
        celery.send_task("intake.sweep")
        wait_until(lambda: task_count(web, "intake.sweep") == 1, 60, "the first sweep in /metrics",
                   on_timeout=worker.log_tail)
        celery.send_task("intake.sweep")
        wait_until(lambda: task_count(web, "intake.sweep") == 2, 60, "the second sweep in /metrics",
                   on_timeout=worker.log_tail)
        celery.send_task("intake.purge")
        wait_until(lambda: task_count(web, "intake.purge") == 1, 60, "the purge in /metrics",
                   on_timeout=worker.log_tail)
    finally:
        worker.stop()
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0  # the purge ran
    celery.close()
