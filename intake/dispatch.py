"""Hand work to Celery after commit, without ever losing it when the broker is away.

The database holds truth: if the broker cannot take a task now, the row stays `captured` /
`queued` and the sweeper enqueues it again later. So a failed enqueue is logged, not raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

log = logging.getLogger("intake.dispatch")

# A webhook must answer Twilio fast even when Redis is down: try once, briefly.
_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.0, "interval_step": 0.2, "interval_max": 0.2}


def _send(task_name: str, args: list[object], queue: str) -> bool:
    from workers.app import app

    try:
        app.send_task(task_name, args=args, queue=queue, retry=True, retry_policy=_RETRY_POLICY)
        return True
    except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; the sweeper covers all
        log.warning("broker unavailable, %s%s left for the sweeper (%s)", task_name, args, type(exc).__name__)
        return False


def enqueue_process(inbox_ids: Iterable[int], private: bool = False) -> int:
    queue = "private" if private else "process"
    return sum(_send("intake.process_inbox", [i], queue) for i in inbox_ids)


def enqueue_send(outbox_ids: Iterable[int], private: bool = False) -> int:
    queue = "private" if private else "outbound"
    return sum(_send("intake.send_outbox", [i], queue) for i in outbox_ids)


def enqueue_poll(mailbox: str) -> bool:
    return _send("intake.poll_mailbox", [mailbox], "capture")
