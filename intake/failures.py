"""Failures, named once for every stage: the sender's fault, a description of our fault
that is safe to store and log, and the backoff between tries (STYLE 6, 9)."""

from __future__ import annotations

import random
import sys
import traceback
from collections.abc import Callable


# What stops the work in hand instead of failing one input: a Celery task's soft time
# limit. Code that records a failure and carries on (a chunk's fallbacks, the in-process
# retries) lets these through, so the task that owns the time ends and the slow row is
# then tried on its own, where its time limit is recorded against it alone. workers/
# registers Celery's class when it builds its app: intake/ imports no Celery.
_interrupts: tuple[type[BaseException], ...] = ()


def register_interrupt(kind: type[BaseException]) -> None:
    global _interrupts
    if kind not in _interrupts:
        _interrupts = (*_interrupts, kind)


def is_interrupt(exc: BaseException) -> bool:
    return isinstance(exc, _interrupts)


class UserError(Exception):
    """The sender's fault (unreadable input): logged at info, never retried (STYLE 6).

    Its message must be safe for logs: never message text.
    """


def safe_error(exc: BaseException) -> str:
    """A description of a failure that is safe to store and log: the exception class and
    where it happened, never its message (it may quote private text), except for our own
    UserError whose messages are written to be safe."""
    if isinstance(exc, UserError):
        return f"UserError: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames[-6:]))
    return f"{type(exc).__name__} at {where}"


def backoff(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter, so the retries of many rows spread out instead of
    hammering a recovering server together: attempt 1 -> base/2..base, 2 -> base..2*base,
    ... never above `cap`."""
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    return random.uniform(ceiling / 2, ceiling)


def guarded(target: Callable[[], int]) -> int:
    """Run a command or daemon; a setting or config file it cannot use is told in one line
    naming it (exit 2), not as a traceback. `intake` and the daemons it forks share it."""
    from intake.settings import SettingsError

    try:
        return target()
    except SettingsError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Config files that ops edit (triage rules, templates) fail naming the file and line.
        if type(exc).__name__ in ("TriageConfigError", "TemplateError"):
            print(f"intake: {exc}", file=sys.stderr)
            return 2
        raise
