"""Never answer a robot, never answer ourselves, never flood anyone (RFC 3834).

Each check returns the reason a follow-up must not be sent, or None. The caller writes the
follow-up anyway, as a `suppressed` outbox row carrying the reason, so ops can see why a
sender got no acknowledgement: nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib

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


def lock_recipient(session: Session, address: str) -> None:
    """Serialise the rate-limit check per recipient on PostgreSQL (a transaction-scoped
    advisory lock), so two workers cannot both see "2 of 3" and send the 4th. SQLite
    serialises writers already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(b"intake-ack:" + address.encode()).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


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


def rate_limit_reason(session: Session, key: str, limits: tuple[int, int], now: dt.datetime) -> str | None:
    """Has this mailbox (`mailbox_key`) had `limits[0]` acknowledgements within the last
    hour, or its e-mail domain `limits[1]`? Acknowledgements record their recipient's key
    (`Outbox.headers["rcpt"]`), so plus-tags and dotted variants count together."""
    recent = (Outbox.kind == "ack", Outbox.status.in_(_LIVE), Outbox.created_at >= now - dt.timedelta(hours=1))
    per_mailbox, per_domain = limits
    count = session.scalar(select(func.count()).select_from(Outbox).where(
        *recent, Outbox.headers["rcpt"].as_string() == key)) or 0
    if count >= per_mailbox:
        return RATE_LIMITED
    domain = key.rpartition("@")[2] if "@" in key else ""
    if domain:
        count = session.scalar(select(func.count()).select_from(Outbox).where(
            *recent, Outbox.headers["rcpt"].as_string().like(f"%@{domain}"))) or 0
        if count >= per_domain:
            return RATE_LIMITED_DOMAIN
    return None


def answered_before(session: Session, key: str) -> bool:
    """Has a person of ours answered this mailbox before (an agent's reply or a status
    notice reached it)? Until then an acknowledgement carries the reference and a neutral
    title, never their subject: the subject could be an attacker's text, and we would be
    the ones mailing it to a victim (an automatic acknowledgement proves nothing)."""
    return session.scalar(select(Outbox.id).where(
        Outbox.headers["rcpt"].as_string() == key, Outbox.kind.in_(("reply", "status")),
        Outbox.status.in_(("sent", "delivered"))).limit(1)) is not None
