"""Processing of one captured input: the channel's handler, in one transaction (STYLE 4).

    load -> handler (email, sms, voice, recording, transcription, status) -> outcome

The handler table is written out here, not filled by imports. A handler runs the message
flow (`flow.py`) or its own steps and ends with a named `Outcome`; the caller commits and
only then enqueues the outbox ids it returns (STYLE 10).
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from intake.db import for_update
from intake.failures import UserError, safe_error
from intake.process import email, sms, status, voice
from intake.process.flow import (
    ADDED, DUPLICATE, IGNORED, NEW_TICKET, OPT_CHANGE, STATUS_QUERY, UPDATED, Context, Ended,
    Handler, Outcome, Prepared, message_flow, prepare_email,
)
from intake.runtime import Runtime
from intake.tickets.models import Inbox, Ticket, utcnow

__all__ = [
    "ADDED", "DUPLICATE", "HANDLERS", "IGNORED", "NEW_TICKET", "OPT_CHANGE", "STATUS_QUERY", "UPDATED",
    "Context", "Ended", "Outcome", "Prepared", "UserError", "message_flow", "prepare_email",
    "process_batch", "process_inbox", "process_with_retries", "record_failure", "safe_error",
]

log = logging.getLogger("intake.process")

# channel of the inbox row -> its handler
HANDLERS: dict[str, Handler] = {
    "email": email.handle_email,
    "sms": sms.handle_sms,
    "voice": voice.handle_call,
    "recording": voice.handle_recording,
    "transcription": voice.handle_transcription,
    "status": status.handle_status,
}


# -- running one inbox row ----------------------------------------------------------------------

def _run_one(rt: Runtime, session: Session, inbox: Inbox, prepared: Prepared | None = None) -> Outcome:
    if inbox.status in ("done", "failed"):
        ticket = session.get(Ticket, inbox.ticket_id) if inbox.ticket_id else None
        return Outcome(DUPLICATE if inbox.status == "done" else "failed",
                       ticket_id=inbox.ticket_id, ticket_ref=ticket.ref if ticket else None,
                       private=inbox.private)
    handler = HANDLERS.get(inbox.channel)
    if handler is None:
        raise UserError(f"no handler for channel {inbox.channel!r}")
    ctx = Context(rt=rt, session=session, inbox=inbox, now=utcnow(), prepared=prepared)
    try:
        outcome = handler(ctx)
    except Ended as ended:
        outcome = ended.outcome
    # A status callback that outran its send waits as `pending` (process/status.py).
    inbox.status = status.PENDING if outcome.outcome == status.PENDING else "done"
    inbox.outcome = outcome.outcome
    inbox.ticket_id = outcome.ticket_id if outcome.ticket_id else inbox.ticket_id
    inbox.processed_at = inbox.updated_at = ctx.now
    inbox.attempts += 1
    inbox.last_error = None
    outcome.outbox_ids = list(ctx.outbox_ids)
    session.flush()  # the next capture of a batch must see this one (sessions don't autoflush)
    return outcome


def process_inbox(rt: Runtime, inbox_id: int, prepared: Prepared | None = None) -> Outcome:
    """Process one captured input in one transaction. Idempotent: a row already done returns
    its recorded outcome (as DUPLICATE when re-run), so a re-delivered task is harmless."""
    with rt.sessions() as session:
        inbox = session.scalar(for_update(session, select(Inbox).where(Inbox.id == inbox_id)))
        if inbox is None:
            raise UserError(f"inbox row {inbox_id} does not exist")
        outcome = _run_one(rt, session, inbox, prepared)
        session.commit()
        return outcome


def process_batch(rt: Runtime, inbox_ids: list[int], prepared: dict[int, Prepared] | None = None
                  ) -> dict[int, Outcome | None]:
    """Process many captures in one transaction (one commit instead of one per mail).

    If anything in the batch fails, the batch is rolled back and each row is processed on
    its own with the usual retries, so one bad mail costs its neighbours only time.
    """
    prepared = prepared or {}
    try:
        with rt.sessions() as session:
            rows = {row.id: row for row in session.scalars(
                for_update(session, select(Inbox).where(Inbox.id.in_(inbox_ids)).order_by(Inbox.id)))}
            outcomes: dict[int, Outcome | None] = {}
            for inbox_id in inbox_ids:
                if inbox_id in rows:
                    outcomes[inbox_id] = _run_one(rt, session, rows[inbox_id], prepared.get(inbox_id))
            session.commit()
            return outcomes
    except Exception as exc:  # noqa: BLE001 - fall back to one transaction per row
        log.info("batch of %d rolled back (%s); processing one by one", len(inbox_ids), type(exc).__name__)
    return {inbox_id: process_with_retries(rt, inbox_id) for inbox_id in inbox_ids}


def record_failure(rt: Runtime, inbox_id: int, exc: BaseException, final: bool) -> None:
    """Count a failed attempt; on the final one mark the row failed (quarantined) with the
    reason. The raw input stays: `intake reprocess` can run it again after a fix."""
    reason = safe_error(exc)
    with rt.sessions() as session:
        inbox = session.get(Inbox, inbox_id)
        if inbox is None or inbox.status == "done":
            return
        inbox.attempts += 1
        inbox.last_error = reason
        inbox.updated_at = utcnow()
        if final or isinstance(exc, UserError):
            inbox.status = "failed"
        session.commit()
    level = logging.INFO if isinstance(exc, UserError) else logging.ERROR
    log.log(level, "inbox %s failed (%s): %s", inbox_id, "final" if final else "will retry", reason)


def process_with_retries(rt: Runtime, inbox_id: int, attempts: int = 3) -> Outcome | None:
    """Synchronous processing for the CLI (ingest, poll --once): a few tries in-process, then
    the row is marked failed with its reason. Returns None when it failed."""
    for attempt in range(1, attempts + 1):
        try:
            return process_inbox(rt, inbox_id)
        except UserError as exc:
            record_failure(rt, inbox_id, exc, final=True)
            return None
        except OperationalError as exc:  # database locked / gone for a moment: try again
            if attempt == attempts:
                record_failure(rt, inbox_id, exc, final=True)
                return None
        except Exception as exc:  # noqa: BLE001 - our fault: record, retry, then quarantine
            record_failure(rt, inbox_id, exc, final=attempt == attempts)
            if attempt == attempts:
                return None
    return None
