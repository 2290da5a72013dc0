"""Processing of Twilio voice captures: the incoming call, the voicemail recording and its
transcription.

    voice          contact; no ticket yet (a voicemail or, later, a missed-call ticket)
    menu           the caller's language choice (it shaped the TwiML; nothing to store)
    recording      voicemail message "" on a new/threaded ticket, transcription pending
    transcription  voicemail text, triage, ticket routing, acknowledgement
    transcript     a real-time transcription callback: once the transcription stopped and
                   the recording is there, the call's final utterances in order become
                   the voicemail's text (then triage, routing, acknowledgement)
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import replace

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from intake.capture.twilio import capture_key, decode_params
from intake.channels.media import MediaError, fetch_attachment
from intake.db import for_update
from intake.messages import Attachment, InboundMessage
from intake.normalize.twilio import (
    TRANSCRIPTION_UNAVAILABLE, is_chinese_caller, mask_number, transcription_result, voicemail_message,
)
from intake.outbox.follow_ups import queue_acknowledgement
from intake.process import flow, transcription
from intake.runtime import Runtime
from intake.tickets import store
from intake.tickets.models import Inbox, Message, Ticket
from intake.triage import triage_message

log = logging.getLogger("intake.process.voice")

VOICEMAIL_OUTCOME = "voicemail"
MISSED_CALL_OUTCOME = "missed_call"
MENU_OUTCOME = "language_chosen"
UTTERANCE_OUTCOME = "utterance"  # kept with the call's other callbacks until it stops
WAITING_OUTCOME = "transcript_waiting"  # stopped before the recording came: it assembles then


def voicemail_for_call(session: Session, call_sid: str) -> Message | None:
    return session.scalar(select(Message).where(
        Message.channel == "voice", Message.extra["CallSid"].as_string() == call_sid).limit(1))


def handle_call(ctx: flow.Context) -> flow.Outcome:
    """An incoming call: remember the caller; the ticket comes with the voicemail."""
    params = flow.params(ctx)
    caller = params.get("From") or params.get("Caller") or ""
    if caller:
        contact = store.get_or_create_contact(ctx.session, caller, "phone")
        if contact.language == "unknown" and is_chinese_caller(caller):
            contact.language = "zh"
    existing = voicemail_for_call(ctx.session, params.get("CallSid", ""))
    if existing is not None:
        return flow.Outcome(VOICEMAIL_OUTCOME, ticket_id=existing.ticket_id)
    return flow.Outcome(flow.IGNORED)


def _caller_of(ctx: flow.Context, call_sid: str | None) -> tuple[str | None, str | None]:
    """(From, To) of the call, from its captured incoming-call webhook."""
    if not call_sid:
        return None, None
    raw = ctx.session.scalar(select(Inbox.raw).where(Inbox.capture_key == capture_key("voice", {"CallSid": call_sid}, strict=False)))
    if raw is None:
        return None, None
    params = decode_params(ctx.rt.vault.decrypt(raw))
    return params.get("From") or params.get("Caller"), params.get("To") or params.get("Called")


def _recording_audio(ctx: flow.Context, params: dict[str, str]) -> tuple[tuple[Attachment, ...], str | None]:
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


def ensure_voicemail(ctx: flow.Context, params: dict[str, str]) -> tuple[Message, Ticket, bool]:
    """The voicemail message of a RecordingSid, created (with its audio, on a new or
    threaded ticket, transcription pending, no acknowledgement yet) if not there.
    Returns (message, ticket, created). The unique dedupe key `voice:{RecordingSid}` makes
    a recording and a transcription racing each other end with one message."""
    session = ctx.session
    key = store.bounded(f"voice:{params['RecordingSid']}", 128)
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
    triage = triage_message(msg, ctx.rt.rules, max_scored_chars=ctx.rt.settings.triage_max_scored_chars)
    contact = store.get_or_create_contact(session, msg.sender, "phone")
    ticket, why = store.find_thread(session, msg, contact,
                                    dt.timedelta(hours=ctx.rt.settings.sms_thread_window_hours), ctx.now)
    if ticket is None:
        due_in = ctx.rt.rules.response_target(triage.category, triage.priority)
        ticket = store.create_ticket(session, ctx.rt.vault, msg, triage, contact, None, due_in, ctx.now, why)
    else:
        store.apply_triage_to_ticket(session, ctx.rt.vault, ticket, triage, ctx.now)
    message = store.add_message(session, ctx.rt.vault, ticket, msg, triage, ctx.inbox.id, key, ctx.now)
    if params.get("CallSid"):
        session.execute(update(Inbox).where(Inbox.capture_key == capture_key("voice", params, strict=False),
                                            Inbox.status == "done")
                        .values(outcome=VOICEMAIL_OUTCOME, ticket_id=ticket.id))
    log.info("recording %s -> ticket %s (thread=%s) from %s", params["RecordingSid"], ticket.ref, why,
             mask_number(msg.sender))
    return message, ticket, True


def handle_recording(ctx: flow.Context) -> flow.Outcome:
    params = flow.params(ctx, "RecordingSid")
    status = (params.get("RecordingStatus") or "completed").lower()
    if status != "completed":  # absent (nothing said) or failed: no voicemail
        log.info("recording %s: status %s, no voicemail", params.get("RecordingSid"), status)
        return flow.Outcome(flow.IGNORED)
    message, ticket, created = ensure_voicemail(ctx, params)
    if created:
        ctx.outbox_ids.extend(_text_without_waiting(ctx, message, ticket))
    ctx.inbox.private = ticket.private
    name = flow.DUPLICATE if not created else (
        flow.NEW_TICKET if _first_message_id(ctx.session, ticket) == message.id else flow.ADDED)
    return flow.Outcome(name, ticket_id=ticket.id, ticket_ref=ticket.ref, message_id=message.id,
                            private=ticket.private)


def _first_message_id(session: Session, ticket: Ticket) -> int | None:
    return session.scalar(select(func.min(Message.id)).where(Message.ticket_id == ticket.id))


def _text_without_waiting(ctx: flow.Context, message: Message, ticket: Ticket) -> list[int]:
    """A voicemail just recorded: with no transcription backend it is final now; with the
    real-time one, its transcript may have stopped already (the callbacks came first)."""
    backend = transcription.transcriber(ctx.rt.settings.voice_transcription)
    if not backend.waits_for_text:
        return finalize_voicemail(ctx.session, ctx.rt, message, ticket, TRANSCRIPTION_UNAVAILABLE, "failed", ctx.now)
    if isinstance(backend, transcription.TwilioRealtime):
        return apply_transcript(ctx.session, ctx.rt, message, ticket, ctx.now)
    return []


def handle_menu(ctx: flow.Context) -> flow.Outcome:
    """The language menu's answer shaped the call's TwiML (the webhook answered it); the
    ticket's language comes from what the caller then said."""
    flow.params(ctx, "CallSid")
    return flow.Outcome(MENU_OUTCOME)


