"""Rate limits of the support form and the app endpoint, shared by every web process.

A fixed one-hour window per key, counted in the database (`web_rate_counters`): one
`INSERT ... ON CONFLICT DO UPDATE ... RETURNING` per hit, atomic on PostgreSQL and SQLite,
so two web processes (or two uvicorn workers) count together; the embedded default has no
Redis. Keys are HMACs of the client address or the contact, never the values themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from sqlalchemy import delete
from sqlalchemy.orm import Session

from intake.db import insert_for
from intake.tickets.records import RateCounter


def limit_key(secret: bytes, kind: str, value: str) -> str:
    """`kind:` + an HMAC of the value (a client address, a contact): countable, not readable."""
    digest = hmac.new(secret, value.strip().lower().encode("utf-8", "surrogatepass"), hashlib.sha256)
    return f"{kind}:{digest.hexdigest()[:64]}"


def hit(session: Session, key: str, limit: int, now: dt.datetime) -> bool:
    """Count one hit on `key` in the current window; False when it is over `limit`.
    The caller commits (the count stands even when the request is then refused)."""
    start = now.replace(minute=0, second=0, microsecond=0)
    insert = insert_for(session)
    statement = insert(RateCounter).values(key=key, window_start=start, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=["key", "window_start"], set_={"count": RateCounter.count + 1},
    ).returning(RateCounter.count)
    count = int(session.execute(statement).scalar_one())
    if count == 1:  # the first hit of a window clears the key's older windows
        session.execute(delete(RateCounter).where(RateCounter.key == key, RateCounter.window_start < start))
    return count <= limit


