"""Slowing down clients that keep presenting bad tokens, one client address at a time.

After `free` bad tokens in a window, a client address must wait before its next token is
even checked; each further failure doubles the wait, up to `max_wait` seconds. The waits
are per address, so an attacker slows only itself, never an agent signing in from
elsewhere; a good token clears the address. The table is bounded (least recently failing
addresses dropped first), so a spray of addresses costs bounded memory. It lives in each
web process: with N processes an address gets at most N times the free attempts, still
bounded by the doubling wait.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int
    last: float
    blocked_until: float


class BadTokenThrottle:
    def __init__(self, free: int = 5, window: float = 600.0, base_wait: float = 1.0,
                 max_wait: float = 60.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.window, self.base_wait, self.max_wait = free, window, base_wait, max_wait
        self.max_clients, self.clock = max_clients, clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds this client must still wait before a token of theirs is checked (0: none)."""
        with self._lock:
            record = self._records.get(client)
            if record is None:
                return 0.0
            return max(0.0, record.blocked_until - self.clock())

    def failed(self, client: str) -> float:
        """Count a bad token; returns the wait it brings."""
        now = self.clock()
        with self._lock:
            record = self._records.pop(client, None)
            if record is None or now - record.last > self.window:
                record = _Record(0, now, 0.0)
            record.failures += 1
            record.last = now
            over = record.failures - self.free
            if over > 0:
                record.blocked_until = now + min(self.max_wait, self.base_wait * 2 ** min(over - 1, 30))
            self._records[client] = record
            while len(self._records) > self.max_clients:
                self._records.popitem(last=False)
            return max(0.0, record.blocked_until - now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._records.pop(client, None)
