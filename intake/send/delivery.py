"""Deliver one outbox row, exactly once as far as the providers let us.

    send_outbox(rt, outbox_id) -> status     the Celery task's body; RetryLater(delay) on a
                                             transient failure
    send_now(rt, outbox_id) -> status        one attempt now (CLI); a transient failure leaves
                                             the row queued for the worker / sweeper

How "exactly once" is kept (STYLE 7, 9):

1. Claim: the attempt is recorded (status `sending`, attempts + 1, the start time) and
   committed BEFORE the provider is called, by one UPDATE that holds only if the row is
   still in the state it was read in: of two workers claiming at once, on SQLite as on
   PostgreSQL, exactly one gets it. A row already `sent` / `failed` / `suppressed`
   is never sent again: a task run twice, or re-enqueued by the sweeper, is a no-op.
2. A row found in `sending` whose claim is younger than the lease belongs to a worker that
   is sending it right now: back off. Older than the lease: that worker died between the
   claim and recording the result, and the provider may or may not have the message.
3. SMS in that state (or after a timeout / dropped connection) is looked up at Twilio
   first: a message to the same number with the same body created since the first
   uncertain attempt means it went out; we record its SID and do not send again.
4. Email cannot be asked. It is resent with the same deterministic Message-ID
   (`<outbox-{id}.{ref}@{mail_domain}>`) and Date, so a duplicate is byte-identical and
   detectable (many mail stores drop it). The residual window is the time between the
   SMTP server's "250" to DATA and our commit: a worker killed exactly there, or a DB
   outage at that moment, can cause one duplicate email. Nothing closes that window
   short of a provider with idempotency keys.
5. The residual window for SMS: Twilio's list may lag a just-created message by a moment,
   and a Messaging Service with smart encoding may rewrite the body so it no longer
   matches; both can cause one duplicate after a crash, never after a clean failure.

Transient failures (timeouts, SMTP 4xx, Twilio 5xx / 429, our own bugs) are retried with
exponential backoff and full jitter until INTAKE_SEND_MAX_ATTEMPTS or the row's deadline
(INTAKE_SEND_DEADLINE_SECONDS after it was queued); permanent ones (SMTP 5xx, Twilio
21211 / 21610 / 21614 ...) fail at once, with error_code and last_error for ops.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, select, update

from intake.channels.sms import OutgoingSms, SmsSendError, TwilioSmsSender, make_sms_sender
from intake.channels.smtp import EmailSendError, OutgoingEmail, make_email_sender, to_wire
from intake.failures import backoff, safe_error
from intake.process.status import apply_pending_statuses
from intake.tickets.store import outbox_bodies
from intake.tickets.models import Contact, Message, Outbox, Ticket, core_table, utcnow

if TYPE_CHECKING:
    from intake.runtime import Runtime
    from intake.settings import Settings

log = logging.getLogger("intake.send.delivery")

FINAL = ("sent", "delivered", "undelivered", "failed", "suppressed")
BACKOFF_BASE = 60.0  # seconds before the first retry; greylisting asks for a minute or more
BACKOFF_CAP = 1800.0  # below the Redis visibility timeout (3600 s), so ETA retries are not redelivered early


class RetryLater(Exception):
    """Try this row again in `delay` seconds (the Celery task turns this into a retry)."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.1f}s")
        self.delay = max(0.0, float(delay))


def lease_seconds(settings: "Settings") -> float:
    """How long a claim protects a row: longer than any one attempt can take (socket
    timeouts bound it), shorter than the sweeper's INTAKE_STALE_AFTER."""
    return max(settings.smtp_timeout, TwilioSmsSender.timeout) * 2 + 30


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat()


