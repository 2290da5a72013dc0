"""The sweeper: re-enqueue work that no task is doing (the broker lost it, a worker died).

Celery carries work; the database holds truth. Lose Redis, lose nothing.
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
    """Captured rows untouched for `stale_after` seconds, claimed by touching updated_at so
    two sweepers do not both resend them."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=rt.settings.stale_after)
    with rt.sessions() as session:
        rows = session.execute(
            select(Inbox.id, Inbox.private).where(Inbox.status == "captured", Inbox.updated_at < cutoff)
            .order_by(Inbox.id).limit(limit)).all()
        if rows:
            session.execute(update(Inbox).where(Inbox.id.in_([r.id for r in rows])).values(updated_at=now))
            session.commit()
    return [(r.id, bool(r.private)) for r in rows]


def stale_outbox(rt: Runtime, now: dt.datetime | None = None, limit: int = 1000) -> list[tuple[int, bool]]:
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=rt.settings.stale_after)
    with rt.sessions() as session:
        rows = session.execute(
            select(Outbox.id, Ticket.private).join(Ticket, Ticket.id == Outbox.ticket_id).where(Outbox.status.in_(("queued", "sending")), Outbox.updated_at < cutoff,
                                    (Outbox.next_attempt_at.is_(None)) | (Outbox.next_attempt_at <= now))
            .order_by(Outbox.id).limit(limit)).all()
        if rows:
            session.execute(update(Outbox).where(Outbox.id.in_([r.id for r in rows])).values(updated_at=now))
            session.commit()
    return [(r.id, bool(r.private)) for r in rows]


def sweep(rt: Runtime) -> tuple[dict[str, int], Work]:
    """Claim the stale rows and finish timed-out voicemails; returns a summary and the
    `Work` the caller enqueues (ids with their privacy, so private rows stay private)."""
    inbox = stale_inbox(rt)
    outbox = stale_outbox(rt)
    handled, voicemail = sweep_transcriptions(rt)
    if inbox or outbox:
        log.info("sweeper found %d inbox and %d outbox rows to re-enqueue", len(inbox), len(outbox))
    work = Work(process=tuple(inbox), send=tuple(outbox)) + voicemail
    return {"inbox": len(inbox), "outbox": len(outbox), "transcriptions": handled}, work
