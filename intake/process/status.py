"""Processing of Twilio delivery status callbacks for the SMS we sent: the outbox row's
delivery status, never stepping back."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func, select

from intake.db import for_update
from intake.process import flow
from intake.tickets.models import Outbox

log = logging.getLogger("intake.process.status")

# MessageStatus -> outbox status (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status)
_DELIVERY = {"sent": "sent", "delivered": "delivered", "read": "delivered",
             "undelivered": "undelivered", "failed": "failed"}
_RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3}


STATUS_CALLBACK_PATIENCE = dt.timedelta(minutes=10)


class StatusBeforeSend(Exception):
    """A delivery status for an SMS whose send is not recorded yet: try again shortly."""


def handle_status(ctx: flow.Context) -> flow.Outcome:
    params = flow.params(ctx, "MessageSid", "MessageStatus")
    sid, reported = params.get("MessageSid", ""), (params.get("MessageStatus") or "").lower()
    row = ctx.session.scalar(for_update(ctx.session, select(Outbox).where(Outbox.provider_id == sid).limit(1)))
    if row is None:
        # Twilio can call back before the send task has recorded the SID it got. While an
        # SMS of ours is still `sending`, retry (the task backs off, the capture stays);
        # a callback about a message we never sent is ignored.
        in_flight = ctx.session.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.channel == "sms", Outbox.status == "sending")) or 0
        if in_flight and ctx.now - ctx.inbox.captured_at < STATUS_CALLBACK_PATIENCE:
            raise StatusBeforeSend(f"status callback {ctx.inbox.id} arrived before its send was recorded")
        log.info("status %s (%s): no outbox row sent with that sid", sid, reported)
        return flow.Outcome(flow.IGNORED)
    row.provider_status = reported
    status = _DELIVERY.get(reported)
    # Callbacks arrive out of order and more than once: never step back (delivered -> sent).
    if status and row.status != "suppressed" and _RANK[status] >= _RANK.get(row.status, 0):
        row.status = status
        if status in ("undelivered", "failed"):
            row.error_code = params.get("ErrorCode") or row.error_code
    row.updated_at = ctx.now
    log.info("status %s: outbox %s now %s (%s)", sid, row.id, row.status, reported)
    return flow.Outcome(flow.UPDATED, ticket_id=row.ticket_id)
