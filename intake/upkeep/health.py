"""Health and metrics: what ops need to know at a glance, computed from the database
(the source of truth) plus a broker ping. Labels carry states and names, never text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from intake.mailboxes import FOLDER_PROBLEM, folder_problem_settings
from intake.runtime import Runtime
from intake.tickets.models import Inbox, MailboxState, Outbox, Ticket

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


def counts(rt: Runtime) -> dict[str, Any]:
    with rt.sessions() as session:
        inbox = _by_status(session, Inbox.status)
        outbox = _by_status(session, Outbox.status)
        tickets = _by_status(session, Ticket.status)
        # quarantined captures by why: error, user_error, time_limit, worker_lost, memory
        quarantined = {str(reason or "error"): int(n) for reason, n in session.execute(
            select(Inbox.failure_reason, func.count()).where(Inbox.status == "failed")
            .group_by(Inbox.failure_reason))}
        mailboxes = [
            {"name": m.name, "last_uid": m.last_uid, "uidvalidity": m.uidvalidity,
             "last_poll_at": m.last_poll_at.isoformat() if m.last_poll_at else None,
             "last_error": m.last_error, "skipped": len(m.skipped or []),
             **_folder_problem(m.last_error)}
            for m in session.scalars(select(MailboxState))
        ]
    return {"inbox": inbox, "outbox": outbox, "tickets": tickets, "quarantined": quarantined,
            "mailboxes": mailboxes}


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
