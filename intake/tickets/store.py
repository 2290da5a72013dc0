"""Database writes for intake: raw capture, contacts, threading, tickets and messages.

Every write that must happen once is guarded by a unique constraint (STYLE 7); the
functions here translate a conflict into "already there" rather than an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from intake.crypto import Vault
from intake.db import insert_for
from intake.messages import InboundMessage, Triage
from intake.tickets.models import (
    AttachmentRow, Contact, Message, Outbox, Ticket, utcnow,
)
from intake.tickets.sealing import SEALED_PREFIX, is_sealed, seal_texts, sealed_body

# Crockford base32 without I, L, O, U: nothing a caller can misread over the phone.
REF_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REF_PREFIX = "TK-"
REF_RE = re.compile(r"(?<![A-Za-z0-9])TK-([0-9A-HJKMNP-TV-Z]{6})(?![A-Za-z0-9])", re.IGNORECASE)
OPEN_STATUSES = ("open", "pending")
PRIORITY_ORDER = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


def new_ref() -> str:
    # 30 random bits, 5 per character: one call for the system's randomness, not six.
    bits = secrets.randbits(30)
    return REF_PREFIX + "".join(REF_ALPHABET[(bits >> shift) & 31] for shift in range(25, -1, -5))


def find_ref(text: str) -> str | None:
    match = REF_RE.search(text or "")
    return REF_PREFIX + match.group(1).upper() if match else None


# -- bounded fields ---------------------------------------------------------------------------

def bounded(value: str, limit: int) -> str:
    """`value` cut to fit a String(limit) column. A cut value ends in a hash of the whole, so
    two long values that share a prefix stay different (addresses and ids are unique keys
    or thread matches) and the same long value always cuts the same way."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return value[:limit - 18] + "~~" + digest


def cut(value: str, limit: int, field_name: str, cuts: dict[str, int]) -> str:
    """`bounded(value, limit)`, recording the original length under `field_name` in `cuts`
    when it had to be cut (stored in the message's `extra`, so the cut is visible)."""
    if len(value) > limit:
        cuts[field_name] = len(value)
    return bounded(value, limit)


# -- contacts --------------------------------------------------------------------------------

def contact_address(address: str, kind: str) -> str:
    """The stored form of an address: e-mail lower-cased, bounded to the column."""
    address = address.strip().lower() if kind == "email" else address.strip()
    return bounded(address, 320)


def get_or_create_contact(session: Session, address: str, kind: str, name: str = "",
                          language: str = "unknown") -> Contact:
    """The contact of an address, created once even when workers race: the insert is
    `ON CONFLICT DO NOTHING` on the unique address, so the loser (which waits for the
    winner's commit on PostgreSQL) reads the winner's row instead of failing."""
    address = contact_address(address, kind)
    contact = session.scalar(select(Contact).where(Contact.address == address))
    if contact is None:
        insert = insert_for(session)
        session.execute(insert(Contact).values(
            address=address, kind=kind[:8], display_name=name[:255], language=language[:8],
            sms_opted_out=False, created_at=utcnow()).on_conflict_do_nothing())
        contact = session.scalar(select(Contact).where(Contact.address == address))
        if contact is None:  # pragma: no cover - the row is there: ours or the winner's
            raise RuntimeError("contact insert neither stored nor found its row")
    else:
        if name and not contact.display_name:
            contact.display_name = name[:255]
        if language in ("zh", "en"):
            contact.language = language
    return contact