def handle_transcript(ctx: flow.Context) -> flow.Outcome:
    """A real-time transcription callback (raises UserError for one that cannot be read:
    the row is kept, failed, with the reason). A final utterance waits with the others
    until the transcription stops; the stop (or an utterance arriving after it) assembles
    the call's transcript into its voicemail."""
    settings = ctx.rt.settings
    event = transcription.parse_event(flow.params(ctx, "CallSid", "TranscriptionSid"), settings.transcript_max_chars)
    if event.event == transcription.STARTED or (event.event == transcription.CONTENT and not event.final):
        return flow.Outcome(flow.IGNORED)
    message = voicemail_for_call(ctx.session, event.call_sid)
    if message is None:
        return flow.Outcome(WAITING_OUTCOME if event.event != transcription.CONTENT else UTTERANCE_OUTCOME)
    ticket = ctx.session.get(Ticket, message.ticket_id)
    assert ticket is not None
    late = (message.extra or {}).get("transcription_source") == transcription.REALTIME_SOURCE
    if event.event == transcription.CONTENT and not late:
        return flow.Outcome(UTTERANCE_OUTCOME, ticket_id=ticket.id, ticket_ref=ticket.ref, private=ticket.private)
    ctx.outbox_ids.extend(apply_transcript(ctx.session, ctx.rt, message, ticket, ctx.now))
    ctx.inbox.private = ticket.private
    log.info("transcript %s event %s (%s) -> ticket %s", event.transcription_sid, event.sequence, event.event,
             ticket.ref)
    return flow.Outcome(flow.UPDATED, ticket_id=ticket.id, ticket_ref=ticket.ref, message_id=message.id,
                        private=ticket.private)


def apply_transcript(session: Session, rt: Runtime, message: Message, ticket: Ticket, now: dt.datetime,
                     timed_out: bool = False) -> list[int]:
    """Give a voicemail its call's real-time transcript once the transcription stopped (or,
    `timed_out`, whatever came). The message row is locked first, so two workers assembling
    the same call write it once and acknowledge once; the utterance count in `extra` says
    whether a late utterance changed anything. Returns outbox ids to enqueue."""
    locked = session.scalar(for_update(session, select(Message).where(Message.id == message.id))
                            .execution_options(populate_existing=True))
    assert locked is not None
    extra = locked.extra or {}
    call_sid = str(extra.get("CallSid") or "")
    settings = rt.settings
    transcript = transcription.call_transcript(session, rt.vault, call_sid, settings.transcript_max_events,
                                               settings.transcript_max_chars) if call_sid \
        else transcription.Transcript("", 0, False, False)
    if not (transcript.stopped or timed_out):
        return []
    outbox = _write_transcript(session, rt, locked, ticket, transcript, timed_out, now)
    if call_sid:
        # The callbacks hold what was said: they belong to the ticket (erasure, the private
        # queue) like the voicemail they made.
        session.execute(update(Inbox).where(Inbox.channel == "transcript",
                                            Inbox.meta["call"].as_string() == call_sid)
                        .values(ticket_id=ticket.id, private=ticket.private))
    return outbox


