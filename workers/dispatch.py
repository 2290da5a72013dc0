"""Hand work to Celery after commit, without ever losing it when the broker is away.

The database holds truth: if the broker cannot take a task now, the row stays `captured` /
`queued` and the sweeper enqueues it again later. So a failed enqueue is logged, not raised.
Private rows go to the `private` queue on every path (`Work` carries each id's privacy).

Work travels in chunks: one task per CHUNK ids (`intake.process_chunk`, `intake.send_chunk`),
so a burst of a thousand mails is ten broker messages and ten transactions, not a thousand.
Single-id tasks (`intake.process_inbox`, `intake.send_outbox`) remain for the rows a chunk
hands back: ones another worker holds, that failed before, or that wait for a retry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from celery import Celery

from intake.work import Work

log = logging.getLogger("intake.dispatch")

CHUNK = 100  # ids per task: one transaction's worth (intake.process.batch.CHUNK)

# A webhook must answer Twilio fast even when Redis is down: try once, briefly.
_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.0, "interval_step": 0.2, "interval_max": 0.2}


def chunks(pairs: tuple[tuple[int, bool], ...], size: int = CHUNK) -> Iterator[tuple[list[int], bool]]:
    """(ids, private) groups of at most `size` ids, public and private apart."""
    for private in (False, True):
        ids = [i for i, p in pairs if p == private]
        for start in range(0, len(ids), size):
            yield ids[start:start + size], private


class Dispatcher:
    """Enqueues the `Work` domain functions return; an `intake.work.Enqueue`."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def _send(self, task_name: str, args: list[object], queue: str, countdown: float | None = None) -> bool:
        try:
            self.app.send_task(task_name, args=args, queue=queue, countdown=countdown, retry=True,
                               retry_policy=_RETRY_POLICY)
            return True
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds; the sweeper covers all
            log.warning("broker unavailable, %s of %d ids left for the sweeper (%s)", task_name,
                        len(args[0]) if args and isinstance(args[0], list) else 1, type(exc).__name__)
            return False

    def __call__(self, work: Work) -> int:
        """One task per chunk; returns how many tasks were enqueued."""
        sent = 0
        for ids, private in chunks(work.process):
            sent += self._send("intake.process_chunk", [ids], "private" if private else "process")
        for ids, private in chunks(work.send):
            sent += self._send("intake.send_chunk", [ids], "private" if private else "outbound")
        return sent

    def one_by_one(self, work: Work, countdown: float | None = None) -> int:
        """A task per id, for rows that need the careful single-row path."""
        sent = 0
        for inbox_id, private in work.process:
            sent += self._send("intake.process_inbox", [inbox_id], "private" if private else "process", countdown)
        for outbox_id, private in work.send:
            sent += self._send("intake.send_outbox", [outbox_id], "private" if private else "outbound", countdown)
        return sent

    def poll(self, mailbox: str) -> bool:
        return self._send("intake.poll_mailbox", [mailbox], "capture")

    def poll_all(self) -> bool:
        return self._send("intake.poll_all", [], "capture")

    def check_broker(self) -> str | None:
        """None when the broker answers, else the exception's class name (for health)."""
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return None
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__
