"""Free loopback ports, waiting for listeners, and child servers that die with the test run."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence

LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    There is an unavoidable race between closing this socket and the server binding the
    port; the servers in tests/support retry with a new port when their bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(port: int, host: str = LOOPBACK, timeout: float = 10.0,
                  alive: Callable[[], bool] | None = None) -> bool:
    """Poll until something accepts on (host, port); False on timeout or once `alive()` is False."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port, host):
            return True
        if alive is not None and not alive():
            return False
        time.sleep(0.05)
    return False


def _die_with_parent() -> None:  # runs in the child between fork and exec
    # If the test process is killed (CI timeout, Ctrl-C twice), the kernel sends SIGTERM
    # to the server too, so no Dovecot/Redis outlives its test session (prctl(2)).
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn_foreground(argv: Sequence[str], log_path: str | os.PathLike[str]) -> subprocess.Popen[bytes]:
    """Start a server that stays in the foreground; stdin is /dev/null, output goes to a file."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                                close_fds=True)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process we started (by its pid), SIGKILL if it lingers; idempotent."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def make_run_dir(prefix: str) -> str:
    """A fresh directory /tmp/<prefix>XXXX, marked with our pid; directories with that
    prefix left behind by test processes that no longer exist (killed runs) are removed."""
    import glob
    import shutil
    import tempfile

    for stale in glob.glob(f"/tmp/{glob.escape(prefix)}*/owner.pid"):
        try:
            with open(stale) as fh:
                owner = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if not _process_alive(owner):
            shutil.rmtree(os.path.dirname(stale), ignore_errors=True)
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    with open(os.path.join(path, "owner.pid"), "w") as fh:
        fh.write(str(os.getpid()))
    return path


def _process_alive(pid: int) -> bool:
    """True if pid runs; a zombie (killed, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:][:1] != b"Z"
