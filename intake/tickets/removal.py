"""Deleting stored data for good, shared by erasure and the retention purge: rows deleted
child-first in one transaction, the follow-up files the file backends wrote, an audit
entry that holds counts only, and, on SQLite, a rewrite of the file so no deleted bytes
stay behind in free pages or the write-ahead log.

PostgreSQL needs no rewrite for the promise we make (a `pg_dump` holds live rows only);
its dead tuples are reclaimed by autovacuum like any other deleted row.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, exists, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from intake.tickets.models import AttachmentRow, Contact, Inbox, InboxRaw, Message, Outbox, Ticket, utcnow
from intake.tickets.records import Correction, DataRemoval, StatusLink

log = logging.getLogger("intake.removal")

# IN lists are sent in chunks: SQLite and psycopg bound the parameters of one statement.
CHUNK = 500


def chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


@dataclass
class Doomed:
    """The ids to delete. Whatever hangs off a ticket or a message (its messages,
    attachments, follow-ups and captures) is added by `delete_rows`."""

    tickets: set[int] = field(default_factory=set)
    messages: set[int] = field(default_factory=set)
    inbox: set[int] = field(default_factory=set)
    outbox: set[int] = field(default_factory=set)
    contacts: set[int] = field(default_factory=set)
    # Retention deletes a contact only while no ticket names it: a reply being stored at
    # that moment may have just opened one (erasure deletes its contact whatever comes).
    contacts_only_unused: bool = False


def ids(session: Session, query: Any) -> set[int]:
    """The ids a query selects (None left out)."""
    return {int(i) for i in session.scalars(query) if i is not None}


def gather(session: Session, doomed: Doomed) -> None:
    """Close `doomed` over the foreign keys: a ticket's messages, follow-ups and captures; a
    message's attachments, follow-ups and capture."""
    for part in chunks(doomed.tickets):
        doomed.messages |= ids(session, select(Message.id).where(Message.ticket_id.in_(part)))
        doomed.outbox |= ids(session, select(Outbox.id).where(Outbox.ticket_id.in_(part)))
        doomed.inbox |= ids(session, select(Inbox.id).where(Inbox.ticket_id.in_(part)))
    for part in chunks(doomed.messages):
        doomed.outbox |= ids(session, select(Outbox.id).where(Outbox.message_id.in_(part)))
        doomed.inbox |= ids(session, select(Message.inbox_id).where(
            Message.id.in_(part), Message.inbox_id.is_not(None)))


def delete_rows(session: Session, doomed: Doomed) -> dict[str, int]:
    """Delete the rows (in the caller's transaction) and return how many of each went."""
    gather(session, doomed)
    counts = {"attachments": 0, "outbox": len(doomed.outbox), "messages": len(doomed.messages),
              "inbox": len(doomed.inbox), "tickets": len(doomed.tickets), "contacts": len(doomed.contacts)}
    quiet = {"synchronize_session": False}
    for part in chunks(doomed.tickets | _tickets_of(session, doomed.messages)):
        # Corrections keep the text triage read (training data): they go with any ticket
        # that loses a message. Status links name the ticket only, and go with it (below).
        session.execute(delete(Correction).where(Correction.ticket_id.in_(part)).execution_options(**quiet))
    for part in chunks(doomed.messages):
        result = session.execute(delete(AttachmentRow).where(AttachmentRow.message_id.in_(part))
                                 .execution_options(**quiet))
        counts["attachments"] += int(result.rowcount or 0)  # type: ignore[attr-defined]
    for part in chunks(doomed.outbox):
        session.execute(delete(Outbox).where(Outbox.id.in_(part)).execution_options(**quiet))
    for part in chunks(doomed.inbox):
        # A message that stays (someone else's on a shared ticket) never points at a capture
        # that goes; the guard keeps the foreign key whole if one ever did.
        session.execute(update(Message).where(Message.inbox_id.in_(part)).values(inbox_id=None)
                        .execution_options(**quiet))
    for part in chunks(doomed.messages):
        session.execute(delete(Message).where(Message.id.in_(part)).execution_options(**quiet))
    for part in chunks(doomed.inbox):
        session.execute(delete(InboxRaw).where(InboxRaw.inbox_id.in_(part)).execution_options(**quiet))
        session.execute(delete(Inbox).where(Inbox.id.in_(part)).execution_options(**quiet))
    for part in chunks(doomed.tickets):
        session.execute(delete(StatusLink).where(StatusLink.ticket_id.in_(part)).execution_options(**quiet))
        session.execute(delete(Ticket).where(Ticket.id.in_(part)).execution_options(**quiet))
    for part in chunks(doomed.contacts):
        statement = delete(Contact).where(Contact.id.in_(part))
        if doomed.contacts_only_unused:
            statement = statement.where(~exists().where(Ticket.contact_id == Contact.id))
        session.execute(statement.execution_options(**quiet))
    return counts


