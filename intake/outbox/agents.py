"""What agents do to tickets that reaches the sender: replies, status changes, and the
answer to an SMS "STATUS" / "状态" query.

`reply` and `set_status` run their own transaction and commit (the CLI then enqueues or
sends the returned outbox ids). `answer_status_query` runs inside the phone helper's
processing transaction and never commits.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.outbox.follow_ups import (
    base_context, follow_up_channel, loop_guard, our_addresses, queue_email, queue_sms,
)
from intake.outbox.compose import choose_language, composer_for
from intake.tickets import store
from intake.tickets.models import Contact, Message, Outbox, Ticket, utcnow

if TYPE_CHECKING:
    from intake.runtime import Runtime

log = logging.getLogger("intake.outbox.agents")

STATUSES = ("open", "pending", "resolved", "closed")
STATUS_QUERY_LIMIT = 3


def _ticket(session: Session, ref: str) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.ref == ref.strip().upper()))


def _last_inbound(session: Session, ticket: Ticket) -> Message | None:
    """The contact's own last message on the ticket: what our mail threads to, and what
    says whether they are a robot. Someone else who joined the thread (by replying to one
    of our Message-IDs) neither receives our In-Reply-To nor silences the contact."""
    contact = ticket.contact
    query = select(Message).where(Message.ticket_id == ticket.id, Message.direction == "in")
    if contact is not None:
        query = query.where(Message.sender == contact.address)
    return session.scalar(query.order_by(Message.id.desc()).limit(1))


def _previous_sender(session: Session, ticket: Ticket) -> str | None:
    """The From of our last mail on this ticket, so a thread keeps one address."""
    return session.scalar(select(Outbox.from_address).where(
        Outbox.ticket_id == ticket.id, Outbox.channel == "email", Outbox.from_address != "")
        .order_by(Outbox.id.desc()).limit(1))


def _language(session: Session, ticket: Ticket, rt: "Runtime") -> str:
    last = _last_inbound(session, ticket)
    text = ""
    if last is not None and ticket.language == "mixed":
        text = store.open_message(rt.vault, last)[1]
    contact = ticket.contact
    return choose_language(ticket.language, contact.language if contact else "unknown", text)


def _robot_reason(session: Session, ticket: Ticket, rt: "Runtime") -> str | None:
    """Automatic follow-ups (status) never go to an address that only ever wrote to us
    by machine (a bounce that opened a ticket, an auto-reply)."""
    contact = ticket.contact
    if contact is None or loop_guard.is_nobody(contact.address):
        return loop_guard.NO_SENDER
    if ticket.channel == "email" and contact.address.lower() in our_addresses(rt):
        return loop_guard.OWN_ADDRESS
    last = _last_inbound(session, ticket)
    if last is not None and last.loop_reasons:
        return f"{loop_guard.AUTOMATED}:{','.join(last.loop_reasons)}"[:128]
    return None


def _queue(session: Session, rt: "Runtime", ticket: Ticket, *, kind: str, lang: str,
           context: dict[str, Any], dedupe_key: str, suppressed: str | None,
           message_id: int | None = None, auto_submitted: bool = True) -> Outbox:
    contact = ticket.contact
    now = utcnow()
    if follow_up_channel(ticket) == "email":
        last = _last_inbound(session, ticket)
        # Thread to the sender's last message (In-Reply-To / References, RFC 5322 3.6.4).
        in_reply_to = last.header_message_id if last is not None else None
        references = [r for r in ((last.in_reply_to if last is not None else None),) if r]
        subject = store.ticket_subject(rt.vault, ticket, show_private=False)
        return queue_email(
            session, rt, ticket, kind=kind, lang=lang, context=context,
            their_subject="" if ticket.private else subject, to=contact.address,
            to_name=contact.display_name, dedupe_key=dedupe_key, in_reply_to=in_reply_to,
            references=references, message_id=message_id, suppressed=suppressed,
            auto_submitted=auto_submitted, sender=_previous_sender(session, ticket), now=now)
    return queue_sms(
        session, rt, ticket, kind=kind, lang=lang, context=context, to=contact.address,
        dedupe_key=dedupe_key, strict=ticket.channel == "voice",
        opted_out=bool(contact.sms_opted_out), message_id=message_id, suppressed=suppressed, now=now)


def reply(rt: "Runtime", ref: str, text: str) -> list[int] | None:
    """Queue an agent's reply on the ticket's channel; None when there is no such ticket."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise ValueError("an empty reply")
    with rt.sessions() as session:
        ticket = _ticket(session, ref)
        if ticket is None:
            return None
        now = utcnow()
        lang = _language(session, ticket, rt)
        channel = follow_up_channel(ticket)
        key = f"reply:{uuid.uuid4().hex}"
        message = Message(
            ticket_id=ticket.id, direction="out", channel=channel, dedupe_key=key, sender="",
            private=False, text=text, new_text=text, language=lang, created_at=now,
            extra={"kind": "agent_reply"})
        if ticket.private:
            store.seal_message(rt.vault, message, text, text)
        session.add(message)
        session.flush()
        contact = ticket.contact
        suppressed = None
        if contact is None or loop_guard.is_nobody(contact.address):
            suppressed = loop_guard.NO_SENDER
        elif channel == "email" and contact.address.lower() in our_addresses(rt):
            suppressed = loop_guard.OWN_ADDRESS
        context = {**base_context(rt, ticket, lang, now), "text": text}
        row = _queue(session, rt, ticket, kind="reply", lang=lang, context=context, dedupe_key=key,
                     suppressed=suppressed, message_id=message.id, auto_submitted=False)
        message.sender = row.from_address[:320]
        message.header_message_id = row.header_message_id
        message.in_reply_to = (row.headers or {}).get("in_reply_to")
        if ticket.first_response_at is None:
            ticket.first_response_at = now
        ticket.updated_at = now
        session.commit()
        log.info("outbox %s: agent reply on ticket %s (%s, %s)", row.id, ticket.ref, row.channel, row.status)
        return [row.id]


