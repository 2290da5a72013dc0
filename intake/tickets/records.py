"""Tables beside the ticket graph: access tokens and the audit of private reads, agents'
triage corrections, the audit of erasures and purges, task timings for /metrics, and the help centre channels' status
links, rate counters and uploads. The same `Base` as intake/tickets/models.py, so one
metadata holds the whole schema (the migrations' env and their test import both modules).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from intake.tickets.models import Base, IdType, UtcDateTime, utcnow


class DataRemoval(Base):
    """The audit trail of erasures and retention purges: what kind, when, and how many rows
    of each table went. Never who: no address, number, ref or text (the entry outlives the
    person's data by design). `id` is random, so it reveals no order or count either."""

    __tablename__ = "data_removals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # erasure | retention
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class TaskDuration(Base):
    """How long Celery tasks ran, by task name, as histogram buckets (`le` is the bucket's
    upper bound, "+Inf" the last; counts are per bucket, not cumulative). Worker processes
    add to it; the web process renders it in /metrics: the database is the one store every
    process of a deployment shares."""

    __tablename__ = "task_durations"

    task: Mapped[str] = mapped_column(String(64), primary_key=True)
    le: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class StatusLink(Base):
    """A status-page token (intake/tickets/status_links.py): only its SHA-256 is kept."""

    __tablename__ = "status_links"
    __table_args__ = (Index("ix_status_links_ticket", "ticket_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class RateCounter(Base):
    """Hits per key and hour for the web rate limits (intake/web/limits.py)."""

    __tablename__ = "web_rate_counters"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class WebUpload(Base):
    """An app's screenshot upload, encrypted, kept 24 hours (intake/web/uploads.py)."""

    __tablename__ = "web_uploads"
    __table_args__ = (Index("ix_web_uploads_created", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token for the API and the console. Only a hash of the secret is kept (the
    secret is shown once, at `intake tokens create`); `lookup` is the token's public part,
    so a presented token is found by an index and compared in constant time."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("lookup", name="uq_api_tokens_lookup"),
        UniqueConstraint("name", name="uq_api_tokens_name"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    lookup: Mapped[str] = mapped_column(String(16))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PrivateRead(Base):
    """One read of a private ticket's content: who (a token, or for the command line the
    operating-system user in `actor`), when, which ticket; never the content itself. The
    ticket is named by id and ref without a foreign key: the record of a read outlives the
    ticket's erasure (and never blocks it)."""

    __tablename__ = "private_reads"
    __table_args__ = (Index("ix_private_reads_ticket", "ticket_id", "read_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"), index=True, nullable=True)
    ticket_id: Mapped[int] = mapped_column(IdType)
    ticket_ref: Mapped[str] = mapped_column(String(32))
    via: Mapped[str] = mapped_column(String(8))  # api | console | cli
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)  # "cli:alice" (no token)
    read_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Correction(Base):
    """An agent's re-routing of a ticket, with what triage had said (the hits it overrides).

    The message text it corrects is kept sealed (`text_secret`), whatever the category: it
    is training data for `intake triage train`, and a correction is often a private case.
    """

    __tablename__ = "triage_corrections"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    category_before: Mapped[str] = mapped_column(String(32))
    priority_before: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    overridden: Mapped[list[str]] = mapped_column(JSON, default=list)  # triage reasons (rule ids when private)
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8), default="unknown")
    text_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
