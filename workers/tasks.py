"""Thin Celery tasks: load by id, call one function of intake/, enqueue the next (STYLE 8).

Arguments are ids and mailbox names only: never message text or raw bytes. The tasks are
registered on the app they are given, with the runtime that app was built from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery
from sqlalchemy.exc import InterfaceError, OperationalError

from intake.capture.imap import poll_named
from intake.failures import UserError, backoff
from intake.mailboxes import load_mailboxes
from intake.process import pipeline
from intake.runtime import Runtime
from intake.send.delivery import RetryLater, send_outbox
from intake.upkeep.sweeper import sweep
from intake.work import Work
from workers.dispatch import Dispatcher

log = logging.getLogger("intake.tasks")

DATABASE_AWAY = (OperationalError, InterfaceError)


def _retry_in(retries: int) -> float:
    # Short, jittered retries for a database that went away for a moment.
    return backoff(retries + 1, base=2.0, cap=300.0)


def register(app: Celery, runtime: Callable[[], Runtime]) -> None:
    dispatch = Dispatcher(app)

    @app.task(name="intake.process_inbox", bind=True, acks_late=True, max_retries=None)
    def process_inbox(self: Any, inbox_id: int) -> str:
        rt = runtime()
        try:
            outcome = pipeline.process_inbox(rt, inbox_id)
        except UserError as exc:
            pipeline.record_failure(rt, inbox_id, exc, final=True)
            return "failed"
        except DATABASE_AWAY as exc:
            # The database is away: nothing to record it in. Retry; the sweeper is the backstop.
            log.warning("inbox %s: database unavailable (%s), retrying", inbox_id, type(exc).__name__)
            raise self.retry(countdown=_retry_in(self.request.retries), max_retries=20) from None
        except Exception as exc:  # noqa: BLE001 - our fault: record, retry, quarantine at the end
            final = self.request.retries + 1 >= rt.settings.process_max_attempts
            pipeline.record_failure(rt, inbox_id, exc, final=final)
            if final:
                return "failed"
            raise self.retry(countdown=_retry_in(self.request.retries), max_retries=None) from None
        dispatch(Work.of(send=outcome.outbox_ids, private=outcome.private))
        return outcome.outcome

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
        work = poll_named(runtime(), mailbox)
        dispatch(work)
        return len(work.process)

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
