"""Re-running the pipeline from raw captures (`intake reprocess`) and key rotation.

Every input is captured raw first, so a fixed bug or a changed triage rule can be applied to
what already came in, keeping ticket references.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update

from intake import pipeline
from intake.runtime import Runtime
from intake.tickets import store
from intake.tickets.models import AttachmentRow, Inbox, MailboxState, Message, Ticket, utcnow


def _parse(rt: Runtime, inbox: Inbox) -> Any:
    raw = rt.vault.decrypt(inbox.raw)
    if inbox.channel == "email":
        from intake.normalize.email import parse_email

        return parse_email(raw)
    if inbox.channel == "sms":
        import json

        from intake.normalize.twilio import parse_twilio_sms

        data = json.loads(raw)
        return parse_twilio_sms(data.get("params", data))
    return None


def retriage(rt: Runtime, inbox_id: int) -> bool:
    """Re-run triage for a processed capture and update its message and ticket in place.

    Private stays sticky: a rule change never makes a private ticket public again.
    """
    from intake.triage import triage_message

    with rt.sessions() as session:
        inbox = session.get(Inbox, inbox_id)
        message = session.scalar(select(Message).where(Message.inbox_id == inbox_id)) if inbox else None
        if inbox is None or message is None:
            return False
        msg = _parse(rt, inbox)
        if msg is None:
            return False
        triage = triage_message(msg, rt.rules)
        message.category, message.priority, message.language = triage.category, triage.priority, triage.language
        message.private_reasons = list(triage.private_reasons)
        ticket = session.get(Ticket, message.ticket_id)
        assert ticket is not None
        first_id = session.scalar(select(Message.id).where(Message.ticket_id == ticket.id,
                                                           Message.direction == "in").order_by(Message.id).limit(1))
        if first_id == message.id:
            ticket.category, ticket.department = triage.category, triage.department
            ticket.priority, ticket.language = triage.priority, triage.language
            ticket.triage_reasons = store.rule_ids(triage.reasons) if ticket.private else list(triage.reasons)
            ticket.due_at = ticket.created_at + rt.rules.response_target(triage.category, triage.priority)
        if triage.private:
            if not message.private:
                text, new_text = store.open_message(rt.vault, message)
                store.seal_message(rt.vault, message, text, new_text)
            store.make_private(session, rt.vault, ticket, triage.private_reasons)
        ticket.updated_at = utcnow()
        session.commit()
    return True


def reprocess(rt: Runtime, since: str | None = None, failed_only: bool = False) -> dict[str, int]:
    query = select(Inbox.id, Inbox.status).order_by(Inbox.id)
    if since:
        start = dt.datetime.fromisoformat(since)
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
        query = query.where(Inbox.captured_at >= start)
    if failed_only:
        query = query.where(Inbox.status == "failed")
    with rt.sessions() as session:
        rows = session.execute(query).all()
    summary = {"processed": 0, "retriaged": 0, "failed": 0, "skipped": 0}
    for row in rows:
        if row.status in ("captured", "failed"):
            with rt.sessions() as session:
                session.execute(update(Inbox).where(Inbox.id == row.id)
                                .values(status="captured", attempts=0, last_error=None))
                session.commit()
            outcome = pipeline.process_with_retries(rt, row.id)
            summary["processed" if outcome else "failed"] += 1
        elif retriage(rt, row.id):
            summary["retriaged"] += 1
        else:
            summary["skipped"] += 1
    return summary


def rotate_keys(rt: Runtime, batch: int = 500) -> dict[str, int]:
    """Re-encrypt everything under the primary key (the first of INTAKE_ENCRYPTION_KEY).

    Ops prepend a new key, run this, then drop the old key once it reports done.
    """
    columns = [(Inbox, "raw", Inbox.id), (Ticket, "subject_secret", Ticket.id),
               (Message, "text_secret", Message.id), (AttachmentRow, "content", AttachmentRow.id),
               (MailboxState, "oauth_refresh_token", MailboxState.name)]
    counts: dict[str, int] = {}
    for model, column, key in columns:
        done = 0
        with rt.sessions() as session:
            query = select(model).where(getattr(model, column).is_not(None))
            if model is AttachmentRow:
                query = query.where(AttachmentRow.encrypted.is_(True))
            for row in session.scalars(query.order_by(key)).yield_per(batch):
                setattr(row, column, rt.vault.rotate(getattr(row, column)))
                done += 1
                if done % batch == 0:
                    session.flush()
            session.commit()
        counts[f"{model.__tablename__}.{column}"] = done
    return counts
