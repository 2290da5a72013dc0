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
