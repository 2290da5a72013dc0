"""The audit of private reads: one row per private ticket whose content a caller was shown
(token, time, ticket, API or console), never the content."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.tickets.models import PrivateRead, utcnow

VIA = ("api", "console")


def record_private_reads(session: Session, token_id: int, ticket_ids: Iterable[int], via: str) -> int:
    """Add the rows (the caller commits, before the content leaves the process)."""
    assert via in VIA
    now = utcnow()
    rows = [PrivateRead(token_id=token_id, ticket_id=ticket_id, via=via, read_at=now)
            for ticket_id in dict.fromkeys(ticket_ids)]
    session.add_all(rows)
    return len(rows)


def reads_of(session: Session, ticket_id: int) -> list[PrivateRead]:
    return list(session.scalars(select(PrivateRead).where(PrivateRead.ticket_id == ticket_id)
                                .order_by(PrivateRead.id)))
