"""Never answer a robot, never answer ourselves, never flood anyone (RFC 3834).

Each check returns the reason a follow-up must not be sent, or None. The caller writes the
follow-up anyway, as a `suppressed` outbox row carrying the reason, so ops can see why a
sender got no acknowledgement: nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from intake.messages import InboundMessage
from intake.settings import Settings
from intake.tickets.models import Outbox

# Reasons (stored in Outbox.suppressed_reason; stable strings, ops filter on them)
# Senders we can never answer: Twilio's caller-id placeholders for a withheld number, and
# our own stand-in for a message with no sender at all.
NOBODY = frozenset({"", "unknown", "anonymous", "restricted"})

NO_SENDER = "no_sender"
OWN_ADDRESS = "own_address"
AUTOMATED = "automated"  # + ":" + the message's loop reasons
JOINED_TICKET = "joined_ticket"
RATE_LIMITED = "rate_limited"
RATE_LIMITED_DOMAIN = "rate_limited_domain"
OPTED_OUT = "opted_out"
BAD_ADDRESS = "bad_address"

# Rows that count as "an acknowledgement went (or is going) out" for the hourly limit.
_LIVE = ("queued", "sending", "sent", "delivered", "undelivered")


def our_addresses(settings: Settings) -> frozenset[str]:
    """Every address we send from or receive at: mail from these is our own echo."""
    found = set(settings.our_address_set())
    if settings.from_address:
        found.add(settings.from_address.strip().lower())
    found.add(f"support@{settings.mail_domain}".lower())
    try:
        from intake.mailboxes import load_mailboxes

        found.update(box.user.strip().lower() for box in load_mailboxes(settings) if "@" in box.user)
    except Exception:  # noqa: BLE001 - a broken mailbox file is reported at start-up, not here
        pass
    return frozenset(a for a in found if a)


def our_domains(settings: Settings) -> frozenset[str]:
    return frozenset({settings.mail_domain.lower(), *(a.rpartition("@")[2] for a in our_addresses(settings))})


def is_nobody(address: str | None) -> bool:
    """True for an address nobody can be answered at (the one list of them)."""
    return (address or "").strip().lower() in NOBODY


def message_reason(msg: InboundMessage, is_new: bool, ours: frozenset[str]) -> str | None:
    """Why this inbound message gets no acknowledgement, from the message alone."""
    sender = (msg.sender or "").strip().lower()
    if is_nobody(sender):
        return NO_SENDER
    if msg.channel == "email" and sender in ours:
        return OWN_ADDRESS
    if msg.loop.automated:
        return f"{AUTOMATED}:{','.join(msg.loop.reasons)}"[:128]
    if not is_new:
        # A reply to our acknowledgement (or any further message) joins its ticket and
        # gets no second acknowledgement.
        return JOINED_TICKET
    return None


def lock_recipients(session: Session, keys: Iterable[str]) -> None:
    """Serialise the rate-limit check per recipient on PostgreSQL (transaction-scoped
    advisory locks), so two workers cannot both see "2 of 3" and send the 4th. A chunk
    takes all its recipients' locks in one statement, in key order, so two chunks never
    wait for each other in a circle. SQLite serialises writers already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    numbers = sorted({int.from_bytes(hashlib.sha256(b"intake-ack:" + key.encode()).digest()[:8], "big",
                                     signed=True) for key in keys if key})
    if numbers:
        session.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k "
                             "ORDER BY k"), {"keys": numbers})


# Providers that ignore dots in the local part (a.b.c@gmail.com is abc@gmail.com).
_DOTLESS = frozenset({"gmail.com", "googlemail.com"})


def mailbox_key(address: str) -> str:
    """The mailbox an address delivers to, for counting: lower-cased, the plus-tag dropped
    (victim+tag1@, victim+tag2@ are one inbox), Gmail's dots removed and googlemail.com
    folded into gmail.com. A phone number is its own key."""
    address = (address or "").strip().lower()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    local = local.split("+", 1)[0]
    if domain in _DOTLESS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def domain_of(key: str) -> str | None:
    """The e-mail domain of a mailbox key (None for a phone number)."""
    return key.rpartition("@")[2][:255] if "@" in key else None


# How far back `answered_before` looks: a person of ours answering this mailbox that long
# ago no longer vouches for echoing their subject (and the lookup stays bounded in time).
ANSWERED_LOOK_BACK = dt.timedelta(days=180)


@dataclass
class RateCounts:
    """The live acknowledgements of the last hour per mailbox key and per domain, read once
    for a chunk and counted up as the chunk queues more (`add`)."""

    limits: tuple[int, int]
    per_key: dict[str, int] = field(default_factory=dict)
    per_domain: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, session: Session, keys: Iterable[str], limits: tuple[int, int],
             now: dt.datetime) -> "RateCounts":
        keys = sorted({k for k in keys if k})
        domains = sorted({d for d in map(domain_of, keys) if d})
        recent = (Outbox.kind == "ack", Outbox.status.in_(_LIVE), Outbox.created_at >= now - dt.timedelta(hours=1))
        counts = cls(limits)
        if keys:
            counts.per_key = {str(k): int(n) for k, n in session.execute(
                select(Outbox.rcpt, func.count()).where(Outbox.rcpt.in_(keys), *recent).group_by(Outbox.rcpt))}
        if domains:
            counts.per_domain = {str(d): int(n) for d, n in session.execute(
                select(Outbox.rcpt_domain, func.count()).where(Outbox.rcpt_domain.in_(domains), *recent)
                .group_by(Outbox.rcpt_domain))}
        return counts

    def reason(self, key: str) -> str | None:
        """Has this mailbox had `limits[0]` acknowledgements within the last hour, or its
        e-mail domain `limits[1]`? Plus-tags and dotted variants count together."""
        per_mailbox, per_domain = self.limits
        if self.per_key.get(key, 0) >= per_mailbox:
            return RATE_LIMITED
        domain = domain_of(key)
        if domain and self.per_domain.get(domain, 0) >= per_domain:
            return RATE_LIMITED_DOMAIN
        return None

    def add(self, key: str) -> None:
        """One more live acknowledgement to `key`, queued in this transaction."""
        self.per_key[key] = self.per_key.get(key, 0) + 1
        domain = domain_of(key)
        if domain:
            self.per_domain[domain] = self.per_domain.get(domain, 0) + 1


def answered_before(session: Session, keys: Iterable[str], now: dt.datetime) -> set[str]:
    """The mailboxes among `keys` a person of ours has answered (an agent's reply or a
    status notice reached them) within ANSWERED_LOOK_BACK. Until then an acknowledgement
    carries the reference and a neutral title, never their subject: the subject could be
    an attacker's text, and we would be the ones mailing it to a victim (an automatic
    acknowledgement proves nothing)."""
    keys = sorted({k for k in keys if k})
    if not keys:
        return set()
    return {str(k) for k in session.scalars(select(Outbox.rcpt).distinct().where(
        Outbox.rcpt.in_(keys), Outbox.kind.in_(("reply", "status")), Outbox.status.in_(("sent", "delivered")),
        Outbox.created_at >= now - ANSWERED_LOOK_BACK))}
