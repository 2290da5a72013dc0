"""Processing of one captured input: the channel's handler, in one transaction (STYLE 4).

    load -> handler (email, sms, voice, menu, recording, transcription, transcript, status) -> outcome

The handler table is written out here, not filled by imports. A handler runs the message
flow (`flow.py`) or its own steps and ends with a named `Outcome`; the caller commits and
only then enqueues the outbox ids it returns (STYLE 10).

Each attempt is claimed first (`claims.py`): counted in the database before it starts, one
worker at a time, quarantined when INTAKE_PROCESS_MAX_ATTEMPTS run out.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from intake.failures import UserError, is_interrupt, safe_error
from intake.process import claims, email, sms, status, voice, web
from intake.process.claims import Busy
from intake.process.flow import (
    ADDED, DUPLICATE, IGNORED, NEW_TICKET, OPT_CHANGE, STATUS_QUERY, UPDATED, Context, Ended,
    Entry, Handler, Outcome, Prepared, message_flow, prepare_email, store_messages,
)
from intake.runtime import Runtime
from intake.tickets.models import Inbox, Ticket, core_table, utcnow

__all__ = [
    "ADDED", "DUPLICATE", "HANDLERS", "Busy", "IGNORED", "NEW_TICKET", "OPT_CHANGE", "STATUS_QUERY", "UPDATED",
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
    "transcript": voice.handle_transcript,
    "menu": voice.handle_menu,
    "status": status.handle_status,
    "web": web.handle_web,
}


# -- running one inbox row ----------------------------------------------------------------------

def _recorded(session: Session, inbox: Inbox) -> Outcome:
    """The outcome of a row that is already done (as DUPLICATE), failed, or a status callback
    kept `pending` until its send is recorded (a redelivered task leaves it waiting)."""
    ticket = session.get(Ticket, inbox.ticket_id) if inbox.ticket_id else None
    name = {"done": DUPLICATE, status.PENDING: status.PENDING}.get(inbox.status, "failed")
    return Outcome(name,
                   ticket_id=inbox.ticket_id, ticket_ref=ticket.ref if ticket else None,
                   private=inbox.private)


def _run_one(rt: Runtime, session: Session, inbox: Inbox, prepared: Prepared | None = None) -> Outcome:
    """Run the handler on a row this transaction owns (`claims.own`)."""
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
    inbox.claimed_at = None
    inbox.last_error = inbox.failure_reason = None
    outcome.outbox_ids = list(ctx.outbox_ids)
    session.flush()  # the next capture of a batch must see this one (sessions don't autoflush)
    return outcome


def _settled(rt: Runtime, inbox_id: int, status: str) -> Outcome:
    if status == "missing":
        raise UserError(f"inbox row {inbox_id} does not exist")
    with rt.sessions() as session:
        inbox = session.get(Inbox, inbox_id)
        if inbox is None:
            raise UserError(f"inbox row {inbox_id} does not exist")
        return _recorded(session, inbox)


def process_inbox(rt: Runtime, inbox_id: int, prepared: Prepared | None = None) -> Outcome:
    """Process one captured input in one transaction. Idempotent: a row already done returns
    its recorded outcome (as DUPLICATE when re-run), so a re-delivered task is harmless.
    Raises Busy while another worker holds the row."""
    claim = claims.claim(rt, inbox_id)
    if isinstance(claim, str):
        return _settled(rt, inbox_id, claim)
    with rt.sessions() as session:
        if not claims.own(session, [inbox_id], claim.claimed_at):
            # Someone else finished it, or took it over after our claim expired.
            session.rollback()
            status = session.scalar(select(Inbox.status).where(Inbox.id == inbox_id))
            if status == "captured":
                raise Busy(inbox_id, rt.settings.process_lease)
            return _settled(rt, inbox_id, status or "missing")
        try:
            inbox = session.get(Inbox, inbox_id)
            assert inbox is not None
            outcome = _run_one(rt, session, inbox, prepared)
            session.commit()
        except Exception:
            # The attempt stays counted; the claim ends so the caller's retry (or another
            # worker) need not wait out the lease. The caller records the failure.
            session.rollback()
            claims.release_quietly(rt, claim)
            raise
        return outcome


def process_batch(rt: Runtime, inbox_ids: list[int], prepared: dict[int, Prepared]
                  ) -> dict[int, Outcome | None]:
    """Process many prepared e-mail captures in one transaction: the never-claimed rows are
    claimed in one statement and stored as one chunk (`flow.store_messages`), their inbox
    rows finished in one executemany, one commit.

    The rest (claimed before, done, failed, not prepared) go one by one. If anything in the
    chunk fails, it is rolled back, its claims given back, and each row is processed on its
    own with the usual retries (a chunk of one), so one bad mail costs its neighbours only
    time and gets its own recorded reason.
    """
    claimed = claims.claim_fresh(rt, [i for i in inbox_ids if i in prepared])
    outcomes: dict[int, Outcome | None] = {}
    if claimed:
        claimed_at = next(iter(claimed.values())).claimed_at
        try:
            with rt.sessions() as session:
                owned = claims.own(session, claimed, claimed_at)
                mailboxes = {r.id: r.mailbox for r in session.execute(
                    select(Inbox.id, Inbox.mailbox).where(Inbox.id.in_(owned)))}
                order = [i for i in inbox_ids if i in owned]
                now = utcnow()
                stored = store_messages(rt, session, [Entry(i, mailboxes[i], prepared[i]) for i in order], now)
                _finish(session, dict(zip(order, stored, strict=True)), now)
                outcomes = dict(zip(order, stored, strict=True))
                session.commit()
        except Exception as exc:  # noqa: BLE001 - fall back to one transaction per row
            claims.release(rt, claimed.values(), uncount=True)
            if is_interrupt(exc):  # out of time: the rows go back, untouched, for the caller
                raise
            log.warning("batch of %d rolled back (%s); processing one by one", len(inbox_ids), type(exc).__name__)
            outcomes = {}
    for inbox_id in inbox_ids:
        if inbox_id not in outcomes:
            outcomes[inbox_id] = process_with_retries(rt, inbox_id)
    return outcomes


def _finish(session: Session, outcomes: dict[int, Outcome], now: dt.datetime) -> None:
    """`_run_one`'s record on each inbox row of a chunk, in one executemany."""
    if not outcomes:
        return
    table = core_table(Inbox)
    session.execute(
        update(table).where(table.c.id == bindparam("inbox_id"))
        .values(status="done", outcome=bindparam("outcome_name"), ticket_id=bindparam("ticket"),
                private=bindparam("is_private"), processed_at=now, updated_at=now, claimed_at=None,
                last_error=None, failure_reason=None),
        [{"inbox_id": inbox_id, "outcome_name": o.outcome, "ticket": o.ticket_id,
          "is_private": o.private and o.outcome != DUPLICATE} for inbox_id, o in outcomes.items()])


