"""The real Celery path once: an ack row enqueued with workers.dispatch.enqueue_send is
delivered by an `intake worker` process (Redis broker) to the SMTP server, once, even when
the task is enqueued twice."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from intake.tickets.models import Outbox
from tests.e2e.processes import WorkerProcess, wait_until
from tests.flows import ingest_raw, mail, subprocess_env
from tests.integration.test_followups_support import MAIL_DOMAIN, SUPPORT, email_runtime, row
from tests.support.smtp import SmtpServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _enqueue(env: dict[str, str], outbox_id: int) -> None:
    code = ("import sys; from intake.settings import get_settings; from intake.work import Work; "
            "from workers.app import make_celery; from workers.dispatch import Dispatcher; "
            f"sys.exit(0 if Dispatcher(make_celery(get_settings()))(Work.of(send=[{outbox_id}])) == 1 else 1)")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60,
                   stdin=subprocess.DEVNULL, capture_output=True)


def _broker_idle(redis_url: str) -> bool:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return client.llen("outbound") == 0 and client.hlen("unacked") == 0
    finally:
        client.close()


def test_worker_process_sends_an_enqueued_ack_once(tmp_path: Path, redis_url: str,
                                                   smtp_server: SmtpServer) -> None:
    db_url = f"sqlite:///{tmp_path}/intake.db"
    rt = email_runtime(db_url, tmp_path, smtp_server)
    outbox_id = ingest_raw(rt, mail()).outbox_ids[0]
    env = subprocess_env(db_url, tmp_path, INTAKE_BROKER_URL=redis_url, INTAKE_EMAIL_BACKEND="smtp",
                         INTAKE_SMTP_HOST=smtp_server.host, INTAKE_SMTP_PORT=str(smtp_server.port),
                         INTAKE_SMTP_SECURITY="none", INTAKE_OUR_ADDRESSES=SUPPORT,
                         INTAKE_MAIL_DOMAIN=MAIL_DOMAIN)
    _enqueue(env, outbox_id)
    worker = WorkerProcess(env, tmp_path / "worker.log", queues="outbound", beat=False, concurrency=1).start()
    try:
        wait_until(lambda: row(rt, outbox_id).status == "sent", 60, "the worker to send the ack",
                   on_timeout=worker.log_tail)
        assert len(smtp_server.wait_for(1)) == 1
        _enqueue(env, outbox_id)  # a duplicate task (sweeper, redelivery)
        wait_until(lambda: _broker_idle(redis_url), 30, "the duplicate task to be consumed",
                   on_timeout=worker.log_tail)
        time.sleep(0.5)
    finally:
        worker.stop()
    assert len(smtp_server.received()) == 1
    sent: Outbox = row(rt, outbox_id)
    assert (sent.status, sent.attempts) == ("sent", 1)
