"""Follow-ups: acknowledgements, status updates, agent replies and SMS status answers.

A follow-up is an `Outbox` row written in the same transaction as the ticket change that
causes it (the caller commits, then enqueues the row's id; STYLE 10). Nothing here
commits or talks to the network: `send.py` delivers rows, exactly once.

    queue_acknowledgement(session, rt, ticket, message, msg, is_new) -> Outbox | None
    handle_bounce(session, rt, msg) -> None
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.messages import InboundMessage
from intake.outbox import loop_guard
from intake.outbox.compose import TemplateError, choose_language, composer_for, response_time
from intake.tickets import status_links, store
from intake.tickets.models import Message, Outbox, Ticket, utcnow

if TYPE_CHECKING:
    from intake.runtime import Runtime

log = logging.getLogger("intake.outbox.follow_ups")

__all__ = ["handle_bounce", "queue_acknowledgement"]


# -- addresses --------------------------------------------------------------------------------

def from_address(rt: "Runtime", ticket: Ticket, inbound_recipient: str = "") -> str:
    """The address a follow-up comes from: the mailbox the mail came to.

    ticket.mailbox's user, else the address the mail was sent to *if it is one of ours*
    (a mail that reached us by Bcc or forwarding names someone else in To:, and we must
    not send as them), else INTAKE_FROM_ADDRESS, else support@INTAKE_MAIL_DOMAIN.
    """
    settings = rt.settings
    if ticket.mailbox:
        try:
            from intake.mailboxes import get_mailbox

            user = get_mailbox(settings, ticket.mailbox).user
        except Exception:  # noqa: BLE001 - mailbox renamed / removed since: fall through
            user = ""
        if "@" in user:
            return user.strip()
    recipient = (inbound_recipient or "").strip().lower()
    if recipient and "@" in recipient:
        if recipient in our_addresses(rt) or recipient.rpartition("@")[2] in our_domains(rt):
            return recipient
    if settings.from_address:
        return settings.from_address.strip()
    return f"support@{settings.mail_domain}"


def our_addresses(rt: "Runtime") -> frozenset[str]:
    """Cached per runtime: settings and the mailbox file are read once (STYLE 12)."""
    return rt.cached("replies.our_addresses", lambda: loop_guard.our_addresses(rt.settings))  # type: ignore[no-any-return]


def our_domains(rt: "Runtime") -> frozenset[str]:
    return rt.cached("replies.our_domains", lambda: loop_guard.our_domains(rt.settings))  # type: ignore[no-any-return]


def email_message_id(outbox_id: int, ref: str, mail_domain: str) -> str:
    """A Message-ID with a random part, fixed per row (stored on it, so a resend after a
    crash carries the same id). The random part is what makes it proof: a reply naming it
    in In-Reply-To may join the ticket, and a bounce naming it may fail the row; a
    predictable id (outbox-N.ref@domain) let anyone forge both."""
    return f"outbox-{outbox_id}.{secrets.token_hex(8)}.{ref}@{mail_domain}"


# -- writing rows -------------------------------------------------------------------------------

def _row(session: Session, rt: "Runtime", ticket: Ticket, *, kind: str, channel: str, to: str,
         dedupe_key: str, message_id: int | None, suppressed: str | None, now: dt.datetime) -> Outbox:
    row = Outbox(
        ticket_id=ticket.id, message_id=message_id, dedupe_key=dedupe_key[:128], kind=kind,
        channel=channel, to_address=to[:320], status="suppressed" if suppressed else "queued",
        suppressed_reason=suppressed and suppressed[:128], attempts=0, headers={}, created_at=now, updated_at=now,
        deadline=now + dt.timedelta(seconds=rt.settings.send_deadline_seconds),
    )
    session.add(row)
    return row


def _failed_compose(row: Outbox, exc: Exception) -> None:
    # A broken template must not cost the sender their ticket: the row is failed, visibly.
    row.status = "failed"
    row.suppressed_reason = None
    row.error_code = "template"
    row.last_error = str(exc)[:500] if isinstance(exc, TemplateError) else type(exc).__name__
    log.error("outbox %s (%s): cannot compose: %s", row.id, row.kind, row.last_error)


def queue_email(session: Session, rt: "Runtime", ticket: Ticket, *, kind: str, lang: str,
                context: dict[str, Any], their_subject: str, to: str, to_name: str,
                dedupe_key: str, in_reply_to: str | None, references: tuple[str, ...] | list[str],
                inbound_recipient: str = "", message_id: int | None = None,
                suppressed: str | None = None, auto_submitted: bool = True,
                sender: str | None = None, now: dt.datetime | None = None) -> Outbox:
    from intake.channels.smtp import clean_header, valid_address

    now = now or utcnow()
    to = (to or "").strip().lower()
    if suppressed is None and not valid_address(to):
        suppressed = loop_guard.BAD_ADDRESS
    row = _row(session, rt, ticket, kind=kind, channel="email", to=to, dedupe_key=dedupe_key,
               message_id=message_id, suppressed=suppressed, now=now)
    row.from_address = (sender or from_address(rt, ticket, inbound_recipient))[:320]
    session.flush()  # the id names the Message-ID
    row.header_message_id = email_message_id(row.id, ticket.ref, rt.settings.mail_domain)
    refs = [r for r in references if r]
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    row.headers = {
        "to_name": clean_header(to_name, 200), "in_reply_to": in_reply_to or None,
        "references": refs[-20:], "inbound_recipient": (inbound_recipient or "")[:320],
        "auto_submitted": auto_submitted, "lang": lang, "rcpt": loop_guard.mailbox_key(to),
    }
    try:
        composed = composer_for(rt).email(kind, lang, context, their_subject)
    except Exception as exc:  # noqa: BLE001 - see _failed_compose
        _failed_compose(row, exc)
        return row
    row.subject, row.body_text, row.body_html = composed.subject, composed.text, composed.html
    if ticket.private:
        store.seal_outbox(rt.vault, row)
    return row


def queue_sms(session: Session, rt: "Runtime", ticket: Ticket, *, kind: str, lang: str,
              context: dict[str, Any], to: str, dedupe_key: str, strict: bool,
              opted_out: bool, message_id: int | None = None, suppressed: str | None = None,
              now: dt.datetime | None = None) -> Outbox:
    """strict: the number is a caller's (voice), not a texter's; see sms_capability."""
    from intake.channels.sms import sms_capability

    now = now or utcnow()
    to = (to or "").strip()
    if suppressed is None and opted_out:
        suppressed = loop_guard.OPTED_OUT
    if suppressed is None:
        suppressed = sms_capability(to, strict=strict)
    row = _row(session, rt, ticket, kind=kind, channel="sms", to=to, dedupe_key=dedupe_key,
               message_id=message_id, suppressed=suppressed, now=now)
    row.from_address = (rt.settings.twilio_from_number or rt.settings.twilio_messaging_service_sid)[:320]
    session.flush()
    row.headers = {"lang": lang, "rcpt": to}
    try:
        composed = composer_for(rt).sms(kind, lang, context)
    except Exception as exc:  # noqa: BLE001 - see _failed_compose
        _failed_compose(row, exc)
        return row
    row.body_text = composed.text
    row.headers = {"lang": lang, "rcpt": to, "segments": composed.segments, "truncated": composed.truncated}
    if composed.truncated:
        log.warning("outbox %s (%s, ticket %s): SMS shortened to fit two segments",
                    row.id, kind, ticket.ref)
    if ticket.private:
        store.seal_outbox(rt.vault, row)
    return row


def base_context(rt: "Runtime", ticket: Ticket, lang: str, now: dt.datetime) -> dict[str, Any]:
    composer = composer_for(rt)
    return {
        "ref": ticket.ref, "private": bool(ticket.private),
        "department": composer.department_name(ticket.department, lang),
        "response_time": response_time(ticket.due_at, now, lang),
        "status": composer.status_name(ticket.status, lang), "status_code": ticket.status,
    }


def follow_up_channel(ticket: Ticket) -> str:
    return "email" if ticket.channel == "email" else "sms"


# -- the acknowledgement ------------------------------------------------------------------------

def queue_acknowledgement(session: Session, rt: "Runtime", ticket: Ticket, message: Message,
                          msg: InboundMessage, is_new: bool) -> Outbox | None:
    """Write the acknowledgement of an inbound message: `queued`, or `suppressed` with
    the loop guard's reason. Returns None only for a channel we cannot answer on. Never
    commits."""
    settings = rt.settings
    now = utcnow()
    if msg.channel not in ("email", "sms", "voice"):
        return None
    existing = session.scalar(select(Outbox).where(Outbox.dedupe_key == f"ack:{message.id}"))
    if existing is not None:  # the same message processed again (reprocess)
        return existing
    ours = our_addresses(rt)
    reason = loop_guard.message_reason(msg, is_new, ours)
    contact = ticket.contact
    text = msg.new_text or msg.text
    lang = choose_language(ticket.language, contact.language if contact else "unknown", text)
    to = (msg.sender or "").strip()
    to_key = loop_guard.mailbox_key(to) if msg.channel == "email" else to
    if reason is None and to_key:
        loop_guard.lock_recipient(session, to_key)
        limits = (settings.ack_limit_per_hour, settings.ack_limit_per_domain_per_hour)
        reason = loop_guard.rate_limit_reason(session, to_key, limits, now)
    context = base_context(rt, ticket, lang, now)
    # The signed status link (none without INTAKE_PUBLIC_URL); minted only for a row to send.
    if reason is None:
        context["status_url"] = status_links.url_for_new(session, rt, ticket, now)
    dedupe_key = f"ack:{message.id}"
    if msg.channel == "email":
        row = queue_email(
            session, rt, ticket, kind="ack", lang=lang, context=context,
            their_subject=msg.subject if loop_guard.answered_before(session, to_key) else "",
            to=to, to_name=msg.sender_name, dedupe_key=dedupe_key,
            in_reply_to=msg.message_id, references=list(msg.references),
            inbound_recipient=msg.recipient, message_id=message.id, suppressed=reason, now=now)
    else:
        row = queue_sms(
            session, rt, ticket, kind="ack", lang=lang, context=context, to=to,
            dedupe_key=dedupe_key, strict=msg.channel == "voice",
            opted_out=bool(contact and contact.sms_opted_out), message_id=message.id,
            suppressed=reason, now=now)
    if row.status == "suppressed":
        log.info("outbox %s: ack for ticket %s suppressed (%s)", row.id, ticket.ref,
                 (row.suppressed_reason or "").split(":", 1)[0])
    else:
        log.info("outbox %s: ack for ticket %s %s (%s, %s)", row.id, ticket.ref, row.status,
                 row.channel, lang)
    return row


# -- bounces ------------------------------------------------------------------------------------

def handle_bounce(session: Session, rt: "Runtime", msg: InboundMessage) -> None:
    """A delivery failure report for one of our mails marks that follow-up failed."""
    if not msg.loop.is_bounce or not msg.loop.bounced_message_ids:
        return
    ids = {i.strip().strip("<>").strip() for i in msg.loop.bounced_message_ids if i}
    ids.discard("")
    if not ids:
        return
    rows = session.scalars(select(Outbox).where(
        Outbox.header_message_id.in_(ids), Outbox.status.notin_(("failed", "suppressed")))).all()
    now = utcnow()
    for row in rows:
        row.status, row.error_code, row.suppressed_reason = "failed", "bounced", "bounced"
        row.last_error = "the recipient's mail server reported the message undeliverable"
        row.next_attempt_at, row.updated_at = None, now
        log.info("outbox %s (%s): bounced", row.id, row.kind)