def lock_contact(session: Session, contact: Contact) -> None:
    """Serialise the thread lookup of one contact, so a burst of messages from one number
    joins one ticket instead of each opening its own.

    PostgreSQL: `SELECT ... FOR UPDATE` on the contact row; a second worker waits here until
    the first commits, then sees its ticket (READ COMMITTED gives each statement a fresh
    snapshot). SQLite has no row locks, and pysqlite begins a transaction only before the
    first INSERT/UPDATE/DELETE: a no-op UPDATE of the contact row takes the database's write
    lock now, before the lookup, so writers queue here rather than after both looked."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Contact.id).where(Contact.id == contact.id).with_for_update())
    else:
        session.execute(update(Contact).where(Contact.id == contact.id).values(kind=Contact.kind)
                        .execution_options(synchronize_session=False))


# -- threading --------------------------------------------------------------------------------

def message_fingerprint(msg: InboundMessage, raw: bytes | None = None) -> str:
    """Identity of a message across mailboxes and re-deliveries.

    A Message-ID alone is not enough: broken senders and bulk tools reuse one for different
    mails, and we must never drop a mail because of that. For email the key combines the
    Message-ID and the core headers with the body bytes: the same mail delivered to two
    mailboxes differs only in its trace headers (Received, Delivered-To), which are left out,
    and line endings, which servers rewrite (LF vs CRLF), are normalised.
    """
    if msg.channel != "email" and msg.message_id:
        return bounded(f"{msg.channel}:{msg.message_id}", 128)
    digest = hashlib.sha256()
    for part in (msg.message_id or "", msg.sender, msg.sent_at.isoformat() if msg.sent_at else "",
                 msg.subject):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    if raw is not None:
        head, body = _split(raw)
        digest.update(_stable_headers(head))
        digest.update(b"\x00")
        digest.update(body.replace(b"\r\n", b"\n").strip())
    else:
        digest.update(msg.text.encode("utf-8", "surrogatepass"))
        for attachment in msg.attachments:
            digest.update(hashlib.sha256(attachment.content).digest())
    return "email:" + digest.hexdigest()[:40]


# Headers that the delivery path adds or rewrites (trace fields, RFC 5321 section 4.4, and
# filters' X- fields): the same mail in two mailboxes differs only in these.
_TRACE_FIELDS = (b"received", b"return-path", b"delivered-to", b"x-", b"authentication-results",
                 b"arc-", b"received-spf", b"envelope-to", b"status", b"content-length", b"lines")


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """Header block and body (RFC 5322 section 2.1: split at the first empty line)."""
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    cuts = [(i, i + n) for i, n in ((crlf, 4), (lf, 2)) if i >= 0]
    if not cuts:
        return raw, b""
    end, start = min(cuts)
    return raw[:end], raw[start:]


def _stable_headers(head: bytes) -> bytes:
    fields: list[bytes] = []
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b" " + line.strip()
        else:
            fields.append(line.strip())
    kept = [f for f in fields if not f.lower().startswith(_TRACE_FIELDS)]
    return b"\n".join(kept)


def find_thread(session: Session, msg: InboundMessage, contact: Contact,
                sms_window: dt.timedelta, now: dt.datetime) -> tuple[Ticket | None, str]:
    """The ticket an inbound message belongs to, and why (for the audit trail). Takes the
    contact's lock first (held until the caller commits): see `lock_contact`.

    A reference is bound to its owner: `TK-...` in a subject or an SMS joins the ticket only
    when the sender is the ticket's contact, and In-Reply-To/References join a ticket when
    they name one of our (random, unguessable) Message-IDs for it, or the contact's own
    earlier message. Anyone else naming a ticket gets a new one, linked to it: why is then
    "linked:TK-..." and the referenced ticket is left untouched (not reopened, not made
    private, not threaded into)."""
    lock_contact(session, contact)
    linked: str | None = None
    ref = find_ref(msg.subject) or (find_ref(msg.text[:2000]) if msg.channel != "email" else None)
    if ref:
        ticket = session.scalar(select(Ticket).where(Ticket.ref == ref))
        if ticket is not None and ticket.contact_id == contact.id:
            return ticket, "ref"
        linked = ticket.ref if ticket is not None else None
    header_ids = [bounded(i, 512) for i in (msg.in_reply_to, *msg.references) if i]
    if header_ids:
        ticket_id = session.scalar(
            select(Outbox.ticket_id).where(Outbox.header_message_id.in_(header_ids)).limit(1))
        if ticket_id is None:
            ticket_id = session.scalar(
                select(Message.ticket_id).join(Ticket, Ticket.id == Message.ticket_id).where(
                    Message.header_message_id.in_(header_ids), Ticket.contact_id == contact.id).limit(1))
        if ticket_id is not None:
            return session.get(Ticket, ticket_id), "in_reply_to"
    if msg.channel in ("sms", "voice"):
        ticket = session.scalar(
            select(Ticket).where(Ticket.contact_id == contact.id, Ticket.status.in_(OPEN_STATUSES),
                                 Ticket.last_message_at >= now - sms_window)
            .order_by(Ticket.last_message_at.desc()).limit(1))
        if ticket is not None:
            return ticket, "same_number"
    return None, f"linked:{linked}" if linked else "new"


# -- tickets and messages --------------------------------------------------------------------

def create_ticket(session: Session, vault: Vault, msg: InboundMessage, triage: Triage,
                  contact: Contact, mailbox: str | None, due_in: dt.timedelta,
                  now: dt.datetime, why: str = "new") -> Ticket:
    """A new ticket for the message; `why` is find_thread's, so a message that named
    someone else's ticket carries the link to it."""
    subject = msg.subject or (msg.new_text or msg.text).strip().split("\n", 1)[0][:120]
    # 32^6 refs: a collision is a one-in-a-billion event per ticket; it fails this
    # transaction on the unique constraint and the retry draws a new ref.
    ticket = Ticket(
        ref=new_ref(), status="open", channel=msg.channel[:16], mailbox=mailbox and mailbox[:128],
        category=triage.category[:32], department=triage.department[:64],
        priority=triage.priority[:16], language=triage.language[:8], private=False, private_reasons=[], triage_reasons=list(triage.reasons),
        contact_id=contact.id, subject=subject[:1000], parse_error=bool(msg.parse_error),
        linked_ref=why.removeprefix("linked:") if why.startswith("linked:") else None,
        created_at=now, updated_at=now, last_message_at=now, due_at=now + due_in,
    )
    session.add(ticket)
    session.flush()
    if triage.private:
        make_private(session, vault, ticket, triage.private_reasons, new=True)
    return ticket


