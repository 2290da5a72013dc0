"""Read-side views for ops and agents: ticket summaries and details, redacted by default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import Session

from intake.crypto import Vault
from intake.tickets.models import AttachmentRow, Contact, Message, Outbox, Ticket
from intake.tickets.store import open_message, private_view, ticket_subject


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_summary(session: Session, vault: Vault, ticket: Ticket, show_private: bool = False,
                   message_count: int | None = None) -> dict[str, Any]:
    if message_count is None:
        message_count = session.scalar(select(func.count()).select_from(Message)
                                       .where(Message.ticket_id == ticket.id)) or 0
    return {
        "ref": ticket.ref, "status": ticket.status, "channel": ticket.channel,
        "category": ticket.category, "department": ticket.department, "priority": ticket.priority,
        "private": ticket.private, "contact": ticket.contact.address if ticket.contact else None,
        "subject": ticket_subject(vault, ticket, show_private), "message_count": message_count,
        "created_at": _iso(ticket.created_at), "linked_ref": ticket.linked_ref,
    }


MAX_SEARCH_CHARS = 200


@dataclass(frozen=True)
class TicketFilter:
    """What a ticket list is narrowed to. `text` searches fields that are never private:
    the reference, the stored subject (a private ticket's is its category and reference),
    the contact's address, and the text of non-private messages; it is matched literally
    (`%` and `_` are no wildcards) and case-insensitively, cut at 200 characters."""

    status: str | None = None
    department: str | None = None
    category: str | None = None
    channel: str | None = None
    private: bool | None = None
    text: str | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        for column, value in ((Ticket.status, self.status), (Ticket.department, self.department),
                              (Ticket.category, self.category), (Ticket.channel, self.channel),
                              (Ticket.private, self.private)):
            if isinstance(value, str) and "\x00" in value:
                return query.where(false())  # no stored value has one (PostgreSQL refuses it)
            if value is not None and value != "":
                query = query.where(column == value)
        text = (self.text or "").replace("\x00", "").strip()[:MAX_SEARCH_CHARS].lower()
        if text:
            public_messages = select(Message.ticket_id).where(
                Message.private == false(), func.lower(Message.text).contains(text, autoescape=True))
            query = query.where(or_(
                func.lower(Ticket.ref).contains(text, autoescape=True),
                func.lower(Ticket.subject).contains(text, autoescape=True),
                Ticket.contact_id.in_(select(Contact.id).where(
                    func.lower(Contact.address).contains(text, autoescape=True))),
                Ticket.id.in_(public_messages)))
        return query


def list_tickets(session: Session, vault: Vault, show_private: bool = False,
                 status: str | None = None, limit: int = 1000, *,
                 where: TicketFilter | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """Newest first; `where` narrows (`status` is its shorthand), `offset`/`limit` page."""
    where = where or TicketFilter(status=status)
    tickets = list(session.scalars(where.apply(select(Ticket)).order_by(Ticket.id.desc())
                                   .offset(offset).limit(limit)))
    counts: dict[int, int] = {
        ticket_id: n for ticket_id, n in session.execute(
            select(Message.ticket_id, func.count()).where(Message.ticket_id.in_([t.id for t in tickets]))
            .group_by(Message.ticket_id))} if tickets else {}
    return [ticket_summary(session, vault, t, show_private, counts.get(t.id, 0)) for t in tickets]


def count_tickets(session: Session, where: TicketFilter) -> int:
    return int(session.scalar(where.apply(select(func.count()).select_from(Ticket))) or 0)


def ticket_detail(session: Session, vault: Vault, ref: str, show_private: bool = False) -> dict[str, Any] | None:
    ticket = session.scalar(select(Ticket).where(Ticket.ref == ref.upper()))
    if ticket is None:
        return None
    detail = ticket_summary(session, vault, ticket, show_private)
    detail.update({
        "language": ticket.language, "private_reasons": ticket.private_reasons,
        "triage_reasons": ticket.triage_reasons, "due_at": _iso(ticket.due_at),
        "updated_at": _iso(ticket.updated_at), "parse_error": ticket.parse_error,
        "mailbox": ticket.mailbox,
    })
    messages = []
    for message in session.scalars(select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)):
        text, new_text = open_message(vault, message)
        if message.private and not show_private:
            text, new_text = private_view(text), private_view(new_text)
        attachments = [dict(a._mapping) for a in session.execute(
            select(AttachmentRow.filename, AttachmentRow.content_type, AttachmentRow.size, AttachmentRow.sha256)
            .where(AttachmentRow.message_id == message.id))]
        if message.private and not show_private:  # a file's name can be "statement 4417.pdf"
            attachments = [{**a, "filename": private_view(a["filename"])} for a in attachments]
        messages.append({
            "id": message.id, "direction": message.direction, "channel": message.channel,
            "sender": message.sender, "created_at": _iso(message.created_at),
            "private": message.private, "text": text, "new_text": new_text,
            "parse_error": message.parse_error, "loop_reasons": message.loop_reasons,
            "extra": message.extra,
            "attachments": attachments,
        })
    detail["messages"] = messages
    detail["followups"] = [
        {"id": o.id, "kind": o.kind, "channel": o.channel, "status": o.status,
         "suppressed_reason": o.suppressed_reason, "error_code": o.error_code,
         "last_error": o.last_error, "attempts": o.attempts,
         "next_attempt_at": _iso(o.next_attempt_at), "provider_id": o.provider_id,
         "created_at": _iso(o.created_at), "sent_at": _iso(o.sent_at)}
        for o in session.scalars(select(Outbox).where(Outbox.ticket_id == ticket.id).order_by(Outbox.id))
    ]
    return detail
