"""The message flow every inbound message takes to open or join a ticket, and the pieces
the channel handlers share (STYLE 4):

    dedupe -> bounce? -> contact -> thread -> create or join ticket -> message -> follow-ups

for a chunk of messages at once (`store_messages`; one message is a chunk of one,
`message_flow`).

Each step passes a value on or ends the flow with a named `Outcome` (raised as `Ended`).
Everything runs in the caller's transaction; the caller commits and then enqueues the
outbox ids collected in `Context.outbox_ids` (STYLE 10).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.capture.twilio import decode_params
from intake.failures import UserError
from intake.messages import InboundMessage, Triage
from intake.normalize.email import MailLimits, ParseFailure, parse_email
from intake.outbox.follow_ups import AckRequest, handle_bounce, queue_acknowledgements
from intake.runtime import Runtime
from intake.tickets import chunk, store
from intake.tickets.models import Inbox, Message, Ticket
from intake.settings import Settings
from intake.triage import Rules, triage_message
from intake.triage.classify import MAX_SCORED_CHARS

log = logging.getLogger("intake.process")

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


def raw_bytes(ctx: Context) -> bytes:
    return ctx.rt.vault.decrypt(ctx.inbox.raw)


def params(ctx: Context, *required: str) -> dict[str, str]:
    """The Twilio parameters of a capture; UserError names any required one missing (the
    webhook checks them, a hand-made `intake ingest` file may not have them)."""
    values = decode_params(raw_bytes(ctx))
    missing = [name for name in required if not values.get(name, "").strip()]
    if missing:
        raise UserError(f"{ctx.inbox.channel} capture without {', '.join(missing)}")
    return values


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


@dataclass(frozen=True)
class Caps:
    """The cost caps of the pure steps (INTAKE_MAIL_*, INTAKE_HTML_*, INTAKE_TRIAGE_*)."""

    mail: MailLimits = MailLimits()
    scored_chars: int = MAX_SCORED_CHARS
    max_attachment_bytes: int | None = None

    @classmethod
    def of(cls, settings: Settings) -> "Caps":
        mail = MailLimits(max_parts=settings.mail_max_parts, max_attachments=settings.mail_max_attachments,
                          max_header_chars=settings.mail_max_header_chars, max_nesting=settings.mail_max_nesting,
                          html_max_quote_depth=settings.html_max_quote_depth,
                          html_max_text_chars=settings.html_max_text_chars)
        return cls(mail, settings.triage_max_scored_chars, settings.max_message_bytes)


def triage_for(msg: InboundMessage, rules: "Rules", meta: dict[str, Any] | None, caps: Caps = Caps()) -> Triage:
    """Triage, then the one routing rule every path shares (processing and reprocess): a
    mailbox declared for one department (finance@) routes what triage could not place."""
    triage = triage_message(msg, rules, max_scored_chars=caps.scored_chars)
    default_department = (meta or {}).get("department")
    if default_department and triage.category == "other":
        # A mailbox declared for one department (finance@) routes what triage could not place.
        triage = replace(triage, department=default_department)
    return triage


def prepare_email(raw: bytes, meta: dict[str, Any] | None, rules: "Rules", caps: Caps = Caps()) -> Prepared:
    """Pure: raw RFC 5322 bytes -> message, dedupe key and triage, each step linear in the
    input under `caps`. Raises UserError for input that holds no message at all."""
    try:
        msg = parse_email(raw, max_attachment_bytes=caps.max_attachment_bytes, limits=caps.mail)
    except ParseFailure as exc:
        raise UserError(f"unreadable email: {exc}") from None
    if (meta or {}).get("oversize"):
        # Only the headers were taken (INTAKE_MAX_MESSAGE_BYTES); the mail waits in the
        # quarantine folder. The sender still gets a ticket, marked so an agent looks.
        msg = replace(msg, parse_error="message over the size limit: headers only, full mail "
                      "kept in the mailbox's quarantine folder")
    return Prepared(msg, store.message_fingerprint(msg, raw), triage_for(msg, rules, meta, caps))


def find_duplicate(session: Session, key: str) -> Outcome | None:
    """The outcome of a message already stored under this dedupe key, if any."""
    existing = session.execute(
        select(Message.id, Message.ticket_id).where(Message.dedupe_key == key)).first()
    if existing is None:
        return None
    ticket = session.get(Ticket, existing.ticket_id)
    return Outcome(DUPLICATE, ticket_id=existing.ticket_id, ticket_ref=ticket.ref if ticket else None,
                   message_id=existing.id, private=bool(ticket and ticket.private))


@dataclass(frozen=True)
class Entry:
    """One capture of a chunk, prepared: what `store_messages` stores."""

    inbox_id: int | None
    mailbox: str | None
    prepared: Prepared


def store_messages(rt: Runtime, session: Session, entries: Sequence[Entry], now: dt.datetime) -> list[Outcome]:
    """The message flow for a chunk of prepared messages, in the caller's transaction:

        dedupe -> bounce? -> contact, thread, ticket, message (tickets/chunk.py) -> follow-ups

    A message already stored, or stored earlier in the chunk, ends as DUPLICATE; every other
    one opens or joins a ticket and gets its acknowledgement row. One outcome per entry."""
    stored = chunk.duplicates(session, [e.prepared.dedupe_key for e in entries])
    outcomes: list[Outcome | None] = [None] * len(entries)
    first_of: dict[str, int] = {}
    fresh: list[tuple[int, chunk.Item]] = []
    for n, entry in enumerate(entries):
        msg, key, triage = entry.prepared.msg, entry.prepared.dedupe_key, entry.prepared.triage
        if key in stored:
            found = stored[key]
            outcomes[n] = Outcome(DUPLICATE, ticket_id=found.ticket_id, ticket_ref=found.ticket_ref,
                                  message_id=found.message_id, private=found.private)
        elif key not in first_of:
            first_of[key] = n
            if msg.loop.is_bounce:
                step_bounce(rt, session, msg)
            due_in = rt.rules.response_target(triage.category, triage.priority)
            fresh.append((n, chunk.Item(entry.inbox_id, entry.mailbox, msg, key, triage, due_in)))
    window = dt.timedelta(hours=rt.settings.sms_thread_window_hours)
    placed = chunk.place(session, rt.vault, [item for _, item in fresh], now, window)
    acks = queue_acknowledgements(session, rt, [
        AckRequest(p.ticket, p.message_id, p.item.msg, p.is_new, p.contact_language, p.sms_opted_out)
        for p in placed], now)
    for (n, item), one, ack in zip(fresh, placed, acks, strict=True):
        ticket, name = one.ticket, NEW_TICKET if one.is_new else ADDED
        outcomes[n] = Outcome(name, ticket_id=ticket.id, ticket_ref=ticket.ref, message_id=one.message_id,
                              parse_error=bool(item.msg.parse_error), private=one.private,
                              outbox_ids=[ack.outbox_id] if ack is not None and ack.status == "queued" else [])
        log.info("inbox %s -> ticket %s (%s, %s) thread=%s private=%s", item.inbox_id, ticket.ref,
                 name, ticket.department, one.why, one.private)
    for n, entry in enumerate(entries):
        if outcomes[n] is None:  # stored earlier in this chunk
            first = outcomes[first_of[entry.prepared.dedupe_key]]
            assert first is not None
            outcomes[n] = Outcome(DUPLICATE, ticket_id=first.ticket_id, ticket_ref=first.ticket_ref,
                                  message_id=first.message_id, private=first.private)
    return [o for o in outcomes if o is not None]


def message_flow(ctx: Context, msg: InboundMessage, raw: bytes | None = None,
                 prepared: Prepared | None = None) -> Outcome:
    """The common flow of every inbound message that may open or join a ticket: a chunk
    of one (`store_messages`), recorded on the context's capture."""
    if prepared is None:
        prepared = Prepared(msg, store.message_fingerprint(msg, raw),
                            triage_for(msg, ctx.rt.rules, ctx.inbox.meta, Caps.of(ctx.rt.settings)))
    outcome = store_messages(ctx.rt, ctx.session, [Entry(ctx.inbox.id, ctx.inbox.mailbox, prepared)], ctx.now)[0]
    if outcome.outcome != DUPLICATE:
        ctx.inbox.private = outcome.private
        ctx.inbox.ticket_id = outcome.ticket_id
        ctx.outbox_ids.extend(outcome.outbox_ids)
    return outcome


def step_bounce(rt: Runtime, session: Session, msg: InboundMessage) -> None:
    """A bounce of one of our follow-ups marks that follow-up failed (the replies package
    matches it). The bounce itself still joins the ticket as a message, without an ack."""
    handle_bounce(session, rt, msg)
