"""Processing of one captured input: a named pipeline of small steps (STYLE 4).

    load -> normalize -> dedupe -> triage -> contact -> thread -> store -> follow-ups

Each step either passes a value on or ends the flow with a named `Outcome`. The whole
pipeline for one inbox row runs in one transaction; the caller commits and only then
enqueues the outbox ids it returns (STYLE 10).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.db import for_update
from intake.messages import InboundMessage, Triage
from intake.runtime import Runtime
from intake.tickets import store
from intake.tickets.models import Inbox, Message, Ticket, utcnow

if TYPE_CHECKING:
    from intake.triage import Rules

log = logging.getLogger("intake.pipeline")

# Named outcomes
NEW_TICKET = "new_ticket"
ADDED = "added_to_ticket"
DUPLICATE = "duplicate"
OPT_CHANGE = "opt_change"
STATUS_QUERY = "status_query"
UPDATED = "updated"  # a callback that changed an existing message / outbox row
IGNORED = "ignored"


@dataclass
class Outcome:
    outcome: str
    ticket_id: int | None = None
    ticket_ref: str | None = None
    message_id: int | None = None
    parse_error: bool = False
    private: bool = False
    outbox_ids: list[int] = field(default_factory=list)


class UserError(Exception):
    """The sender's fault (unreadable input): logged at info, never retried (STYLE 6).

    Its message must be safe for logs: never message text.
    """


class Ended(Exception):
    """Raised inside a step to end the flow with a named outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.outcome)
        self.outcome = outcome


@dataclass
class Context:
    rt: Runtime
    session: Session
    inbox: Inbox
    now: dt.datetime
    outbox_ids: list[int] = field(default_factory=list)
    prepared: "Prepared | None" = None  # pure steps already run (possibly in another process)


Handler = Callable[[Context], Outcome]
# channel -> handler. Email and SMS share the message flow; phone callbacks register theirs
# (intake.phone) when imported.
HANDLERS: dict[str, Handler] = {}


def register(channel: str) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        HANDLERS[channel] = handler
        return handler
    return wrap


def raw_bytes(ctx: Context) -> bytes:
    return ctx.rt.vault.decrypt(ctx.inbox.raw)


def raw_params(ctx: Context) -> dict[str, str]:
    data = json.loads(raw_bytes(ctx).decode("utf-8"))
    return dict(data.get("params", data))


# -- the message flow ------------------------------------------------------------------------

@dataclass(frozen=True)
class Prepared:
    """The result of the pure steps for one capture: normalize, fingerprint, triage.

    Computed without the database, so a batch can be prepared in parallel processes and
    then stored in one transaction.
    """

    msg: InboundMessage
    dedupe_key: str
    triage: Triage


def triage_for(msg: InboundMessage, rules: "Rules", meta: dict[str, Any] | None) -> Triage:
    from intake.triage import triage_message

    triage = triage_message(msg, rules)
    default_department = (meta or {}).get("department")
    if default_department and triage.category == "other":
        # A mailbox declared for one department (finance@) routes what triage could not place.
        triage = replace(triage, department=default_department)
    return triage


def prepare_email(raw: bytes, meta: dict[str, Any] | None, rules: "Rules",
                  max_attachment_bytes: int | None = None) -> Prepared:
    """Pure: raw RFC 5322 bytes -> message, dedupe key and triage. Raises UserError for
    input that holds no message at all."""
    from intake.normalize.email import ParseFailure, parse_email

    try:
        msg = parse_email(raw, max_attachment_bytes=max_attachment_bytes)
    except ParseFailure as exc:
        raise UserError(f"unreadable email: {exc}") from None
    if (meta or {}).get("oversize"):
        # Only the headers were taken (INTAKE_MAX_MESSAGE_BYTES); the mail waits in the
        # quarantine folder. The sender still gets a ticket, marked so an agent looks.
        msg = replace(msg, parse_error="message over the size limit: headers only, full mail "
                      "kept in the mailbox's quarantine folder")
    return Prepared(msg, store.message_fingerprint(msg, raw), triage_for(msg, rules, meta))


def step_dedupe(ctx: Context, key: str) -> None:
    existing = ctx.session.execute(
        select(Message.id, Message.ticket_id).where(Message.dedupe_key == key)).first()
    if existing is not None:
        ticket = ctx.session.get(Ticket, existing.ticket_id)
        raise Ended(Outcome(DUPLICATE, ticket_id=existing.ticket_id,
                            ticket_ref=ticket.ref if ticket else None, message_id=existing.id,
                            private=bool(ticket and ticket.private)))


