"""Thin Celery tasks: load by id (or a chunk of ids), call one function of intake/, enqueue
the next (STYLE 8).

Arguments are ids and mailbox names only: never message text or raw bytes. The tasks are
registered on the app they are given, with the runtime that app was built from. The chunk
tasks are the fast path (workers/chunks.py); the single-row tasks take what a chunk hands
back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import InterfaceError, OperationalError

from intake.capture.imap import poll_named
from intake.failures import UserError, backoff
from intake.mailboxes import load_mailboxes
from intake.process import claims, pipeline
from intake.runtime import Runtime
from intake.send.delivery import RetryLater, send_outbox
from intake.upkeep.retention import purge
from intake.upkeep.sweeper import sweep
from intake.work import Work
from workers import chunks
from workers.dispatch import Dispatcher

log = logging.getLogger("intake.tasks")

DATABASE_AWAY = (OperationalError, InterfaceError)


def _retry_in(retries: int) -> float:
    # Short, jittered retries for a database that went away for a moment.
    return backoff(retries + 1, base=2.0, cap=300.0)


def _failed_or_retry(task: Any, rt: Runtime, inbox_id: int, exc: BaseException, reason: str | None) -> str:
    """Record the failed attempt; quarantined once the attempts (counted in the database)
    are used up, else retried with backoff."""
    if pipeline.record_failure(rt, inbox_id, exc, reason=reason):
        return "failed"
    raise task.retry(countdown=_retry_in(task.request.retries), max_retries=None) from None


def _release_quietly(rt: Runtime, inbox_id: int) -> None:
    # Give the claim back if the database lets us, so the retry need not wait out the lease.
    try:
        claims.release_row(rt, inbox_id, "database unavailable")
    except Exception:  # noqa: BLE001 - still away: the claim expires by itself
        pass


def register(app: Celery, runtime: Callable[[], Runtime]) -> None:
    dispatch = Dispatcher(app)

    def process_one(task: Any, inbox_id: int) -> str:
        # Attempts are counted in the database by the claim, not by Celery's retry count (a
        # re-enqueue by the sweeper or a redelivery after a lost worker would reset that).
        # A retry re-runs the calling task with its own arguments: this id, alone.
        rt = runtime()
        try:
            outcome = pipeline.process_inbox(rt, inbox_id)
        except pipeline.Busy as busy:  # another worker has it; check again when its claim ends
            raise task.retry(countdown=busy.delay, max_retries=None) from None
        except UserError as exc:
            pipeline.record_failure(rt, inbox_id, exc, final=True)
            return "failed"
        except DATABASE_AWAY as exc:
            # The database is away: nothing to record it in. Retry; the sweeper is the backstop.
            log.warning("inbox %s: database unavailable (%s), retrying", inbox_id, type(exc).__name__)
            _release_quietly(rt, inbox_id)
            raise task.retry(countdown=_retry_in(task.request.retries), max_retries=20) from None
        except SoftTimeLimitExceeded as exc:
            return _failed_or_retry(task, rt, inbox_id, exc, claims.TIME_LIMIT)
        except Exception as exc:  # noqa: BLE001 - our fault: record, retry, quarantine at the end
            return _failed_or_retry(task, rt, inbox_id, exc, None)
        dispatch(Work.of(send=outcome.outbox_ids, private=outcome.private))
        return outcome.outcome

    @app.task(name="intake.process_inbox", bind=True, acks_late=True, max_retries=None)
    def process_inbox(self: Any, inbox_id: int) -> str:
        return process_one(self, inbox_id)

    @app.task(name="intake.process_chunk", bind=True, acks_late=True, max_retries=None)
    def process_chunk(self: Any, inbox_ids: list[int]) -> int:
        inbox_ids = chunks.clean_ids(inbox_ids)
        if len(inbox_ids) == 1:
            # A mail on its own (IDLE hands them over as they come) takes the single-row path:
            # no batch to share a transaction with, and a time limit or a failure is recorded
            # against it at once. In a batch the soft limit passes through intake's fallbacks
            # (failures.register_interrupt) and lands below.
            process_one(self, inbox_ids[0])
            return 1
        try:
            send, careful = chunks.process_chunk(runtime(), inbox_ids)
        except DATABASE_AWAY as exc:
            log.warning("chunk of %d: database unavailable (%s), retrying", len(inbox_ids), type(exc).__name__)
            raise self.retry(countdown=_retry_in(self.request.retries), max_retries=20) from None
        except SoftTimeLimitExceeded:
            # Past its soft limit the chunk stops; what it did not finish goes row by row,
            # where the slow row's time limit is recorded against it alone.
            send, careful = Work(), chunks.leftovers(runtime(), inbox_ids)
        dispatch(send)
        dispatch.one_by_one(careful)
        return len(inbox_ids) - len(careful.process)

    @app.task(name="intake.send_chunk", bind=True, acks_late=True, max_retries=None)
    def send_chunk(self: Any, outbox_ids: list[int]) -> int:
        try:
            pending = chunks.send_chunk(runtime(), outbox_ids)
        except DATABASE_AWAY as exc:
            log.warning("send chunk of %d: database unavailable (%s), retrying", len(outbox_ids),
                        type(exc).__name__)
            raise self.retry(countdown=_retry_in(self.request.retries), max_retries=20) from None
        dispatch.one_by_one(pending)
        return len(outbox_ids) - len(pending.send)

    @app.task(name="intake.send_outbox", bind=True, acks_late=True, max_retries=None)
    def send(self: Any, outbox_id: int) -> str:
        try:
            return send_outbox(runtime(), outbox_id)
        except RetryLater as later:
            raise self.retry(countdown=later.delay, max_retries=None) from None
        except DATABASE_AWAY as exc:
            log.warning("outbox %s: database unavailable (%s), retrying", outbox_id, type(exc).__name__)
            raise self.retry(countdown=_retry_in(self.request.retries), max_retries=20) from None

    @app.task(name="intake.poll_mailbox", acks_late=True)
    def poll_mailbox(mailbox: str) -> int:
        # Each batch is enqueued as it is committed: processing starts while capture goes on.
        return poll_named(runtime(), mailbox, dispatch)

    @app.task(name="intake.poll_all")
    def poll_all() -> int:
        names = [m.name for m in load_mailboxes(runtime().settings)]
        for name in names:
            dispatch.poll(name)
        return len(names)

    @app.task(name="intake.sweep")
    def sweep_task() -> dict[str, int]:
        summary, work = sweep(runtime())
        return {**summary, "enqueued": dispatch(work)}

    @app.task(name="intake.purge")
    def purge_task() -> dict[str, int]:
        return purge(runtime()).counts
