"""Processing of Twilio captures: SMS, calls, voicemail recordings and transcriptions, and
delivery status callbacks. Each handler runs inside `pipeline.process_inbox` (one
transaction) and ends with a named outcome.

    sms            keyword? (STOP/START, STATUS) -> media -> the message flow
    voice          contact; no ticket yet (a voicemail or, later, a missed-call ticket)
    recording      voicemail message "" on a new/threaded ticket, transcription pending
    transcription  voicemail text, triage, ticket routing, acknowledgement
    status         outbox row delivery status

`sweep_transcriptions` (called by the sweeper) finishes voicemails whose transcription
never came, and opens missed-call tickets when INTAKE_MISSED_CALL_TICKETS is on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import unicodedata
from dataclasses import replace

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from intake import dispatch, pipeline
from intake.db import for_update
from intake.channels.twilio_media import MediaError, fetch_attachment
from intake.messages import Attachment, InboundMessage
from intake.normalize.twilio import (
    TRANSCRIPTION_UNAVAILABLE, MissingParameter, is_chinese_caller, mask_number, media_items,
    parse_twilio_sms, transcription_result, voicemail_message,
)
from intake.runtime import Runtime
from intake.tickets import store
from intake.triage import triage_message
from intake.tickets.models import Inbox, Message, Outbox, Ticket, utcnow

log = logging.getLogger("intake.phone")

# Twilio's default opt-out / opt-in keywords (https://help.twilio.com/articles/223134027),
# plus the ones Chinese carriers and users send (退订 "unsubscribe", TD its abbreviation).
OPT_OUT = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "退订", "td"})
OPT_IN = frozenset({"start", "unstop", "yes"})
HELP = frozenset({"help", "info", "帮助"})
_STATUS = re.compile(r"^(?:status|状态|狀態)\s*[:：]?\s*(?P<ref>TK-[0-9A-Z]{6})?$", re.IGNORECASE)
_TRAILING = re.compile(r"[\s.!。！,，]+$")
VOICEMAIL_OUTCOME = "voicemail"
MISSED_CALL_OUTCOME = "missed_call"
MISSED_CALL_TEXT = "Missed call: the caller left no voicemail."
_LOOKBACK = dt.timedelta(days=7)  # sweeps look no further back than this


def _keyword(text: str) -> str:
    return _TRAILING.sub("", unicodedata.normalize("NFKC", text).strip()).casefold()


def _params(ctx: pipeline.Context, *required: str) -> dict[str, str]:
    params = {k: v if isinstance(v, str) else str(v) for k, v in pipeline.raw_params(ctx).items()}
    missing = [name for name in required if not params.get(name, "").strip()]
    if missing:  # the webhook checks these; a hand-made ingest file may not have them
        raise pipeline.UserError(f"{ctx.inbox.channel} capture without {', '.join(missing)}")
    return params


# -- SMS -------------------------------------------------------------------------------------------

@pipeline.register("sms")
def handle_sms(ctx: pipeline.Context) -> pipeline.Outcome:
    params = _params(ctx)
    try:
        msg = parse_twilio_sms(params)
    except MissingParameter as exc:
        raise pipeline.UserError(f"sms webhook: {exc}") from None
    word = _keyword(msg.text)
    if word in OPT_OUT or word in OPT_IN:
        return _opt_change(ctx, msg, opted_out=word in OPT_OUT)
    if word in HELP:
        # Twilio's Advanced Opt-Out answers HELP itself; nothing to record, no ticket.
        return pipeline.Outcome(pipeline.IGNORED)
    status = _STATUS.match(re.sub(r"\s+", " ", msg.text.strip()))
    if status:
        return _status_query(ctx, msg, status.group("ref"))
    duplicate = _already_stored(ctx, store.message_fingerprint(msg))
    if duplicate is not None:  # checked before downloading media for a message we have
        return duplicate
    return pipeline.message_flow(ctx, _with_media(ctx, msg, params))


def _already_stored(ctx: pipeline.Context, dedupe_key: str) -> pipeline.Outcome | None:
    existing = ctx.session.execute(
        select(Message.id, Message.ticket_id).where(Message.dedupe_key == dedupe_key)).first()
    if existing is None:
        return None
    ticket = ctx.session.get(Ticket, existing.ticket_id)
    return pipeline.Outcome(pipeline.DUPLICATE, ticket_id=existing.ticket_id,
                            ticket_ref=ticket.ref if ticket else None, message_id=existing.id,
                            private=bool(ticket and ticket.private))


def _opt_change(ctx: pipeline.Context, msg: InboundMessage, opted_out: bool) -> pipeline.Outcome:
    contact = store.get_or_create_contact(ctx.session, msg.sender, "phone")
    contact.sms_opted_out = opted_out
    contact.opt_changed_at = ctx.now
    log.info("sms %s: %s recorded for contact %s (%s)", msg.message_id,
             "opt-out" if opted_out else "opt-in", contact.id, mask_number(msg.sender))
    return pipeline.Outcome(pipeline.OPT_CHANGE)


def _status_query(ctx: pipeline.Context, msg: InboundMessage, ref: str | None) -> pipeline.Outcome:
    contact = store.get_or_create_contact(ctx.session, msg.sender, "phone")
    try:
        from intake.replies.agents import answer_status_query
    except ImportError:
        return pipeline.Outcome(pipeline.STATUS_QUERY)
    ids = answer_status_query(ctx.session, ctx.rt, contact, ref.upper() if ref else None)
    ctx.outbox_ids.extend(ids)
    log.info("sms %s: status query from contact %s (%d replies)", msg.message_id, contact.id, len(ids))
    return pipeline.Outcome(pipeline.STATUS_QUERY)


def _with_media(ctx: pipeline.Context, msg: InboundMessage, params: dict[str, str]) -> InboundMessage:
    """Download every MediaUrl{N}; a failed one is noted in `extra`, the message still kept."""
    attachments: list[Attachment] = []
    errors: list[str] = []
    for item in media_items(params):
        try:
            attachments.append(fetch_attachment(item.url, item.content_type, ctx.rt.settings,
                                                params.get("AccountSid"), f"media{item.index}"))
        except MediaError as exc:
            errors.append(f"media {item.index}: {exc}")
            log.warning("sms %s: media %d not downloaded (%s)", msg.message_id, item.index, exc)
    if not attachments and not errors:
        return msg
    extra = msg.extra + ((("media_errors", "; ".join(errors)),) if errors else ())
    return replace(msg, attachments=(*msg.attachments, *attachments), extra=extra)


# -- calls and voicemail ---------------------------------------------------------------------------

def _voicemail_for_call(session: Session, call_sid: str) -> Message | None:
    return session.scalar(select(Message).where(
        Message.channel == "voice", Message.extra["CallSid"].as_string() == call_sid).limit(1))


@pipeline.register("voice")
def handle_call(ctx: pipeline.Context) -> pipeline.Outcome:
    """An incoming call: remember the caller; the ticket comes with the voicemail."""
    params = _params(ctx)
    caller = params.get("From") or params.get("Caller") or ""
    if caller:
        contact = store.get_or_create_contact(ctx.session, caller, "phone")
        if contact.language == "unknown" and is_chinese_caller(caller):
            contact.language = "zh"
    existing = _voicemail_for_call(ctx.session, params.get("CallSid", ""))
    if existing is not None:
        return pipeline.Outcome(VOICEMAIL_OUTCOME, ticket_id=existing.ticket_id)
    return pipeline.Outcome(pipeline.IGNORED)


def _caller_of(ctx: pipeline.Context, call_sid: str | None) -> tuple[str | None, str | None]:
    """(From, To) of the call, from its captured incoming-call webhook."""
    if not call_sid:
        return None, None
    raw = ctx.session.scalar(select(Inbox.raw).where(Inbox.capture_key == f"twilio:voice:{call_sid}"))
    if raw is None:
        return None, None
    data = json.loads(ctx.rt.vault.decrypt(raw))
    params = data.get("params", data)
    return params.get("From") or params.get("Caller"), params.get("To") or params.get("Called")


def _recording_audio(ctx: pipeline.Context, params: dict[str, str]) -> tuple[tuple[Attachment, ...], str | None]:
    url = (params.get("RecordingUrl") or "").strip()
    if not url:
        return (), "no RecordingUrl"
    # RecordingUrl has no extension; .wav asks Twilio for the uncompressed original.
    target = url if re.search(r"\.(wav|mp3)$", url) else url + ".wav"
    try:
        attachment = fetch_attachment(target, "audio/x-wav", ctx.rt.settings, params.get("AccountSid"),
                                      params["RecordingSid"])
    except MediaError as exc:
        log.warning("recording %s: audio not downloaded (%s)", params["RecordingSid"], exc)
        return (), str(exc)
    return (attachment,), None


def ensure_voicemail(ctx: pipeline.Context, params: dict[str, str]) -> tuple[Message, Ticket, bool]:
    """The voicemail message of a RecordingSid, created (with its audio, on a new or
    threaded ticket, transcription pending, no acknowledgement yet) if not there.
    Returns (message, ticket, created). The unique dedupe key `voice:{RecordingSid}` makes
    a recording and a transcription racing each other end with one message."""
    session = ctx.session
    key = f"voice:{params['RecordingSid']}"
    message = session.scalar(select(Message).where(Message.dedupe_key == key))
    if message is not None:
        return message, session.get(Ticket, message.ticket_id), False  # type: ignore[return-value]
    caller, called = params.get("From"), params.get("To")
    if not caller:
        caller, called = _caller_of(ctx, params.get("CallSid"))
    msg = voicemail_message(params, caller=caller, recipient=called)
    attachments, audio_error = _recording_audio(ctx, params)
    msg = replace(msg, attachments=attachments,
                  extra=msg.extra + ((("audio_error", audio_error),) if audio_error else ()))
    triage = triage_message(msg, ctx.rt.rules)
    contact = store.get_or_create_contact(session, msg.sender, "phone")
    ticket, why = store.find_thread(session, msg, contact,
                                    dt.timedelta(hours=ctx.rt.settings.sms_thread_window_hours), ctx.now)
    if ticket is None:
        due_in = ctx.rt.rules.response_target(triage.category, triage.priority)
        ticket = store.create_ticket(session, ctx.rt.vault, msg, triage, contact, None, due_in, ctx.now)
    else:
        store.apply_triage_to_ticket(session, ctx.rt.vault, ticket, triage, ctx.now)
    message = store.add_message(session, ctx.rt.vault, ticket, msg, triage, ctx.inbox.id, key, ctx.now)
    if params.get("CallSid"):
        session.execute(update(Inbox).where(Inbox.capture_key == f"twilio:voice:{params['CallSid']}",
                                            Inbox.status == "done")
                        .values(outcome=VOICEMAIL_OUTCOME, ticket_id=ticket.id))
    log.info("recording %s -> ticket %s (thread=%s) from %s", params["RecordingSid"], ticket.ref, why,
             mask_number(msg.sender))
    return message, ticket, True


@pipeline.register("recording")
def handle_recording(ctx: pipeline.Context) -> pipeline.Outcome:
    params = _params(ctx, "RecordingSid")
    status = (params.get("RecordingStatus") or "completed").lower()
    if status != "completed":  # absent (nothing said) or failed: no voicemail
        log.info("recording %s: status %s, no voicemail", params.get("RecordingSid"), status)
        return pipeline.Outcome(pipeline.IGNORED)
    message, ticket, created = ensure_voicemail(ctx, params)
    ctx.inbox.private = ticket.private
    name = pipeline.DUPLICATE if not created else (
        pipeline.NEW_TICKET if _first_message_id(ctx.session, ticket) == message.id else pipeline.ADDED)
    return pipeline.Outcome(name, ticket_id=ticket.id, ticket_ref=ticket.ref, message_id=message.id,
                            private=ticket.private)


def _first_message_id(session: Session, ticket: Ticket) -> int | None:
    return session.scalar(select(func.min(Message.id)).where(Message.ticket_id == ticket.id))


@pipeline.register("transcription")
def handle_transcription(ctx: pipeline.Context) -> pipeline.Outcome:
    params = _params(ctx, "RecordingSid")
    text, state = transcription_result(params)
    message, ticket, _ = ensure_voicemail(ctx, params)
    previous = (message.extra or {}).get("transcription")
    if previous in ("completed", "failed"):
        return pipeline.Outcome(pipeline.DUPLICATE, ticket_id=ticket.id, ticket_ref=ticket.ref,
                                message_id=message.id, private=ticket.private)
    # After a timeout the caller was already acknowledged; a late transcript still
    # replaces "transcription unavailable" and re-routes the ticket.
    ctx.outbox_ids.extend(finalize_voicemail(ctx.session, ctx.rt, message, ticket, text, state,
                                             ctx.now, acknowledge=previous != "timeout"))
    ctx.inbox.private = ticket.private
    log.info("transcription %s (%s) -> ticket %s", params.get("TranscriptionSid"), state, ticket.ref)
    return pipeline.Outcome(pipeline.UPDATED, ticket_id=ticket.id, ticket_ref=ticket.ref,
                            message_id=message.id, private=ticket.private)


def finalize_voicemail(session: Session, rt: Runtime, message: Message, ticket: Ticket, text: str,
                       state: str, now: dt.datetime, acknowledge: bool = True) -> list[int]:
    """Give a voicemail its text, triage it, route its ticket, queue the acknowledgement.
    Returns the ids of queued outbox rows (to enqueue after commit)."""
    extra = dict(message.extra or {})
    extra["transcription"] = state
    msg = InboundMessage(channel="voice", sender=message.sender, subject="Voicemail", text=text,
                         new_text=text, message_id=message.header_message_id,
                         extra=tuple((k, str(v)) for k, v in extra.items()))
    triage = triage_message(msg, rt.rules)
    message.extra = extra  # a new dict: JSON columns do not track in-place changes
    message.language, message.category, message.priority = triage.language, triage.category, triage.priority
    message.private_reasons = list(triage.private_reasons)
    if _first_message_id(session, ticket) == message.id:
        # The ticket was opened by this voicemail with nothing to route on: route it now.
        ticket.category, ticket.department = triage.category, triage.department
        ticket.priority, ticket.language = triage.priority, triage.language
        ticket.triage_reasons = list(triage.reasons)
        ticket.due_at = ticket.created_at + rt.rules.response_target(triage.category, triage.priority)
        if not ticket.private and state == "completed":
            ticket.subject = text.strip().split("\n", 1)[0][:120]
    if message.private:
        store.seal_message(rt.vault, message, text, text)
    else:
        message.text = message.new_text = text
    session.flush()
    # Escalates priority and turns the ticket private (sealing this message) when needed.
    store.apply_triage_to_ticket(session, rt.vault, ticket, triage, now, reopen=False)
    if not acknowledge or message.sender in ("", "unknown"):  # nobody to answer
        return []
    try:
        from intake.replies import queue_acknowledgement
    except ImportError:  # replies not installed in this build
        return []
    row = queue_acknowledgement(session, rt, ticket, message, msg, is_new=True)
    return [row.id] if row is not None and row.status == "queued" else []


# -- delivery status of our SMS ------------------------------------------------------------------

# MessageStatus -> outbox status (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status)
_DELIVERY = {"sent": "sent", "delivered": "delivered", "read": "delivered",
             "undelivered": "undelivered", "failed": "failed"}
_RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3}


STATUS_CALLBACK_PATIENCE = dt.timedelta(minutes=10)


class StatusBeforeSend(Exception):
    """A delivery status for an SMS whose send is not recorded yet: try again shortly."""


@pipeline.register("status")
def handle_status(ctx: pipeline.Context) -> pipeline.Outcome:
    params = _params(ctx, "MessageSid", "MessageStatus")
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
        return pipeline.Outcome(pipeline.IGNORED)
    row.provider_status = reported
    status = _DELIVERY.get(reported)
    # Callbacks arrive out of order and more than once: never step back (delivered -> sent).
    if status and row.status != "suppressed" and _RANK[status] >= _RANK.get(row.status, 0):
        row.status = status
        if status in ("undelivered", "failed"):
            row.error_code = params.get("ErrorCode") or row.error_code
    row.updated_at = ctx.now
    log.info("status %s: outbox %s now %s (%s)", sid, row.id, row.status, reported)
    return pipeline.Outcome(pipeline.UPDATED, ticket_id=row.ticket_id)


# -- the sweeper's part --------------------------------------------------------------------------

def sweep_transcriptions(rt: Runtime, now: dt.datetime | None = None, limit: int = 100) -> int:
    """Voicemails still waiting for a transcription after INTAKE_TRANSCRIPTION_TIMEOUT get
    "transcription unavailable", triage and their acknowledgement; calls that left nothing
    become missed-call tickets (INTAKE_MISSED_CALL_TICKETS). Returns how many were handled."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=rt.settings.transcription_timeout)
    with rt.sessions() as session:
        pending = list(session.scalars(
            select(Message.id).where(Message.channel == "voice", Message.direction == "in",
                                     Message.created_at < cutoff, Message.created_at > cutoff - _LOOKBACK,
                                     Message.extra["transcription"].as_string() == "pending")
            .order_by(Message.id).limit(limit)))
    handled = sum(_time_out(rt, message_id, now) for message_id in pending)
    if rt.settings.missed_call_tickets:
        handled += _missed_calls(rt, now, cutoff, limit)
    return handled


