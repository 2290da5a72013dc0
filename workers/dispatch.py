"""Hand work to Celery after commit, without ever losing it when the broker is away.

The database holds truth: if the broker cannot take a task now, the row stays `captured` /
`queued` and the sweeper enqueues it again later. So a failed enqueue is logged, not raised.
Private rows go to the `private` queue on every path (`Work` carries each id's privacy).
"""

from __future__ import annotations

import logging

from celery import Celery

from intake.work import Work

log = logging.getLogger("intake.dispatch")

# A webhook must answer Twilio fast even when Redis is down: try once, briefly.
_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.0, "interval_step": 0.2, "interval_max": 0.2}


class Dispatcher:
    """Enqueues the `Work` domain functions return; an `intake.work.Enqueue`."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def _send(self, task_name: str, args: list[object], queue: str) -> bool:
        try:
            self.app.send_task(task_name, args=args, queue=queue, retry=True, retry_policy=_RETRY_POLICY)
            return True
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; the sweeper covers all
            log.warning("broker unavailable, %s%s left for the sweeper (%s)", task_name, args, type(exc).__name__)
            return False

    def __call__(self, work: Work) -> int:
        sent = 0
        for inbox_id, private in work.process:
            sent += self._send("intake.process_inbox", [inbox_id], "private" if private else "process")
        for outbox_id, private in work.send:
            sent += self._send("intake.send_outbox", [outbox_id], "private" if private else "outbound")
        return sent

    def poll(self, mailbox: str) -> bool:
        return self._send("intake.poll_mailbox", [mailbox], "capture")

    def check_broker(self) -> str | None:
        """None when the broker answers, else the exception's class name (for health)."""
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return None
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__
