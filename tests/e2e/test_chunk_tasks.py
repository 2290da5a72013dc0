"""Chunk tasks with real workers (prefork pool, a private Redis, PostgreSQL): a chunk whose
worker is SIGKILLed mid-way loses and duplicates nothing, and overlapping chunks handed to
two workers make one message per mail (the claims decide, not the broker)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import func, select

from intake.capture.inbox import CaptureItem, capture
from intake.runtime import Runtime
from intake.tickets.models import Inbox, Message
from intake.work import Work
from tests.e2e.processes import WorkerProcess, wait_until
from tests.flows import mail, make_runtime, subprocess_env
from workers.app import make_celery
from workers.dispatch import Dispatcher

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FAST = {  # sweeper and claims turn over in seconds instead of minutes
    "INTAKE_SWEEP_INTERVAL": "1", "INTAKE_STALE_AFTER": "3", "INTAKE_POLL_INTERVAL": "3600",
    "INTAKE_TASK_SOFT_TIME_LIMIT": "10", "INTAKE_TASK_TIME_LIMIT": "15",
}


def _runtime(pg_url: str, broker: str, tmp_path: Path) -> Runtime:
    return make_runtime(pg_url, tmp_path / "var", broker_url=broker,
                        **{k.removeprefix("INTAKE_").lower(): v for k, v in FAST.items()})


def _capture(rt: Runtime, n: int) -> list[int]:
    ids = []
    with rt.sessions() as session:
        for i in range(n):
            ids.append(capture(session, rt.vault, CaptureItem(
                "email", f"chunk:{i}", mail(subject=f"Upload fails ({i})", message_id=f"<chunk{i}@example.com>",
                                            sender=f"User {i} <user{i}@example{i % 7}.com>"))).inbox_id)
        session.commit()
    return ids


def _state(rt: Runtime) -> dict[str, int]:
    with rt.sessions() as session:
        rows = dict(session.execute(select(Inbox.status, func.count()).group_by(Inbox.status)).all())
        in_flight = session.scalar(select(func.count()).select_from(Inbox).where(
            Inbox.status == "captured", Inbox.claimed_at.is_not(None))) or 0
        messages = session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) or 0
    return {"captured": rows.get("captured", 0), "done": rows.get("done", 0), "failed": rows.get("failed", 0),
            "in_flight": in_flight, "messages": messages}


def _assert_one_message_per_mail(rt: Runtime, n: int) -> None:
    with rt.sessions() as session:
        ids = session.scalars(select(Message.header_message_id).where(Message.direction == "in")).all()
        statuses = session.scalars(select(Inbox.status)).all()
    assert sorted(ids) == sorted(f"chunk{i}@example.com" for i in range(n)), "a mail is missing or doubled"
    assert set(statuses) == {"done"}


def test_a_chunk_killed_mid_way_loses_and_duplicates_nothing(pg_url: str, private_redis, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rt = _runtime(pg_url, private_redis.url, tmp_path)
    env = subprocess_env(pg_url, tmp_path / "var", INTAKE_BROKER_URL=private_redis.url, **FAST)
    worker = WorkerProcess(env, tmp_path / "worker.log", beat=False, concurrency=1).start()
    try:
        ids = _capture(rt, 300)
        assert Dispatcher(make_celery(rt.settings))(Work.of(process=ids)) == 3  # chunks of 100
        # Mid-way: a chunk's rows are claimed (committed) and its transaction is open.
        wait_until(lambda: _state(rt)["in_flight"] > 0, 120, "a chunk to be under way", worker.log_tail,
                   interval=0.02)
        worker.kill()
        at_kill = _state(rt)
        assert at_kill["done"] < 300
        # The chunk tasks died with the worker (unacked in Redis); the sweeper finds the rows.
        worker = WorkerProcess(env, tmp_path / "worker2.log", beat=True, concurrency=2).start()
        wait_until(lambda: _state(rt)["done"] == 300, 180, "every mail to be processed after the restart",
                   worker.log_tail)
    finally:
        worker.kill()
    _assert_one_message_per_mail(rt, 300)
    rt.dispose()


def test_two_workers_given_overlapping_chunks_make_one_message_per_mail(pg_url: str, private_redis,  # type: ignore[no-untyped-def]
                                                                        tmp_path: Path) -> None:
    rt = _runtime(pg_url, private_redis.url, tmp_path)
    env = subprocess_env(pg_url, tmp_path / "var", INTAKE_BROKER_URL=private_redis.url, **FAST)
    ids = _capture(rt, 300)
    app = make_celery(rt.settings)
    # Windows of 100 every 50 ids, twice, in random order: every id is in four chunks.
    windows = [ids[start:start + 100] for start in range(0, 300, 50)] * 2
    random.Random(7).shuffle(windows)
    for window in windows:
        app.send_task("intake.process_chunk", args=[window], queue="process")
    workers = [WorkerProcess(env, tmp_path / f"worker{n}.log", beat=False, concurrency=2).start() for n in (1, 2)]
    try:
        wait_until(lambda: _state(rt)["done"] == 300, 180, "every mail to be processed",
                   lambda: workers[0].log_tail() + workers[1].log_tail())
    finally:
        for worker in workers:
            worker.kill()
    _assert_one_message_per_mail(rt, 300)
    rt.dispose()
