"""Re-running the pipeline from raw captures (`intake reprocess`).

Every input is captured raw first, so a fixed bug or a changed triage rule can be applied to
what already came in, keeping ticket references.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, update

from intake.capture.twilio import decode_params
from intake.crypto import InvalidToken
from intake.messages import InboundMessage
from intake.normalize.email import parse_email
from intake.normalize.twilio import parse_twilio_sms
from intake.process import pipeline
from intake.process.flow import Caps, triage_for
from intake.runtime import Runtime
from intake.tickets import store
from intake.tickets.models import Inbox, Message, Ticket, utcnow
from intake.work import Work

log = logging.getLogger("intake.process.reprocess")


def _parse(rt: Runtime, inbox: Inbox) -> InboundMessage | None:
    raw = rt.vault.decrypt(inbox.raw)
    if inbox.channel == "email":
        caps = Caps.of(rt.settings)
        return parse_email(raw, max_attachment_bytes=caps.max_attachment_bytes, limits=caps.mail)
    if inbox.channel == "sms":
        return parse_twilio_sms(decode_params(raw))
    if inbox.channel == "web":
        from intake.capture.web import decode
        from intake.normalize.web import parse_web

        return parse_web(decode(raw))
    return None


def retriage(rt: Runtime, inbox_id: int) -> bool:
    """Re-run triage for a processed capture and update its message and ticket in place.

    Private stays sticky: a rule change never makes a private ticket public again.
    """
    with rt.sessions() as session:
        inbox = session.get(Inbox, inbox_id)
        message = session.scalar(select(Message).where(Message.inbox_id == inbox_id)) if inbox else None
        if inbox is None or message is None:
            return False
        msg = _parse(rt, inbox)
        if msg is None:
            return False
        # The same routing rule as processing: a department mailbox keeps its department.
        triage = triage_for(msg, rt.rules, inbox.meta, Caps.of(rt.settings))
        message.category, message.priority, message.language = triage.category, triage.priority, triage.language
        message.private_reasons = list(triage.private_reasons)
        ticket = session.get(Ticket, message.ticket_id)
        assert ticket is not None
        first_id = session.scalar(select(Message.id).where(Message.ticket_id == ticket.id,
                                                           Message.direction == "in").order_by(Message.id).limit(1))
        if first_id == message.id:
            store.route_ticket(ticket, triage, rt.rules.response_target(triage.category, triage.priority))
        if triage.private:
            if not message.private:
                text, new_text = store.open_message(rt.vault, message)
                store.seal_message(rt.vault, message, text, new_text)
            store.make_private(session, rt.vault, ticket, triage.private_reasons)
        ticket.updated_at = utcnow()
        session.commit()
    return True


def _reset(rt: Runtime, inbox_id: int, status: str) -> bool:
    """A fresh start for a capture still in `status`: attempts and failure cleared. False
    when its status changed meanwhile (another replay or a worker got there first)."""
    with rt.sessions() as session:
        result = session.execute(update(Inbox).where(Inbox.id == inbox_id, Inbox.status == status)
                                 .values(status="captured", attempts=0, last_error=None, failure_reason=None,
                                         claimed_at=None, enqueued_at=utcnow()))
        session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def replay(rt: Runtime, inbox_id: int) -> Work | None:
    """Put one failed (quarantined) capture back in line for the workers, as `intake
    reprocess --failed` does for all of them: the caller enqueues the returned Work. None
    when the row is not a failed capture (any more)."""
    with rt.sessions() as session:
        private = session.scalar(select(Inbox.private).where(Inbox.id == inbox_id, Inbox.status == "failed"))
    if private is None or not _reset(rt, inbox_id, "failed"):
        return None
    log.info("inbox %s: replay of a failed capture", inbox_id)
    return Work.of(process=[inbox_id], private=bool(private))


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
    summary = {"processed": 0, "retriaged": 0, "failed": 0, "skipped": 0, "unreadable": 0}
    for row in rows:
        if row.status in ("captured", "failed"):
            _reset(rt, row.id, row.status)
            outcome = pipeline.process_with_retries(rt, row.id)
            summary["processed" if outcome else "failed"] += 1
        else:
            try:
                done = retriage(rt, row.id)
            except InvalidToken:  # sealed under a key we no longer have: report it, go on
                log.warning("inbox %s: cannot be opened with the configured keys; skipped", row.id)
                summary["unreadable"] += 1
                continue
            summary["retriaged" if done else "skipped"] += 1
    return summary
