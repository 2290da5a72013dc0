"""The sweeper: re-enqueue work that no task is doing (the broker lost it, a worker died).

Celery carries work; the database holds truth. Lose Redis, lose nothing.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, update

from intake import dispatch
from intake.runtime import Runtime
from intake.tickets.models import Inbox, Outbox, utcnow

log = logging.getLogger("intake.sweeper")


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


def stale_outbox(rt: Runtime, now: dt.datetime | None = None, limit: int = 1000) -> list[int]:
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=rt.settings.stale_after)
    with rt.sessions() as session:
        ids = list(session.scalars(
            select(Outbox.id).where(Outbox.status.in_(("queued", "sending")), Outbox.updated_at < cutoff,
                                    (Outbox.next_attempt_at.is_(None)) | (Outbox.next_attempt_at <= now))
            .order_by(Outbox.id).limit(limit)))
        if ids:
            session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(updated_at=now))
            session.commit()
    return ids


def sweep(rt: Runtime) -> dict[str, int]:
    inbox = stale_inbox(rt)
    outbox = stale_outbox(rt)
    sent = 0
    for inbox_id, private in inbox:
        sent += dispatch.enqueue_process([inbox_id], private=private)
    sent += dispatch.enqueue_send(outbox)
    extra = 0
    try:
        from intake.phone import sweep_transcriptions
    except ImportError:
        pass
    else:
        extra = sweep_transcriptions(rt)
    if inbox or outbox:
        log.info("sweeper re-enqueued %d inbox and %d outbox rows", len(inbox), len(outbox))
    return {"inbox": len(inbox), "outbox": len(outbox), "enqueued": sent, "transcriptions": extra}
