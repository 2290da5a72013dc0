"""Status links: the signed, expiring `/status/<token>` every acknowledgement carries.

A token is random (`secrets.token_urlsafe`), never derived from the ticket's reference,
and only its SHA-256 is stored, with the ticket and an expiry: a copy of the database
opens no status page. `rotate` revokes a ticket's links (or all); a revoked or expired
token still names its ticket, so its page can offer a fresh link, sent only to the
contact on record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from intake.tickets.models import utcnow
from intake.tickets.records import StatusLink

if TYPE_CHECKING:
    from intake.runtime import Runtime

PATH = "/status/"
_TOKEN_BYTES = 18  # 24 characters: short enough for an SMS, 144 bits to guess
_MAX_TOKEN = 64


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def well_formed(token: str) -> bool:
    return 16 <= len(token) <= _MAX_TOKEN and token.isascii() and all(
        c.isalnum() or c in "-_" for c in token)


def mint(session: Session, ticket: "HasId", days: float, now: dt.datetime | None = None) -> str:
    """A new token for the ticket (its row added to the session; the caller commits)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    assert ticket.id is not None, "a status link names a stored ticket"
    session.add(StatusLink(token_sha256=_digest(token), ticket_id=ticket.id, created_at=now,
                           expires_at=now + dt.timedelta(days=days)))
    return token


class HasId(Protocol):
    """A stored `Ticket`, or the fields of one a chunk has just inserted."""

    @property
    def id(self) -> int | None: ...


def url_for_new(session: Session, rt: "Runtime", ticket: HasId, now: dt.datetime | None = None) -> str | None:
    """The status URL for a follow-up about `ticket`; None without INTAKE_PUBLIC_URL
    (then no link is minted and none is shown)."""
    base = (rt.settings.public_url or "").rstrip("/")
    if not base:
        return None
    return base + PATH + mint(session, ticket, rt.settings.status_link_days, now)


@dataclass(frozen=True)
class Found:
    ticket_id: int
    usable: bool  # False: expired or revoked (the page offers a fresh link)


def resolve(session: Session, token: str, now: dt.datetime | None = None) -> Found | None:
    """The ticket a token names, and whether it is still good; None for a token we never made."""
    if not well_formed(token):
        return None
    row = session.scalar(select(StatusLink).where(StatusLink.token_sha256 == _digest(token)))
    if row is None:
        return None
    now = now or utcnow()
    return Found(row.ticket_id, row.revoked_at is None and row.expires_at > now)


def rotate(session: Session, ticket_id: int | None, now: dt.datetime | None = None) -> int:
    """Revoke the live links of one ticket (or of every ticket); returns how many."""
    now = now or utcnow()
    query = update(StatusLink).where(StatusLink.revoked_at.is_(None))
    if ticket_id is not None:
        query = query.where(StatusLink.ticket_id == ticket_id)
    return int(session.execute(query.values(revoked_at=now)).rowcount or 0)  # type: ignore[attr-defined]
