"""The audit of private reads: one row per private ticket whose content a caller was shown
(token, time, ticket, API or console), never the content."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from intake.tickets.models import utcnow
from intake.tickets.records import PrivateRead

VIA = ("api", "console")


def record_private_reads(session: Session, token_id: int, tickets: Iterable[tuple[int, str]], via: str) -> int:
    """Add a row per (ticket id, ref); the caller commits, before the content leaves."""
    if via not in VIA:
        raise ValueError(f"via must be one of {VIA}")
    now = utcnow()
    rows = [PrivateRead(token_id=token_id, ticket_id=ticket_id, ticket_ref=ref, via=via, read_at=now)
            for ticket_id, ref in dict.fromkeys(tickets)]
    session.add_all(rows)
    return len(rows)

