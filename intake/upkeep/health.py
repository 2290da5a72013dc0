"""Health and metrics: what ops need to know at a glance, computed from the database
(the source of truth) plus a broker ping. Labels carry states and names, never text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from intake.mailboxes import FOLDER_PROBLEM, folder_problem_settings
from intake.runtime import Runtime
from intake.tickets.models import Inbox, MailboxState, Outbox, Ticket, utcnow
from intake.upkeep import task_metrics

# Returns None when the broker answers, else a short reason (an exception's class name).
BrokerCheck = Callable[[], "str | None"]


def _by_status(session: Session, column: Any) -> dict[str, int]:
    return {str(status): int(n) for status, n in session.execute(select(column, func.count()).group_by(column))}


def _folder_problem(last_error: str | None) -> dict[str, Any]:
    """A processed/quarantine folder the last poll could not use (capture went on; the mail
    stayed in place), and the settings to change."""
    if not last_error or not last_error.startswith(FOLDER_PROBLEM):
        return {"folder_problem": None, "folder_problem_settings": []}
    return {"folder_problem": last_error[len(FOLDER_PROBLEM):],
            "folder_problem_settings": folder_problem_settings(last_error)}


def _age(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return max(0.0, (now - then).total_seconds()) if then is not None else None


def _mailbox(m: MailboxState, now: dt.datetime) -> dict[str, Any]:
    """One mailbox's state: its watermark, and what ops alert on (messages waiting on the
    server at the last poll, time since the last successful poll, the last error's class,
    time left on the OAuth token)."""
    return {"name": m.name, "last_uid": m.last_uid, "uidvalidity": m.uidvalidity,
            "last_poll_at": m.last_poll_at.isoformat() if m.last_poll_at else None,
            "last_error": m.last_error, "skipped": len(m.skipped or []),
            "server_uid": m.server_uid,
            "waiting": max(0, m.server_uid - m.last_uid) if m.server_uid is not None else None,
            "seconds_since_poll": _age(now, m.last_poll_at),
            "last_error_class": m.last_error_class,
            "oauth_expires_in": (m.oauth_expires_at - now).total_seconds() if m.oauth_expires_at else None,
            **_folder_problem(m.last_error)}


def counts(rt: Runtime) -> dict[str, Any]:
    now = utcnow()
    with rt.sessions() as session:
        inbox = _by_status(session, Inbox.status)
        outbox = _by_status(session, Outbox.status)
        tickets = _by_status(session, Ticket.status)
        # quarantined captures by why: error, user_error, time_limit, worker_lost, memory
        quarantined = {str(reason or "error"): int(n) for reason, n in session.execute(
            select(Inbox.failure_reason, func.count()).where(Inbox.status == "failed")
            .group_by(Inbox.failure_reason))}
        mailboxes = [_mailbox(m, now) for m in session.scalars(select(MailboxState))]
        oldest_capture = session.scalar(select(func.min(Inbox.captured_at)).where(Inbox.status == "captured"))
        oldest_queued = session.scalar(select(func.min(Outbox.created_at)).where(Outbox.status == "queued"))
        durations = [vars(b) for b in task_metrics.read(session)]
    return {"inbox": inbox, "outbox": outbox, "tickets": tickets, "quarantined": quarantined,
            "mailboxes": mailboxes,
            # what ops alert on besides: the oldest input not yet processed, the oldest
            # follow-up not yet sent (seconds; 0 when there is none), captures that failed
            "oldest_unprocessed_seconds": _age(now, _utc(oldest_capture)) or 0.0,
            "oldest_queued_followup_seconds": _age(now, _utc(oldest_queued)) or 0.0,
            "failed_captures": inbox.get("failed", 0),
            "task_durations": durations}


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # An aggregate bypasses the column type: SQLite hands back a naive (UTC) datetime or text.
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def check_database(rt: Runtime) -> str | None:
    try:
        with rt.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__


def health(rt: Runtime, check_broker: BrokerCheck | None) -> dict[str, Any]:
    """The report `intake health` prints and /healthz serves; `check_broker` comes from the
    task layer (None: this process has no broker to check)."""
    from intake.preflight import problems as start_problems

    database = check_database(rt)
    broker = check_broker() if check_broker is not None else None
    # What would stop a command from starting (schema newer than the code, a key that
    # cannot open the stored data, a read-only data directory): one line each.
    problems = start_problems(rt)
    report: dict[str, Any] = {"ok": database is None and broker is None and not problems,
                              "database": database or "ok",
                              "broker": broker or ("ok" if check_broker is not None else "not checked"),
                              "problems": problems}
    if database is None and not any(p.startswith("INTAKE_DATABASE_URL") for p in problems):
        report.update(counts(rt))
    return report
