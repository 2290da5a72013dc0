"""Storing a chunk of prepared messages in a few statements (one message is a chunk of one).

    duplicates(session, keys) -> {key: Stored}     messages already stored under these keys
    place(session, vault, items, now, window)      contacts, threading, tickets, messages

(The reads, contacts and threading, are in chunk_reads.py.)

Each step is one or two statements for the whole chunk, and what the chunk itself
changes is resolved in memory, in arrival order, exactly as one-by-one processing would:

    contacts    select; insert the missing (ON CONFLICT DO NOTHING ... RETURNING); lock all
                in id order (the per-contact lock of `store.lock_contact`); update names and
                languages in one executemany
    threading   tickets named by ref, our outbox Message-IDs, the contacts' own earlier
                messages, the numbers' open tickets; then per message `store.find_thread`'s
                rules, where a message earlier in the chunk counts as stored (a reply inside
                the chunk joins the ticket its parent opened; a ref or a header id only
                joins a ticket its sender owns)
    tickets     new ones inserted in one statement (RETURNING id); joined ones changed by
                `store.apply_triage_to_ticket` and flushed together
    messages    one INSERT ... RETURNING, attachments one executemany; sealed when their
                ticket is private at the end of the chunk (as `make_private` would have
                sealed them after the fact)
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from intake.crypto import Vault
from intake.messages import InboundMessage, Triage
from intake.tickets import chunk_reads as reads
from intake.tickets import store
from intake.tickets.chunk_reads import Item, TicketDraft, TicketLike
from intake.tickets.models import AttachmentRow, Message, Ticket, core_table
from intake.tickets.sealing import seal_texts

__all__ = ["Item", "Placed", "Stored", "TicketDraft", "duplicates", "place"]


@dataclass(frozen=True)
class Stored:
    """A message already stored (the outcome of a duplicate)."""

    message_id: int
    ticket_id: int
    ticket_ref: str | None
    private: bool


@dataclass
class Placed:
    """Where one message went: its ticket, why, and the contact as this message saw it."""

    item: Item
    ticket: TicketLike
    is_new: bool
    why: str
    contact_id: int
    contact_language: str
    sms_opted_out: bool
    private: bool  # the ticket's, once this message joined it
    row: dict[str, Any]
    attachments: list[dict[str, Any]]
    message_id: int = 0


def duplicates(session: Session, keys: Iterable[str]) -> dict[str, Stored]:
    keys = sorted(set(keys))
    if not keys:
        return {}
    rows = session.execute(
        select(Message.dedupe_key, Message.id, Message.ticket_id, Ticket.ref, Ticket.private)
        .join(Ticket, Ticket.id == Message.ticket_id).where(Message.dedupe_key.in_(keys))).all()
    return {str(r.dedupe_key): Stored(r.id, r.ticket_id, r.ref, bool(r.private)) for r in rows}


# -- tickets -----------------------------------------------------------------------------------


def _draft(msg: InboundMessage, triage: Triage, contact_id: int, mailbox: str | None,
           due_in: dt.timedelta, now: dt.datetime, why: str) -> TicketDraft:
    """`store.create_ticket`, in memory."""
    subject = msg.subject or (msg.new_text or msg.text).strip().split("\n", 1)[0][:120]
    return TicketDraft(
        ref=store.new_ref(), channel=msg.channel[:16], mailbox=mailbox and mailbox[:128],
        category=triage.category[:32], department=triage.department[:64], priority=triage.priority[:16],
        language=triage.language[:8], contact_id=contact_id, subject=subject[:1000],
        parse_error=bool(msg.parse_error), linked_ref=why.removeprefix("linked:") if why.startswith("linked:") else None,
        created_at=now, due_at=now + due_in, triage_reasons=list(triage.reasons), last_message_at=now)


def _private_draft(vault: Vault, ticket: TicketDraft, reasons: Iterable[str]) -> None:
    """`store.make_private` for a ticket not written yet (its messages are sealed as they
    are written)."""
    ticket.private_reasons = list(dict.fromkeys([*ticket.private_reasons, *reasons]))
    if ticket.private:
        return
    ticket.private = True
    ticket.subject_secret = vault.encrypt_text(ticket.subject)
    ticket.subject = store.private_title(ticket.category, ticket.ref)
    ticket.triage_reasons = store.rule_ids(ticket.triage_reasons)


def _join(session: Session, vault: Vault, ticket: TicketLike, triage: Triage, now: dt.datetime) -> None:
    if isinstance(ticket, Ticket):
        store.apply_triage_to_ticket(session, vault, ticket, triage, now)
        return
    # `store.apply_triage_to_ticket` on a ticket opened by this chunk (open, not yet written)
    if store.PRIORITY_ORDER.get(triage.priority, 1) > store.PRIORITY_ORDER.get(ticket.priority, 1):
        ticket.priority = triage.priority
    if triage.private:
        _private_draft(vault, ticket, triage.private_reasons)
    ticket.last_message_at = now


_TICKET_FIELDS = ("ref", "status", "channel", "mailbox", "category", "department", "priority", "language",
                  "private", "private_reasons", "triage_reasons", "contact_id", "subject", "subject_secret",
                  "parse_error", "linked_ref", "created_at", "last_message_at", "due_at")


def _insert_tickets(session: Session, drafts: list[TicketDraft], now: dt.datetime) -> None:
    if not drafts:
        return
    table = core_table(Ticket)
    rows = [{**{name: getattr(d, name) for name in _TICKET_FIELDS}, "updated_at": now} for d in drafts]
    # 32^6 refs: a collision is a one-in-a-billion event per ticket; it fails this
    # transaction on the unique constraint and the retry draws new refs.
    ids = inserted(session, table, rows, "ref")
    for draft in drafts:
        draft.id = ids[draft.ref]


def inserted(session: Session, table: Table, rows: list[dict[str, Any]], key: str) -> dict[Any, int]:
    """INSERT the rows in one multi-row statement; their new ids by the unique column `key`.
    (Asking for the ids in parameter order instead makes SQLAlchemy insert row by row on
    SQLite, which cannot promise the order of RETURNING.)"""
    result = session.execute(insert(table).returning(table.c[key], table.c.id), rows)
    return {row[0]: int(row[1]) for row in result}


# -- messages ----------------------------------------------------------------------------------


def _message_row(item: Item, now: dt.datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`store.add_message`'s values: over-long inbound values cut to their columns (never a
    database error) and the original lengths recorded in `extra["cut"]`."""
    msg, triage = item.msg, item.triage
    cuts: dict[str, int] = {}
    extra: dict[str, Any] = dict(msg.extra)
    row: dict[str, Any] = dict(
        inbox_id=item.inbox_id, direction="in", channel=msg.channel[:16],
        dedupe_key=store.bounded(item.key, 128),
        header_message_id=store.cut(msg.message_id, 512, "message_id", cuts) if msg.message_id else None,
        in_reply_to=store.cut(msg.in_reply_to, 512, "in_reply_to", cuts) if msg.in_reply_to else None,
        sender=store.cut(msg.sender, 320, "sender", cuts),
        sender_name=store.cut(msg.sender_name, 255, "sender_name", cuts),
        private=False, text=msg.text, new_text=msg.new_text, text_secret=None, language=triage.language[:8],
        category=triage.category[:32], priority=triage.priority[:16],
        private_reasons=list(triage.private_reasons), parse_error=msg.parse_error,
        loop_reasons=list(msg.loop.reasons), sent_at=msg.sent_at, created_at=now)
    attachments = []
    for index, attachment in enumerate(msg.attachments):
        store.cut(attachment.filename, 512, f"attachment{index}_filename", cuts)
        store.cut(attachment.content_type, 255, f"attachment{index}_content_type", cuts)
        attachments.append(dict(filename=attachment.filename[:512], content_type=attachment.content_type[:255],
                                size=len(attachment.content), sha256=hashlib.sha256(attachment.content).hexdigest(),
                                encrypted=False, content=attachment.content))
    if cuts:
        extra["cut"] = cuts
    row["extra"] = extra
    return row, attachments


