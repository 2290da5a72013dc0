"""The real Celery path: an ack row enqueued with workers.dispatch.Dispatcher is delivered
by an `intake worker` process (Redis broker) to the SMTP server once, even when the same
row is enqueued several times at once and the duplicates run while the first send is still
in flight."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from intake.tickets.models import Outbox
from tests.e2e.processes import WorkerProcess, wait_until
from tests.flows import ingest_raw, mail, subprocess_env
from tests.integration.outbox.test_followups_support import MAIL_DOMAIN, SUPPORT, email_runtime, row
from tests.support.smtp import SmtpServer, Stage

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _enqueue(env: dict[str, str], outbox_id: int) -> None:
    code = ("import sys; from intake.settings import get_settings; from intake.work import Work; "
            "from workers.app import make_celery; from workers.dispatch import Dispatcher; "
            f"sys.exit(0 if Dispatcher(make_celery(get_settings()))(Work.of(send=[{outbox_id}])) == 1 else 1)")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60,
                   stdin=subprocess.DEVNULL, capture_output=True)


DUPLICATES = 4  # the same outbox id, enqueued this many times before any of it runs
HOLD_SECONDS = 20


@pytest.fixture(params=["sqlite", "postgresql"])
def claim_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        # The embedded default: the claim is one conditional UPDATE ... RETURNING, exclusive
        # without row locks (before it was a SELECT that SQLite does not lock, and this test
        # saw four "attempt 1" sends of one row).
        return f"sqlite:///{tmp_path}/intake.db"
    return str(request.getfixturevalue("pg_url"))


def test_worker_process_sends_an_ack_enqueued_many_times_at_once_once(
        tmp_path: Path, claim_db_url: str, private_redis: Any, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A Redis of its own: no worker of another test run on the shared server can take the
    # queued copies (the race must be between this test's own four pool processes).
    db_url, redis_url = claim_db_url, private_redis.url
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outbox_id = ingest_raw(rt, mail()).outbox_ids[0]
    env = subprocess_env(db_url, tmp_path, INTAKE_BROKER_URL=redis_url, INTAKE_EMAIL_BACKEND="smtp",
                         INTAKE_SMTP_HOST=smtp_server.host, INTAKE_SMTP_PORT=str(smtp_server.port),
                         INTAKE_SMTP_SECURITY="none", INTAKE_OUR_ADDRESSES=SUPPORT,
                         INTAKE_MAIL_DOMAIN=MAIL_DOMAIN, INTAKE_SMTP_TIMEOUT=str(HOLD_SECONDS + 10),
                         INTAKE_LOG_LEVEL="INFO")  # the worker logs each task's retry
    for _ in range(DUPLICATES):  # the sweeper, a redelivery, a second enqueue: all queued at once
        _enqueue(env, outbox_id)
    log_path = tmp_path / "worker.log"

    def duplicates_deferred() -> int:
        try:
            return log_path.read_text(errors="replace").count(" retry: Retry in ")
        except OSError:
            return 0

    # Hold the first send open at MAIL FROM until every other copy of the task has run and
    # been deferred: the duplicates meet the row while it is being sent, which is the race.
    held = []
    next_reply = smtp_server._next_reply

    def hold_first_send(stage: Stage, argument: str, default: str) -> str:
        if stage == "MAIL" and not held:
            held.append(True)
            deadline = time.monotonic() + HOLD_SECONDS
            while duplicates_deferred() < DUPLICATES - 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            held.append(duplicates_deferred())
        return next_reply(stage, argument, default)

    monkeypatch.setattr(smtp_server, "_next_reply", hold_first_send)
    worker = WorkerProcess(env, log_path, queues="outbound", beat=False, concurrency=DUPLICATES).start()
    try:
        wait_until(lambda: len(held) == 2, HOLD_SECONDS + 40, "the first send to reach the SMTP server",
                   on_timeout=worker.log_tail)
        assert held[1] == DUPLICATES - 1, (
            f"{held[1]} of {DUPLICATES - 1} duplicates were deferred while the first send was open\n"
            + worker.log_tail())
        wait_until(lambda: row(rt, outbox_id).status == "sent", 30, "the worker to send the ack",
                   on_timeout=worker.log_tail)
        time.sleep(0.5)
    finally:
        worker.stop()
    assert len(smtp_server.messages) == 1
    assert [a.stage for a in smtp_server.attempts].count("MAIL") == 1, "a duplicate reached the SMTP server"
    assert row(rt, outbox_id).attempts == 1
