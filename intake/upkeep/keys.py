"""Key rotation: re-encrypt every sealed value under the primary key (`intake keys rotate`)."""

from __future__ import annotations

from sqlalchemy import select

from intake.runtime import Runtime
from intake.tickets.models import AttachmentRow, InboxRaw, MailboxState, Message, Outbox, Ticket
from intake.tickets.records import Correction, WebUpload
from intake.tickets.store import SEALED_PREFIX

# Every sealed column, with the key it is walked by. Key checks (`key_checks.token`) are not
# here: each records which key sealed it, and the new primary's own is added at start-up.
SEALED_COLUMNS = ((InboxRaw, "raw", InboxRaw.inbox_id), (Ticket, "subject_secret", Ticket.id),
                  (Message, "text_secret", Message.id), (AttachmentRow, "content", AttachmentRow.id),
                  (MailboxState, "oauth_refresh_token", MailboxState.name),
                  (Correction, "text_secret", Correction.id), (WebUpload, "content", WebUpload.id))


def rotate_keys(rt: Runtime, batch: int = 500) -> dict[str, int]:
    """Re-encrypt everything under the primary key (the first of INTAKE_ENCRYPTION_KEY).

    Ops prepend a new key, run this, then drop the old key once it reports done.
    """
    counts: dict[str, int] = {}
    for model, column, key in SEALED_COLUMNS:
        done = 0
        with rt.sessions() as session:
            query = select(model).where(getattr(model, column).is_not(None))
            if model is AttachmentRow:
                query = query.where(AttachmentRow.encrypted.is_(True))
            for row in session.scalars(query.order_by(key)).yield_per(batch):
                setattr(row, column, rt.vault.rotate(getattr(row, column)))
                done += 1
                if done % batch == 0:
                    session.flush()
            session.commit()
        # The capture's bytes keep the name ops know them by, though they have a table of
        # their own (models.InboxRaw).
        counts["inbox.raw" if model is InboxRaw else f"{model.__tablename__}.{column}"] = done
    counts["outbox.body_text"] = _rotate_outbox(rt, batch)
    return counts


def _rotate_outbox(rt: Runtime, batch: int) -> int:
    """Sealed follow-up bodies (private tickets) carry their token after a text marker."""
    done = 0
    with rt.sessions() as session:
        query = select(Outbox).where(Outbox.body_text.like(SEALED_PREFIX + "%")).order_by(Outbox.id)
        for row in session.scalars(query).yield_per(batch):
            row.body_text = SEALED_PREFIX + rt.vault.rotate_ascii(row.body_text[len(SEALED_PREFIX):])
            done += 1
            if done % batch == 0:
                session.flush()
        session.commit()
    return done
