"""The audit of private reads: one row per private ticket whose content a caller was shown
(token or command-line user, time, ticket, API, console or command line), never the content."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from intake.tickets.models import utcnow
from intake.tickets.records import PrivateRead

VIA = ("api", "console", "cli")


def record_private_reads(session: Session, token_id: int | None, tickets: Iterable[tuple[int, str]], via: str,
                         actor: str | None = None) -> int:
    """Add a row per (ticket id, ref); the caller commits, before the content leaves. A read
    with no token (the command line) names its `actor`."""
    if via not in VIA:
        raise ValueError(f"via must be one of {VIA}")
    if token_id is None and not actor:
        raise ValueError("a private read names its token or its actor")
    now = utcnow()
    rows = [PrivateRead(token_id=token_id, ticket_id=ticket_id, ticket_ref=ref, via=via, read_at=now,
                        actor=actor and actor[:128])
            for ticket_id, ref in dict.fromkeys(tickets)]
    session.add_all(rows)
    return len(rows)


def command_line_actor() -> str:
    """"cli:<operating-system user>" (the uid where the system has no name for it)."""
    import getpass
    import os

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid {os.getuid()}"