def _seal(vault: Vault, placed: Placed) -> None:
    row = placed.row
    row["private"] = True
    row["text_secret"], row["extra"] = seal_texts(vault, row["text"] or "", row["new_text"] or "", row["extra"])
    row["text"] = row["new_text"] = None
    for attachment in placed.attachments:
        attachment["content"] = vault.encrypt(attachment["content"])
        attachment["encrypted"] = True


def _insert_messages(session: Session, vault: Vault, placed: list[Placed]) -> None:
    if not placed:
        return
    for one in placed:
        one.row["ticket_id"] = one.ticket.id
        if one.ticket.private:
            _seal(vault, one)
    table = core_table(Message)
    ids = inserted(session, table, [p.row for p in placed], "dedupe_key")
    attachments: list[dict[str, Any]] = []
    for one in placed:
        one.message_id = ids[one.row["dedupe_key"]]
        attachments.extend({**a, "message_id": one.message_id} for a in one.attachments)
    if attachments:
        session.execute(insert(core_table(AttachmentRow)), attachments)


# -- the chunk ---------------------------------------------------------------------------------


def place(session: Session, vault: Vault, items: Sequence[Item], now: dt.datetime,
          sms_window: dt.timedelta) -> list[Placed]:
    """Store these messages (none a duplicate of a stored one: see `duplicates`), each
    opening or joining a ticket; in the caller's transaction, flushed, not committed."""
    if not items:
        return []
    known_contacts, created = reads.contacts(session, items, now)
    contact_of = {n: known_contacts[reads.address_of(item.msg)[0]].id for n, item in enumerate(items)}
    since = now - sms_window
    known = reads.Threads.read(session, items, contact_of, since)
    placed: list[Placed] = []
    drafts: list[TicketDraft] = []
    for n, item in enumerate(items):
        address = reads.address_of(item.msg)[0]
        contact = known_contacts[address]
        if address in created:
            created.discard(address)  # its first message made it; later ones update it
        else:
            reads.see(contact, item.msg, item.triage.language)
        ticket, why = known.thread(item.msg, contact.id, since)
        if ticket is None:
            ticket = _draft(item.msg, item.triage, contact.id, item.mailbox, item.due_in, now, why)
            if item.triage.private:
                _private_draft(vault, ticket, item.triage.private_reasons)
            drafts.append(ticket)
            is_new = True
        else:
            _join(session, vault, ticket, item.triage, now)
            is_new = False
        known.stored(item.msg, ticket, contact.id)
        row, attachments = _message_row(item, now)
        placed.append(Placed(item, ticket, is_new, why, contact.id, contact.language, contact.sms_opted_out,
                             ticket.private, row, attachments))
    reads.save_contacts(session, known_contacts.values())
    _insert_tickets(session, drafts, now)
    session.flush()  # the joined tickets' changes
    _insert_messages(session, vault, placed)
    return placed
