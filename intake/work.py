"""What a domain function asks its caller to enqueue once its transaction has committed.

The domain never talks to the broker (ARCHITECTURE: a domain function returns what should
be enqueued; a task enqueues it). `Work` carries ids and the privacy of each, so private
rows keep the private queue on every path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Work:
    process: tuple[tuple[int, bool], ...] = ()  # (inbox id, private)
    send: tuple[tuple[int, bool], ...] = ()  # (outbox id, private)

    @classmethod
    def of(cls, *, process: Iterable[int] = (), send: Iterable[int] = (), private: bool = False) -> "Work":
        return cls(tuple((i, private) for i in process), tuple((i, private) for i in send))

    def __add__(self, other: "Work") -> "Work":
        return Work(self.process + other.process, self.send + other.send)

    def __bool__(self) -> bool:
        return bool(self.process or self.send)


# Hands `Work` to the broker after commit; returns how many tasks it enqueued. The web app
# and the CLI receive one from `workers/`; the domain only ever returns `Work`.
Enqueue = Callable[[Work], int]


def discard(work: Work) -> int:
    """An `Enqueue` for processes with no broker (one-shot commands send inline)."""
    return 0
