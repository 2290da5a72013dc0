"""The values of one follow-up row (`Outbox`): addresses, headers, composed and, for a
private ticket, sealed bodies. Built as plain values so one row (`follow_ups.queue_email`,
ORM, for agents and notices) and a chunk's acknowledgements (one INSERT for all) are the
same rows."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, insert, text, update
from sqlalchemy.orm import Session

from intake.outbox import loop_guard
from intake.outbox.compose import TemplateError, composer_for
from intake.tickets.chunk import inserted
from intake.tickets.models import Outbox, core_table
from intake.tickets.sealing import is_sealed, sealed_body

if TYPE_CHECKING:
    from intake.runtime import Runtime

log = logging.getLogger("intake.outbox.follow_ups")


class TicketFields(Protocol):
    """What a follow-up reads of its ticket (a stored `Ticket`, or one a chunk is opening)."""

    @property
    def id(self) -> int | None: ...
    @property
    def ref(self) -> str: ...
    @property
    def private(self) -> bool: ...
    @property
    def mailbox(self) -> str | None: ...
    @property
    def channel(self) -> str: ...
    @property
    def language(self) -> str: ...
    @property
    def department(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def due_at(self) -> dt.datetime | None: ...


def from_address(rt: "Runtime", ticket: TicketFields, inbound_recipient: str = "") -> str:
    """The address a follow-up comes from: the mailbox the mail came to.

    ticket.mailbox's user, else the address the mail was sent to *if it is one of ours*
    (a mail that reached us by Bcc or forwarding names someone else in To:, and we must
    not send as them), else INTAKE_FROM_ADDRESS, else support@INTAKE_MAIL_DOMAIN.
    """
    settings = rt.settings
    if ticket.mailbox:
        user = rt.cached(f"replies.mailbox_user:{ticket.mailbox}", lambda: _mailbox_user(rt, str(ticket.mailbox)))
        if "@" in user:
            return str(user).strip()
    recipient = (inbound_recipient or "").strip().lower()
    if recipient and "@" in recipient:
        if recipient in our_addresses(rt) or recipient.rpartition("@")[2] in our_domains(rt):
            return recipient
    if settings.from_address:
        return settings.from_address.strip()
    return f"support@{settings.mail_domain}"


def _mailbox_user(rt: "Runtime", name: str) -> str:
    try:
        from intake.mailboxes import get_mailbox

        return get_mailbox(rt.settings, name).user
    except Exception:  # noqa: BLE001 - mailbox renamed / removed since: fall through
        return ""


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


def base_values(rt: "Runtime", ticket: TicketFields, *, kind: str, channel: str, to: str,
                dedupe_key: str, message_id: int | None, suppressed: str | None,
                now: dt.datetime) -> dict[str, Any]:
    key = loop_guard.mailbox_key(to) if channel == "email" else to
    return dict(
        ticket_id=ticket.id, message_id=message_id, dedupe_key=dedupe_key[:128], kind=kind,
        channel=channel, to_address=to[:320], from_address="", subject="", body_text="", body_html=None,
        headers={}, header_message_id=None, rcpt=key[:320] or None, rcpt_domain=loop_guard.domain_of(key),
        status="suppressed" if suppressed else "queued", suppressed_reason=suppressed and suppressed[:128],
        attempts=0, error_code=None, last_error=None, created_at=now, updated_at=now, enqueued_at=now,
        deadline=now + dt.timedelta(seconds=rt.settings.send_deadline_seconds))


def failed_compose(values: dict[str, Any], ref: str, exc: Exception) -> None:
    # A broken template must not cost the sender their ticket: the row is failed, visibly.
    values.update(status="failed", suppressed_reason=None, error_code="template",
                  last_error=str(exc)[:500] if isinstance(exc, TemplateError) else type(exc).__name__)
    log.error("ticket %s (%s): cannot compose: %s", ref, values["kind"], values["last_error"])


def email_values(rt: "Runtime", ticket: TicketFields, *, kind: str, lang: str, context: dict[str, Any],
                 their_subject: str, to: str, to_name: str, dedupe_key: str, in_reply_to: str | None,
                 references: tuple[str, ...] | list[str], inbound_recipient: str = "",
                 message_id: int | None = None, suppressed: str | None = None, auto_submitted: bool = True,
                 sender: str | None = None, now: dt.datetime) -> dict[str, Any]:
    """An e-mail follow-up's row values; its Message-ID is set once the row has its id
    (`insert_rows`)."""
    from intake.channels.smtp import clean_header, valid_address

    to = (to or "").strip().lower()
    if suppressed is None and not valid_address(to):
        suppressed = loop_guard.BAD_ADDRESS
    values = base_values(rt, ticket, kind=kind, channel="email", to=to, dedupe_key=dedupe_key,
                         message_id=message_id, suppressed=suppressed, now=now)
    values["from_address"] = (sender or from_address(rt, ticket, inbound_recipient))[:320]
    refs = [r for r in references if r]
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    values["headers"] = {
        "to_name": clean_header(to_name, 200), "in_reply_to": in_reply_to or None,
        "references": refs[-20:], "inbound_recipient": (inbound_recipient or "")[:320],
        "auto_submitted": auto_submitted, "lang": lang, "rcpt": values["rcpt"] or "",
    }
    try:
        composed = composer_for(rt).email(kind, lang, context, their_subject)
    except Exception as exc:  # noqa: BLE001 - see failed_compose
        failed_compose(values, ticket.ref, exc)
        return values
    values.update(subject=composed.subject, body_text=composed.text, body_html=composed.html)
    if ticket.private:
        seal(rt, values)
    return values


def sms_values(rt: "Runtime", ticket: TicketFields, *, kind: str, lang: str, context: dict[str, Any],
               to: str, dedupe_key: str, strict: bool, opted_out: bool, message_id: int | None = None,
               suppressed: str | None = None, now: dt.datetime) -> dict[str, Any]:
    """strict: the number is a caller's (voice), not a texter's; see sms_capability."""
    from intake.channels.sms import sms_capability

    to = (to or "").strip()
    if suppressed is None and opted_out:
        suppressed = loop_guard.OPTED_OUT
    if suppressed is None:
        suppressed = sms_capability(to, strict=strict)
    values = base_values(rt, ticket, kind=kind, channel="sms", to=to, dedupe_key=dedupe_key,
                         message_id=message_id, suppressed=suppressed, now=now)
    values["from_address"] = (rt.settings.twilio_from_number or rt.settings.twilio_messaging_service_sid)[:320]
    values["headers"] = {"lang": lang, "rcpt": to}
    try:
        composed = composer_for(rt).sms(kind, lang, context)
    except Exception as exc:  # noqa: BLE001 - see failed_compose
        failed_compose(values, ticket.ref, exc)
        return values
    values["body_text"] = composed.text
    values["headers"] = {"lang": lang, "rcpt": to, "segments": composed.segments, "truncated": composed.truncated}
    if composed.truncated:
        log.warning("ticket %s (%s): SMS shortened to fit two segments", ticket.ref, kind)
    if ticket.private:
        seal(rt, values)
    return values


def seal(rt: "Runtime", values: dict[str, Any]) -> None:
    """`store.seal_outbox` on row values."""
    if not is_sealed(values["body_text"]):
        values["body_text"] = sealed_body(rt.vault, values["body_text"], values["body_html"])
        values["body_html"] = None


def insert_rows(session: Session, rt: "Runtime", rows: list[dict[str, Any]], refs: list[str]) -> list[int]:
    """Insert follow-up rows in one statement, then give the e-mails their Message-IDs
    (which name the row id) in one executemany. Returns the ids, in order."""
    if not rows:
        return []
    table = core_table(Outbox)
    if session.get_bind().dialect.name == "postgresql":
        return _insert_numbered(session, rt, rows, refs)
    by_key = inserted(session, table, rows, "dedupe_key")
    ids = [by_key[row["dedupe_key"]] for row in rows]
    named = [{"row_id": row_id, "header_message_id": email_message_id(row_id, ref, rt.settings.mail_domain)}
             for row_id, ref, row in zip(ids, refs, rows, strict=True) if row["channel"] == "email"]
    if named:
        session.execute(update(table).where(table.c.id == bindparam("row_id"))
                        .values(header_message_id=bindparam("header_message_id")), named)
    return ids


def _insert_numbered(session: Session, rt: "Runtime", rows: list[dict[str, Any]], refs: list[str]) -> list[int]:
    """`insert_rows` on PostgreSQL: the rows' ids drawn from their sequence first (one round
    trip), so each e-mail is written with its Message-ID in the one INSERT, instead of an
    INSERT and then an UPDATE per e-mail."""
    ids = [int(i) for i in session.execute(
        text("SELECT nextval(pg_get_serial_sequence('outbox', 'id')) FROM generate_series(1, :n)"),
        {"n": len(rows)}).scalars()]
    numbered = [{**row, "id": row_id,
                 "header_message_id": email_message_id(row_id, ref, rt.settings.mail_domain)
                 if row["channel"] == "email" else row.get("header_message_id")}
                for row, row_id, ref in zip(rows, ids, refs, strict=True)]
    session.execute(insert(core_table(Outbox)), numbered)
    return ids
