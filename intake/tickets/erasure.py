"""Erasure of one person on request (`intake contacts erase ADDRESS|PHONE`, and the API):
their messages, raw captures, attachments, follow-ups, follow-up files and contact row
are deleted, and an audit entry records how many rows went, never whose.

What goes:
- tickets the person opened where nobody else wrote: whole (messages both ways, captures,
  follow-ups, attachments);
- on a ticket shared with others (someone joined the thread by replying to one of our
  mails): the person's own messages and captures, the follow-ups addressed to them and the
  agent replies that went only to them. The others' messages stay. If the person opened
  the ticket, it passes to the first other sender, and its subject (their words) is
  replaced by a neutral one;
- captures not (yet) linked to a ticket whose sender is the person: waiting, failed,
  opt-outs, status callbacks of messages to them, a voicemail's recording callbacks.

Concurrency: the erasure takes the contact rows' lock (as the thread lookup of a worker
storing a message does), so it and a worker storing a message from the same person run
one after the other. Whatever was captured before the erasure began is erased, even
input a worker is still processing (that worker's transaction then fails and finds its
capture gone); a message captured after that is new: once the erasure has committed it
opens a new contact and ticket (the person wrote again). Erasing twice is harmless: the second finds nothing.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import getaddresses

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from intake.failures import UserError
from intake.runtime import Runtime
from intake.tickets import removal
from intake.tickets.models import Contact, Inbox, Message, Outbox, Ticket
from intake.tickets.store import bounded, lock_contact, rule_ids

log = logging.getLogger("intake.erasure")

MAX_ADDRESS_CHARS = 320
# Headers of a capture read to find its sender; a header block is bounded by the mail
# parser's own limits, this caps what we hand it.
MAX_HEADER_BYTES = 256 * 1024
ATTEMPTS = 5  # a deadlock with a worker storing a message from the same person is retried


@dataclass(frozen=True)
class Person:
    """The forms under which a person's address is stored: an e-mail address lower-cased,
    a phone number as Twilio sends it (E.164) and with a channel prefix."""

    kind: str  # email | phone
    forms: frozenset[str]

    def names(self, value: str) -> bool:
        value = value.strip()
        return (value.lower() if self.kind == "email" else value) in self.forms


_PHONE_NOISE = re.compile(r"[\s().\-]")
_PHONE = re.compile(r"\+?[0-9]{3,20}")  # E.164 has at most 15 digits; short codes have 3 to 6


def person_of(address: str) -> Person:
    """The stored forms of an address or number typed by an operator; UserError for a value
    that is neither (one line, no traceback)."""
    import phonenumbers

    value = (address or "").strip()
    if not value or len(value) > MAX_ADDRESS_CHARS or any(ord(c) < 32 for c in value):
        raise UserError("give an e-mail address or a phone number in international form (+8613812345678)")
    if "@" in value:
        lowered = value.lower()
        return Person("email", frozenset({lowered, bounded(lowered, 320)}))
    bare = _PHONE_NOISE.sub("", value.split(":", 1)[-1])
    if not _PHONE.fullmatch(bare):
        raise UserError("give an e-mail address or a phone number in international form (+8613812345678)")
    candidates = {bare}
    try:
        number = phonenumbers.parse(bare if bare.startswith("+") else "+" + bare, None)
        if phonenumbers.is_possible_number(number):
            candidates.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    except phonenumbers.NumberParseException:
        pass
    # Twilio sends WhatsApp and other channels' senders with a prefix (whatsapp:+86...).
    forms = candidates | {f"{prefix}:{c}" for c in candidates for prefix in ("whatsapp", "messenger")}
    return Person("phone", frozenset(forms))


@dataclass(frozen=True)
class ErasureReport:
    audit_id: str
    found: bool  # False: nothing was stored for that address (never seen, or erased before)
    counts: dict[str, int] = field(default_factory=dict)
    # SQLite: the file was rewritten and its write-ahead log emptied (False: readers kept
    # the log; it empties at the next checkpoint). None on PostgreSQL.
    scrubbed: bool | None = None


def erase_contact(rt: Runtime, address: str) -> ErasureReport:
    """Erase everything stored about the person with this address or number (see the module
    docstring); returns counts only. Raises UserError for a value that is no address."""
    person = person_of(address)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            audit_id, counts = _erase_once(rt, person)
            break
        except DBAPIError as exc:
            # A worker storing a message from the person meanwhile: PostgreSQL ends one side
            # of a deadlock (the worker holds the capture and waits for the contact lock we
            # hold), or the worker committed a message on a capture we were about to delete
            # (a foreign key then stops the delete). The transaction rolled back whole: run
            # the erasure again, and it finds that message too.
            if attempt == ATTEMPTS or not (isinstance(exc, IntegrityError) or "deadlock" in str(exc.orig).lower()):
                raise
            log.info("erasure: a worker stored a message meanwhile (%s); attempt %d again",
                     type(exc.orig).__name__, attempt + 1)
    scrubbed = removal.scrub_sqlite(rt.engine)
    found = any(counts.get(k) for k in ("contacts", "messages", "inbox", "outbox", "tickets"))
    log.info("erasure %s: %s", audit_id, json.dumps(counts, sort_keys=True))
    return ErasureReport(audit_id, found, counts, scrubbed)


def _erase_once(rt: Runtime, person: Person) -> tuple[str, dict[str, int]]:
    with rt.sessions() as session, removal.transaction(session, "erasure") as audit_id:
        contacts = list(session.scalars(select(Contact).where(Contact.address.in_(person.forms))
                                        .order_by(Contact.id)))
        for contact in contacts:
            lock_contact(session, contact)
        doomed = removal.Doomed(contacts={c.id for c in contacts})
        counts = {"tickets_kept_shared": _take_messages(session, person, doomed)}
        _take_captures(rt, session, person, doomed)
        _forget_message_ids(session, doomed)
        return audit_id, removal.remove(rt, session, audit_id, doomed, counts)


def _sender_is(person: Person, column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    return func.lower(column).in_(person.forms) if person.kind == "email" else column.in_(person.forms)


def _take_messages(session: Session, person: Person, doomed: removal.Doomed) -> int:
    """Mark the person's tickets, messages and follow-ups; hand over the shared tickets
    they opened. Returns how many tickets stay because others wrote on them."""
    own_tickets = removal.ids(session, select(Ticket.id).where(Ticket.contact_id.in_(doomed.contacts))) \
        if doomed.contacts else set()
    doomed.messages |= removal.ids(session, select(Message.id).where(
        Message.direction == "in", _sender_is(person, Message.sender)))
    doomed.outbox |= removal.ids(session, select(Outbox.id).where(_sender_is(person, Outbox.to_address)))
    shared = 0
    for ticket_id in sorted(own_tickets):
        other = session.scalar(select(Message.sender).where(
            Message.ticket_id == ticket_id, Message.direction == "in", ~_sender_is(person, Message.sender))
            .order_by(Message.id).limit(1))
        if other is None:
            doomed.tickets.add(ticket_id)
            continue
        shared += 1
        _hand_over(session, session.get_one(Ticket, ticket_id), other, doomed)
    # Agent replies that went only to the person: no follow-up of theirs goes to anyone else.
    for part in removal.chunks(doomed.outbox):
        for message_id in removal.ids(session, select(Outbox.message_id).join(
                Message, Message.id == Outbox.message_id).where(Outbox.id.in_(part), Message.direction == "out")):
            others = session.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.message_id == message_id, ~_sender_is(person, Outbox.to_address)))
            if not others:
                doomed.messages.add(message_id)
    return shared


def _forget_message_ids(session: Session, doomed: removal.Doomed) -> None:
    """Messages that stay (others' on a shared ticket) may answer one of the person's by
    its Message-ID, which often names their address or domain: that reference goes too."""
    for part in removal.chunks(doomed.messages):
        ids = {str(i) for i in session.scalars(select(Message.header_message_id).where(
            Message.id.in_(part), Message.header_message_id.is_not(None)))}
        if ids:
            session.execute(update(Message).where(Message.in_reply_to.in_(ids), Message.id.not_in(part))
                            .values(in_reply_to=None).execution_options(synchronize_session=False))


def _hand_over(session: Session, ticket: Ticket, other_sender: str, doomed: removal.Doomed) -> None:
    """A shared ticket the person opened passes to the first other sender on it; its
    subject and triage reasons (the person's words) give way to neutral ones."""
    successor = session.scalar(select(Contact).where(
        Contact.address.in_({other_sender.strip(), other_sender.strip().lower()}),
        Contact.id.not_in(doomed.contacts)).limit(1))
    if successor is None:  # the other sender's contact row is missing: keep the ticket theirs anyway
        successor = Contact(address=bounded(other_sender.strip().lower(), 320),
                            kind="email" if "@" in other_sender else "phone")
        session.add(successor)
        session.flush()
    ticket.contact_id = successor.id
    ticket.subject = f"Case {ticket.ref}"
    ticket.subject_secret = None
    ticket.triage_reasons = rule_ids(ticket.triage_reasons or [])
    session.flush()  # the deletes that follow are statements, not unit-of-work changes


def _take_captures(rt: Runtime, session: Session, person: Person, doomed: removal.Doomed) -> None:
    """Mark the person's captures that no ticket of theirs leads to: not yet processed,
    failed, opt-outs, status callbacks of messages to them, duplicates on shared tickets.
    Their sender is only in the (encrypted) raw bytes, so candidates are opened one by one
    (in id order, in chunks: linear in the captures that have no kept message)."""
    touched = {t for part in removal.chunks(doomed.messages)
               for t in removal.ids(session, select(Message.ticket_id).where(Message.id.in_(part)))}
    # Captures of messages that stay (others'); a capture of a doomed ticket goes with it.
    kept_captures = select(Message.inbox_id).where(Message.inbox_id.is_not(None),
                                                   ~_sender_is(person, Message.sender))
    query = select(Inbox.id, Inbox.channel, Inbox.raw).where(
        or_(Inbox.ticket_id.is_(None), Inbox.ticket_id.in_(touched) if touched else Inbox.id.is_(None)),
        Inbox.id.not_in(kept_captures))
    calls: set[str] = set()
    later: list[tuple[int, str]] = []  # recording callbacks with only a CallSid
    for inbox_id, channel, raw in _in_chunks(session, query):
        try:
            plain = rt.vault.decrypt(raw)
        except Exception:  # noqa: BLE001 - a capture under a lost key: nobody can read it
            continue
        match, call_sid = _names_person(person, channel, plain)
        if match:
            doomed.inbox.add(inbox_id)
            if call_sid:
                calls.add(call_sid)
        elif call_sid and channel in ("recording", "transcription"):
            later.append((inbox_id, call_sid))
    doomed.inbox |= {inbox_id for inbox_id, call_sid in later if call_sid in calls}


def _in_chunks(session: Session, query: Select[tuple[int, str, bytes]]) -> Iterator[tuple[int, str, bytes]]:
    last = 0
    while True:
        rows = session.execute(query.where(Inbox.id > last).order_by(Inbox.id).limit(removal.CHUNK)).all()
        if not rows:
            return
        for row in rows:
            yield int(row[0]), str(row[1]), bytes(row[2])
        last = int(rows[-1][0])


def _names_person(person: Person, channel: str, raw: bytes) -> tuple[bool, str]:
    """Whether a capture came from (or, for a delivery status, went to) the person, and its
    CallSid (links a voicemail's recording callbacks to the call)."""
    if channel == "email":
        if person.kind != "email":
            return False, ""
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            raw[:MAX_HEADER_BYTES])
        senders = [str(v) for name in ("From", "Sender", "Reply-To") for v in headers.get_all(name) or []]
        return any(person.names(addr) for _, addr in getaddresses(senders)), ""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: "[[[[..." nested deep
        return False, ""
    params = data.get("params", data) if isinstance(data, dict) else {}
    if not isinstance(params, dict):
        return False, ""
    named = ["From", "Caller"] + (["To"] if channel == "status" else [])
    match = any(isinstance(params.get(k), str) and person.names(params[k]) for k in named)
    call_sid = params.get("CallSid")
    return match, call_sid if isinstance(call_sid, str) else ""
