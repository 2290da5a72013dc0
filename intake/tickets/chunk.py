"""Storing a chunk of prepared messages in a few statements (one message is a chunk of one).

    duplicates(session, keys) -> {key: Stored}     messages already stored under these keys
    place(session, vault, items, now, window)      contacts, threading, tickets, messages

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
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from intake.crypto import Vault
from intake.db import insert_for
from intake.messages import InboundMessage, Triage
from intake.tickets import store
from intake.tickets.models import AttachmentRow, Contact, Message, Outbox, Ticket, core_table
from intake.tickets.sealing import seal_texts


@dataclass(frozen=True)
class Item:
    """One prepared message to store: its capture, the message, dedupe key and triage."""

    inbox_id: int | None
    mailbox: str | None
    msg: InboundMessage
    key: str
    triage: Triage
    due_in: dt.timedelta


@dataclass(frozen=True)
class Stored:
    """A message already stored (the outcome of a duplicate)."""

    message_id: int
    ticket_id: int
    ticket_ref: str | None
    private: bool


@dataclass
class TicketDraft:
    """A ticket this chunk opens: the attributes of `Ticket`, written once at the end."""

    ref: str
    channel: str
    mailbox: str | None
    category: str
    department: str
    priority: str
    language: str
    contact_id: int
    subject: str
    parse_error: bool
    linked_ref: str | None
    created_at: dt.datetime
    due_at: dt.datetime
    triage_reasons: list[str]
    last_message_at: dt.datetime
    private_reasons: list[str] = field(default_factory=list)
    private: bool = False
    subject_secret: bytes | None = None
    status: str = "open"
    id: int | None = None


TicketLike = Ticket | TicketDraft


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


# -- contacts ----------------------------------------------------------------------------------

@dataclass
class _Contact:
    id: int
    display_name: str
    language: str
    sms_opted_out: bool
    changed: bool = False


def _address(msg: InboundMessage) -> tuple[str, str]:
    kind = "email" if msg.channel == "email" else "phone"
    return store.contact_address(msg.sender or "unknown", kind), kind


def _contacts(session: Session, items: Sequence[Item], now: dt.datetime) -> tuple[dict[str, _Contact], set[str]]:
    """Every sender's contact (created once even when workers race, as in
    `store.get_or_create_contact`), locked; and the addresses this chunk created."""
    wanted = {_address(item.msg)[0] for item in items}
    columns = (Contact.address, Contact.id, Contact.display_name, Contact.language, Contact.sms_opted_out)
    found = {r.address: _Contact(r.id, r.display_name, r.language, r.sms_opted_out)
             for r in session.execute(select(*columns).where(Contact.address.in_(sorted(wanted))))}
    first: dict[str, dict[str, Any]] = {}
    for item in items:
        address, kind = _address(item.msg)
        if address not in found and address not in first:
            first[address] = dict(address=address, kind=kind[:8], display_name=item.msg.sender_name[:255],
                                  language=item.triage.language[:8], sms_opted_out=False, created_at=now)
    created: set[str] = set()
    if first:
        values = [first[a] for a in sorted(first)]
        for r in session.execute(insert_for(session)(Contact).values(values).on_conflict_do_nothing()
                                 .returning(*columns)):
            found[r.address] = _Contact(r.id, r.display_name, r.language, r.sms_opted_out)
            created.add(r.address)
        raced = sorted(set(first) - created)
        if raced:  # another worker created them meanwhile (and committed: we waited for it)
            for r in session.execute(select(*columns).where(Contact.address.in_(raced))):
                found[r.address] = _Contact(r.id, r.display_name, r.language, r.sms_opted_out)
    _lock(session, sorted(c.id for c in found.values()))
    return found, created


def _lock(session: Session, ids: list[int]) -> None:
    """`store.lock_contact` for all the chunk's contacts at once, in id order (two chunks
    never wait for each other in a circle)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Contact.id).where(Contact.id.in_(ids)).order_by(Contact.id).with_for_update())
    else:
        session.execute(update(Contact).where(Contact.id.in_(ids)).values(kind=Contact.kind)
                        .execution_options(synchronize_session=False))


def _save_contacts(session: Session, contacts: Iterable[_Contact]) -> None:
    changed = [{"contact_id": c.id, "display_name": c.display_name, "language": c.language}
               for c in contacts if c.changed]
    if changed:
        table = core_table(Contact)
        session.execute(update(table).where(table.c.id == bindparam("contact_id"))
                        .values(display_name=bindparam("display_name"), language=bindparam("language")),
                        changed)


def _see(contact: _Contact, msg: InboundMessage, language: str) -> None:
    """What `store.get_or_create_contact` does to an existing contact per message."""
    if msg.sender_name and not contact.display_name:
        contact.display_name, contact.changed = msg.sender_name[:255], True
    if language in ("zh", "en") and contact.language != language:
        contact.language, contact.changed = language, True


# -- threading ---------------------------------------------------------------------------------

def _header_ids(msg: InboundMessage) -> list[str]:
    return [store.bounded(i, 512) for i in (msg.in_reply_to, *msg.references) if i]


def _ref(msg: InboundMessage) -> str | None:
    return store.find_ref(msg.subject) or (store.find_ref(msg.text[:2000]) if msg.channel != "email" else None)