def _time_out(rt: Runtime, message_id: int, now: dt.datetime) -> bool:
    with rt.sessions() as session:
        message = session.scalar(for_update(session, select(Message).where(Message.id == message_id),
                                            skip_locked=True))
        if message is None or (message.extra or {}).get("transcription") != "pending":
            return False  # the transcription came meanwhile, or another sweeper has it
        ticket = session.get(Ticket, message.ticket_id)
        assert ticket is not None
        outbox = finalize_voicemail(session, rt, message, ticket, TRANSCRIPTION_UNAVAILABLE, "timeout", now)
        private = ticket.private
        session.commit()
    log.info("voicemail message %s: no transcription in time, ticket %s acknowledged", message_id, ticket.ref)
    dispatch.enqueue_send(outbox, private=private)
    return True


def _missed_calls(rt: Runtime, now: dt.datetime, cutoff: dt.datetime, limit: int) -> int:
    with rt.sessions() as session:
        calls = list(session.scalars(
            select(Inbox.id).where(Inbox.channel == "voice", Inbox.status == "done",
                                   Inbox.outcome == pipeline.IGNORED, Inbox.processed_at < cutoff,
                                   Inbox.processed_at > cutoff - _LOOKBACK)
            .order_by(Inbox.id).limit(limit)))
    return sum(_missed_call(rt, inbox_id, now) for inbox_id in calls)


