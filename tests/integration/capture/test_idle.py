"""The mailbox watcher against a real Dovecot: IMAP IDLE (RFC 2177) captures new mail at once,
a dropped connection is re-established, a server without IDLE is polled, and the lease
still allows one poller per mailbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from intake.capture import idle, imap
from intake.mailboxes import get_mailbox
from intake.work import Work
from tests.e2e.processes import wait_until
from tests.flows import mail
from tests.integration.capture.conftest import CAPABILITIES_WITHOUT_MOVE
from tests.integration.capture.test_imap_poll import runtime_for
from tests.support.dovecot import Dovecot, DovecotError, Mailbox

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NEVER = "600"  # a poll interval no test waits for: only IDLE can capture in time
WITHOUT_IDLE = CAPABILITIES_WITHOUT_MOVE.replace(" IDLE", "")


class Handed:
    """An `Enqueue` that records what the watcher hands on."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.private: list[bool] = []

    def __call__(self, work: Work) -> int:
        self.ids += [i for i, _ in work.process]
        self.private += [p for _, p in work.process]
        return len(work.process)


@contextmanager
def watching(rt: Any, handed: Callable[[Work], int]) -> Iterator[idle.MailboxWatcher]:
    stop = threading.Event()
    watcher = idle.MailboxWatcher(rt, get_mailbox(rt.settings, "default"), handed, stop)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        yield watcher
    finally:
        stop.set()
        thread.join(15)
        assert not thread.is_alive(), "the watcher did not stop"
        rt.dispose()


def _mail(n: int) -> bytes:
    return mail(subject=f"Upload fails ({n})", message_id=f"<idle-{n}@example.com>")


def test_mail_appended_while_idling_is_captured_without_waiting_for_the_poll(mailbox: Mailbox,
                                                                              tmp_path: Path) -> None:
    rt = runtime_for(mailbox, tmp_path, poll_interval=float(NEVER))
    handed = Handed()
    with watching(rt, handed) as watcher:
        wait_until(lambda: watcher.mode == idle.IDLING, 20, "the watcher to idle")
        for n in range(3):
            appended = time.monotonic()
            mailbox.append(_mail(n))
            wait_until(lambda: len(handed.ids) == n + 1, 10, f"mail {n} to be captured")
            # Within a second as a rule; generous here, the machine is shared. The poll
            # interval (600 s) is far away either way.
            assert time.monotonic() - appended < 8
    assert len(set(handed.ids)) == 3 and handed.private == [False] * 3
    assert mailbox.count("INBOX") == 0 and mailbox.count("Processed") == 3
    with rt.sessions() as session:  # the lease is given back when the watcher stops
        state = session.get(imap.MailboxState, "default")
        assert state is not None and state.lease_owner is None


def test_a_dropped_idle_connection_is_reestablished(mailbox: Mailbox, tmp_path: Path) -> None:
    rt = runtime_for(mailbox, tmp_path, poll_interval=float(NEVER))
    handed = Handed()
    with watching(rt, handed) as watcher:
        wait_until(lambda: watcher.mode == idle.IDLING, 20, "the watcher to idle")
        mailbox.kick()  # the server closes the connection (doveadm kick, then SIGTERM)
        wait_until(lambda: watcher.sessions >= 2 and watcher.mode == idle.IDLING, 30,
                   "the watcher to reconnect and idle again")
        mailbox.append(_mail(1))
        wait_until(lambda: len(handed.ids) == 1, 10, "the mail after the reconnect to be captured")
    assert mailbox.count("Processed") == 1


def test_the_lease_keeps_one_poller_while_the_watcher_idles(mailbox: Mailbox, tmp_path: Path) -> None:
    rt = runtime_for(mailbox, tmp_path, poll_interval=float(NEVER), lease_seconds=3.0)
    handed = Handed()
    with watching(rt, handed) as watcher:
        wait_until(lambda: watcher.mode == idle.IDLING, 20, "the watcher to idle")
        time.sleep(4)  # longer than the lease: renewed while idling, so still the watcher's
        with rt.sessions() as session:  # another poller (another process) is refused
            assert not imap.acquire_lease(session, "default", "INBOX", 3.0, owner="another-poller")
        mailbox.append(_mail(1))
        wait_until(lambda: len(handed.ids) == 1, 10, "the mail to be captured by the watcher")


@pytest.fixture(scope="module")
def no_idle_dovecot() -> Iterator[Dovecot]:
    server = Dovecot(capabilities=WITHOUT_IDLE)
    try:
        server.start()
    except DovecotError as exc:
        server.stop()
        pytest.fail(f"could not start the Dovecot without IDLE: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def test_a_server_without_idle_is_polled(no_idle_dovecot: Dovecot, tmp_path: Path) -> None:
    box = no_idle_dovecot.new_box()
    rt = runtime_for(box, tmp_path, poll_interval=1.0)
    handed = Handed()
    try:
        with watching(rt, handed) as watcher:
            wait_until(lambda: watcher.mode == idle.POLLING, 20, "the watcher to fall back to polling")
            box.append(_mail(1))
            wait_until(lambda: len(handed.ids) == 1, 20, "the mail to be captured by a poll")
            box.append(_mail(2))
            wait_until(lambda: len(handed.ids) == 2, 20, "the next mail to be captured by a poll")
            assert watcher.sessions == 1 and watcher.mode == idle.POLLING
        assert box.count("Processed") == 2
    finally:
        no_idle_dovecot.drop_box(box)


def test_mail_arriving_during_a_poll_is_not_left_waiting_for_the_next(mailbox: Mailbox, tmp_path: Path) -> None:
    """Its EXISTS comes with the reply to one of the poll's own commands (the MOVE), so the
    IDLE that follows never announces it: the watcher must look for it before idling."""
    rt = runtime_for(mailbox, tmp_path, poll_interval=float(NEVER))
    handed = Handed()

    def append_during_the_first_poll(work: Work) -> int:
        if not handed.ids:
            mailbox.append(_mail(2))  # after the poll's SEARCH, before its MOVE
        return handed(work)

    with watching(rt, append_during_the_first_poll) as watcher:
        wait_until(lambda: watcher.mode == idle.IDLING, 20, "the watcher to idle")
        mailbox.append(_mail(1))
        wait_until(lambda: len(handed.ids) == 2, 10, "the mail that came during the poll")
    assert mailbox.count("INBOX") == 0
