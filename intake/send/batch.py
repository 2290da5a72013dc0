"""Sending many follow-ups at once for the one-shot commands: one statement claims the
batch, the sender delivers each, and each is recorded as sent the moment it leaves (or,
with a sender for which a second delivery of a row is no delivery, the file backend, all
in one transaction after the batch: a crash before it leaves rows `sending`, and their
retry after the lease writes nothing twice).

The exactly-once rules are those of `delivery.py`: the claim (status `sending`, attempts + 1,
updated_at = the claim's start, which `delivery.py` reads as the lease) is committed before
any provider call. Only fresh email rows (queued, never attempted, due, not past their
deadline) take this path; anything else, and any failure, goes through `delivery.py` one
row at a time, so the careful path stays the only path for the hard cases.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update

from intake.channels.smtp import EmailSendError
from intake.failures import safe_error
from intake.send.delivery import (
    Claim, RetryLater, record_failure, record_sent, record_sent_many, send_now, senders, transmit_email,
)
from intake.tickets.store import outbox_bodies
from intake.tickets.models import Outbox, Ticket, utcnow

if TYPE_CHECKING:
    from intake.runtime import Runtime

log = logging.getLogger("intake.send.batch")


def send_batch(rt: "Runtime", outbox_ids: list[int]) -> dict[int, str]:
    """Deliver these rows; returns each one's status."""
    if not outbox_ids:
        return {}
    statuses: dict[int, str] = {}
    claims = _claim_fresh(rt, outbox_ids)
    email_sender, _ = senders(rt)
    together = bool(getattr(email_sender, "idempotent", False))
    # The file backend writes the batch's files together (their fsyncs side by side).
    staged = email_sender.staged() if together and hasattr(email_sender, "staged") else None
    sent: list[tuple[Claim, str]] = []
    for claim in claims:
        try:
            provider_id = transmit_email(rt, staged or email_sender, claim)
        except Exception as exc:  # noqa: BLE001 - recorded as delivery records any failure
            statuses[claim.id] = _failed(rt, claim, exc)
            continue
        if together:
            sent.append((claim, provider_id))
        else:
            # Recorded row by row as it goes: a crash mid-batch resends nothing already sent.
            statuses[claim.id] = record_sent(rt, claim, provider_id, None)
    if staged is not None:
        unwritten = staged.commit()
        for claim, _ in sent:
            if claim.id in unwritten:
                statuses[claim.id] = _failed(rt, claim, unwritten[claim.id])
        sent = [(claim, provider_id) for claim, provider_id in sent if claim.id not in unwritten]
    if sent:
        # A sender that delivers the same row twice as once: one transaction for all.
        with rt.sessions() as session:
            now = utcnow()
            statuses.update(record_sent_many(session, sent, now))
            session.commit()

    for outbox_id in outbox_ids:
        if outbox_id not in statuses:
            statuses[outbox_id] = send_now(rt, outbox_id)
    return statuses


def _claim_fresh(rt: "Runtime", outbox_ids: list[int]) -> list[Claim]:
    now = utcnow()
    with rt.sessions() as session:
        claimed = session.execute(
            update(Outbox)
            .where(Outbox.id.in_(outbox_ids), Outbox.channel == "email", Outbox.status == "queued",
                   Outbox.attempts == 0,
                   or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now),
                   or_(Outbox.deadline.is_(None), Outbox.deadline > now))
            .values(status="sending", attempts=1, updated_at=now, enqueued_at=now)
            .returning(Outbox.id)).scalars().all()
        rows = session.execute(
            select(Outbox.id, Outbox.kind, Outbox.to_address, Outbox.from_address, Outbox.subject,
                   Outbox.body_text, Outbox.body_html, Outbox.headers, Outbox.header_message_id,
                   Outbox.created_at, Ticket.ref)
            .join(Ticket, Ticket.id == Outbox.ticket_id).where(Outbox.id.in_(claimed))
            .order_by(Outbox.id)).all() if claimed else []
        session.commit()  # the claim is durable before anything is sent
    opened = {r.id: outbox_bodies(rt.vault, r.body_text, r.body_html) for r in rows}
    return [Claim(id=r.id, kind=r.kind, channel="email", ref=r.ref, to=r.to_address,
                   from_address=r.from_address, subject=r.subject, text=opened[r.id][0], html=opened[r.id][1],
                   headers=dict(r.headers or {}), header_message_id=r.header_message_id,
                   created_at=r.created_at, attempt=1, maybe_sent_since=None) for r in rows]


def _failed(rt: "Runtime", claim: Claim, exc: Exception) -> str:
    try:
        if isinstance(exc, EmailSendError):
            return record_failure(rt, claim, exc.code, exc.detail, permanent=exc.permanent,
                                   maybe_sent=exc.maybe_sent)
        return record_failure(rt, claim, "internal", safe_error(exc)[:500], permanent=False,
                               maybe_sent=True)
    except RetryLater:
        return "queued"  # left for the worker / sweeper at next_attempt_at


