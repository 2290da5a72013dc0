"""Follow-ups: acknowledgements, status updates, agent replies and SMS status answers.

A follow-up is an `Outbox` row written in the same transaction as the ticket change that
causes it (the caller commits, then enqueues the row's id; STYLE 10). Nothing here
commits or talks to the network: `send.py` delivers rows, exactly once.

    queue_acknowledgement(session, rt, ticket, message, msg, is_new) -> Outbox | None
    handle_bounce(session, rt, msg) -> None
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.messages import InboundMessage
from intake.outbox import loop_guard
from intake.outbox.compose import choose_language, composer_for, response_time
from intake.tickets import status_links
from intake.outbox.rows import (
    TicketFields, email_message_id, email_values, from_address, insert_rows, our_addresses, our_domains,
    seal, sms_values,
)
from intake.tickets.models import Message, Outbox, Ticket, utcnow

if TYPE_CHECKING:
    from intake.runtime import Runtime

log = logging.getLogger("intake.outbox.follow_ups")

__all__ = [
    "AckRequest", "Queued", "from_address", "handle_bounce", "our_addresses", "our_domains", "queue_acknowledgement",
    "queue_acknowledgements", "queue_email", "queue_sms",
]


# -- writing rows -------------------------------------------------------------------------------

def _add(session: Session, rt: "Runtime", ticket: Ticket, values: dict[str, Any]) -> Outbox:
    row = Outbox(**values)
    session.add(row)
    session.flush()  # the id names the Message-ID
    if row.channel == "email":
        row.header_message_id = email_message_id(row.id, ticket.ref, rt.settings.mail_domain)
    return row


def queue_email(session: Session, rt: "Runtime", ticket: Ticket, *, now: dt.datetime | None = None,
                **fields: Any) -> Outbox:
    """One e-mail follow-up (`rows.email_values`), added to the session and flushed."""
    return _add(session, rt, ticket, email_values(rt, ticket, now=now or utcnow(), **fields))


def queue_sms(session: Session, rt: "Runtime", ticket: Ticket, *, now: dt.datetime | None = None,
              **fields: Any) -> Outbox:
    """One SMS follow-up (`rows.sms_values`), added to the session and flushed."""
    return _add(session, rt, ticket, sms_values(rt, ticket, now=now or utcnow(), **fields))


def base_context(rt: "Runtime", ticket: TicketFields, lang: str, now: dt.datetime) -> dict[str, Any]:
    composer = composer_for(rt)
    return {
        "ref": ticket.ref, "private": bool(ticket.private),
        "department": composer.department_name(ticket.department, lang),
        "response_time": response_time(ticket.due_at, now, lang),
        "status": composer.status_name(ticket.status, lang), "status_code": ticket.status,
    }


def follow_up_channel(ticket: TicketFields) -> str:
    return "email" if ticket.channel == "email" else "sms"


# -- the acknowledgement ------------------------------------------------------------------------

@dataclass(frozen=True)
class AckRequest:
    """An inbound message just stored, to acknowledge: its ticket, and its contact's
    language and SMS opt-out as they were when it arrived."""

    ticket: TicketFields
    message_id: int
    msg: InboundMessage
    is_new: bool
    contact_language: str
    sms_opted_out: bool


@dataclass(frozen=True)
class Queued:
    outbox_id: int
    status: str


def queue_acknowledgements(session: Session, rt: "Runtime", requests: Sequence[AckRequest],
                           now: dt.datetime) -> list[Queued | None]:
    """Write the acknowledgements of a chunk of inbound messages (none acknowledged yet):
    each `queued`, or `suppressed` with the loop guard's reason; None for a channel we
    cannot answer on. The recipients' locks, hourly counts and "answered before" are read
    once for the chunk and counted on in memory, in order. Never commits."""
    settings = rt.settings
    ours = our_addresses(rt)
    wanted = [r for r in requests if r.msg.channel in ("email", "sms", "voice")]
    keys = [_key(r.msg) for r in wanted]
    loop_guard.lock_recipients(session, keys)
    limits = (settings.ack_limit_per_hour, settings.ack_limit_per_domain_per_hour)
    counts = loop_guard.RateCounts.read(session, keys, limits, now)
    answered = loop_guard.answered_before(session, [k for r, k in zip(wanted, keys) if r.msg.channel == "email"], now)
    rows: list[dict[str, Any]] = []
    for request, key in zip(wanted, keys, strict=True):
        reason = loop_guard.message_reason(request.msg, request.is_new, ours)
        if reason is None and key:
            reason = counts.reason(key)
        # The signed status link (none without INTAKE_PUBLIC_URL); minted only for a row to send.
        status_url = status_links.url_for_new(session, rt, request.ticket, now) if reason is None else None
        values = _ack_values(rt, request, reason, key in answered, now, status_url)
        if values["status"] == "queued" and key:
            counts.add(key)
        rows.append(values)
    for values, request in zip(rows, wanted, strict=True):
        if request.ticket.private:  # made private by a later message of the chunk
            seal(rt, values)
    ids = insert_rows(session, rt, rows, [r.ticket.ref for r in wanted])
    queued = {id(r): Queued(i, v["status"]) for r, i, v in zip(wanted, ids, rows, strict=True)}
    for request, values, row_id in zip(wanted, rows, ids, strict=True):
        if values["status"] == "suppressed":
            log.info("outbox %s: ack for ticket %s suppressed (%s)", row_id, request.ticket.ref,
                     (values["suppressed_reason"] or "").split(":", 1)[0])
        else:
            log.info("outbox %s: ack for ticket %s %s (%s, %s)", row_id, request.ticket.ref, values["status"],
                     values["channel"], values["headers"].get("lang"))
    return [queued.get(id(r)) for r in requests]


def _key(msg: InboundMessage) -> str:
    to = (msg.sender or "").strip()
    return loop_guard.mailbox_key(to) if msg.channel == "email" else to


def _ack_values(rt: "Runtime", request: AckRequest, reason: str | None, answered: bool,
                now: dt.datetime, status_url: str | None) -> dict[str, Any]:
    msg, ticket = request.msg, request.ticket
    lang = choose_language(ticket.language, request.contact_language, msg.new_text or msg.text)
    context = base_context(rt, ticket, lang, now)
    if status_url:
        context["status_url"] = status_url
    to = (msg.sender or "").strip()
    dedupe_key = f"ack:{request.message_id}"
    if msg.channel == "email":
        return email_values(
            rt, ticket, kind="ack", lang=lang, context=context, their_subject=msg.subject if answered else "",
            to=to, to_name=msg.sender_name, dedupe_key=dedupe_key, in_reply_to=msg.message_id,
            references=list(msg.references), inbound_recipient=msg.recipient, message_id=request.message_id,
            suppressed=reason, now=now)
    return sms_values(rt, ticket, kind="ack", lang=lang, context=context, to=to, dedupe_key=dedupe_key,
                      strict=msg.channel == "voice", opted_out=request.sms_opted_out,
                      message_id=request.message_id, suppressed=reason, now=now)


def queue_acknowledgement(session: Session, rt: "Runtime", ticket: Ticket, message: Message,
                          msg: InboundMessage, is_new: bool) -> Outbox | None:
    """The acknowledgement of one stored message (a chunk of one); the existing row when
    the message was acknowledged before (reprocess). Never commits."""
    existing = session.scalar(select(Outbox).where(Outbox.dedupe_key == f"ack:{message.id}"))
    if existing is not None:
        return existing
    contact = ticket.contact
    request = AckRequest(ticket, message.id, msg, is_new, contact.language if contact else "unknown",
                         bool(contact and contact.sms_opted_out))
    queued = queue_acknowledgements(session, rt, [request], utcnow())[0]
    return session.get(Outbox, queued.outbox_id) if queued is not None else None


# -- bounces ------------------------------------------------------------------------------------

def handle_bounce(session: Session, rt: "Runtime", msg: InboundMessage) -> None:
    """A delivery failure report for one of our mails marks that follow-up failed."""
    if not msg.loop.is_bounce or not msg.loop.bounced_message_ids:
        return
    ids = {i.strip().strip("<>").strip() for i in msg.loop.bounced_message_ids if i}
    ids.discard("")
    if not ids:
        return
    rows = session.scalars(select(Outbox).where(
        Outbox.header_message_id.in_(ids), Outbox.status.notin_(("failed", "suppressed")))).all()
    now = utcnow()
    for row in rows:
        row.status, row.error_code, row.suppressed_reason = "failed", "bounced", "bounced"
        row.last_error = "the recipient's mail server reported the message undeliverable"
        row.next_attempt_at, row.updated_at = None, now
        log.info("outbox %s (%s): bounced", row.id, row.kind)
