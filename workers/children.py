"""The processes `intake run` starts (workers/daemons.run_all): its worker with embedded
beat, its mailbox poller and its web app, each forked from `intake run` after its start-up
checks.

`intake run` has made the start-up checks (data directory, database, schema upgrade, key,
triage rules, templates, mailboxes) the moment before it starts these, on the same settings,
with the modules they need already imported. A child started as a new program
(`intake <command>` or `python -m workers.children`) imported them all again: about half a
second of CPU per child, at the start, on the same cores that capture and process the first
mails. A forked child starts where the parent is; nothing of the parent's that must not
cross a fork crosses it: the parent closes its database connections first (`fork`), and it
runs no other thread.

    python -m workers.children worker [--concurrency N]     (one child by hand, as before)
    python -m workers.children poller
    python -m workers.children web --host HOST --port PORT

A child still names a setting it cannot use (exit 2), as the command would.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable

from intake.logs import setup_logging
from intake.settings import SettingsError


def _guarded(target: Callable[[], int]) -> int:
    try:
        return target()
    except SettingsError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Config files that ops edit fail naming the file and line, as `intake` shows them.
        if type(exc).__name__ in ("TriageConfigError", "TemplateError"):
            print(f"intake: {exc}", file=sys.stderr)
            return 2
        raise


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
        code = _guarded(target)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.children")
    sub = parser.add_subparsers(dest="child", required=True)
    worker = sub.add_parser("worker")
    worker.add_argument("--concurrency", type=int, default=None)
    sub.add_parser("poller")
    web = sub.add_parser("web")
    web.add_argument("--host", required=True)
    web.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.umask(0o077)  # as `intake`: what the daemons write is the owner's alone
    setup_logging(os.environ.get("INTAKE_LOG_LEVEL", "INFO"))
    from workers import daemons

    if args.child == "worker":
        return _guarded(lambda: daemons.run_worker(beat=True, concurrency=args.concurrency))
    if args.child == "poller":
        return _guarded(daemons.run_poller)
    return _guarded(lambda: daemons.run_web(args.host, args.port, require_twilio=False))


if __name__ == "__main__":
    raise SystemExit(main())
