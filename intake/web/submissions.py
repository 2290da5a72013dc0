"""What the support form and the app endpoint share: the request body read under a cap,
rate limits, and the hand-off (capture, commit, process, enqueue).

A submission is committed to the inbox (channel `web`) before the page answers (STYLE 2).
Then it is processed right away in the web process, so the page can show the ticket's
reference; if that fails or another process holds the row, the row is handed to the
workers instead (the sweeper would find it too) and the page says the reference follows.
Either way the acknowledgement is an outbox row enqueued after its commit (STYLE 10).
"""

from __future__ import annotations

import logging

from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import Message, Receive

from intake.capture.inbox import capture
from intake.capture.web import Submission, make_item
from intake.runtime import Runtime
from intake.tickets.models import Inbox, utcnow
from intake.web import limits
from intake.work import Enqueue, Work

log = logging.getLogger("intake.web.submissions")


class TooLarge(Exception):
    """The request body passed the cap; nothing of it is kept."""


def declared_too_large(request: Request, cap: int) -> bool:
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > cap


def capped(request: Request, cap: int) -> Request:
    """The request with a body reader that raises TooLarge past `cap` bytes, so a parser
    reading it (the multipart parser spools files to disk) never takes more than the cap."""
    seen = 0
    receive: Receive = request.receive

    async def counting() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise TooLarge(f"body over {cap} bytes")
        return message

    return Request(request.scope, receive=counting)


async def read_capped(request: Request, cap: int) -> bytes:
    if declared_too_large(request, cap):
        raise TooLarge("declared body over the cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise TooLarge(f"body over {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def within_limits(rt: Runtime, checks: list[tuple[str, str, int]]) -> bool:
    """Count one hit on each (kind, value, limit) in one transaction; False if any is over."""
    secret = rt.cached("web.rate_secret", lambda: rt.vault.derive("web-rate-limits"))
    now = utcnow()
    with rt.sessions() as session:
        results = [limits.hit(session, limits.limit_key(secret, kind, value), limit, now)
                   for kind, value, limit in checks]
        session.commit()
    return all(results)


@dataclass(frozen=True)
class Accepted:
    inbox_id: int
    created: bool  # False: the same submission was captured before
    ref: str | None  # the ticket's reference, when processing is done
    body_sha256: str | None = None  # the first capture's content digest (app replays)


def accept(rt: Runtime, submission: Submission, capture_key: str, enqueue: Enqueue) -> Accepted:
    """Capture (committed), then process; blocking (run it in the threadpool)."""
    from intake.process import pipeline

    item = make_item(submission, capture_key)
    with rt.sessions() as session:
        captured = capture(session, rt.vault, item)
        session.commit()
        digest = None
        if not captured.created:
            row = session.get(Inbox, captured.inbox_id)
            digest = (row.meta or {}).get("body_sha256") if row is not None else None
    try:
        outcome = pipeline.process_inbox(rt, captured.inbox_id)
    except Exception as exc:  # noqa: BLE001 - the row is kept; the workers take it from here
        if not isinstance(exc, pipeline.Busy):
            try:
                pipeline.record_failure(rt, captured.inbox_id, exc)
            except Exception:  # noqa: BLE001 - the sweeper still finds the row
                log.warning("web submission inbox %s: failure not recorded", captured.inbox_id)
        log.info("web submission inbox %s handed to the workers (%s)", captured.inbox_id, type(exc).__name__)
        enqueue(Work.of(process=[captured.inbox_id]))
        return Accepted(captured.inbox_id, captured.created, None, digest)
    if outcome.outbox_ids:
        enqueue(Work.of(send=outcome.outbox_ids, private=outcome.private))
    log.info("web submission inbox %s -> %s (%s)", captured.inbox_id, outcome.ticket_ref, outcome.outcome)
    return Accepted(captured.inbox_id, captured.created, outcome.ticket_ref, digest)


