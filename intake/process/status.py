"""Processing of Twilio delivery status callbacks for the SMS we sent: the outbox row's
delivery status, never stepping back.

Twilio can call back before the send task has recorded the MessageSid it got. Such a
callback is kept, not retried until it fails: its inbox row waits with status `pending`
(the reported status in its meta) and is applied when the send is recorded
(`apply_pending_statuses`, called by the send path in the transaction that records the
sid), or by the next status callback processed (`settle_pending`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from intake.db import for_update
from intake.process import flow
from intake.tickets.models import Inbox, Outbox, utcnow

log = logging.getLogger("intake.process.status")

# MessageStatus -> outbox status (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status)
_DELIVERY = {"sent": "sent", "delivered": "delivered", "read": "delivered",
             "undelivered": "undelivered", "failed": "failed"}
_RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3}

# Inbox status and outcome of a callback kept until its send is recorded.
PENDING = "pending"
# A pending callback whose send is never recorded (the send failed, or it was not ours
# after all) is set aside as ignored after this long, so pending rows do not pile up.
PENDING_PATIENCE = dt.timedelta(hours=24)
SETTLE_BATCH = 100


def handle_status(ctx: flow.Context) -> flow.Outcome:
    params = flow.params(ctx, "MessageSid", "MessageStatus")
    sid, reported = params["MessageSid"].strip(), params["MessageStatus"].strip().lower()
    error_code = (params.get("ErrorCode") or "").strip() or None
    session = ctx.session
    _lock_sid(session, sid)
    row = _sent_row(session, sid)
    if row is None:
        in_flight = session.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.channel == "sms", Outbox.status == "sending")) or 0
        if not in_flight:
            log.info("status %s (%s): no outbox row sent with that sid", sid, reported[:32])
            settle_pending(session, ctx.now, skip=ctx.inbox.id)
            return flow.Outcome(flow.IGNORED)
        # One of our SMS is being sent: this is most likely its callback, ahead of the
        # send task recording the sid. Keep it; the send applies it.
        ctx.inbox.meta = {**(ctx.inbox.meta or {}), "sid": sid, "message_status": reported,
                          "error_code": error_code}
        log.info("status %s (%s): kept until its send is recorded", sid, reported[:32])
        settle_pending(session, ctx.now, skip=ctx.inbox.id)
        return flow.Outcome(PENDING)
    _apply_pending_rows(session, row, sid, ctx.now, exclude=ctx.inbox.id)
    apply_status(row, reported, error_code, ctx.now)
    settle_pending(session, ctx.now, skip=ctx.inbox.id)
    log.info("status %s: outbox %s now %s (%s)", sid, row.id, row.status, reported[:32])
    return flow.Outcome(flow.UPDATED, ticket_id=row.ticket_id)


def apply_status(row: Outbox, reported: str, error_code: str | None, now: dt.datetime) -> None:
    """One reported MessageStatus on its outbox row. Callbacks arrive out of order and more
    than once: never step back (delivered -> sent)."""
    row.provider_status = reported[:32]
    status = _DELIVERY.get(reported)
    if status and row.status != "suppressed" and _RANK[status] >= _RANK.get(row.status, 0):
        row.status = status
        if status in ("undelivered", "failed"):
            row.error_code = (error_code or row.error_code or "")[:32] or None
    row.updated_at = now


def apply_pending_statuses(session: Session, provider_id: str, now: dt.datetime | None = None) -> int:
    """Apply the status callbacks that arrived before the send of `provider_id` was recorded.

    For the send path: call it in the transaction that records the sid, right after the
    outbox row gets its `provider_id` and before the commit. Takes the sid's lock first
    (as `handle_status` does), so a callback being processed at the same moment is either
    seen here as pending or sees the recorded sid itself. Returns how many were applied.
    """
    now = now or utcnow()
    _lock_sid(session, provider_id)
    session.flush()  # the recorded sid, so the lookup below finds the row
    row = _sent_row(session, provider_id)
    if row is None:
        return 0
    return _apply_pending_rows(session, row, provider_id, now)


def settle_pending(session: Session, now: dt.datetime, skip: int | None = None) -> int:
    """Pending callbacks (of any sid) whose send has been recorded since are applied; those
    older than PENDING_PATIENCE are set aside as ignored. Never waits for another worker's
    lock: rows and sids busy elsewhere are left for the next pass. Returns rows settled."""
    session.flush()  # rows this transaction already settled are no longer pending
    query = select(Inbox).where(Inbox.status == PENDING, Inbox.channel == "status")
    if skip is not None:
        query = query.where(Inbox.id != skip)
    pending = session.scalars(for_update(session, query.order_by(Inbox.id).limit(SETTLE_BATCH),
                                         skip_locked=True)).all()
    settled = 0
    for inbox in pending:
        sid = str((inbox.meta or {}).get("sid") or "")
        if not sid or not _try_lock_sid(session, sid):
            continue
        row = _sent_row(session, sid)
        if row is not None:
            _apply_one(inbox, row, now)
            settled += 1
        elif now - inbox.captured_at >= PENDING_PATIENCE:
            _finish(inbox, flow.IGNORED, None, now)
            log.info("status %s: inbox %s set aside, no send recorded within %s", sid, inbox.id,
                     PENDING_PATIENCE)
            settled += 1
    return settled


def _apply_pending_rows(session: Session, row: Outbox, sid: str, now: dt.datetime,
                        exclude: int | None = None) -> int:
    query = select(Inbox).where(Inbox.status == PENDING, Inbox.channel == "status",
                                Inbox.meta["sid"].as_string() == sid)
    if exclude is not None:
        query = query.where(Inbox.id != exclude)
    # SKIP LOCKED: a row another worker holds is being settled by it (see settle_pending).
    pending = session.scalars(for_update(session, query.order_by(Inbox.id), skip_locked=True)).all()
    for inbox in pending:
        _apply_one(inbox, row, now)
    return len(pending)


def _apply_one(inbox: Inbox, row: Outbox, now: dt.datetime) -> None:
    meta = inbox.meta or {}
    apply_status(row, str(meta.get("message_status") or ""), meta.get("error_code"), now)
    _finish(inbox, flow.UPDATED, row.ticket_id, now)
    log.info("status %s: kept callback inbox %s applied, outbox %s now %s", meta.get("sid"),
             inbox.id, row.id, row.status)


def _finish(inbox: Inbox, outcome: str, ticket_id: int | None, now: dt.datetime) -> None:
    inbox.status, inbox.outcome = "done", outcome
    inbox.ticket_id = ticket_id or inbox.ticket_id
    inbox.processed_at = inbox.updated_at = now


def _sent_row(session: Session, sid: str) -> Outbox | None:
    return session.scalar(for_update(session, select(Outbox).where(Outbox.provider_id == sid)
                                     .order_by(Outbox.id).limit(1)))


def _sid_key(sid: str) -> int:
    return int.from_bytes(hashlib.sha256(b"intake-status:" + sid.encode()).digest()[:8], "big", signed=True)


def _lock_sid(session: Session, sid: str) -> None:
    """Serialise the callback and the send's recording of one sid (held to commit).

    PostgreSQL: a transaction-scoped advisory lock on the sid. SQLite: pysqlite starts a
    transaction only at the first write, so a no-op UPDATE takes the database's write lock
    now and the lookups after it see every committed send."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _sid_key(sid)})
    else:
        session.execute(update(Outbox).where(Outbox.provider_id == sid)
                        .values(provider_id=Outbox.provider_id)
                        .execution_options(synchronize_session=False))


def _try_lock_sid(session: Session, sid: str) -> bool:
    if session.get_bind().dialect.name == "postgresql":
        return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _sid_key(sid)}))
    return True  # SQLite: this transaction already holds the write lock (_lock_sid)