def message_flow(ctx: Context, msg: InboundMessage, raw: bytes | None = None,
                 prepared: Prepared | None = None) -> Outcome:
    """The common flow of every inbound message that may open or join a ticket."""
    settings = ctx.rt.settings
    if prepared is None:
        prepared = Prepared(msg, store.message_fingerprint(msg, raw),
                            triage_for(msg, ctx.rt.rules, ctx.inbox.meta))
    msg, key, triage = prepared.msg, prepared.dedupe_key, prepared.triage
    step_dedupe(ctx, key)
    if msg.loop.is_bounce:
        step_bounce(ctx, msg)
    kind = "email" if msg.channel == "email" else "phone"
    contact = store.get_or_create_contact(ctx.session, msg.sender or "unknown", kind,
                                          msg.sender_name, triage.language)
    ticket, why = store.find_thread(ctx.session, msg, contact,
                                    dt.timedelta(hours=settings.sms_thread_window_hours), ctx.now)
    if ticket is None:
        due_in = ctx.rt.rules.response_target(triage.category, triage.priority)
        ticket = store.create_ticket(ctx.session, ctx.rt.vault, msg, triage, contact,
                                     ctx.inbox.mailbox, due_in, ctx.now)
        outcome_name = NEW_TICKET
    else:
        store.apply_triage_to_ticket(ctx.session, ctx.rt.vault, ticket, triage, ctx.now)
        outcome_name = ADDED
    message = store.add_message(ctx.session, ctx.rt.vault, ticket, msg, triage, ctx.inbox.id,
                                key, ctx.now)
    ctx.inbox.private = ticket.private
    ctx.inbox.ticket_id = ticket.id
    step_followups(ctx, ticket, message, msg, outcome_name == NEW_TICKET)
    log.info("inbox %s -> ticket %s (%s, %s) thread=%s private=%s", ctx.inbox.id, ticket.ref,
             outcome_name, ticket.department, why, ticket.private)
    return Outcome(outcome_name, ticket_id=ticket.id, ticket_ref=ticket.ref, message_id=message.id,
                   parse_error=bool(msg.parse_error), private=ticket.private)


def step_bounce(ctx: Context, msg: InboundMessage) -> None:
    """A bounce of one of our follow-ups marks that follow-up failed (the replies package
    matches it). The bounce itself still joins the ticket as a message, without an ack."""
    try:
        from intake.replies import handle_bounce
    except ImportError:
        return
    handle_bounce(ctx.session, ctx.rt, msg)


def step_followups(ctx: Context, ticket: Ticket, message: Message, msg: InboundMessage,
                   is_new: bool) -> None:
    """Queue the acknowledgement (the replies package decides whether one is due)."""
    try:
        from intake.replies import queue_acknowledgement
    except ImportError:  # replies not installed in this build
        return
    row = queue_acknowledgement(ctx.session, ctx.rt, ticket, message, msg, is_new=is_new)
    if row is not None and row.status == "queued":
        ctx.outbox_ids.append(row.id)


@register("email")
def handle_email(ctx: Context) -> Outcome:
    prepared = ctx.prepared or prepare_email(raw_bytes(ctx), ctx.inbox.meta, ctx.rt.rules,
                                             ctx.rt.settings.max_message_bytes)
    return message_flow(ctx, prepared.msg, prepared=prepared)


# -- running one inbox row ----------------------------------------------------------------------

def _run_one(rt: Runtime, session: Session, inbox: Inbox, prepared: Prepared | None = None) -> Outcome:
    if inbox.status in ("done", "failed"):
        ticket = session.get(Ticket, inbox.ticket_id) if inbox.ticket_id else None
        return Outcome(DUPLICATE if inbox.status == "done" else "failed",
                       ticket_id=inbox.ticket_id, ticket_ref=ticket.ref if ticket else None,
                       private=inbox.private)
    handler = HANDLERS.get(inbox.channel)
    if handler is None:
        _load_channel_handlers()
        handler = HANDLERS.get(inbox.channel)
    if handler is None:
        raise UserError(f"no handler for channel {inbox.channel!r}")
    ctx = Context(rt=rt, session=session, inbox=inbox, now=utcnow(), prepared=prepared)
    try:
        outcome = handler(ctx)
    except Ended as ended:
        outcome = ended.outcome
    inbox.status = "done"
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


def _load_channel_handlers() -> None:
    try:
        import intake.phone  # noqa: F401  registers sms, voice, recording, transcription, status
    except ImportError:
        pass


def safe_error(exc: BaseException) -> str:
    """A description of a failure that is safe to store and log: the exception class and
    where it happened, never its message (it may quote private text), except for our own
    UserError whose messages are written to be safe."""
    if isinstance(exc, UserError):
        return f"UserError: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(frames[-6:]))
    return f"{type(exc).__name__} at {where}"


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
    from sqlalchemy.exc import OperationalError

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
