"""A private redis-server on a free loopback port, for broker-outage tests.

Never the machine's shared 127.0.0.1:6379: this one can be stopped and started again (on
the same port, empty: no persistence) to simulate Redis going away and coming back.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.ports import (LOOPBACK, free_port, make_run_dir, spawn_foreground, stop_process,
                                 wait_for_port)

REPO_ROOT = Path(__file__).resolve().parents[2]


class RedisServer:
    def __init__(self) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.dir = Path(make_run_dir("intake-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    def _binary(self) -> str:
        found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")
        if found is None:
            script = REPO_ROOT / "scripts" / "install-test-services.sh"
            subprocess.run(["bash", str(script)], stdin=subprocess.DEVNULL, check=False,
                           capture_output=True, timeout=600)
            found = shutil.which("redis-server", path="/usr/bin:/usr/sbin:/usr/local/bin")
        if found is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server, "
                               "or run scripts/install-test-services.sh as root)")
        return found

    def start(self) -> RedisServer:
        """Start (again). The first start picks a free port; restarts reuse it, so clients
        configured with `url` reconnect to the same address."""
        if self.running:
            return self
        binary = self._binary()
        for attempt in range(3):
            if not self.port or attempt:
                self.port = free_port()
            self._proc = spawn_foreground(
                [binary, "--bind", LOOPBACK, "--port", str(self.port), "--save", "",
                 "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no",
                 "--protected-mode", "yes", "--loglevel", "warning"],
                self.dir / "redis.log")
            if wait_for_port(self.port, alive=lambda: self.running, timeout=10) and self._is_ours():
                return self
            stop_process(self._proc)
        raise RuntimeError(f"redis-server did not start: {(self.dir / 'redis.log').read_text()[-1500:]}")

    def _is_ours(self) -> bool:
        # the port was free when probed; make sure the server answering is our process
        import redis

        client = redis.Redis(host=self.host, port=self.port, socket_connect_timeout=2)
        try:
            info: dict[str, object] = client.info("server")  # type: ignore[assignment]
            return info.get("process_id") == self.pid
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM by its pid, like an outage); start() brings it back."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None

    def kill(self) -> None:
        """SIGKILL: a crash rather than a clean shutdown."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
            self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
