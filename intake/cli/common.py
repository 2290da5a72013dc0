"""What the commands share: JSON lines out, the runtime with its start-up checks, and the
hand-over to the daemons' broker (the CLI is the one room of intake/ that reaches workers/)."""

from __future__ import annotations

import json
import sys
from typing import Any

def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def runtime(upgrade: bool = True, check: bool = False) -> Any:
    from intake.preflight import start

    # Data directory, database, schema and key checked first (one line and exit 2 if wrong)
    rt = start(upgrade=upgrade)
    if check:
        # Daemons check their config at start: a broken triage rule or template stops
        # start-up naming the file and line, instead of failing on the first message.
        from intake.mailboxes import load_mailboxes
        from intake.outbox.compose import composer_for

        rt.rules  # noqa: B018
        composer_for(rt).check()
        load_mailboxes(rt.settings)
    return rt


def freeze_heap() -> None:
    """What a daemon or `poll` built before it forks its pool (the stack, the rules, the
    templates) lives as long as the process: frozen, no garbage collection walks it again,
    in the parent or in a pool process, and a pool process's collections do not write into
    (and so copy) the pages it shares with the parent. Done by the command, not the library:
    a frozen heap hides its objects from `gc.get_referrers`, which tests and tools use."""
    import gc

    gc.freeze()


def send_inline(rt: Any, outbox_ids: list[int]) -> None:
    """One-shot commands deliver the follow-ups they cause before returning."""
    from intake.send.batch import send_batch

    send_batch(rt, outbox_ids)


def dispatcher(rt: Any) -> Any:
    """The task layer's enqueue, for the commands that hand work to the daemons (the CLI
    is the one room of intake/ that reaches workers/)."""
    from workers.app import make_celery
    from workers.dispatch import Dispatcher

    return Dispatcher(make_celery(rt.settings))


def is_private(rt: Any, ref: str) -> bool:
    from sqlalchemy import select

    from intake.tickets.models import Ticket

    with rt.sessions() as session:
        return bool(session.scalar(select(Ticket.private).where(Ticket.ref == ref.upper())))