def record_failure(rt: Runtime, inbox_id: int, exc: BaseException, final: bool = False,
                   reason: str | None = None) -> bool:
    """Record a failed attempt (already counted by its claim) and end the claim; mark the
    row failed (quarantined) with the reason when `final`, for the sender's fault, or when
    INTAKE_PROCESS_MAX_ATTEMPTS are used up. The raw input stays: `intake reprocess` can run
    it again after a fix. Returns True when the row is now failed."""
    detail = safe_error(exc)
    if reason is None:
        reason = (claims.USER_ERROR if isinstance(exc, UserError)
                  else claims.MEMORY if isinstance(exc, MemoryError) else claims.ERROR)
    with rt.sessions() as session:
        inbox = session.get(Inbox, inbox_id)
        if inbox is None or inbox.status != "captured":
            return inbox is not None and inbox.status == "failed"
        inbox.last_error = detail if reason in (claims.ERROR, claims.USER_ERROR) else f"{reason}: {detail}"
        inbox.failure_reason = reason
        inbox.claimed_at = None
        inbox.updated_at = utcnow()
        failed = final or isinstance(exc, UserError) or inbox.attempts >= rt.settings.process_max_attempts
        if failed:
            inbox.status = "failed"
        session.commit()
    level = logging.INFO if isinstance(exc, UserError) else logging.ERROR
    log.log(level, "inbox %s failed (%s, %s): %s", inbox_id, reason, "final" if failed else "will retry", detail)
    return failed


def process_with_retries(rt: Runtime, inbox_id: int, attempts: int = 3) -> Outcome | None:
    """Synchronous processing for the CLI (ingest, poll --once): a few tries in-process, then
    the row is marked failed with its reason. Returns None when it failed (or another
    process holds it: then that one finishes it, or the worker / sweeper does later)."""
    for attempt in range(1, attempts + 1):
        try:
            return process_inbox(rt, inbox_id)
        except Busy:
            log.info("inbox %s is being processed elsewhere; left to it", inbox_id)
            return None
        except UserError as exc:
            record_failure(rt, inbox_id, exc, final=True)
            return None
        except OperationalError as exc:  # database locked / gone for a moment: try again
            try:
                if record_failure(rt, inbox_id, exc, final=attempt == attempts):
                    return None
            except OperationalError:
                if attempt == attempts:
                    return None
        except Exception as exc:  # noqa: BLE001 - our fault: record, retry, then quarantine
            if is_interrupt(exc):
                raise
            if record_failure(rt, inbox_id, exc, final=attempt == attempts):
                return None
    return None
