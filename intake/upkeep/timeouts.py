"""Voicemails whose transcription never came, and calls that left no voicemail.

`sweep_transcriptions` (run by the sweeper) gives a voicemail still waiting after
INTAKE_TRANSCRIPTION_TIMEOUT "transcription unavailable" (or, when its real-time
transcription never stopped, the utterances that came), triage and its acknowledgement,
and opens missed-call tickets when INTAKE_MISSED_CALL_TICKETS is on. It returns the `Work`
to enqueue.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from intake.db import for_update
from intake.messages import InboundMessage
from intake.normalize.twilio import TRANSCRIPTION_UNAVAILABLE
from intake.process import flow
from intake.process.transcription import TwilioRealtime, transcriber
from intake.process.voice import (
    MISSED_CALL_OUTCOME, VOICEMAIL_OUTCOME, apply_transcript, finalize_voicemail, voicemail_for_call,
)
from intake.runtime import Runtime
from intake.tickets.models import Inbox, Message, Ticket, utcnow
from intake.work import Work

log = logging.getLogger("intake.upkeep.timeouts")

MISSED_CALL_TEXT = "Missed call: the caller left no voicemail."
_LOOKBACK = dt.timedelta(days=7)  # sweeps look no further back than this


def sweep_transcriptions(rt: Runtime, now: dt.datetime | None = None, limit: int = 100) -> tuple[int, Work]:
    """Voicemails still waiting for a transcription after INTAKE_TRANSCRIPTION_TIMEOUT get
    "transcription unavailable", triage and their acknowledgement; calls that left nothing
    become missed-call tickets (INTAKE_MISSED_CALL_TICKETS). Returns how many were handled,
    and the acknowledgements to enqueue.

    With real-time transcription a younger voicemail whose transcription stopped is
    assembled too: its recording and its stop callback were processed at the same moment,
    each before the other was committed, so neither saw the other."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=rt.settings.transcription_timeout)
    realtime = isinstance(transcriber(rt.settings.voice_transcription), TwilioRealtime)
    with rt.sessions() as session:
        pending = session.execute(
            select(Message.id, Message.created_at).where(
                Message.channel == "voice", Message.direction == "in",
                Message.created_at < (now if realtime else cutoff), Message.created_at > cutoff - _LOOKBACK,
                Message.extra["transcription"].as_string() == "pending")
            .order_by(Message.id).limit(limit)).all()
    done = [work for row in pending
            if (work := _settle(rt, row.id, now, timed_out=row.created_at < cutoff)) is not None]
    if rt.settings.missed_call_tickets:
        done += _missed_calls(rt, now, cutoff, limit)
    return len(done), sum(done, Work())


def _settle(rt: Runtime, message_id: int, now: dt.datetime, timed_out: bool) -> Work | None:
    with rt.sessions() as session:
        message = session.scalar(for_update(session, select(Message).where(Message.id == message_id),
                                            skip_locked=True))
        if message is None or (message.extra or {}).get("transcription") != "pending":
            return None  # the transcription came meanwhile, or another sweeper has it
        ticket = session.get(Ticket, message.ticket_id)
        assert ticket is not None
        if isinstance(transcriber(rt.settings.voice_transcription), TwilioRealtime):
            # Timed out: a transcription that never stopped; what it said so far is better
            # than nothing. Else: assembled only if it stopped.
            outbox = apply_transcript(session, rt, message, ticket, now, timed_out=timed_out)
        else:
            outbox = finalize_voicemail(session, rt, message, ticket, TRANSCRIPTION_UNAVAILABLE, "timeout", now)
        settled = (message.extra or {}).get("transcription") != "pending"
        private = ticket.private
        session.commit()
    if not settled:
        return None
    log.info("voicemail message %s: %s, ticket %s", message_id,
             "no transcription in time" if timed_out else "stopped transcript assembled", ticket.ref)
    return Work.of(send=outbox, private=private)


def _missed_calls(rt: Runtime, now: dt.datetime, cutoff: dt.datetime, limit: int) -> list[Work]:
    with rt.sessions() as session:
        calls = list(session.scalars(
            select(Inbox.id).where(Inbox.channel == "voice", Inbox.status == "done",
                                   Inbox.outcome == flow.IGNORED, Inbox.processed_at < cutoff,
                                   Inbox.processed_at > cutoff - _LOOKBACK)
            .order_by(Inbox.id).limit(limit)))
    return [work for inbox_id in calls if (work := _missed_call(rt, inbox_id, now)) is not None]


def _missed_call(rt: Runtime, inbox_id: int, now: dt.datetime) -> Work | None:
    with rt.sessions() as session:
        inbox = session.scalar(for_update(session, select(Inbox).where(Inbox.id == inbox_id), skip_locked=True))
        if inbox is None or inbox.outcome != flow.IGNORED:
            return None
        ctx = flow.Context(rt=rt, session=session, inbox=inbox, now=now)
        params = flow.params(ctx)
        caller = params.get("From") or params.get("Caller") or ""
        call_sid = params.get("CallSid", "")
        if not caller or voicemail_for_call(session, call_sid) is not None:
            inbox.outcome = VOICEMAIL_OUTCOME if caller else "no_caller"
            session.commit()
            return None
        msg = InboundMessage(channel="voice", sender=caller, recipient=params.get("To", ""),
                             subject="Missed call", text=MISSED_CALL_TEXT, new_text=MISSED_CALL_TEXT,
                             message_id=f"missed:{call_sid}",
                             extra=(("provider", "twilio"), ("CallSid", call_sid), ("missed_call", "true")))
        try:
            outcome = flow.message_flow(ctx, msg)
        except flow.Ended as ended:
            outcome = ended.outcome
        inbox.outcome = MISSED_CALL_OUTCOME
        inbox.ticket_id = outcome.ticket_id or inbox.ticket_id
        session.commit()
    log.info("call %s: no voicemail, missed-call ticket %s", call_sid, outcome.ticket_ref)
    return Work.of(send=ctx.outbox_ids, private=outcome.private)