def _write_transcript(session: Session, rt: Runtime, message: Message, ticket: Ticket,
                      transcript: transcription.Transcript, timed_out: bool, now: dt.datetime) -> list[int]:
    extra = message.extra or {}
    previous = extra.get("transcription")
    details: dict[str, object] = {"utterances": transcript.utterances}
    if transcript.cut:
        details["transcript_cut"] = True
    if transcript.text:
        if extra.get("transcription_source") == transcription.REALTIME_SOURCE \
                and extra.get("utterances") == transcript.utterances:
            return []  # assembled already, nothing new
        state = "timeout" if timed_out else "completed"
        return finalize_voicemail(session, rt, message, ticket, transcript.text, state, now,
                                  acknowledge=previous == "pending", source=transcription.REALTIME_SOURCE,
                                  details=details)
    if previous != "pending":
        return []
    return finalize_voicemail(session, rt, message, ticket, TRANSCRIPTION_UNAVAILABLE,
                              "timeout" if timed_out else "failed", now, source=transcription.REALTIME_SOURCE,
                              details=details)


def handle_transcription(ctx: flow.Context) -> flow.Outcome:
    params = flow.params(ctx, "RecordingSid")
    text, state = transcription_result(params)
    message, ticket, _ = ensure_voicemail(ctx, params)
    previous = (message.extra or {}).get("transcription")
    realtime = (message.extra or {}).get("transcription_source") == transcription.REALTIME_SOURCE
    # The English fallback: a real-time transcript that came out empty ("failed") gives way.
    if previous == "completed" or (previous == "failed" and not (realtime and state == "completed")):
        return flow.Outcome(flow.DUPLICATE, ticket_id=ticket.id, ticket_ref=ticket.ref,
                                message_id=message.id, private=ticket.private)
    # After a timeout the caller was already acknowledged; a late transcript still
    # replaces "transcription unavailable" and re-routes the ticket.
    ctx.outbox_ids.extend(finalize_voicemail(ctx.session, ctx.rt, message, ticket, text, state,
                                             ctx.now, acknowledge=previous == "pending",
                                             source=transcription.RECORDING_SOURCE))
    ctx.inbox.private = ticket.private
    log.info("transcription %s (%s) -> ticket %s", params.get("TranscriptionSid"), state, ticket.ref)
    return flow.Outcome(flow.UPDATED, ticket_id=ticket.id, ticket_ref=ticket.ref,
                            message_id=message.id, private=ticket.private)


def finalize_voicemail(session: Session, rt: Runtime, message: Message, ticket: Ticket, text: str,
                       state: str, now: dt.datetime, acknowledge: bool = True, source: str | None = None,
                       details: dict[str, object] | None = None) -> list[int]:
    """Give a voicemail its text, triage it, route its ticket, queue the acknowledgement.
    `source` names where the text came from, `details` more facts for `extra` (ids and
    counts, never text: extra is stored in clear). Returns the ids of queued outbox rows
    (to enqueue after commit)."""
    extra = dict(message.extra or {})
    extra["transcription"] = state
    if source:
        extra["transcription_source"] = source
    extra.update(details or {})
    msg = InboundMessage(channel="voice", sender=message.sender, subject="Voicemail", text=text,
                         new_text=text, message_id=message.header_message_id,
                         extra=tuple((k, str(v)) for k, v in extra.items()))
    triage = triage_message(msg, rt.rules, max_scored_chars=rt.settings.triage_max_scored_chars)
    message.extra = extra  # a new dict: JSON columns do not track in-place changes
    message.language, message.category, message.priority = triage.language, triage.category, triage.priority
    message.private_reasons = list(triage.private_reasons)
    if _first_message_id(session, ticket) == message.id:
        # The ticket was opened by this voicemail with nothing to route on: route it now.
        store.route_ticket(ticket, triage, rt.rules.response_target(triage.category, triage.priority))
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
    row = queue_acknowledgement(session, rt, ticket, message, msg, is_new=True)
    return [row.id] if row is not None and row.status == "queued" else []
