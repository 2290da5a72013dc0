"""Real intake processes for end-to-end tests: a Celery worker (with embedded beat) started
as production starts it, `intake worker`, in its own process group so a test can SIGKILL it
whole, and polling helpers that wait on the database (the source of truth)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.flows import INTAKE_BIN, REPO_ROOT


class WorkerProcess:
    def __init__(self, env: dict[str, str], log_path: Path, queues: str = "capture,process,private,outbound",
                 beat: bool = True, concurrency: int = 2, command: list[str] | None = None) -> None:
        self.env, self.log_path, self.queues = env, log_path, queues
        self.beat, self.concurrency = beat, concurrency
        # e.g. [python, -m, a test module wrapping the CLI]; run from the repository root
        self.command, self.cwd = (command, REPO_ROOT) if command else ([INTAKE_BIN], None)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        argv = [*self.command, "worker", "--queues", self.queues, "--concurrency", str(self.concurrency)]
        if self.beat:
            argv.append("--beat-embedded")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and its pool children."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               on_timeout: Callable[[], str] = lambda: "", interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{on_timeout()}")
