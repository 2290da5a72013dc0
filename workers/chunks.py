"""The bodies of the chunk tasks: many ids, one call into intake/, and what to enqueue next.

    process_chunk(rt, ids) -> (follow-ups to send, rows for the single-row task)
    send_chunk(rt, ids)    -> rows for the single-row send task

A chunk takes the fast path only for rows never tried before (`process_captured`, one
transaction for the lot, claimed in one statement). Everything else goes the careful way,
one task per row (`intake.process_inbox`): a row tried before may be the one that killed or
hung a worker, and only the single-row task records a time limit or a lost worker against
the right row and backs off while another worker's claim is live. So:

- a chunk redelivered after its worker died does not re-run the chunk: the rows it had
  claimed (attempts > 0) each get their own task, which waits for the dead claim to expire;
- a row another worker is processing right now (overlapping chunks) is left `captured` by
  the fast path and handed to the single-row task, which finds it done or waits its turn;
- rows already done or failed are skipped.

Exactly once is the claims' work (intake/process/claims.py); this only decides the path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import select

from intake.process.batch import process_captured
from intake.runtime import Runtime
from intake.send.batch import send_batch
from intake.tickets.models import Inbox, Outbox, Ticket
from intake.work import Work

log = logging.getLogger("intake.tasks")
SENT_OR_FINAL = frozenset({"sent", "delivered", "undelivered", "failed", "suppressed", "missing"})


def clean_ids(values: Iterable[object]) -> list[int]:
    """The ids of a task's arguments, each once, in order. Anything that is not a positive
    integer (a forged or corrupted message) is dropped with a log line: the rows it might
    have meant stay in the database for the sweeper."""
    ids: dict[int, None] = {}
    dropped = 0
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
            ids[value] = None
        else:
            dropped += 1
    if dropped:
        log.warning("a chunk task carried %d values that are not row ids; ignored", dropped)
    return list(ids)


def _captured(rt: Runtime, inbox_ids: list[int]) -> dict[int, tuple[int, bool]]:
    """id -> (attempts, private) of those rows still waiting to be processed."""
    with rt.sessions() as session:
        rows = session.execute(select(Inbox.id, Inbox.attempts, Inbox.private)
                               .where(Inbox.id.in_(inbox_ids), Inbox.status == "captured")).all()
    return {row.id: (int(row.attempts), bool(row.private)) for row in rows}


def process_chunk(rt: Runtime, inbox_ids: list[int]) -> tuple[Work, Work]:
    """Process a chunk of captures; returns the follow-ups to send and the rows the
    single-row task must take."""
    inbox_ids = clean_ids(inbox_ids)
    waiting = _captured(rt, inbox_ids)
    fresh = [i for i in inbox_ids if i in waiting and waiting[i][0] == 0]
    careful = [(i, waiting[i][1]) for i in inbox_ids if i in waiting and waiting[i][0] > 0]
    send: list[tuple[int, bool]] = []
    if fresh:
        outcomes = process_captured(rt, fresh, workers=1, send=False)
        for outcome in outcomes.values():
            if outcome is not None:
                send += [(outbox_id, outcome.private) for outbox_id in outcome.outbox_ids]
        careful += leftovers(rt, fresh).process  # busy elsewhere, or failed and to be retried
    return Work(send=tuple(send)), Work(process=tuple(careful))


def leftovers(rt: Runtime, inbox_ids: list[int]) -> Work:
    """Those of these rows still waiting to be processed, for the single-row task."""
    left = _captured(rt, inbox_ids)
    return Work(process=tuple((i, left[i][1]) for i in inbox_ids if i in left))


def send_chunk(rt: Runtime, outbox_ids: list[int]) -> Work:
    """Deliver a chunk of follow-ups; returns the rows not finished now (a transient failure
    waiting for its retry, or a row another worker is sending) for the single-row task,
    which backs off as each one needs."""
    outbox_ids = clean_ids(outbox_ids)
    statuses = send_batch(rt, outbox_ids)
    pending = [i for i in outbox_ids if statuses.get(i) not in SENT_OR_FINAL]
    if not pending:
        return Work()
    with rt.sessions() as session:
        rows = session.execute(select(Outbox.id, Ticket.private).join(Ticket, Ticket.id == Outbox.ticket_id)
                               .where(Outbox.id.in_(pending))).all()
    return Work(send=tuple((row.id, bool(row.private)) for row in rows))
