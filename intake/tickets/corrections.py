"""Agents correct triage: re-route a ticket, and keep the correction (with the triage hits it
overrides) so that `intake triage train` learns from the desk's own mail.

`route` is the domain operation behind `intake tickets route` and, later, the web API: it
takes values, not command-line arguments. Privacy follows the new category: a ticket
re-routed to account or finance becomes private and sealed at once, as triage would have
made it. A private ticket never becomes public again (privacy is sticky).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from intake.tickets.models import Message, Ticket, utcnow
from intake.tickets.records import Correction
from intake.tickets.store import make_private, open_message, rule_ids
from intake.triage.rules import CATEGORIES, PRIORITIES


class RouteError(ValueError):
    """The correction names an unknown category or priority; the message says which."""


def route(rt: Any, ref: str, category: str, priority: str | None = None, by: str = "cli") -> dict[str, Any] | None:
    """Re-route ticket `ref` to `category` (and `priority`); None if there is no such ticket."""
    if category not in CATEGORIES:
        raise RouteError(f"unknown category {category!r} (known: {', '.join(CATEGORIES)})")
    if priority is not None and priority not in PRIORITIES:
        raise RouteError(f"unknown priority {priority!r} (known: {', '.join(PRIORITIES)})")
    rules = rt.rules
    with rt.sessions() as session:
        ticket = session.scalars(
            select(Ticket).where(Ticket.ref == ref.strip().upper()).with_for_update(of=Ticket)
        ).first()
        if ticket is None:
            return None
        before_category, before_priority = ticket.category, ticket.priority
        new_priority = priority or (before_priority if category == before_category else rules.default_priority[category])
        correction = Correction(
            ticket_id=ticket.id,
            category_before=before_category,
            priority_before=before_priority,
            category=category,
            priority=new_priority,
            overridden=list(ticket.triage_reasons or []),
            channel=ticket.channel,
            language=ticket.language,
            text_secret=_sealed_text(session, rt.vault, ticket),
            by=by[:64],
        )
        session.add(correction)
        ticket.category, ticket.department, ticket.priority = category, rules.department_for(category), new_priority
        ticket.due_at = ticket.created_at + rules.response_target(category, new_priority)
        ticket.updated_at = utcnow()
        if category in rules.private_categories:
            make_private(session, rt.vault, ticket, [f"correction:{category}"])
        if ticket.private:  # matched words of a private case may be amounts or names
            correction.overridden = rule_ids(correction.overridden)
        session.flush()
        outcome: dict[str, Any] = {
            "ticket": ticket.ref,
            "category": category,
            "department": ticket.department,
            "priority": new_priority,
            "private": ticket.private,
            "before": {"category": before_category, "priority": before_priority},
            "overrides": correction.overridden,
            "correction": correction.id,
        }
        session.commit()
        return outcome


def _sealed_text(session: Any, vault: Any, ticket: Ticket) -> bytes | None:
    """The ticket's first inbound message as triage read it (subject and new text), sealed."""
    message = session.scalars(
        select(Message).where(Message.ticket_id == ticket.id, Message.direction == "in").order_by(Message.id)
    ).first()
    if message is None:
        return None
    text, new_text = open_message(vault, message)
    subject = vault.decrypt_text(ticket.subject_secret) if ticket.subject_secret is not None else ticket.subject
    document = {"subject": subject if ticket.channel == "email" else "", "text": new_text or text}
    sealed: bytes = vault.encrypt_text(json.dumps(document, ensure_ascii=False))
    return sealed


def corrected_messages(rt: Any) -> Iterator[dict[str, Any]]:
    """Every stored correction, opened: subject, text, corrected category and priority,
    channel and language (the latest correction of a ticket wins)."""
    with rt.sessions() as session:
        rows = session.scalars(select(Correction).order_by(Correction.id)).all()
        latest = {row.ticket_id: row for row in rows}
        for row in latest.values():
            if row.text_secret is None:
                continue
            document = json.loads(rt.vault.decrypt_text(row.text_secret))
            yield {
                "key": f"correction/{row.id}",
                "subject": document["subject"],
                "text": document["text"],
                "category": row.category,
                "priority": row.priority,
                "channel": row.channel,
                "language": row.language,
                "private": row.category in rt.rules.private_categories,
            }
