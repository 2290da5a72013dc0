"""Read-side views for ops and agents: ticket summaries and details, redacted by default."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.crypto import Vault
from intake.tickets.models import AttachmentRow, Message, Outbox, Ticket
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


def list_tickets(session: Session, vault: Vault, show_private: bool = False,
                 status: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    counts: dict[int, int] = {
        ticket_id: n for ticket_id, n in session.execute(
            select(Message.ticket_id, func.count()).group_by(Message.ticket_id))}
    query = select(Ticket).order_by(Ticket.id.desc()).limit(limit)
    if status:
        query = query.where(Ticket.status == status)
    return [ticket_summary(session, vault, t, show_private, counts.get(t.id, 0))
            for t in session.scalars(query)]


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
        attachments = session.execute(select(AttachmentRow.filename, AttachmentRow.content_type,
                                             AttachmentRow.size, AttachmentRow.sha256)
                                      .where(AttachmentRow.message_id == message.id)).all()
        messages.append({
            "id": message.id, "direction": message.direction, "channel": message.channel,
            "sender": message.sender, "created_at": _iso(message.created_at),
            "private": message.private, "text": text, "new_text": new_text,
            "parse_error": message.parse_error, "loop_reasons": message.loop_reasons,
            "extra": message.extra,
            "attachments": [dict(a._mapping) for a in attachments],
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
