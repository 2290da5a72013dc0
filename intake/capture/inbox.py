"""Inbox writes: every input is stored raw (encrypted) before anything else, keyed so that
the same input twice is stored once (STYLE 2, 7). Capture returns the ids to process."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from intake.crypto import Vault
from intake.db import insert_for
from intake.tickets.models import Inbox, InboxRaw, utcnow


@dataclass(frozen=True)
class CaptureItem:
    channel: str
    capture_key: str
    raw: bytes
    mailbox: str | None = None
    meta: dict[str, Any] | None = None
    # A private mailbox's captures (MailboxConfig.private) are private before they are
    # parsed, so every path (the sweeper too) sends them to the private queue.
    private: bool = False


@dataclass(frozen=True)
class Captured:
    inbox_id: int
    created: bool  # False: the same input was captured before


def capture_many(session: Session, vault: Vault, items: Sequence[CaptureItem]) -> list[Captured]:
    """Store raw inputs; the same input twice (same key or same bytes) is stored once.

    The caller commits; only after that commit may it acknowledge the source (flag the
    IMAP message, answer Twilio).
    """
    if not items:
        return []
    now = utcnow()
    rows = []
    digests = []
    for item in items:
        digest = hashlib.sha256(item.raw).hexdigest()
        digests.append(digest)
        rows.append({
            "channel": item.channel, "capture_key": item.capture_key, "raw_sha256": digest,
            "size": len(item.raw), "mailbox": item.mailbox,
            "meta": item.meta or {}, "status": "captured", "attempts": 0, "private": item.private,
            # the caller enqueues right after its commit
            "captured_at": now, "updated_at": now, "enqueued_at": now,
        })
    insert = insert_for(session)
    session.execute(insert(Inbox).on_conflict_do_nothing(), rows)
    keys = [item.capture_key for item in items]
    channels = {item.channel for item in items}
    found = session.execute(
        select(Inbox.id, Inbox.capture_key, Inbox.channel, Inbox.raw_sha256, Inbox.captured_at).where(
            or_(Inbox.capture_key.in_(keys),
                # channel first: the lookup uses the (channel, raw_sha256) unique index
                and_(Inbox.channel.in_(channels), Inbox.raw_sha256.in_(set(digests)))))
    ).all()
    by_key = {row.capture_key: row for row in found}
    by_digest = {(row.channel, row.raw_sha256): row for row in found}
    results = []
    for item, digest in zip(items, digests):
        row = by_key.get(item.capture_key) or by_digest[(item.channel, digest)]
        # Rows inserted by this call carry this call's timestamp (to the microsecond); a
        # bulk ON CONFLICT DO NOTHING reports no per-row count, so this is how we tell.
        created = row.capture_key == item.capture_key and row.captured_at == now
        results.append(Captured(inbox_id=row.id, created=created))
    # The bytes go in their own row (models.InboxRaw), sealed only for the rows this call
    # created: a duplicate is neither encrypted nor written again.
    raws = [{"inbox_id": c.inbox_id, "raw": vault.encrypt(item.raw)}
            for item, c in zip(items, results) if c.created]
    if raws:
        session.execute(insert(InboxRaw).on_conflict_do_nothing(), raws)
    return results


def capture(session: Session, vault: Vault, item: CaptureItem) -> Captured:
    return capture_many(session, vault, [item])[0]
