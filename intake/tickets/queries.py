"""What the API and the console read, scope-aware: tickets (private content only for the
private scope, each such read recorded), the desk at a glance, failed captures and the
mailboxes' state. Views (`views.py`) shape one ticket; this module decides who sees what."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.access.audit import record_private_reads
from intake.access.tokens import Caller
from intake.runtime import Runtime
from intake.tickets.models import Inbox, MailboxState, Outbox, Ticket, utcnow
from intake.tickets.store import OPEN_STATUSES
from intake.tickets.views import TicketFilter, count_tickets, list_tickets, ticket_detail

MAX_PAGE_SIZE = 200
MAX_PAGE = 100_000
FAILING_FOLLOW_UPS = ("failed", "undelivered")
DESK_LIST = 10


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _age(now: dt.datetime, since: dt.datetime | None) -> int | None:
    return int((now - since).total_seconds()) if since is not None else None


def page_bounds(page: int, per_page: int) -> tuple[int, int]:
    """(offset, limit) for 1-based paging, clamped: absurd values get the nearest sane page."""
    per_page = min(max(per_page, 1), MAX_PAGE_SIZE)
    page = min(max(page, 1), MAX_PAGE)
    return (page - 1) * per_page, per_page


def find_tickets(rt: Runtime, caller: Caller, via: str, where: TicketFilter,
                 page: int = 1, per_page: int = 50) -> dict[str, Any]:
    offset, limit = page_bounds(page, per_page)
    show = caller.may("private")
    with rt.sessions() as session:
        rows = list_tickets(session, rt.vault, show_private=show, where=where, offset=offset, limit=limit)
        total = count_tickets(session, where)
        if show:
            _audit(session, caller, via, [r["ref"] for r in rows if r["private"]])
    return {"tickets": rows, "total": total, "page": offset // limit + 1, "per_page": limit}


def show_ticket(rt: Runtime, caller: Caller, via: str, ref: str) -> dict[str, Any] | None:
    show = caller.may("private")
    with rt.sessions() as session:
        detail = ticket_detail(session, rt.vault, ref[:32], show_private=show)
        if detail is not None and show and (detail["private"] or any(m["private"] for m in detail["messages"])):
            _audit(session, caller, via, [detail["ref"]])
    return detail


def _audit(session: Session, caller: Caller, via: str, refs: list[str]) -> None:
    """Record the reads and commit before the content is returned: no private read goes
    unrecorded, even when the answer then fails to reach the caller."""
    if not refs:
        return
    found = session.execute(select(Ticket.id, Ticket.ref).where(Ticket.ref.in_(refs))).all()
    record_private_reads(session, caller.token_id, [(row.id, row.ref) for row in found], via)
    session.commit()


def ticket_private(rt: Runtime, ref: str) -> bool:
    """Whether the follow-ups of this ticket travel on the private queue."""
    with rt.sessions() as session:
        return bool(session.scalar(select(Ticket.private).where(Ticket.ref == ref[:32].strip().upper())))


def failed_captures(rt: Runtime, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Quarantined captures (status failed), newest first: ids, why, never content (their
    `last_error` is a safe description, intake.failures.safe_error)."""
    limit = min(max(limit, 1), MAX_PAGE_SIZE)
    offset = min(max(offset, 0), MAX_PAGE * MAX_PAGE_SIZE)
    now = utcnow()
    with rt.sessions() as session:
        total = session.scalar(select(func.count()).select_from(Inbox).where(Inbox.status == "failed")) or 0
        rows = session.scalars(select(Inbox).where(Inbox.status == "failed")
                               .order_by(Inbox.id.desc()).offset(offset).limit(limit))
        captures = [{"id": r.id, "channel": r.channel, "mailbox": r.mailbox, "reason": r.failure_reason or "error",
                     "attempts": r.attempts, "last_error": r.last_error, "size": r.size,
                     "captured_at": _iso(r.captured_at), "age_seconds": _age(now, r.captured_at)}
                    for r in rows]
    return {"captures": captures, "total": int(total)}


def mailboxes(rt: Runtime) -> list[dict[str, Any]]:
    """Each mailbox the poller keeps state for: last poll and lag since, lease holder,
    UIDVALIDITY and watermark, last error, UIDs skipped, and its capture backlog."""
    now = utcnow()
    with rt.sessions() as session:
        backlog = {name: (int(n), oldest) for name, n, oldest in session.execute(
            select(Inbox.mailbox, func.count(), func.min(Inbox.captured_at))
            .where(Inbox.status == "captured", Inbox.mailbox.is_not(None)).group_by(Inbox.mailbox))}
        result = []
        for m in session.scalars(select(MailboxState).order_by(MailboxState.name)):
            waiting, oldest = backlog.get(m.name, (0, None))
            leased = m.lease_owner is not None and m.lease_until is not None and m.lease_until > now
            result.append({
                "name": m.name, "folder": m.folder, "uidvalidity": m.uidvalidity, "last_uid": m.last_uid,
                "last_poll_at": _iso(m.last_poll_at), "lag_seconds": _age(now, m.last_poll_at),
                "lease_holder": m.lease_owner if leased else None,
                "lease_until": _iso(m.lease_until) if leased else None,
                "last_error": m.last_error, "skipped": len(m.skipped or []),
                "backlog": waiting, "backlog_age_seconds": _age(now, oldest)})
    return result


def desk(rt: Runtime) -> dict[str, Any]:
    """The desk at a glance. Stored subjects only (a private ticket's is its category and
    reference), so the page needs no private scope and records no read."""
    now = utcnow()
    with rt.sessions() as session:
        open_counts: dict[str, dict[str, int]] = {}
        for department, priority, n in session.execute(
                select(Ticket.department, Ticket.priority, func.count())
                .where(Ticket.status.in_(OPEN_STATUSES)).group_by(Ticket.department, Ticket.priority)):
            open_counts.setdefault(department, {})[priority] = int(n)
        unanswered = select(Ticket).where(Ticket.status.in_(OPEN_STATUSES), Ticket.first_response_at.is_(None))
        oldest = [{"ref": t.ref, "department": t.department, "priority": t.priority, "private": t.private,
                   "subject": t.subject, "age_seconds": _age(now, t.created_at), "due_at": _iso(t.due_at)}
                  for t in session.scalars(unanswered.order_by(Ticket.created_at, Ticket.id).limit(DESK_LIST))]
        waiting = session.execute(select(func.count(), func.min(Inbox.captured_at))
                                  .where(Inbox.status == "captured")).one()
        failing = [{"id": o.id, "ticket": ref, "kind": o.kind, "channel": o.channel, "status": o.status,
                    "error_code": o.error_code, "last_error": o.last_error, "attempts": o.attempts,
                    "updated_at": _iso(o.updated_at)}
                   for o, ref in session.execute(
                       select(Outbox, Ticket.ref).join(Ticket, Ticket.id == Outbox.ticket_id)
                       .where(Outbox.status.in_(FAILING_FOLLOW_UPS) | ((Outbox.status == "queued") & (Outbox.attempts > 0)))
                       .order_by(Outbox.id.desc()).limit(DESK_LIST))]
    return {
        "open": open_counts,
        "open_total": sum(sum(v.values()) for v in open_counts.values()),
        "oldest_unanswered": oldest,
        "backlog_age_seconds": oldest[0]["age_seconds"] if oldest else None,
        "captures_waiting": int(waiting[0] or 0),
        "captures_waiting_age_seconds": _age(now, waiting[1]),
        "failed_captures": failed_captures(rt, limit=DESK_LIST),
        "mailboxes": mailboxes(rt),
        "failing_follow_ups": failing,
    }
