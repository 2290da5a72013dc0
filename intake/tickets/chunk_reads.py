"""What a chunk of messages reads before it writes (tickets/chunk.py): its senders'
contacts, created once and locked, and what threading needs, in a few statements for the
whole chunk; then `Threads.thread` answers `store.find_thread`'s question per message, in
memory, counting the chunk's earlier messages as stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from intake.db import insert_for
from intake.messages import InboundMessage, Triage
from intake.tickets import store
from intake.tickets.models import Contact, Message, Outbox, Ticket, core_table


@dataclass(frozen=True)
class Item:
    """One prepared message to store: its capture, the message, dedupe key and triage."""

    inbox_id: int | None
    mailbox: str | None
    msg: InboundMessage
    key: str
    triage: Triage
    due_in: dt.timedelta


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


# -- contacts ----------------------------------------------------------------------------------


@dataclass
class ContactState:
    id: int
    display_name: str
    language: str
    sms_opted_out: bool
    changed: bool = False


def address_of(msg: InboundMessage) -> tuple[str, str]:
    kind = "email" if msg.channel == "email" else "phone"
    return store.contact_address(msg.sender or "unknown", kind), kind


def contacts(session: Session, items: Sequence[Item], now: dt.datetime) -> tuple[dict[str, ContactState], set[str]]:
    """Every sender's contact (created once even when workers race, as in
    `store.get_or_create_contact`), locked; and the addresses this chunk created."""
    wanted = {address_of(item.msg)[0] for item in items}
    columns = (Contact.address, Contact.id, Contact.display_name, Contact.language, Contact.sms_opted_out)
    found = {r.address: ContactState(r.id, r.display_name, r.language, r.sms_opted_out)
             for r in session.execute(select(*columns).where(Contact.address.in_(sorted(wanted))))}
    first: dict[str, dict[str, Any]] = {}
    for item in items:
        address, kind = address_of(item.msg)
        if address not in found and address not in first:
            first[address] = dict(address=address, kind=kind[:8], display_name=item.msg.sender_name[:255],
                                  language=item.triage.language[:8], sms_opted_out=False, created_at=now)
    created: set[str] = set()
    if first:
        values = [first[a] for a in sorted(first)]
        # One statement for many rows given as parameters (SQLAlchemy's insertmanyvalues):
        # compiled once and cached, where `.values(rows)` compiled a new statement per chunk.
        for r in session.execute(insert_for(session)(Contact).on_conflict_do_nothing().returning(*columns),
                                 values):
            found[r.address] = ContactState(r.id, r.display_name, r.language, r.sms_opted_out)
            created.add(r.address)
        raced = sorted(set(first) - created)
        if raced:  # another worker created them meanwhile (and committed: we waited for it)
            for r in session.execute(select(*columns).where(Contact.address.in_(raced))):
                found[r.address] = ContactState(r.id, r.display_name, r.language, r.sms_opted_out)
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


def save_contacts(session: Session, contacts: Iterable[ContactState]) -> None:
    changed = [{"contact_id": c.id, "display_name": c.display_name, "language": c.language}
               for c in contacts if c.changed]
    if changed:
        table = core_table(Contact)
        session.execute(update(table).where(table.c.id == bindparam("contact_id"))
                        .values(display_name=bindparam("display_name"), language=bindparam("language")),
                        changed)


def see(contact: ContactState, msg: InboundMessage, language: str) -> None:
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
class Threads:
    """What the database knows that the chunk's threading may need, read in a few queries."""

    by_ref: dict[str, TicketLike] = field(default_factory=dict)
    by_id: dict[int, Ticket] = field(default_factory=dict)
    outbox_ids: dict[str, int] = field(default_factory=dict)  # our Message-ID -> ticket id
    message_ids: dict[tuple[str, int], TicketLike] = field(default_factory=dict)  # (id, contact) -> ticket
    by_contact: dict[int, list[TicketLike]] = field(default_factory=dict)  # candidates for same_number

    @classmethod
    def read(cls, session: Session, items: Sequence[Item], contact_ids: dict[int, int],
             since: dt.datetime) -> "Threads":
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
