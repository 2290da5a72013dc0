"""The mailbox watcher: one IMAP connection per mailbox kept in IDLE (RFC 2177), so new
mail is captured within a second instead of at the next poll.

    MailboxWatcher(rt, box, enqueue, stop).run()   until `stop` is set

Each watcher holds its mailbox's lease (`imap.acquire_lease`, the same lease the Celery poll
task takes) for as long as its connection lives, renewing it while idling, so there is still
one poller per mailbox however many watchers and workers run. The loop:

    lease -> connect -> poll -> IDLE until the server reports new mail (EXISTS), or until it
    is time to renew the lease or to re-issue IDLE -> DONE -> poll -> IDLE ...

- RFC 2177: a server may log off a client idling for 30 minutes, so IDLE is re-issued well
  before 29 (`REISSUE_SECONDS`). Dovecot also sends "* OK Still here" every
  imap_idle_notify_interval (2 minutes by default); those wake the loop and are ignored.
- A connection that drops (server restart, `doveadm kick`, network) ends the session: the
  lease is released and the watcher reconnects after a short, growing pause.
- A server without the IDLE capability is polled on the same connection every
  INTAKE_POLL_INTERVAL seconds instead.
- A mailbox whose lease another poller holds is left to it and tried again later.

The watcher runs in a thread of the poller daemon (`intake poller`, started by `intake run`),
never in a Celery worker slot; what it captures it hands to `enqueue` after each commit.
"""

from __future__ import annotations

import logging
import threading
import time

from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.capture.imap import (MailboxBusy, acquire_lease, close_quietly, open_connection, poll_connected,
                                 release_lease)
from intake.failures import backoff
from intake.mailboxes import MailboxConfig
from intake.runtime import Runtime
from intake.tickets.models import MailboxState
from intake.work import Enqueue, Work

log = logging.getLogger("intake.capture.idle")

REISSUE_SECONDS = 25 * 60  # RFC 2177 section 3: re-issue at least every 29 minutes
NEWS = (b"EXISTS", b"RECENT")  # untagged responses that mean new mail in the folder
IDLING, POLLING, WAITING = "idle", "polling", "waiting"


class MailboxWatcher:
    """Keeps one mailbox captured as mail arrives. `mode` says what it is doing (IDLING,
    POLLING on a server without IDLE, WAITING for the lease or a reconnect); `sessions`
    counts the connections made (a dropped one is replaced)."""

    def __init__(self, rt: Runtime, box: MailboxConfig, enqueue: Enqueue, stop: threading.Event) -> None:
        self.rt, self.box, self.enqueue, self.stop = rt, box, enqueue, stop
        self.mode = WAITING
        self.sessions = 0
        self.captured = 0
        settings = rt.settings
        # Renew the lease well inside its lifetime; poll a server without IDLE this often.
        self.renew_every = max(0.5, settings.lease_seconds / 3)
        self.poll_every = settings.poll_interval
        self._renewed_at = 0.0

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            self.mode = WAITING
            try:
                self._session()
                failures = 0
                pause = 0.0
            except MailboxBusy:
                pause = min(self.poll_every, 5.0)  # another poller has it: look again soon
            except Exception as exc:  # noqa: BLE001 - a dropped connection, a refused login, the DB away
                failures += 1
                pause = backoff(failures, base=1.0, cap=60.0)
                log.warning("mailbox %s: watcher session ended (%s); reconnecting in %.1fs",
                            self.box.name, type(exc).__name__, pause)
            self.stop.wait(pause)

    def _session(self) -> None:
        """One leased connection, polled and idled on until it drops, the lease is lost, or
        the watcher stops."""
        rt, box = self.rt, self.box
        with rt.sessions() as session:
            if not self._renew(session):
                raise MailboxBusy(box.name)
            try:
                client = open_connection(rt, box, session)
                self.sessions += 1
                try:
                    self._watch(session, client)
                finally:
                    close_quietly(client)
            finally:
                session.rollback()  # a statement that failed (the database away) leaves it aborted
                release_lease(session, box.name)

    def _watch(self, session: Session, client: IMAPClient) -> None:
        idle = client.has_capability("IDLE")
        if not idle:
            log.info("mailbox %s: the server has no IDLE; polling every %.0fs", self.box.name, self.poll_every)
        while not self.stop.is_set():
            result = poll_connected(self.rt, self.box, session, client, self._hand_on)
            if result.lease_lost:
                return
            if self._arrived_meanwhile(session, client):
                continue  # its EXISTS came with a reply during the poll: IDLE would not see it
            if idle:
                kept = self._idle(session, client)
            else:
                kept = self._wait(session, self.poll_every)
            if not kept:
                return

    def _arrived_meanwhile(self, session: Session, client: IMAPClient) -> bool:
        """Mail that arrived while the poll ran, above the watermark it left. The server
        announced it (EXISTS) in a reply to one of the poll's commands, so IDLE will not
        announce it again; without this check it would wait for the next mail."""
        last_uid = session.scalar(select(MailboxState.last_uid).where(MailboxState.name == self.box.name))
        session.commit()
        if last_uid is None:
            return False
        # "n:*" always matches the highest UID, even below n (RFC 3501 6.4.8): filter.
        return any(uid > last_uid for uid in client.search(["UID", f"{last_uid + 1}:*"]))

    def _hand_on(self, inbox_ids: list[int]) -> None:
        self.captured += len(inbox_ids)
        self.enqueue(Work.of(process=inbox_ids, private=self.box.private))

    def _renew(self, session: Session) -> bool:
        held = acquire_lease(session, self.box.name, self.box.folder, self.rt.settings.lease_seconds)
        self._renewed_at = time.monotonic()
        return held

    def _renew_due(self, session: Session) -> bool:
        """Renew the lease if a third of it has passed; False once it is someone else's."""
        return time.monotonic() - self._renewed_at < self.renew_every or self._renew(session)

    def _idle(self, session: Session, client: IMAPClient) -> bool:
        """IDLE until news, the re-issue time or a stop; False when the lease was lost."""
        self.mode = IDLING
        client.idle()
        reissue_at = time.monotonic() + REISSUE_SECONDS
        kept = True
        try:
            while not self.stop.is_set():
                left = reissue_at - time.monotonic()
                if left <= 0:
                    break
                # A short wait, so a stop is noticed within a second.
                responses = client.idle_check(timeout=min(left, 1.0))
                if any(r and r[0] == b"BYE" for r in responses):
                    raise ConnectionError("the server closed the IDLE connection")
                if any(len(r) > 1 and r[1] in NEWS for r in responses):
                    break
                if not self._renew_due(session):
                    kept = False
                    break
        finally:
            client.idle_done()
        return kept

    def _wait(self, session: Session, seconds: float) -> bool:
        """Sleep until the next poll of a server without IDLE, renewing the lease; False
        when the lease was lost."""
        self.mode = POLLING
        until = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < until:
            self.stop.wait(min(until - time.monotonic(), 1.0))
            if not self._renew_due(session):
                return False
        return True


def watch_all(rt: Runtime, boxes: list[MailboxConfig], enqueue: Enqueue,
              stop: threading.Event) -> list[threading.Thread]:
    """Start one watcher thread per mailbox; they end when `stop` is set."""
    threads = []
    for box in boxes:
        watcher = MailboxWatcher(rt, box, enqueue, stop)
        thread = threading.Thread(target=watcher.run, name=f"watch-{box.name}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads
