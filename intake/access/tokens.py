"""Bearer tokens: made by `intake tokens create`, kept hashed, checked on every request.

A token reads `itk_<lookup>_<secret>`: the lookup (public, 12 hex digits) finds the row by
an index, the secret (43 url-safe characters, 256 bits) is compared as a SHA-256 in
constant time. A fast hash is enough for a random 256-bit secret (a password hash exists
to slow the guessing of low-entropy passwords; there is nothing to guess here).

Scopes (one token may hold several):
    read     tickets, captures and mailboxes; private tickets' content redacted
    write    read + reply and change status
    admin    write + replay failed captures
    private  read + private tickets' content, every read recorded (`audit.py`)
`admin` does not imply `private`: seeing private content is always its own, deliberate
grant, so an operator who replays captures does not also read account and finance cases.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from intake.runtime import Runtime
from intake.tickets.models import utcnow
from intake.tickets.records import ApiToken

SCOPES = ("read", "write", "admin", "private")
IMPLIES = {"read": {"read"}, "write": {"read", "write"}, "admin": {"read", "write", "admin"},
           "private": {"read", "private"}}
PREFIX = "itk_"
MAX_TOKEN_CHARS = 80  # anything longer is refused before any lookup or hashing
_SHAPE = re.compile(r"itk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class TokenError(ValueError):
    """An operator's mistake at `intake tokens` (bad name or scope, name taken, unknown token)."""


@dataclass(frozen=True)
class Caller:
    """Who a request acts as: the token's id and name and its effective scopes."""

    token_id: int
    name: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes


def effective(scopes: list[str] | tuple[str, ...]) -> frozenset[str]:
    granted: set[str] = set()
    for scope in scopes:
        granted |= IMPLIES.get(scope, set())
    return frozenset(granted)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def create(rt: Runtime, name: str, scopes: list[str]) -> tuple[str, dict[str, Any]]:
    """A new token: its one-time text and its public description."""
    if not _NAME.fullmatch(name or ""):
        raise TokenError("a token name is 1-64 letters, digits or . _ @ - (starting with a letter or digit)")
    if not scopes or any(s not in SCOPES for s in scopes):
        raise TokenError(f"--scope must be one of {', '.join(SCOPES)}")
    lookup, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    row = ApiToken(name=name, lookup=lookup, secret_sha256=_digest(secret),
                   scopes=sorted(set(scopes)), created_at=utcnow())
    with rt.sessions() as session:
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            raise TokenError(f"a token named {name!r} exists already (revoked ones keep their name)") from None
        return f"{PREFIX}{lookup}_{secret}", describe(row)


def describe(row: ApiToken) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {"id": row.id, "name": row.name, "scopes": list(row.scopes), "lookup": row.lookup,
            "created_at": iso(row.created_at), "last_used_at": iso(row.last_used_at),
            "revoked_at": iso(row.revoked_at)}


def listing(rt: Runtime) -> list[dict[str, Any]]:
    with rt.sessions() as session:
        return [describe(row) for row in session.scalars(select(ApiToken).order_by(ApiToken.id))]


def revoke(rt: Runtime, name: str) -> dict[str, Any]:
    """Revoke by name (or lookup); at once for the API and for console sessions, which
    check their token on every request."""
    with rt.sessions() as session:
        row = session.scalar(select(ApiToken).where((ApiToken.name == name) | (ApiToken.lookup == name)))
        if row is None:
            raise TokenError(f"no token named {name!r}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.commit()
        return describe(row)


def authenticate(rt: Runtime, presented: str) -> Caller | None:
    """The caller a presented token stands for; None for anything but a live token of ours."""
    if len(presented) > MAX_TOKEN_CHARS:
        return None
    shape = _SHAPE.fullmatch(presented)
    if shape is None:
        return None
    lookup, secret = shape.groups()
    with rt.sessions() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.lookup == lookup))
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
            return None
        now = utcnow()
        # Written at most once a minute, so a busy token does not turn reads into writes.
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
            session.commit()
        return Caller(row.id, row.name, effective(row.scopes))


def live(rt: Runtime, token_id: int) -> Caller | None:
    """The caller of a console session's token, if that token is still live."""
    with rt.sessions() as session:
        row = session.get(ApiToken, token_id)
        if row is None or row.revoked_at is not None:
            return None
        return Caller(row.id, row.name, effective(row.scopes))
