"""Retention (STYLE 17): closed tickets go, with their messages, attachments, follow-ups
and raw captures, INTAKE_RETENTION_DAYS after they closed; private ones after the shorter
INTAKE_PRIVATE_RETENTION_DAYS. Captures that never led to a ticket (delivery statuses,
opt-outs, HELP) go on the general limit; failed captures stay for a person (`intake
reprocess --failed`). Open, pending and resolved tickets are never purged (a resolved
ticket reopens on a reply). A contact with no ticket and no recent activity goes with the
last of its tickets, unless it opted out of SMS: that choice must outlive the tickets.

Beat runs `purge` every INTAKE_PURGE_INTERVAL; `intake purge --dry-run` counts what would
go and changes nothing. Each purge that removed anything leaves an audit entry (counts).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from intake.db import for_update
from intake.runtime import Runtime
from intake.tickets import removal
from intake.tickets.models import Contact, Inbox, Ticket, utcnow

log = logging.getLogger("intake.retention")

BATCH = 200  # tickets per transaction: a purge never holds locks on a large set at once


@dataclass(frozen=True)
class PurgeReport:
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    audit_ids: list[str] = field(default_factory=list)


def cutoffs(rt: Runtime, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(general, private): tickets closed before these go."""
    settings = rt.settings
    return (now - dt.timedelta(days=settings.retention_days),
            now - dt.timedelta(days=settings.private_retention_days))


def _closed_when() -> ColumnElement[dt.datetime]:
    # A closed ticket without closed_at (closed before it was recorded) counts from its
    # last change.
    return func.coalesce(Ticket.closed_at, Ticket.updated_at)


def _expired_tickets(session: Session, general: dt.datetime, private: dt.datetime, limit: int,
                     lock: bool = True) -> list[int]:
    """Closed tickets past their limit. Locked (PostgreSQL), passing by those a worker is
    changing: a reply that reopens a ticket must not lose the race to its purge; the
    condition is checked again on the locked row, and a skipped ticket waits for the next
    purge. (SQLite: the purge already holds the database's write lock.)"""
    when = _closed_when()
    query = (select(Ticket.id).where(Ticket.status == "closed", or_(
        and_(Ticket.private.is_(True), when < private),
        and_(Ticket.private.is_(False), when < general)))
        .order_by(Ticket.id).limit(limit))
    return [int(i) for i in session.scalars(for_update(session, query, skip_locked=True) if lock else query)]


def _expired_captures(session: Session, general: dt.datetime, limit: int) -> list[int]:
    return [int(i) for i in session.scalars(
        select(Inbox.id).where(Inbox.ticket_id.is_(None), Inbox.status == "done",
                               Inbox.captured_at < general).order_by(Inbox.id).limit(limit))]


def _lapsed_contacts(session: Session, general: dt.datetime) -> list[int]:
    """Contacts left with no ticket, not opted out, and older than the general limit."""
    # Locked, skipping a contact a worker holds (it may be opening a ticket for them), and
    # deleted only while still unused (`contacts_only_unused`): a reply stored at the same
    # moment keeps its contact.
    query = (select(Contact.id).where(~exists().where(Ticket.contact_id == Contact.id),
                                      Contact.sms_opted_out.is_(False), Contact.created_at < general)
             .order_by(Contact.id).limit(BATCH))
    return [int(i) for i in session.scalars(for_update(session, query, skip_locked=True))]


def purge(rt: Runtime, dry_run: bool = False, now: dt.datetime | None = None) -> PurgeReport:
    """Delete (or, with `dry_run`, count) what is past its retention. Runs in batches, each
    its own transaction with an audit entry; idempotent, so two purges at once (beat and a
    command) only share the work."""
    now = now or utcnow()
    general, private = cutoffs(rt, now)
    if dry_run:
        return PurgeReport(True, _count(rt, general, private))
    totals: dict[str, int] = {}
    audit_ids: list[str] = []
    while True:
        with rt.sessions() as session, removal.transaction(session, "retention") as audit_id:
            doomed = removal.Doomed(
                tickets=set(_expired_tickets(session, general, private, BATCH)),
                inbox=set(_expired_captures(session, general, BATCH)))
            if not doomed.tickets and not doomed.inbox:
                doomed.contacts = set(_lapsed_contacts(session, general))
                doomed.contacts_only_unused = True
            if not (doomed.tickets or doomed.inbox or doomed.contacts):
                break
            counts = removal.remove(rt, session, audit_id, doomed)
        audit_ids.append(audit_id)
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    if audit_ids:
        log.info("retention purge: %s", ", ".join(f"{k}={v}" for k, v in sorted(totals.items())))
    return PurgeReport(False, totals, audit_ids)


def _count(rt: Runtime, general: dt.datetime, private: dt.datetime) -> dict[str, int]:
    """What a purge would delete now, counted without deleting (read-only transaction)."""
    with rt.sessions() as session:
        tickets = _expired_tickets(session, general, private, limit=10**9, lock=False)
        doomed = removal.Doomed(tickets=set(tickets),
                                inbox=set(_expired_captures(session, general, limit=10**9)))
        removal.gather(session, doomed)
        private_count = sum(1 for part in removal.chunks(tickets) for _ in session.scalars(
            select(Ticket.id).where(Ticket.id.in_(part), Ticket.private.is_(True))))
        session.rollback()
    return {"tickets": len(doomed.tickets), "private_tickets": private_count,
            "messages": len(doomed.messages), "inbox": len(doomed.inbox), "outbox": len(doomed.outbox)}
