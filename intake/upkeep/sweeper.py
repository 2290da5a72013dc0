"""The sweeper: re-enqueue work that no task is doing (the broker lost it, a worker died).

Celery carries work; the database holds truth. Lose Redis, lose nothing.

Only the stale: every row records when a task for it was last handed to the broker or
claimed by a worker (`enqueued_at`). A row merely waiting in a long queue was enqueued
recently and is left alone; a row untouched for INTAKE_STALE_AFTER is re-enqueued and
marked enqueued in the same statement (UPDATE ... RETURNING), so each row is re-enqueued
at most once per window, by one sweeper, however deep the backlog.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, update

from intake.runtime import Runtime
from intake.tickets.models import Inbox, Outbox, Ticket, utcnow
from intake.upkeep.timeouts import sweep_transcriptions
from intake.work import Work

log = logging.getLogger("intake.upkeep.sweeper")


def stale_inbox(rt: Runtime, now: dt.datetime | None = None, limit: int = 1000) -> list[tuple[int, bool]]:
    """Captured rows neither enqueued nor claimed for `stale_after` seconds (the broker lost
    their task, or their worker died), with their privacy; marked enqueued now."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=rt.settings.stale_after)
    stale = (Inbox.status == "captured", Inbox.enqueued_at < cutoff)
    candidates = select(Inbox.id).where(*stale).order_by(Inbox.id).limit(limit).scalar_subquery()
    with rt.sessions() as session:
        # The WHERE is repeated outside the subquery: a second sweeper's UPDATE that waited
        # for this one's row locks (PostgreSQL) re-checks it and passes these rows by.
        rows = session.execute(
            update(Inbox).where(Inbox.id.in_(candidates), *stale).values(enqueued_at=now)
            .returning(Inbox.id, Inbox.private).execution_options(synchronize_session=False)).all()
        session.commit()
    return sorted((r.id, bool(r.private)) for r in rows)


def stale_outbox(rt: Runtime, now: dt.datetime | None = None, limit: int = 1000) -> list[tuple[int, bool]]:
    """Queued (due) or sending rows neither enqueued nor claimed for `stale_after` seconds,
    with their ticket's privacy; marked enqueued now. A retry's ETA counts as its enqueue
    time (delivery records it so), so a row waiting for its retry is not stale."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=rt.settings.stale_after)
    stale = (Outbox.status.in_(("queued", "sending")), Outbox.enqueued_at < cutoff,
             (Outbox.next_attempt_at.is_(None)) | (Outbox.next_attempt_at <= now))
    candidates = select(Outbox.id).where(*stale).order_by(Outbox.id).limit(limit).scalar_subquery()
    with rt.sessions() as session:
        ids = session.execute(
            update(Outbox).where(Outbox.id.in_(candidates), *stale).values(enqueued_at=now)
            .returning(Outbox.id).execution_options(synchronize_session=False)).scalars().all()
        rows = session.execute(select(Outbox.id, Ticket.private).join(Ticket, Ticket.id == Outbox.ticket_id)
                               .where(Outbox.id.in_(ids))).all() if ids else []
        session.commit()
    return sorted((r.id, bool(r.private)) for r in rows)


def sweep(rt: Runtime, now: dt.datetime | None = None) -> tuple[dict[str, int], Work]:
    """Claim the stale rows and finish timed-out voicemails; returns a summary and the
    `Work` the caller enqueues (ids with their privacy, so private rows stay private)."""
    inbox = stale_inbox(rt, now)
    outbox = stale_outbox(rt, now)
    handled, voicemail = sweep_transcriptions(rt, now)
    if inbox or outbox:
        log.info("sweeper found %d inbox and %d outbox rows to re-enqueue", len(inbox), len(outbox))
    work = Work(process=tuple(inbox), send=tuple(outbox)) + voicemail
    return {"inbox": len(inbox), "outbox": len(outbox), "transcriptions": handled}, work
