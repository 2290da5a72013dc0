"""Faults with real processes: a worker SIGKILLed mid-batch, and Redis going away.

The worker runs as in production (`intake worker` with embedded beat, Redis broker), the
mailbox is a real Dovecot, the database PostgreSQL. Afterwards every mail is in exactly one
ticket: nothing lost, nothing duplicated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from intake.db import make_engine
from intake.tickets.models import Inbox, Message
from tests.e2e.processes import WorkerProcess, wait_until
from tests.flows import subprocess_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FAST = {  # make beat, sweeper and leases turn over in seconds instead of minutes
    "INTAKE_POLL_INTERVAL": "1", "INTAKE_SWEEP_INTERVAL": "1", "INTAKE_STALE_AFTER": "3",
    "INTAKE_LEASE_SECONDS": "5", "INTAKE_IMAP_START": "all", "INTAKE_IMAP_BATCH_SIZE": "25",
    # a killed worker's claims on captures expire after the hard time limit + 10 s
    "INTAKE_TASK_SOFT_TIME_LIMIT": "10", "INTAKE_TASK_TIME_LIMIT": "15",
}


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        inbox = dict(conn.execute(select(Inbox.status, func.count()).group_by(Inbox.status)).all())
        messages = conn.execute(select(func.count()).select_from(Message)).scalar_one()
    return {"captured": inbox.get("captured", 0), "done": inbox.get("done", 0),
            "failed": inbox.get("failed", 0), "messages": messages}


def assert_each_mail_once(engine: Engine, expected_ids: set[str]) -> None:
    with engine.connect() as conn:
        rows = conn.execute(select(Message.header_message_id, Message.ticket_id)
                            .where(Message.direction == "in")).all()
        failed = conn.execute(select(func.count()).select_from(Inbox).where(Inbox.status != "done")).scalar_one()
    ids = [r.header_message_id for r in rows]
    assert failed == 0
    assert len(ids) == len(set(ids)), "a mail was stored twice"
    assert set(ids) == {i.strip("<>") for i in expected_ids}, "a mail is missing"
    assert all(r.ticket_id is not None for r in rows)


def worker_env(pg_url: str, broker: str, tmp_path: Path, mailbox: Any) -> dict[str, str]:
    return subprocess_env(pg_url, tmp_path / "var", INTAKE_BROKER_URL=broker,
                          **mailbox.imap_settings("starttls"), **FAST)


def test_worker_killed_mid_batch_then_restarted(pg_url: str, redis_url: str, mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    infos = mailbox.load(200, seed=11)
    expected = {info.message_id for info in infos}
    engine = make_engine(pg_url)
    worker = WorkerProcess(worker_env(pg_url, redis_url, tmp_path, mailbox), tmp_path / "worker.log").start()
    try:
        def started() -> bool:
            try:
                return counts(engine)["messages"] >= 20
            except Exception:  # noqa: BLE001 - schema not created yet by the worker
                return False

        wait_until(started, 120, "the worker to process its first mails", worker.log_tail)
        worker.kill()
        at_kill = counts(engine)
        assert at_kill["messages"] < 200, "the worker finished before it could be killed"

        worker = WorkerProcess(worker.env, tmp_path / "worker2.log").start()
        wait_until(lambda: counts(engine)["messages"] >= 200 and counts(engine)["captured"] == 0, 180,
                   "every mail to be processed after the restart", worker.log_tail)
        # A batch captured (committed) but not yet moved when the worker died is moved by the
        # next poll's tidy-up, which may come after the last mail is processed: wait for it.
        wait_until(lambda: mailbox.count("INBOX") == 0, 120, "the next poll to move what was captured before the kill",
                   worker.log_tail)
    finally:
        worker.kill()
    assert_each_mail_once(engine, expected)
    assert mailbox.count("INBOX") == 0 and mailbox.count("Processed") == 200
    engine.dispose()


def test_redis_outage_loses_nothing(pg_url: str, private_redis, mailbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(pg_url)
    env = worker_env(pg_url, private_redis.url, tmp_path, mailbox)
    expected: set[str] = set()
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        expected |= {i.message_id for i in mailbox.load(20, seed=5)}

        def processed(n: int):  # type: ignore[no-untyped-def]
            def check() -> bool:
                try:
                    c = counts(engine)
                except Exception:  # noqa: BLE001
                    return False
                return c["messages"] >= n and c["captured"] == 0
            return check

        wait_until(processed(20), 120, "the first 20 mails", worker.log_tail)

        # Redis dies (no persistence: whatever it held is gone) while mail keeps arriving.
        private_redis.kill()
        expected |= {i.message_id for i in mailbox.load(20, seed=5, start=20)}
        import time

        time.sleep(4)
        assert worker.alive(), worker.log_tail()
        private_redis.start()
        wait_until(processed(40), 120, "the mails that arrived during the outage", worker.log_tail)

        # Tasks queued in Redis are lost when it dies: a worker that only captures queues
        # process tasks, Redis is killed with them inside, and the sweeper must recover.
        worker.stop()
        worker = WorkerProcess(env, tmp_path / "worker-capture.log", queues="capture").start()
        expected |= {i.message_id for i in mailbox.load(20, seed=5, start=40)}
        wait_until(lambda: counts(engine)["captured"] >= 20, 120, "capture of the last 20 mails",
                   worker.log_tail)
        worker.stop()
        private_redis.kill()
        private_redis.start()
        worker = WorkerProcess(env, tmp_path / "worker-all.log").start()
        wait_until(processed(60), 120, "the sweeper to recover the lost tasks", worker.log_tail)
    finally:
        worker.kill()
    assert_each_mail_once(engine, expected)
    engine.dispose()
