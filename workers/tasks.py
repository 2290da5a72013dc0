"""Thin Celery tasks: load by id, call one function of intake/, enqueue the next (STYLE 8).

Arguments are ids and mailbox names only: never message text or raw bytes.
"""

from __future__ import annotations

import logging
import random

from sqlalchemy.exc import OperationalError, InterfaceError

from intake import dispatch, pipeline
from intake.runtime import get_runtime
from workers.app import app

log = logging.getLogger("intake.tasks")


def _backoff(retries: int, base: float = 2.0, cap: float = 300.0) -> float:
    # Exponential backoff with full jitter: retries of many rows spread out instead of
    # hammering a recovering database together.
    return random.uniform(0, min(cap, base * (2 ** retries)))


@app.task(name="intake.process_inbox", bind=True, acks_late=True, max_retries=None)
def process_inbox(self, inbox_id: int) -> str:  # type: ignore[no-untyped-def]
    rt = get_runtime()
    try:
        outcome = pipeline.process_inbox(rt, inbox_id)
    except pipeline.UserError as exc:
        pipeline.record_failure(rt, inbox_id, exc, final=True)
        return "failed"
    except (OperationalError, InterfaceError) as exc:
        # The database is away: nothing to record it in. Retry; the sweeper is the backstop.
        log.warning("inbox %s: database unavailable (%s), retrying", inbox_id, type(exc).__name__)
        raise self.retry(countdown=_backoff(self.request.retries), max_retries=20) from None
    except Exception as exc:  # noqa: BLE001 - our fault: record, retry, quarantine at the end
        final = self.request.retries + 1 >= rt.settings.process_max_attempts
        pipeline.record_failure(rt, inbox_id, exc, final=final)
        if final:
            return "failed"
        raise self.retry(countdown=_backoff(self.request.retries), max_retries=None) from None
    dispatch.enqueue_send(outcome.outbox_ids, private=outcome.private)
    return outcome.outcome


@app.task(name="intake.send_outbox", bind=True, acks_late=True, max_retries=None)
def send_outbox(self, outbox_id: int) -> str:  # type: ignore[no-untyped-def]
    from intake.replies.send import RetryLater, send_outbox as send

    rt = get_runtime()
    try:
        return send(rt, outbox_id)
    except RetryLater as later:
        raise self.retry(countdown=later.delay, max_retries=None) from None
    except (OperationalError, InterfaceError) as exc:
        log.warning("outbox %s: database unavailable (%s), retrying", outbox_id, type(exc).__name__)
        raise self.retry(countdown=_backoff(self.request.retries), max_retries=20) from None


@app.task(name="intake.poll_mailbox", acks_late=True)
def poll_mailbox(mailbox: str) -> int:
    from intake.channels.imap import poll_and_enqueue

    return poll_and_enqueue(get_runtime(), mailbox)


@app.task(name="intake.poll_all")
def poll_all() -> int:
    from intake.mailboxes import load_mailboxes

    names = [m.name for m in load_mailboxes(get_runtime().settings)]
    for name in names:
        dispatch.enqueue_poll(name)
    return len(names)


@app.task(name="intake.sweep")
def sweep() -> dict[str, int]:
    from intake.sweeper import sweep as run_sweep

    return run_sweep(get_runtime())
