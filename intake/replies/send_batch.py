"""Sending many follow-ups at once for the one-shot commands: one transaction claims the
batch, the sender delivers each, one transaction records them.

The exactly-once rules are those of `send.py` (claim committed before any provider call);
only the commits are shared. Anything out of the ordinary (a failure, a row another worker
holds, an SMS whose earlier attempt may have gone out) is handed to `send_now`, one row at
a time, so the careful path stays the only path for the hard cases.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from intake.replies.send import (
    RetryLater, _Claim, _record_failure, _senders, claim_row, record_sent_row, send_now,
    transmit_email,
)
from intake.tickets.models import Outbox, utcnow

if TYPE_CHECKING:
    from intake.runtime import Runtime

log = logging.getLogger("intake.replies.send")


def send_batch(rt: "Runtime", outbox_ids: list[int]) -> dict[int, str]:
    """Deliver these rows; returns each one's status."""
    if not outbox_ids:
        return {}
    statuses: dict[int, str] = {}
    careful: list[int] = []
    claims: list[_Claim] = []
    now = utcnow()
    with rt.sessions() as session:
        query = select(Outbox).where(Outbox.id.in_(outbox_ids)).order_by(Outbox.id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        for row in rows:
            if row.channel != "email" or row.status != "queued" or row.attempts:
                careful.append(row.id)
                continue
            try:
                claim = claim_row(rt, session, row, now)
            except RetryLater:
                statuses[row.id] = "queued"
                continue
            if isinstance(claim, str):
                statuses[row.id] = claim
            else:
                claims.append(claim)
        session.commit()
    careful.extend(i for i in outbox_ids if i not in {r.id for r in rows})
    email_sender, _ = _senders(rt)
    sent: list[tuple[_Claim, str]] = []
    for claim in claims:
        try:
            sent.append((claim, transmit_email(rt, email_sender, claim)))
        except Exception as exc:  # noqa: BLE001 - recorded as send.py records any failure
            statuses[claim.id] = _failed(rt, claim, exc)
    if sent:
        done_at = utcnow()
        with rt.sessions() as session:
            for claim, provider_id in sent:
                statuses[claim.id] = record_sent_row(session, claim, provider_id, None, done_at)
            session.commit()
    for outbox_id in careful:
        statuses[outbox_id] = send_now(rt, outbox_id)
    return statuses


def _failed(rt: "Runtime", claim: _Claim, exc: Exception) -> str:
    from intake.channels.smtp import EmailSendError
    from intake.pipeline import safe_error

    try:
        if isinstance(exc, EmailSendError):
            return _record_failure(rt, claim, exc.code, exc.detail, permanent=exc.permanent,
                                   maybe_sent=exc.maybe_sent)
        return _record_failure(rt, claim, "internal", safe_error(exc)[:500], permanent=False,
                               maybe_sent=True)
    except RetryLater:
        return "queued"  # left for the worker / sweeper at next_attempt_at
