"""Processing many captures at once for the one-shot commands (`poll --once`, `ingest`).

The pure steps (normalize, fingerprint, triage) run in a pool of processes, one per core,
while this process stores the previous chunk in one transaction: CPU-bound parsing scales
with the cores and the database sees one commit per chunk instead of one per mail. The
Celery worker gets the same parallelism from its own process pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from sqlalchemy import select

from intake.failures import is_interrupt
from intake.process import pipeline
from intake.process.flow import Caps
from intake.runtime import Runtime
from intake.tickets.models import Inbox

log = logging.getLogger("intake.process.batch")
CHUNK = 100

_worker_rt: Runtime | None = None


def _init_worker(rt: Runtime) -> None:
    global _worker_rt
    # A forked child must not use the parent's pooled connections.
    rt.engine.dispose(close=False)
    _worker_rt = rt


def prepare_chunk(inbox_ids: list[int], rt: Runtime | None = None) -> dict[int, pipeline.Prepared | None]:
    """Load and prepare email captures; None for a row that must go the slow, careful way
    (another channel, already done, or a failure to be recorded by `process_with_retries`)."""
    rt = rt or _worker_rt
    assert rt is not None
    out: dict[int, pipeline.Prepared | None] = {}
    caps = Caps.of(rt.settings)
    with rt.sessions() as session:
        rows = session.execute(select(Inbox.id, Inbox.channel, Inbox.status, Inbox.raw, Inbox.meta)
                               .where(Inbox.id.in_(inbox_ids))).all()
    for row in rows:
        if row.channel != "email" or row.status != "captured":
            out[row.id] = None
            continue
        try:
            out[row.id] = pipeline.prepare_email(rt.vault.decrypt(row.raw), row.meta, rt.rules, caps)
        except Exception as exc:  # noqa: BLE001 - recorded when the row is processed on its own
            if is_interrupt(exc):
                raise
            out[row.id] = None
    return out


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def send_chunk(outbox_ids: list[int], rt: Runtime | None = None) -> dict[int, str]:
    from intake.send.batch import send_batch

    rt = rt or _worker_rt
    assert rt is not None
    return send_batch(rt, outbox_ids)


def process_captured(rt: Runtime, inbox_ids: list[int], workers: int | None = None,
                     chunk: int = CHUNK, send: bool = True) -> dict[int, pipeline.Outcome | None]:
    """Process captures in chunks, and (with `send`) deliver the follow-ups they queued.
    Returns each id's outcome (None: failed, reason stored)."""
    if len(inbox_ids) < chunk:
        workers = 1  # one chunk: a pool would only add its start-up
    with Processor(rt, workers=workers, chunk=chunk, send=send) as processor:
        processor.feed(inbox_ids)
    return processor.outcomes


class Processor:
    """Chunks fed while they are captured (`intake poll --once` passes `feed` as the poll's
    `on_captured`): a pool of processes prepares each chunk as soon as it is committed, and
    a store thread of this process stores the prepared chunks in capture order, one
    transaction each, while the poll goes on fetching. So parsing runs while the mailbox is
    still being read instead of after it; the store's waits on the database overlap the
    fetch's waits on the mailbox (each thread has its own connection; the store is the only
    writer of what it stores, and capture order is kept by the one store thread).

    Without a pool (`workers` 1) each chunk is prepared and stored here as it is fed."""

    def __init__(self, rt: Runtime, workers: int | None = None, chunk: int = CHUNK, send: bool = True) -> None:
        self.rt = rt
        self.chunk = chunk
        self.send = send
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self.outcomes: dict[int, pipeline.Outcome | None] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._queue: queue.SimpleQueue[tuple[list[int], Future[dict[int, Any]]] | None] = queue.SimpleQueue()
        self._storer: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._sending: list[Future[dict[int, str]]] = []

    def __enter__(self) -> Processor:
        self.rt.rules  # noqa: B018 - load once, before a fork: the children share it
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("fork"),
                                             initializer=_init_worker, initargs=(self.rt,))
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is None:
                self.drain()
        finally:
            if exc is not None:
                self._stop.set()  # the chunk being stored finishes; the rest stays captured
            self._join_storer()
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=exc is not None)

    def feed(self, inbox_ids: list[int]) -> None:
        """Take committed captures: prepared by the pool and stored by the store thread
        while the caller goes on (without a pool: prepared and stored here, now)."""
        for ids in _chunks(list(inbox_ids), self.chunk):
            if self._pool is None:
                self._stored(ids, prepare_chunk(ids, self.rt))
            else:
                if self._storer is None:  # the first chunk, or fed again after a drain
                    self._storer = threading.Thread(target=self._store_loop, name="intake-store", daemon=True)
                    self._storer.start()
                self._queue.put((ids, self._pool.submit(prepare_chunk, ids)))
        if self._error is not None:
            raise self._error  # the store failed: stop capturing more than can be stored

    def drain(self) -> None:
        """Store every chunk fed so far, in order, and wait for their follow-ups to go out."""
        self._join_storer()
        if self._error is not None:
            raise self._error
        for future in self._sending:
            future.result()
        self._sending.clear()

    def _join_storer(self) -> None:
        if self._storer is not None:
            self._queue.put(None)
            self._storer.join()
            self._storer = None

    def _store_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._stop.is_set() or self._error is not None:
                continue  # left as captured: the next poll or the sweeper takes them
            ids, future = item
            try:
                self._stored(ids, future.result())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by feed/drain
                self._error = exc

    def _stored(self, ids: list[int], prepared: dict[int, pipeline.Prepared | None]) -> None:
        stored = _store(self.rt, ids, prepared)
        self.outcomes.update(stored)
        if not self.send:
            return
        if self._pool is None:
            send_chunk(_outbox_ids(stored), self.rt)
        else:
            self._sending.append(self._pool.submit(send_chunk, _outbox_ids(stored)))


def _outbox_ids(outcomes: dict[int, pipeline.Outcome | None]) -> list[int]:
    return [i for outcome in outcomes.values() if outcome is not None for i in outcome.outbox_ids]


def _store(rt: Runtime, ids: list[int], prepared: dict[int, pipeline.Prepared | None]
           ) -> dict[int, pipeline.Outcome | None]:
    ready = {i: p for i, p in prepared.items() if p is not None}
    outcomes = pipeline.process_batch(rt, [i for i in ids if i in ready], ready) if ready else {}
    for inbox_id in ids:
        if inbox_id not in ready:
            outcomes[inbox_id] = pipeline.process_with_retries(rt, inbox_id)
    return outcomes