def route_ticket(ticket: Ticket, triage: Triage, due_in: dt.timedelta) -> None:
    """The first inbound message routes its ticket (a voicemail once transcribed, a capture
    re-triaged by `intake reprocess`): category, department, priority, language, due time,
    and the triage reasons, as rule ids only on a private ticket (never the matched words)."""
    ticket.category, ticket.department = triage.category, triage.department
    ticket.priority, ticket.language = triage.priority, triage.language
    ticket.triage_reasons = rule_ids(triage.reasons) if ticket.private else list(triage.reasons)
    ticket.due_at = ticket.created_at + due_in


_DIGITS = re.compile(r"\d")


def private_view(text: str) -> str:
    """What a private text may show without the private scope: PII masked and every digit
    hidden (amounts, order and account numbers are what make a finance case sensitive)."""
    from intake.triage import redact

    return _DIGITS.sub("#", redact(text))


def rule_ids(reasons: Iterable[str]) -> list[str]:
    """Triage reasons without the matched words (`rule@where:words` -> `rule`), for private
    tickets, whose matched words may be amounts or names."""
    return list(dict.fromkeys(r.split("@", 1)[0].split(":", 1)[0] for r in reasons))


def make_private(session: Session, vault: Vault, ticket: Ticket, reasons: Iterable[str],
                 new: bool = False) -> None:
    """Turn a ticket private (sticky): encrypt its subject and every message already stored."""
    merged = list(dict.fromkeys([*ticket.private_reasons, *reasons]))
    ticket.private_reasons = merged
    if ticket.private:
        return
    ticket.private = True
    ticket.subject_secret = vault.encrypt_text(ticket.subject)
    ticket.subject = private_subject(ticket)
    ticket.triage_reasons = rule_ids(ticket.triage_reasons)
    if not new:  # a ticket that already has messages and follow-ups: seal them too
        for message in session.scalars(select(Message).where(Message.ticket_id == ticket.id,
                                                             Message.private.is_(False))):
            seal_message(vault, message, message.text or "", message.new_text or "")
            for attachment in message.attachments:
                if not attachment.encrypted:
                    attachment.content = vault.encrypt(attachment.content)
                    attachment.encrypted = True
        for row in session.scalars(select(Outbox).where(Outbox.ticket_id == ticket.id)):
            seal_outbox(vault, row)


def private_subject(ticket: Ticket) -> str:
    """The visible subject of a private ticket: its category and reference, never the
    sender's words (masking patterns in them still left "my password hunter")."""
    return private_title(ticket.category, ticket.ref)


def private_title(category: str, ref: str) -> str:
    return f"Private {category} case {ref}"