def _parse(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Claim:
    id: int
    kind: str
    channel: str
    ref: str
    to: str
    from_address: str
    subject: str
    text: str
    html: str | None
    headers: dict[str, Any]
    header_message_id: str | None
    created_at: dt.datetime
    attempt: int
    maybe_sent_since: dt.datetime | None  # an earlier attempt may have reached the provider


def senders(rt: "Runtime") -> tuple[Any, Any]:
    email = rt.cached("replies.email_sender", lambda: make_email_sender(rt.settings))
    sms = rt.cached("replies.sms_sender", lambda: make_sms_sender(rt.settings))
    return email, sms


def _claim(rt: "Runtime", outbox_id: int, now: dt.datetime) -> Claim | str:
    for _ in range(3):
        with rt.sessions() as session:
            # A plain read: the claim itself is one conditional UPDATE (see claim_row), so
            # nothing relies on row locks (SQLite has none, and pysqlite starts no
            # transaction on a SELECT).
            row = session.get(Outbox, outbox_id)
            if row is None:
                log.info("outbox %s: no such row", outbox_id)
                return "missing"
            claim = claim_row(rt, session, row, now)
            session.commit()
        if claim is not None:
            return claim
        now = utcnow()  # another worker changed the row between our read and our claim: read again
    raise RetryLater(1.0)


def _swap(session: Any, row: Outbox, **values: Any) -> int | None:
    """Change the row only if it is still as we read it, in one statement; returns its
    attempts after the change, or None when another worker changed it first. (status,
    attempts) is the row's version: every claim adds an attempt and every other change of
    a row in flight changes its status."""
    return session.execute(  # type: ignore[no-any-return]
        update(Outbox).where(Outbox.id == row.id, Outbox.status == row.status, Outbox.attempts == row.attempts)
        .values(**values).returning(Outbox.attempts)
        .execution_options(synchronize_session=False)).scalar_one_or_none()


def claim_row(rt: "Runtime", session: Any, row: Outbox, now: dt.datetime) -> Claim | str | None:
    """Claim a row as read (the caller commits before calling a provider): status `sending`,
    attempts + 1, the attempt's start, in one UPDATE that holds only if the row is still as
    read, so of two workers claiming at once exactly one gets it.

    Returns the claim, or the row's status when there is nothing to send, or None when
    another worker changed the row first (read it again); raises RetryLater when another
    worker holds it or its next attempt is not due."""
    outbox_id = row.id
    if row.status in FINAL:
        return row.status
    state = dict((row.headers or {}).get("send") or {})
    maybe_sent_since = _parse(state.get("maybe_sent_since"))
    if row.status == "sending":
        started = _parse(state.get("attempt_started_at")) or row.updated_at
        expires = started + dt.timedelta(seconds=lease_seconds(rt.settings))
        if now < expires:  # another worker is sending it right now
            raise RetryLater((expires - now).total_seconds() + 1)
        log.warning("outbox %s: attempt %s was interrupted; checking before sending again",
                    outbox_id, row.attempts)
        maybe_sent_since = maybe_sent_since or started
    elif row.next_attempt_at is not None and row.next_attempt_at > now + dt.timedelta(seconds=1):
        raise RetryLater((row.next_attempt_at - now).total_seconds())
    if row.deadline is not None and now > row.deadline:
        if _swap(session, row, **_failed("deadline", "not delivered before the deadline", now)) is None:
            return None
        log.warning("outbox %s (%s): past its deadline, failed", row.id, row.kind)
        return "failed"
    if row.channel == "sms":
        contact = session.scalar(select(Contact).where(Contact.address == row.to_address))
        if contact is not None and contact.sms_opted_out:
            if _swap(session, row, status="suppressed", suppressed_reason="opted_out",
                     next_attempt_at=None, updated_at=now) is None:
                return None
            log.info("outbox %s (%s): recipient opted out since; suppressed", row.id, row.kind)
            return "suppressed"
    state["attempt_started_at"] = _iso(now)
    if maybe_sent_since is not None:
        state["maybe_sent_since"] = _iso(maybe_sent_since)
    headers = {**(row.headers or {}), "send": state}
    attempt = _swap(session, row, status="sending", attempts=Outbox.attempts + 1, updated_at=now,
                    enqueued_at=now, headers=headers)
    if attempt is None:
        return None
    ticket = session.get(Ticket, row.ticket_id)
    text, html = outbox_bodies(rt.vault, row.body_text, row.body_html)  # opened only to send
    return Claim(
        id=row.id, kind=row.kind, channel=row.channel, ref=ticket.ref if ticket else "",
        to=row.to_address, from_address=row.from_address, subject=row.subject,
        text=text, html=html, headers=dict(headers),
        header_message_id=row.header_message_id, created_at=row.created_at,
        attempt=attempt, maybe_sent_since=maybe_sent_since)


def _failed(code: str, detail: str, now: dt.datetime) -> dict[str, Any]:
    return {"status": "failed", "error_code": code[:32], "last_error": detail[:1000],
            "next_attempt_at": None, "updated_at": now}


def _fail(row: Outbox, code: str, detail: str, now: dt.datetime) -> None:
    for name, value in _failed(code, detail, now).items():
        setattr(row, name, value)


def record_sent(rt: "Runtime", claim: Claim, provider_id: str, provider_status: str | None) -> str:
    """Mark one claimed row sent, in its own transaction, as soon as the provider took it:
    a crash after this never sends it again."""
    with rt.sessions() as session:
        status = record_sent_row(session, claim, provider_id, provider_status, utcnow())
        # Delivery callbacks that outran this record were kept; apply them now, in the
        # same transaction (it takes the sid's lock before the row is flushed). Only
        # Twilio calls back with delivery statuses: an e-mail send has none to wait for.
        if claim.channel == "sms":
            apply_pending_statuses(session, provider_id[:128])
        session.commit()
    return status


def record_sent_row(session: Any, claim: Claim, provider_id: str, provider_status: str | None,
                    now: dt.datetime) -> str:
    """Mark a claimed row sent (the caller commits)."""
    if "send" not in claim.headers:  # claimed by send/batch.py: no send state to clear
        return record_sent_many(session, [(claim, provider_id)], now)[claim.id]
    row = session.get(Outbox, claim.id)
    if row is None:
        return "missing"
    if row.status == "sending":
        row.status = "sent"
    row.provider_id = provider_id[:128]
    row.provider_status = (provider_status or None) and provider_status[:32]
    row.sent_at = now
    row.updated_at = now
    row.next_attempt_at = None
    row.error_code = None
    row.last_error = None
    headers = dict(row.headers or {})
    headers.pop("send", None)
    row.headers = headers
    if row.message_id is not None:
        message = session.get(Message, row.message_id)
        if message is not None and message.direction == "out" and message.sent_at is None:
            message.sent_at = now
    status = str(row.status)
    log.info("outbox %s (%s, ticket %s): sent by %s on attempt %s", claim.id, claim.kind,
             claim.ref, claim.channel, claim.attempt)
    return status


def record_sent_many(session: Any, sent: list[tuple[Claim, str]], now: dt.datetime) -> dict[int, str]:
    """Mark e-mails claimed by send/batch.py sent (the caller commits), nothing loaded: one
    executemany for the rows, one UPDATE for their outbound messages, the statuses read back."""
    table = core_table(Outbox)
    session.execute(
        update(table).where(table.c.id == bindparam("row_id"))
        .values(status=case((table.c.status == "sending", "sent"), else_=table.c.status),
                provider_id=bindparam("provider"), provider_status=None, sent_at=now, updated_at=now,
                next_attempt_at=None, error_code=None, last_error=None),
        [{"row_id": claim.id, "provider": provider_id[:128]} for claim, provider_id in sent])
    ids = [claim.id for claim, _ in sent]
    session.execute(
        update(Message).where(Message.id.in_(select(Outbox.message_id).where(Outbox.id.in_(ids))),
                              Message.direction == "out", Message.sent_at.is_(None))
        .values(sent_at=now).execution_options(synchronize_session=False))
    statuses = {row.id: str(row.status) for row in session.execute(
        select(Outbox.id, Outbox.status).where(Outbox.id.in_(ids)))}
    for claim, _ in sent:
        log.info("outbox %s (%s, ticket %s): sent by email on attempt %s", claim.id, claim.kind, claim.ref, claim.attempt)
    return {claim.id: statuses.get(claim.id, "missing") for claim, _ in sent}


def record_failure(rt: "Runtime", claim: Claim, code: str, detail: str, *, permanent: bool,
                    maybe_sent: bool, retry_after: float | None = None) -> str:
    """Permanent: failed now. Transient: queued again with next_attempt_at, then
    RetryLater; failed when attempts or the deadline run out."""
    now = utcnow()
    settings = rt.settings
    with rt.sessions() as session:
        row = session.get(Outbox, claim.id)
        if row is None:
            return "missing"
        if row.status != "sending":
            return row.status
        if permanent:
            _fail(row, code, detail, now)
            if code == "21610" and row.channel == "sms":
                # Twilio says the number sent STOP to us: remember it, so nothing else is
                # queued to it (the phone helper handles STOP/START keywords too).
                contact = session.scalar(select(Contact).where(Contact.address == row.to_address))
                if contact is not None and not contact.sms_opted_out:
                    contact.sms_opted_out = True
                    contact.opt_changed_at = now
            session.commit()
            log.warning("outbox %s (%s, ticket %s): failed permanently (%s)", claim.id, claim.kind,
                        claim.ref, code)
            return "failed"
        delay = backoff(row.attempts, BACKOFF_BASE, BACKOFF_CAP)  # attempt 1: 30..60 s
        if retry_after and retry_after > delay:  # Retry-After (429) is a minimum
            delay = retry_after
        out_of_attempts = row.attempts >= settings.send_max_attempts
        out_of_time = row.deadline is not None and now + dt.timedelta(seconds=delay) > row.deadline
        state = dict((row.headers or {}).get("send") or {})
        state.pop("attempt_started_at", None)
        if maybe_sent and not state.get("maybe_sent_since"):
            state["maybe_sent_since"] = _iso(claim.maybe_sent_since or now)
        row.headers = {**(row.headers or {}), "send": state}
        if out_of_attempts or out_of_time:
            why = f"{row.attempts} attempts" if out_of_attempts else "the deadline"
            _fail(row, code, f"gave up after {why}: {detail}", now)
            session.commit()
            log.warning("outbox %s (%s, ticket %s): failed after %s (%s)", claim.id, claim.kind,
                        claim.ref, why, code)
            return "failed"
        row.status = "queued"
        row.error_code = code[:32]
        row.last_error = detail[:1000]
        row.next_attempt_at = now + dt.timedelta(seconds=delay)
        row.enqueued_at = row.next_attempt_at  # the retry's ETA: the sweeper counts from then
        row.updated_at = now
        session.commit()
    log.info("outbox %s (%s, ticket %s): attempt %s failed (%s), retry in %.0fs", claim.id,
             claim.kind, claim.ref, claim.attempt, code, delay)
    raise RetryLater(delay)


def transmit_email(rt: "Runtime", sender: Any, claim: Claim) -> str:
    """Hand a claimed email to the sender; the provider's id. Raises EmailSendError."""
    headers = claim.headers
    if claim.maybe_sent_since is not None:
        log.warning("outbox %s: an earlier attempt may have been delivered; sending again with "
                    "the same Message-ID", claim.id)
    message = to_wire(OutgoingEmail(
        message_id=claim.header_message_id or f"outbox-{claim.id}@{rt.settings.mail_domain}",
        from_address=claim.from_address, to_address=claim.to, subject=claim.subject,
        text=claim.text, html=claim.html, to_name=str(headers.get("to_name") or ""),
        in_reply_to=headers.get("in_reply_to") or None,
        references=tuple(headers.get("references") or ()),
        auto_submitted=bool(headers.get("auto_submitted", True)),
        extra_headers=(("X-Intake-Ticket", claim.ref),) if claim.ref else (),
    ), date=claim.created_at)
    provider_id = sender.send(message, claim.id)
    return str(provider_id or (claim.header_message_id or ""))


def _deliver_email(rt: "Runtime", sender: Any, claim: Claim) -> str:
    try:
        provider_id = transmit_email(rt, sender, claim)
    except EmailSendError as exc:
        return record_failure(rt, claim, exc.code, exc.detail, permanent=exc.permanent,
                               maybe_sent=exc.maybe_sent)
    return record_sent(rt, claim, provider_id, None)


def _deliver_sms(rt: "Runtime", sender: Any, claim: Claim) -> str:
    sms = OutgoingSms(to=claim.to, body=claim.text, ticket_ref=claim.ref)
    try:
        if claim.maybe_sent_since is not None:
            found = sender.find_sent(sms, claim.id, claim.maybe_sent_since)
            if found is not None:
                log.info("outbox %s: the interrupted attempt did reach the provider; not resending",
                         claim.id)
                return record_sent(rt, claim, found.provider_id, found.provider_status)
        result = sender.send(sms, claim.id)
    except SmsSendError as exc:
        return record_failure(rt, claim, exc.code, exc.detail, permanent=exc.permanent,
                               maybe_sent=exc.maybe_sent or claim.maybe_sent_since is not None,
                               retry_after=exc.retry_after)
    return record_sent(rt, claim, result.provider_id, result.provider_status)


def send_outbox(rt: "Runtime", outbox_id: int) -> str:
    """Deliver one row; returns its status. Raises RetryLater for a transient failure."""
    claim = _claim(rt, outbox_id, utcnow())
    if isinstance(claim, str):
        return claim
    email_sender, sms_sender = senders(rt)
    try:
        if claim.channel == "email":
            return _deliver_email(rt, email_sender, claim)
        return _deliver_sms(rt, sms_sender, claim)
    except RetryLater:
        raise
    except Exception as exc:  # noqa: BLE001 - our fault: recorded, retried, failed at the end
        log.error("outbox %s (%s): unexpected error: %s", outbox_id, claim.kind, safe_error(exc))
        return record_failure(rt, claim, "internal", safe_error(exc)[:500], permanent=False,
                               maybe_sent=True)


def send_now(rt: "Runtime", outbox_id: int) -> str:
    """One attempt now, for one-shot commands. A transient failure leaves the row queued
    with next_attempt_at; the worker or the sweeper takes it from there."""
    try:
        return send_outbox(rt, outbox_id)
    except RetryLater:
        with rt.sessions() as session:
            row = session.get(Outbox, outbox_id)
            return row.status if row is not None else "missing"
