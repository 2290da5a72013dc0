"""SQLAlchemy 2 models: raw captures, contacts, tickets, messages, attachments, mailbox
checkpoints and the outbox of follow-ups.

Idempotency lives here as unique constraints, not as checks in Python (STYLE 7).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import (
    JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Table, Text,
    UniqueConstraint, select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants a bigint for inboxes
# that will see hundreds of millions of rows.
IdType = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


def core_table(model: type[Base]) -> Table:
    """A model's Core table, for the bulk statements of a chunk (executemany, RETURNING)."""
    return cast(Table, model.__table__)


class InboxRaw(Base):
    """The encrypted bytes of one capture, in a row of their own.

    Kept apart from the inbox row because that row changes three or four times per input
    (claimed, owned, done) and SQLite rewrites a whole row, overflow pages and all, on every
    update: with the bytes inline each status change copied the mail (tens of KB) twice,
    into the WAL and back. Written once at capture, read by processing, deleted with its row.
    """

    __tablename__ = "inbox_raw"

    inbox_id: Mapped[int] = mapped_column(IdType, ForeignKey("inbox.id", ondelete="CASCADE"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class Inbox(Base):
    """One raw external input, stored before anything else looks at it.

    `raw` is always encrypted (we cannot know a message is private before we parse it). It
    lives in `inbox_raw` (written by `capture_many`); `Inbox.raw` reads it.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("capture_key", name="uq_inbox_capture_key"),
        UniqueConstraint("channel", "raw_sha256", name="uq_inbox_channel_raw"),
        Index("ix_inbox_status_updated", "status", "updated_at"),
        Index("ix_inbox_status_enqueued", "status", "enqueued_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))  # email, sms, voice, recording, transcription, status
    capture_key: Mapped[str] = mapped_column(String(255))
    raw_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    mailbox: Mapped[str | None] = mapped_column(String(128), nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="captured")  # captured, done, failed
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Attempts are counted when an attempt is claimed, before it starts (STYLE 15), so a
    # mail that kills its worker is counted too; claimed_at is the live claim (None: none).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # When a task for this row was last handed to the broker or claimed: the sweeper only
    # re-enqueues rows untouched for INTAKE_STALE_AFTER.
    enqueued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # why the last attempt failed: error, user_error, time_limit, worker_lost, memory
    failure_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), nullable=True)
    captured_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Read-only here, loaded with the row as the column was (a row read in one session and
    # used after it still has its bytes); the bulk paths select only the columns they need.
    raw: Mapped[bytes] = column_property(
        select(InboxRaw.raw).where(InboxRaw.inbox_id == id).correlate_except(InboxRaw).scalar_subquery())


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("address", name="uq_contacts_address"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(320))  # lower-cased email or E.164 number
    kind: Mapped[str] = mapped_column(String(8))  # email | phone
    display_name: Mapped[str] = mapped_column(String(255), default="")
    language: Mapped[str] = mapped_column(String(8), default="unknown")
    sms_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opt_changed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("ref", name="uq_tickets_ref"),
        Index("ix_tickets_contact_status", "contact_id", "status"),
        Index("ix_tickets_status_closed", "status", "closed_at"),  # the retention purge
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open pending resolved closed
    channel: Mapped[str] = mapped_column(String(16))
    mailbox: Mapped[str | None] = mapped_column(String(128), nullable=True)
    category: Mapped[str] = mapped_column(String(32), default="other")
    department: Mapped[str] = mapped_column(String(64), default="general")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    language: Mapped[str] = mapped_column(String(8), default="unknown")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    private_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    triage_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    # For a private ticket `subject` holds the redacted subject and the original is only
    # in `subject_secret` (encrypted).
    subject: Mapped[str] = mapped_column(Text, default="")
    subject_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    parse_error: Mapped[bool] = mapped_column(Boolean, default=False)
    # A message that named another person's ticket opens its own ticket, linked to that one
    # (visible to agents); the referenced ticket is left untouched.
    linked_ref: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_message_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    due_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    first_response_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)

    contact: Mapped[Contact] = relationship(lazy="joined")
    messages: Mapped[list["Message"]] = relationship(
        back_populates="ticket", order_by="Message.id", lazy="select")


class Message(Base):
    """One message of a ticket, inbound or outbound."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_messages_dedupe_key"),
        Index("ix_messages_header_id", "header_message_id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"), nullable=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    channel: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    header_message_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(512), nullable=True)
    sender: Mapped[str] = mapped_column(String(320), default="")
    sender_name: Mapped[str] = mapped_column(String(255), default="")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    # Non-private messages keep text in the clear; private ones only in `text_secret`.
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    text_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="unknown")
    category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    priority: Mapped[str | None] = mapped_column(String(16), nullable=True)
    private_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    parse_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    loop_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    attachments: Mapped[list["AttachmentRow"]] = relationship(back_populates="message", lazy="select")


class AttachmentRow(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(512), default="")
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64))
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    content: Mapped[bytes] = mapped_column(LargeBinary)

    message: Mapped[Message] = relationship(back_populates="attachments")


class MailboxState(Base):
    """Per-mailbox checkpoint (UIDVALIDITY + last UID) and the poller lease."""

    __tablename__ = "mailbox_state"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    oauth_refresh_token: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    last_poll_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # For /metrics (issue 13): the server's newest UID when last polled (messages waiting =
    # it minus last_uid), the class of the last poll's error (a name, never its text), and
    # when the current OAuth access token expires (when the token command said).
    server_uid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_error_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    oauth_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Outbox(Base):
    """A follow-up to send, written in the same transaction as the change that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_status_enqueued", "status", "enqueued_at"),
        Index("ix_outbox_provider_id", "provider_id"),
        Index("ix_outbox_header_id", "header_message_id"),
        # The per-recipient acknowledgement limit counts recent rows to one address.
        Index("ix_outbox_to_created", "to_address", "created_at"),
        # The acknowledgement loop guard reads a recipient's (or its domain's) recent rows.
        Index("ix_outbox_rcpt", "rcpt", "kind", "created_at"),
        Index("ix_outbox_rcpt_domain", "rcpt_domain", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    dedupe_key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # ack, status, reply, status_query
    channel: Mapped[str] = mapped_column(String(8))  # email | sms
    to_address: Mapped[str] = mapped_column(String(320))
    from_address: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    header_message_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    # The recipient's mailbox key (`loop_guard.mailbox_key`: plus-tags and Gmail dots
    # folded; a phone number as is) and its e-mail domain, for the loop guard's counts.
    rcpt: Mapped[str | None] = mapped_column(String(320), nullable=True)
    rcpt_domain: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # queued, sending, sent, delivered, undelivered, failed, suppressed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    suppressed_reason: Mapped[str | None] = mapped_column(String(128), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # When a task for this row was last handed to the broker (or is due, for a retry with
    # an ETA) or claimed: the sweeper only re-enqueues rows untouched for INTAKE_STALE_AFTER.
    enqueued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    deadline: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    provider_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class KeyCheck(Base):
    """A known value sealed under each encryption key the database was used with: start-up
    and health refuse keys that open none of them (a wrong or fresh key would otherwise
    write data nobody can read later)."""

    __tablename__ = "key_checks"

    fingerprint: Mapped[str] = mapped_column(String(16), primary_key=True)  # sha256(key)[:16]
    token: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