def seal_outbox(vault: Vault, row: Outbox) -> None:
    """A private ticket's follow-up keeps its bodies only encrypted, before and after it is
    sent."""
    if is_sealed(row.body_text):
        return
    row.body_text = sealed_body(vault, row.body_text, row.body_html)
    row.body_html = None


def outbox_bodies(vault: Vault, text: str | None, html: str | None) -> tuple[str, str | None]:
    """(text, html) of a follow-up, opening a sealed one (at send time only)."""
    import json

    if not (text or "").startswith(SEALED_PREFIX):
        return text or "", html
    data = json.loads(vault.open_ascii((text or "")[len(SEALED_PREFIX):]).decode("utf-8"))
    return data["text"], data["html"]


def seal_message(vault: Vault, message: Message, text: str, new_text: str) -> None:
    message.private = True
    message.text_secret, message.extra = seal_texts(vault, text, new_text, message.extra or {})
    message.text = None
    message.new_text = None


def open_message(vault: Vault, message: Message) -> tuple[str, str]:
    """(text, new_text) of a message, decrypting a private one."""
    import json

    if message.text_secret is not None:
        data = json.loads(vault.decrypt_text(message.text_secret))
        return data["text"], data["new_text"]
    return message.text or "", message.new_text or ""


def ticket_subject(vault: Vault, ticket: Ticket, show_private: bool) -> str:
    if ticket.private and show_private and ticket.subject_secret is not None:
        return vault.decrypt_text(ticket.subject_secret)
    return ticket.subject


def add_message(session: Session, vault: Vault, ticket: Ticket, msg: InboundMessage,
                triage: Triage, inbox_id: int | None, dedupe_key: str | None,
                now: dt.datetime, max_attachment_bytes: int | None = None) -> Message:
    # Inbound values fit their columns: an over-long one is cut (never a database error)
    # and its original length recorded in `extra["cut"]`.
    cuts: dict[str, int] = {}
    extra: dict[str, Any] = dict(msg.extra)
    message = Message(
        ticket_id=ticket.id, inbox_id=inbox_id, direction="in", channel=msg.channel[:16],
        dedupe_key=dedupe_key and bounded(dedupe_key, 128),
        header_message_id=cut(msg.message_id, 512, "message_id", cuts) if msg.message_id else None,
        in_reply_to=cut(msg.in_reply_to, 512, "in_reply_to", cuts) if msg.in_reply_to else None,
        sender=cut(msg.sender, 320, "sender", cuts), sender_name=cut(msg.sender_name, 255, "sender_name", cuts),
        private=False, text=msg.text, new_text=msg.new_text, language=triage.language[:8],
        category=triage.category[:32], priority=triage.priority[:16],
        private_reasons=list(triage.private_reasons), parse_error=msg.parse_error,
        loop_reasons=list(msg.loop.reasons), sent_at=msg.sent_at, created_at=now,
    )
    private = ticket.private or triage.private
    if private:
        seal_message(vault, message, msg.text, msg.new_text)
    session.add(message)
    for index, attachment in enumerate(msg.attachments):
        cut(attachment.filename, 512, f"attachment{index}_filename", cuts)
        cut(attachment.content_type, 255, f"attachment{index}_content_type", cuts)
    if cuts:
        extra["cut"] = cuts
    message.extra = extra
    session.flush()
    for attachment in msg.attachments:
        content = attachment.content
        session.add(AttachmentRow(
            message_id=message.id, filename=attachment.filename[:512],
            content_type=attachment.content_type[:255], size=len(content),
            sha256=hashlib.sha256(content).hexdigest(), encrypted=private,
            content=vault.encrypt(content) if private else content,
        ))
    return message


def apply_triage_to_ticket(session: Session, vault: Vault, ticket: Ticket, triage: Triage,
                           now: dt.datetime, reopen: bool = True) -> None:
    """A further message on a ticket: escalate priority, make private if needed, reopen."""
    if PRIORITY_ORDER.get(triage.priority, 1) > PRIORITY_ORDER.get(ticket.priority, 1):
        ticket.priority = triage.priority
    if triage.private:
        make_private(session, vault, ticket, triage.private_reasons)
    if reopen and ticket.status in ("resolved", "closed"):
        ticket.status = "open"
        ticket.closed_at = None
    ticket.last_message_at = now
    ticket.updated_at = now
