"""Dispatch in chunks: a burst of ids is a few chunk tasks, private ids never share a task
(or a queue) with public ones, and a broker that refuses leaves the work to the sweeper."""

from __future__ import annotations

from typing import Any

from intake.work import Work
from workers.dispatch import CHUNK, Dispatcher, chunks


class RecordingApp:
    """Stands in for the Celery app's send_task (no broker in unit tests)."""

    def __init__(self, refuse: bool = False) -> None:
        self.sent: list[tuple[str, list[Any], str]] = []
        self.refuse = refuse

    def send_task(self, name: str, args: list[Any], queue: str, **_options: Any) -> None:
        if self.refuse:
            raise ConnectionError("broker away")
        self.sent.append((name, args, queue))


def test_a_burst_becomes_chunk_tasks_and_private_ids_keep_their_queue() -> None:
    app = RecordingApp()
    work = Work(process=tuple((i, i % 10 == 0) for i in range(1, 251)), send=tuple((i, False) for i in range(5)))
    assert Dispatcher(app)(work) == 5  # type: ignore[arg-type]
    process = [(args[0], queue) for name, args, queue in app.sent if name == "intake.process_chunk"]
    assert [len(ids) for ids, queue in process if queue == "process"] == [CHUNK, CHUNK, 25]
    assert [ids for ids, queue in process if queue == "private"] == [list(range(10, 251, 10))]
    assert sorted(i for ids, _ in process for i in ids) == list(range(1, 251))
    assert [(n, q) for n, _, q in app.sent if n == "intake.send_chunk"] == [("intake.send_chunk", "outbound")]


def test_one_by_one_sends_single_row_tasks_on_the_right_queues() -> None:
    app = RecordingApp()
    sent = Dispatcher(app).one_by_one(Work(process=((1, False), (2, True)), send=((3, True),)))  # type: ignore[arg-type]
    assert sent == 3
    assert app.sent == [("intake.process_inbox", [1], "process"), ("intake.process_inbox", [2], "private"),
                        ("intake.send_outbox", [3], "private")]


def test_a_refused_enqueue_is_left_to_the_sweeper_not_raised() -> None:
    assert Dispatcher(RecordingApp(refuse=True))(Work.of(process=range(300))) == 0  # type: ignore[arg-type]


def test_chunks_of_nothing_are_nothing() -> None:
    assert list(chunks(())) == []