@dataclass
class _Known:
    """What the database knows that the chunk's threading may need, read in a few queries."""

    by_ref: dict[str, TicketLike] = field(default_factory=dict)
    by_id: dict[int, Ticket] = field(default_factory=dict)
    outbox_ids: dict[str, int] = field(default_factory=dict)  # our Message-ID -> ticket id
    message_ids: dict[tuple[str, int], TicketLike] = field(default_factory=dict)  # (id, contact) -> ticket
    by_contact: dict[int, list[TicketLike]] = field(default_factory=dict)  # candidates for same_number

    @classmethod
    def read(cls, session: Session, items: Sequence[Item], contact_ids: dict[int, int],
             since: dt.datetime) -> "_Known":
        known = cls()
        refs = sorted({r for r in (_ref(i.msg) for i in items) if r})
        header_ids = sorted({h for i in items for h in _header_ids(i.msg)})
        owners = sorted(set(contact_ids.values()))
        ticket_ids: set[int] = set()
        message_rows: Sequence[Any] = []
        if header_ids:
            known.outbox_ids = {r.header_message_id: r.ticket_id for r in session.execute(
                select(Outbox.header_message_id, Outbox.ticket_id).where(Outbox.header_message_id.in_(header_ids)))}
            message_rows = session.execute(
                select(Message.header_message_id, Message.ticket_id, Ticket.contact_id)
                .join(Ticket, Ticket.id == Message.ticket_id)
                .where(Message.header_message_id.in_(header_ids), Ticket.contact_id.in_(owners))).all()
            ticket_ids.update(known.outbox_ids.values())
            ticket_ids.update(r.ticket_id for r in message_rows)
        phones = sorted({contact_ids[n] for n, i in enumerate(items) if i.msg.channel in ("sms", "voice")})
        query = select(Ticket)
        conditions: list[Any] = []
        if refs:
            conditions.append(Ticket.ref.in_(refs))
        if ticket_ids:
            conditions.append(Ticket.id.in_(sorted(ticket_ids)))
        if phones:
            conditions.append(Ticket.contact_id.in_(phones) & Ticket.status.in_(store.OPEN_STATUSES)
                              & (Ticket.last_message_at >= since))
        if conditions:
            for ticket in session.scalars(query.where(or_(*conditions))):
                known.by_id[ticket.id] = ticket
                known.by_ref[ticket.ref] = ticket
                known.by_contact.setdefault(ticket.contact_id, []).append(ticket)
        for r in message_rows:
            if r.ticket_id in known.by_id:
                known.message_ids.setdefault((r.header_message_id, r.contact_id), known.by_id[r.ticket_id])
        return known

    def thread(self, msg: InboundMessage, contact_id: int, since: dt.datetime) -> tuple[TicketLike | None, str]:
        """`store.find_thread`'s answer, from what was read plus what the chunk stored."""
        linked: str | None = None
        ref = _ref(msg)
        if ref:
            ticket = self.by_ref.get(ref)
            if ticket is not None and ticket.contact_id == contact_id:
                return ticket, "ref"
            linked = ticket.ref if ticket is not None else None
        header_ids = _header_ids(msg)
        for header_id in header_ids:
            if header_id in self.outbox_ids and self.outbox_ids[header_id] in self.by_id:
                return self.by_id[self.outbox_ids[header_id]], "in_reply_to"
        for header_id in header_ids:
            if (header_id, contact_id) in self.message_ids:
                return self.message_ids[(header_id, contact_id)], "in_reply_to"
        if msg.channel in ("sms", "voice"):
            open_ones = [t for t in self.by_contact.get(contact_id, ())
                         if t.status in store.OPEN_STATUSES and _last(t) >= since]
            if open_ones:
                return max(open_ones, key=_last), "same_number"
        return None, f"linked:{linked}" if linked else "new"

    def stored(self, msg: InboundMessage, ticket: TicketLike, contact_id: int) -> None:
        """A message of this chunk is now as good as stored: later ones may thread to it."""
        if msg.message_id:
            self.message_ids.setdefault((store.bounded(msg.message_id, 512), contact_id), ticket)
        self.by_ref.setdefault(ticket.ref, ticket)
        if ticket not in self.by_contact.setdefault(contact_id, []):
            self.by_contact[contact_id].append(ticket)


def _last(ticket: TicketLike) -> dt.datetime:
    return ticket.last_message_at



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
    ids = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars().all()
    for draft, ticket_id in zip(drafts, ids, strict=True):
        draft.id = int(ticket_id)


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
    ids = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                          [p.row for p in placed]).scalars().all()
    attachments: list[dict[str, Any]] = []
    for one, message_id in zip(placed, ids, strict=True):
        one.message_id = int(message_id)
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
    contacts, created = _contacts(session, items, now)
    contact_of = {n: contacts[_address(item.msg)[0]].id for n, item in enumerate(items)}
    since = now - sms_window
    known = _Known.read(session, items, contact_of, since)
    placed: list[Placed] = []
    drafts: list[TicketDraft] = []
    for n, item in enumerate(items):
        address = _address(item.msg)[0]
        contact = contacts[address]
        if address in created:
            created.discard(address)  # its first message made it; later ones update it
        else:
            _see(contact, item.msg, item.triage.language)
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
    _save_contacts(session, contacts.values())
    _insert_tickets(session, drafts, now)
    session.flush()  # the joined tickets' changes
    _insert_messages(session, vault, placed)
    return placed
