"""Claims on inbox rows: every attempt is counted in the database before it starts, and one
worker at a time processes a capture (STYLE 15).

    claim(rt, inbox_id) -> Claim | status      one UPDATE ... RETURNING, committed: attempts + 1,
                                               claimed_at = now. Raises Busy while another
                                               worker's claim is live.
    claim_fresh(rt, ids) -> {id: Claim}        the same for a chunk of never-claimed rows
    own(session, ids, claimed_at) -> ids       first statement of the processing transaction:
                                               the rows still ours, locked until commit
    release / fail                             end a claim that did not finish the row

Why a claim and not SELECT ... FOR UPDATE: SQLite has no row locks and pysqlite starts no
transaction on SELECT, so two workers could both read `captured` and both process. An UPDATE
whose WHERE names the expected state is atomic on both databases: on PostgreSQL a second
UPDATE waits for the first's row lock and re-checks the WHERE; on SQLite it waits for the
database write lock. `own` is such an UPDATE too, so it holds the row (PostgreSQL) or the
database (SQLite) for the rest of the processing transaction.

A claim lives INTAKE_TASK_TIME_LIMIT + 10 s (`Settings.process_lease`): past the hard
limit its worker has been killed. A claim found expired means an attempt ended without
recording anything (its worker died: out of memory, a crash, SIGKILL, the hard limit); it
is counted like any other, and when INTAKE_PROCESS_MAX_ATTEMPTS run out that way the row is
quarantined as `worker_lost` without being tried again, so a poison mail cannot hold the
workers. The raw input stays for `intake reprocess --failed`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, select, update
from sqlalchemy.orm import Session

from intake.runtime import Runtime
from intake.tickets.models import Inbox, utcnow

log = logging.getLogger("intake.process")

WORKER_LOST = "worker_lost"
TIME_LIMIT = "time_limit"
MEMORY = "memory"
ERROR = "error"
USER_ERROR = "user_error"


class Busy(Exception):
    """Another worker holds a live claim on this row: try again in `delay` seconds."""

    def __init__(self, inbox_id: int, delay: float) -> None:
        super().__init__(f"inbox {inbox_id} is being processed; retry in {delay:.0f}s")
        self.delay = max(1.0, delay)


@dataclass(frozen=True)
class Claim:
    inbox_id: int
    attempt: int  # this attempt's number, 1-based
    claimed_at: dt.datetime


def _claimable(now: dt.datetime, lease: float) -> tuple[ColumnElement[bool], ...]:
    expired = now - dt.timedelta(seconds=lease)
    return (Inbox.status == "captured", (Inbox.claimed_at.is_(None)) | (Inbox.claimed_at < expired))


def claim(rt: Runtime, inbox_id: int, now: dt.datetime | None = None) -> Claim | str:
    """Claim one row for an attempt (committed before the attempt starts). Returns the claim,
    or the row's status when there is nothing to do ("done", "failed", "missing"); raises
    Busy when another worker's claim on it is live."""
    now = now or utcnow()
    settings = rt.settings
    lost = Inbox.claimed_at.is_not(None)  # SET expressions see the row before the update
    with rt.sessions() as session:
        row = session.execute(
            update(Inbox).where(Inbox.id == inbox_id, *_claimable(now, settings.process_lease))
            .values(attempts=Inbox.attempts + 1, claimed_at=now, enqueued_at=now, updated_at=now,
                    failure_reason=case((lost, WORKER_LOST), else_=Inbox.failure_reason),
                    last_error=case((lost, "the worker processing an earlier attempt was lost"),
                                    else_=Inbox.last_error))
            .returning(Inbox.attempts, Inbox.failure_reason)
            .execution_options(synchronize_session=False)).one_or_none()
        if row is None:
            session.rollback()
            current = session.execute(select(Inbox.status, Inbox.claimed_at).where(Inbox.id == inbox_id)).one_or_none()
            if current is None:
                return "missing"
            if current.status != "captured" or current.claimed_at is None:
                return str(current.status)
            expires = current.claimed_at + dt.timedelta(seconds=settings.process_lease)
            raise Busy(inbox_id, (expires - now).total_seconds() + 1)
        if row.attempts > settings.process_max_attempts:
            # Every attempt allowed has been made and the last one never came back.
            reason = row.failure_reason or WORKER_LOST
            _quarantine_lost(session, inbox_id, reason, f"{reason}: gave up after {row.attempts - 1} attempts", now)
            session.commit()
            log.error("inbox %s quarantined (%s) after %d attempts", inbox_id, reason, row.attempts - 1)
            return "failed"
        session.commit()
    if row.failure_reason == WORKER_LOST:
        log.warning("inbox %s: attempt %d of %d (an earlier attempt's worker was lost)", inbox_id,
                    row.attempts, settings.process_max_attempts)
    return Claim(inbox_id, int(row.attempts), now)


