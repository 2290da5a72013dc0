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
    outcomes: dict[int, pipeline.Outcome | None] = {}
    chunks = list(_chunks(inbox_ids, chunk))
    workers = workers if workers is not None else (os.cpu_count() or 1)
    rt.rules  # noqa: B018 - load once, before the loop (and before a fork: children share it)
    if workers <= 1 or len(inbox_ids) < chunk:
        for ids in chunks:
            stored = _store(rt, ids, prepare_chunk(ids, rt))
            outcomes.update(stored)
            if send:
                send_chunk(_outbox_ids(stored), rt)
        return outcomes
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                             initargs=(rt,)) as pool:
        # The pool prepares ahead of the database and sends behind it; this process only
        # stores, one transaction per chunk.
        pending: list[Future[dict[int, Any]]] = [pool.submit(prepare_chunk, ids) for ids in chunks[:workers]]
        next_chunk = len(pending)
        sending: list[Future[dict[int, str]]] = []
        for index, ids in enumerate(chunks):
            prepared = pending[index].result()
            if next_chunk < len(chunks):
                pending.append(pool.submit(prepare_chunk, chunks[next_chunk]))
                next_chunk += 1
            stored = _store(rt, ids, prepared)
            outcomes.update(stored)
            if send:
                sending.append(pool.submit(send_chunk, _outbox_ids(stored)))
        for future in sending:
            future.result()
    return outcomes


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
