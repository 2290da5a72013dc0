"""Processing of an SMS/MMS capture (Twilio's incoming message webhook):

    keyword? (STOP/START, HELP, STATUS) -> already stored? -> media -> the message flow
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import replace

from intake.channels.media import MediaError, fetch_attachment
from intake.failures import UserError
from intake.messages import Attachment, InboundMessage
from intake.normalize.twilio import MissingParameter, mask_number, media_items, parse_twilio_sms
from intake.outbox.agents import answer_status_query
from intake.process import flow
from intake.tickets import store

log = logging.getLogger("intake.process.sms")

# Twilio's default opt-out / opt-in keywords (https://help.twilio.com/articles/223134027),
# plus the ones Chinese carriers and users send (退订 "unsubscribe", TD its abbreviation).
OPT_OUT = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "退订", "td"})
OPT_IN = frozenset({"start", "unstop", "yes"})
HELP = frozenset({"help", "info", "帮助"})
_STATUS = re.compile(r"^(?:status|状态|狀態)\s*[:：]?\s*(?P<ref>TK-[0-9A-Z]{6})?$", re.IGNORECASE)
_TRAILING = re.compile(r"[\s.!。！,，]+$")


def _keyword(text: str) -> str:
    return _TRAILING.sub("", unicodedata.normalize("NFKC", text).strip()).casefold()


def handle_sms(ctx: flow.Context) -> flow.Outcome:
    params = flow.params(ctx)
    try:
        msg = parse_twilio_sms(params)
    except MissingParameter as exc:
        raise UserError(f"sms webhook: {exc}") from None
    word = _keyword(msg.text)
    if word in OPT_OUT or word in OPT_IN:
        return _opt_change(ctx, msg, opted_out=word in OPT_OUT)
    if word in HELP:
        # Twilio's Advanced Opt-Out answers HELP itself; nothing to record, no ticket.
        return flow.Outcome(flow.IGNORED)
    status = _STATUS.match(re.sub(r"\s+", " ", msg.text.strip()))
    if status:
        return _status_query(ctx, msg, status.group("ref"))
    duplicate = flow.find_duplicate(ctx.session, store.message_fingerprint(msg))
    if duplicate is not None:  # checked before downloading media for a message we have
        return duplicate
    return flow.message_flow(ctx, _with_media(ctx, msg, params))


def _opt_change(ctx: flow.Context, msg: InboundMessage, opted_out: bool) -> flow.Outcome:
    contact = store.get_or_create_contact(ctx.session, msg.sender, "phone")
    contact.sms_opted_out = opted_out
    contact.opt_changed_at = ctx.now
    log.info("sms %s: %s recorded for contact %s (%s)", msg.message_id,
             "opt-out" if opted_out else "opt-in", contact.id, mask_number(msg.sender))
    return flow.Outcome(flow.OPT_CHANGE)


def _status_query(ctx: flow.Context, msg: InboundMessage, ref: str | None) -> flow.Outcome:
    contact = store.get_or_create_contact(ctx.session, msg.sender, "phone")
    ids = answer_status_query(ctx.session, ctx.rt, contact, ref.upper() if ref else None)
    ctx.outbox_ids.extend(ids)
    log.info("sms %s: status query from contact %s (%d replies)", msg.message_id, contact.id, len(ids))
    return flow.Outcome(flow.STATUS_QUERY)


def _with_media(ctx: flow.Context, msg: InboundMessage, params: dict[str, str]) -> InboundMessage:
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