def claim_fresh(rt: Runtime, inbox_ids: list[int], now: dt.datetime | None = None) -> dict[int, Claim]:
    """Claim, in one statement, those of these rows that are captured and were never claimed
    (the fast path of the one-shot commands; anything else goes one by one)."""
    now = now or utcnow()
    with rt.sessions() as session:
        rows = session.execute(
            update(Inbox).where(Inbox.id.in_(inbox_ids), Inbox.status == "captured", Inbox.claimed_at.is_(None))
            .values(attempts=Inbox.attempts + 1, claimed_at=now, enqueued_at=now, updated_at=now)
            .returning(Inbox.id, Inbox.attempts)
            .execution_options(synchronize_session=False)).all()
        session.commit()
    return {row.id: Claim(row.id, int(row.attempts), now) for row in rows}


def own(session: Session, inbox_ids: Iterable[int], claimed_at: dt.datetime) -> set[int]:
    """The first statement of a processing transaction: which of these rows are still ours
    to finish. The UPDATE locks them (PostgreSQL: the rows; SQLite: the database) until the
    transaction ends, so nobody can claim or finish them meanwhile."""
    ids = list(inbox_ids)
    if not ids:
        return set()
    return set(session.execute(
        update(Inbox).where(Inbox.id.in_(ids), Inbox.status == "captured", Inbox.claimed_at == claimed_at)
        .values(claimed_at=claimed_at)
        .returning(Inbox.id)
        .execution_options(synchronize_session=False)).scalars())


def release(rt: Runtime, claims: Iterable[Claim], uncount: bool = False) -> None:
    """Give claims back without recording a failure (a batch rolled back for a neighbour's
    sake: `uncount` takes its attempt back, since the row was never really tried)."""
    with rt.sessions() as session:
        for item in claims:
            session.execute(
                update(Inbox).where(Inbox.id == item.inbox_id, Inbox.status == "captured",
                                    Inbox.claimed_at == item.claimed_at)
                .values(claimed_at=None, attempts=Inbox.attempts - (1 if uncount else 0))
                .execution_options(synchronize_session=False))
        session.commit()


def release_quietly(rt: Runtime, item: Claim) -> None:
    """`release` for an attempt that just failed; if the database is away too, the claim
    simply expires."""
    try:
        release(rt, [item])
    except Exception:  # noqa: BLE001
        log.warning("inbox %s: claim not released (%s expires it)", item.inbox_id, "the lease")


def release_row(rt: Runtime, inbox_id: int, detail: str) -> None:
    """End whatever claim the row has, keeping its attempt counted (the database went away
    mid-attempt: the retry need not wait out the lease)."""
    with rt.sessions() as session:
        session.execute(
            update(Inbox).where(Inbox.id == inbox_id, Inbox.status == "captured")
            .values(claimed_at=None, failure_reason=ERROR, last_error=detail)
            .execution_options(synchronize_session=False))
        session.commit()


def _quarantine_lost(session: Session, inbox_id: int, reason: str, detail: str, now: dt.datetime) -> None:
    session.execute(
        update(Inbox).where(Inbox.id == inbox_id)
        .values(status="failed", failure_reason=reason, last_error=detail, claimed_at=None,
                attempts=Inbox.attempts - 1, updated_at=now)
        .execution_options(synchronize_session=False))