def set_status(rt: "Runtime", ref: str, status: str, notify: bool) -> list[int] | None:
    """Change a ticket's status; with notify, queue a status follow-up. None: no ticket."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    with rt.sessions() as session:
        ticket = _ticket(session, ref)
        if ticket is None:
            return None
        if ticket.status == status:
            return []
        now = utcnow()
        ticket.status = status
        ticket.updated_at = now
        ticket.closed_at = now if status == "closed" else None
        ids: list[int] = []
        if notify:
            lang = _language(session, ticket, rt)
            count = session.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.ticket_id == ticket.id, Outbox.kind == "status")) or 0
            row = _queue(session, rt, ticket, kind="status", lang=lang,
                         context=base_context(rt, ticket, lang, now),
                         dedupe_key=f"status:{ticket.id}:{status}:{count + 1}",
                         suppressed=_robot_reason(session, ticket, rt))
            ids.append(row.id)
            log.info("outbox %s: status %s on ticket %s (%s)", row.id, status, ticket.ref, row.status)
        session.commit()
        return ids


def send_status_link(session: Session, rt: "Runtime", ticket: Ticket) -> Outbox | None:
    """A status notice carrying a fresh status link, to the ticket's contact on record (the
    expired-link page's "send me a fresh link"). Never commits; None without INTAKE_PUBLIC_URL."""
    from intake.tickets import status_links

    now = utcnow()
    url = status_links.url_for_new(session, rt, ticket, now)
    if url is None:
        return None
    lang = _language(session, ticket, rt)
    row = _queue(session, rt, ticket, kind="status", lang=lang,
                 context={**base_context(rt, ticket, lang, now), "status_url": url},
                 dedupe_key=f"status_link:{uuid.uuid4().hex}", suppressed=_robot_reason(session, ticket, rt))
    log.info("outbox %s: fresh status link for ticket %s (%s)", row.id, ticket.ref, row.status)
    return row


def answer_status_query(session: Session, rt: "Runtime", contact: Contact, ref: str | None) -> list[int]:
    """The SMS answer to "STATUS" / "状态": the sender's open tickets (ref and status, plus
    the department for non-private ones; at most three, newest first). With a ref that is
    theirs, that ticket first whatever its status. Never commits. [] when the number has
    no ticket at all (an outbox row belongs to a ticket)."""
    now = utcnow()
    wanted = store.find_ref(ref) if ref else None
    tickets = list(session.scalars(
        select(Ticket).where(Ticket.contact_id == contact.id, Ticket.status.in_(store.OPEN_STATUSES))
        .order_by(Ticket.last_message_at.desc(), Ticket.id.desc()).limit(STATUS_QUERY_LIMIT)))
    asked: Ticket | None = None
    if wanted:
        asked = session.scalar(select(Ticket).where(Ticket.ref == wanted, Ticket.contact_id == contact.id))
        if asked is not None:
            tickets = [asked, *[t for t in tickets if t.id != asked.id]][:STATUS_QUERY_LIMIT]
    anchor = tickets[0] if tickets else session.scalar(
        select(Ticket).where(Ticket.contact_id == contact.id).order_by(Ticket.id.desc()).limit(1))
    if anchor is None:
        log.info("status query from a contact without tickets: nothing to answer on")
        return []
    composer = composer_for(rt)
    lang = choose_language(contact.language if contact.language in ("zh", "en") else anchor.language,
                           contact.language)
    listed = [{"ref": t.ref, "status": composer.status_name(t.status, lang),
               "department": None if t.private else composer.department_name(t.department, lang)}
              for t in tickets]
    context = {**base_context(rt, anchor, lang, now), "tickets": listed,
               "ref": anchor.ref if not tickets else None}
    if not tickets:
        context["status"] = composer.status_name(anchor.status, lang)
    suppressed = None
    if loop_guard.is_nobody(contact.address):
        suppressed = loop_guard.NO_SENDER
    row = queue_sms(session, rt, anchor, kind="status_query", lang=lang, context=context,
                    to=contact.address, dedupe_key=f"status_query:{uuid.uuid4().hex}",
                    strict=False, opted_out=bool(contact.sms_opted_out), suppressed=suppressed,
                    now=now)
    log.info("outbox %s: status query answer (%d tickets, %s)", row.id, len(listed), row.status)
    return [row.id]