def _missed_call(rt: Runtime, inbox_id: int, now: dt.datetime) -> bool:
    with rt.sessions() as session:
        inbox = session.scalar(for_update(session, select(Inbox).where(Inbox.id == inbox_id), skip_locked=True))
        if inbox is None or inbox.outcome != pipeline.IGNORED:
            return False
        ctx = pipeline.Context(rt=rt, session=session, inbox=inbox, now=now)
        params = _params(ctx)
        caller = params.get("From") or params.get("Caller") or ""
        call_sid = params.get("CallSid", "")
        if not caller or _voicemail_for_call(session, call_sid) is not None:
            inbox.outcome = VOICEMAIL_OUTCOME if caller else "no_caller"
            session.commit()
            return False
        msg = InboundMessage(channel="voice", sender=caller, recipient=params.get("To", ""),
                             subject="Missed call", text=MISSED_CALL_TEXT, new_text=MISSED_CALL_TEXT,
                             message_id=f"missed:{call_sid}",
                             extra=(("provider", "twilio"), ("CallSid", call_sid), ("missed_call", "true")))
        try:
            outcome = pipeline.message_flow(ctx, msg)
        except pipeline.Ended as ended:
            outcome = ended.outcome
        inbox.outcome = MISSED_CALL_OUTCOME
        inbox.ticket_id = outcome.ticket_id or inbox.ticket_id
        session.commit()
    log.info("call %s: no voicemail, missed-call ticket %s", call_sid, outcome.ticket_ref)
    dispatch.enqueue_send(ctx.outbox_ids, private=outcome.private)
    return True
