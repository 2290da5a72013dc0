"""Forking the children of `intake run` (workers/daemons.run_all) and watching them.

A forked child starts where `intake run` is, with the stack imported and the start-up checks
made (see workers/children.py for the same children started by hand); nothing that must not
cross a fork crosses it: the parent closes its database connections first (`fork`'s
`before`), and it runs no other thread.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections.abc import Callable

from intake.failures import guarded


class Child:
    """A forked child leading its own process group, watched with the few calls of
    subprocess.Popen that `intake run` uses (poll, wait, send_signal, pid, returncode)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = 1  # reaped elsewhere: no status to tell
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"child {self.pid} still running")
            time.sleep(0.05)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)


def fork(target: Callable[[], int], before: Callable[[], None] = lambda: None) -> Child:
    """Run `target` in a forked child that leads its own session (stopping it stops what it
    starts: a worker's pool, uvicorn's workers). `before` runs in the parent just before the
    fork: it closes what must not cross it (the database connections)."""
    before()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return Child(pid)
    code = 1
    try:
        os.setsid()
        # The parent's supervision handlers are not the child's: each daemon installs its
        # own (Celery, uvicorn, the poller); until then the defaults.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        code = guarded(target)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - told on stderr; the parent sees the exit code
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)  # never back into the parent's code (its finally blocks, atexit)
