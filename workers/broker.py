"""The embedded broker: kombu's filesystem transport with atomic writes.

kombu's own filesystem transport creates the message file in the queue folder and then
writes it; a consumer polling at that moment moves the still-empty file away, fails to
decode it, and the Celery worker dies ("Unrecoverable error: JSONDecodeError"). Here a
message is written to a hidden sibling folder and renamed into the queue folder, so a
consumer only ever sees complete files; and a file that cannot be decoded is dropped
with a log line instead of killing the worker (the sweeper resends its work: the
database, not the broker, holds the truth).

The exchange table (which queues an exchange routes to, a JSON file in the control folder)
has the same flaw: kombu creates the file and then writes it, and a process declaring its
queues at that moment reads an empty file and fails to send (JSONDecodeError: the poller
and the worker starting together). Here the table is rewritten under a lock file and
renamed into place, so a reader sees the old table or the new one, never a partial one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import uuid
from pathlib import Path
from time import monotonic
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger("workers.broker")
SCHEME = "intakefs"


class Channel(filesystem.Channel):
    # kombu's filesystem Channel already widens the base signature; mypy sees both.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        # A dot-prefixed folder inside the queue folder: kombu's reader skips it (its name
        # is not "<something>.<queue>.msg") and a rename within one filesystem is atomic.
        staging = os.path.join(self.data_folder_out, ".staging")
        os.makedirs(staging, exist_ok=True)
        temporary = os.path.join(staging, name)
        with open(temporary, "wb") as handle:
            handle.write(str_to_bytes(dumps(payload)))
        os.replace(temporary, os.path.join(self.data_folder_out, name))

    def _queue_bind(self, exchange: Any, routing_key: Any, pattern: Any, queue: Any) -> None:
        table = Path(self._exchange_file(exchange))
        self.control_folder.mkdir(exist_ok=True)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with open(table.with_name(f".{table.name}.lock"), "ab") as guard:
            fcntl.flock(guard.fileno(), fcntl.LOCK_EX)  # one writer at a time; released on close
            try:
                entries = [filesystem.exchange_queue_t(*e) for e in loads(table.read_bytes() or b"[]")]
            except FileNotFoundError:
                entries = []
            except ValueError:  # a partial table left by kombu's own writer: rebuilt by the binds
                entries = []
            if entry in entries:
                return
            entries.insert(0, entry)
            temporary = table.with_name(f".{table.name}.{uuid.uuid4().hex}")
            temporary.write_bytes(str_to_bytes(dumps(entries)))
            os.replace(temporary, table)

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        while True:
            try:
                return super()._get(queue)
            except ValueError:  # an unreadable message file: skip it, keep the worker alive
                log.error("broker: an unreadable message on queue %s was skipped", queue)


class Transport(filesystem.Transport):
    """The transport, with one more option: `drain_timeout` caps each wait for a message.

    Celery's worker loop for transports without an event loop waits up to 2 s per call and
    performs the acks of finished tasks (late acks) only between calls; until then the
    prefetch slot stays taken, so each next task waited up to 2 s. With the cap a finished
    task's slot is free within `drain_timeout`."""

    Channel = Channel

    def drain_events(self, connection: Any, timeout: Any = None) -> Any:  # type: ignore[override]
        cap = getattr(self.client, "transport_options", {}).get("drain_timeout")
        if cap is not None:
            timeout = cap if timeout is None else min(timeout, cap)
        return super().drain_events(connection, timeout=timeout)


TRANSPORT_ALIASES.setdefault(SCHEME, "workers.broker:Transport")
