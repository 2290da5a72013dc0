"""The embedded (serverless) broker delivers every message once while producers and
consumers run at the same time: kombu's plain filesystem transport lets a consumer take a
half-written file and kills the worker."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from kombu import Connection

import workers.broker  # noqa: F401  registers the intakefs transport

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
COUNT = 2000


def options(folder: Path) -> dict[str, object]:
    return {"data_folder_in": str(folder), "data_folder_out": str(folder),
            "processed_folder": str(folder.parent / "processed"), "control_folder": str(folder.parent / "control"),
            "store_processed": False, "polling_interval": 0.0005}  # a consumer polling hard


def produce(folder: Path, start: int) -> None:
    with Connection("intakefs://", transport_options=options(folder)) as connection:
        queue = connection.SimpleQueue("process")
        for i in range(start, start + COUNT // 2):
            queue.put({"inbox_id": i, "padding": "x" * 200000})  # big enough to be caught mid-write
        queue.close()


def test_concurrent_producers_and_a_consumer_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "queue"
    folder.mkdir()
    (tmp_path / "processed").mkdir()
    (tmp_path / "control").mkdir()
    context = multiprocessing.get_context("fork")
    producers = [context.Process(target=produce, args=(folder, start)) for start in (0, COUNT // 2)]
    received: list[int] = []
    with Connection("intakefs://", transport_options=options(folder)) as connection:
        queue = connection.SimpleQueue("process")
        for producer in producers:
            producer.start()
        while len(received) < COUNT:
            message = queue.get(block=True, timeout=30)
            received.append(message.payload["inbox_id"])
            message.ack()
        queue.close()
    for producer in producers:
        producer.join(10)
        assert producer.exitcode == 0
    assert sorted(received) == list(range(COUNT))
    assert not [p for p in folder.iterdir() if p.is_file()]


@pytest.mark.timeout(180)
def test_a_worker_on_the_embedded_broker_picks_a_task_up_at_once(tmp_path: Path) -> None:
    """kombu's filesystem transport looks for new files once per polling interval (1 s by
    default, per queue); the app sets it far lower, so a task starts well under a second
    after it is enqueued (asserted generously: the machine is shared)."""
    import time

    from sqlalchemy import select

    from intake.capture.inbox import CaptureItem, capture
    from intake.tickets.models import Inbox
    from intake.work import Work
    from tests.e2e.processes import WorkerProcess, wait_until
    from tests.flows import mail, make_runtime, subprocess_env
    from workers.app import make_celery
    from workers.dispatch import Dispatcher

    url = f"sqlite:///{tmp_path}/intake.db"
    rt = make_runtime(url, tmp_path / "var")
    assert rt.settings.broker_url.startswith("filesystem")
    dispatch = Dispatcher(make_celery(rt.settings))
    worker = WorkerProcess(subprocess_env(url, tmp_path / "var"), tmp_path / "worker.log", beat=False,
                           concurrency=1).start()

    def done(inbox_id: int) -> bool:
        with rt.sessions() as session:
            return session.scalar(select(Inbox.status).where(Inbox.id == inbox_id)) == "done"

    try:
        delays = []
        for n in range(4):  # the first one also waits for the worker to start
            with rt.sessions() as session:
                inbox_id = capture(session, rt.vault, CaptureItem(
                    "email", f"embedded:{n}", mail(message_id=f"<embedded{n}@example.com>"))).inbox_id
                session.commit()
            started = time.monotonic()
            assert dispatch(Work.of(process=[inbox_id])) == 1
            wait_until(lambda: done(inbox_id), 90, "the task to run", worker.log_tail, interval=0.02)
            delays.append(time.monotonic() - started)
    finally:
        worker.kill()
        rt.dispose()
    assert max(delays[1:]) < 5, delays