def _tickets_of(session: Session, messages: set[int]) -> set[int]:
    found: set[int] = set()
    for part in chunks(messages):
        found |= ids(session, select(Message.ticket_id).where(Message.id.in_(part)))
    return found


def audit(session: Session, kind: str, counts: dict[str, int]) -> str:
    """Record a removal by kind, time and counts (never who or what); returns its random id.
    Added first in the transaction by the callers: on SQLite the INSERT takes the write lock
    before anything is read, so the transaction never meets a snapshot gone stale."""
    entry = DataRemoval(id=secrets.token_hex(16), kind=kind, counts=dict(counts), created_at=utcnow())
    session.add(entry)
    session.flush()
    return entry.id


def finish_audit(session: Session, audit_id: str, counts: dict[str, int]) -> None:
    entry = session.get(DataRemoval, audit_id)
    if entry is not None:
        entry.counts = dict(counts)


def remove_outbox_files(outbox_dir: Path | None, outbox_ids: Iterable[int]) -> int:
    """The copies of deleted follow-ups that the file backends wrote (`outbox-ID.eml`,
    `outbox-ID.json`): they hold the recipient and the text. Returns how many went."""
    if outbox_dir is None:
        return 0
    removed = 0
    for outbox_id in outbox_ids:
        for suffix in (".eml", ".json"):
            try:
                (outbox_dir / f"outbox-{int(outbox_id)}{suffix}").unlink()
                removed += 1
            except FileNotFoundError:
                continue
    return removed


@contextmanager
def transaction(session: Session, kind: str) -> Iterator[str]:
    """One removal transaction: its audit entry first (the id is yielded), deleted content
    overwritten on SQLite while it runs, and the connection put back as it was after it,
    whether the body committed (`remove`) or failed."""
    try:
        audit_id = audit(session, kind, {})
        secure_delete(session, True)
        yield audit_id
    finally:
        session.rollback()
        secure_delete(session, False)
        session.commit()


def remove(rt: Any, session: Session, audit_id: str, doomed: Doomed,
           counts: dict[str, int] | None = None) -> dict[str, int]:
    """Delete `doomed` and the files the file backends wrote for its follow-ups, record the
    counts on the audit entry, and commit. The files go before the commit: after it nothing
    would lead to them, while a crash before it leaves rows the next run deletes."""
    counts = {**(counts or {}), **delete_rows(session, doomed)}
    counts["files"] = remove_outbox_files(rt.settings.outbox_dir, doomed.outbox)
    finish_audit(session, audit_id, counts)
    session.commit()
    return counts


def secure_delete(session: Session, on: bool) -> None:
    """SQLite: overwrite deleted content with zeros (PRAGMA secure_delete) on this session's
    connection; the pragma stays with the pooled connection, so callers switch it off again."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql(f"PRAGMA secure_delete={'ON' if on else 'OFF'}")


def scrub_sqlite(engine: Engine, attempts: int = 20) -> bool | None:
    """Rewrite a SQLite database so no deleted bytes remain in it: VACUUM builds the file
    anew from live rows (free pages and the free space inside pages, which still hold old
    versions of updated rows, are gone), then a TRUNCATE checkpoint copies that into the
    file and empties the write-ahead log. Returns True when both happened, False when
    readers kept the log from being emptied (their old pages are still in the -wal file
    until the next checkpoint), None on PostgreSQL (nothing to do)."""
    if engine.dialect.name != "sqlite":
        return None
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM")
            for _ in range(attempts):
                busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
                if busy is not None and busy[0] == 0:
                    return True
                time.sleep(0.1)
    except OperationalError as exc:  # a writer held the database past the busy timeout
        log.warning("removal: the SQLite file could not be rewritten (%s); the rows are gone, "
                    "their bytes may stay in free pages until a later VACUUM", type(exc).__name__)
        return False
    log.warning("removal: the SQLite write-ahead log could not be emptied (readers busy); "
                "it is emptied at the next checkpoint")
    return False
