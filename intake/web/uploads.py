"""Screenshot uploads for the app: `POST /api/v1/uploads` takes one image (the raw bytes,
signed like the intake endpoint), checks it by content and keeps it encrypted for
UPLOAD_TTL; a submission then names it as `{"upload": "<id>"}` instead of inline base64.

An upload is visible only to the app key that made it, and every upload is deleted
UPLOAD_TTL after it was made (used or not): the inbox row keeps the submission's own copy.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from intake.crypto import Vault
from intake.messages import Attachment
from intake.tickets.models import utcnow
from intake.tickets.records import WebUpload

UPLOAD_TTL = dt.timedelta(hours=24)
_ID_BYTES = 18


def store(session: Session, vault: Vault, key_id: str, image: Attachment) -> str:
    """Keep a checked image; returns its id. Uploads past their time go in the same
    transaction, so the table holds at most a day of uploads. The caller commits."""
    now = utcnow()
    session.execute(delete(WebUpload).where(WebUpload.created_at < now - UPLOAD_TTL))
    upload_id = secrets.token_urlsafe(_ID_BYTES)
    session.add(WebUpload(id=upload_id, key_id=key_id, content_type=image.content_type,
                          content=vault.encrypt(image.content), created_at=now))
    return upload_id


def load(session: Session, vault: Vault, key_id: str, upload_id: str, index: int) -> Attachment | None:
    """The upload as screenshot `index`; None when it is unknown, another key's, or past its time."""
    if not isinstance(upload_id, str) or not 16 <= len(upload_id) <= 32:
        return None
    row = session.scalar(select(WebUpload).where(
        WebUpload.id == upload_id, WebUpload.key_id == key_id, WebUpload.created_at >= utcnow() - UPLOAD_TTL))
    if row is None:
        return None
    extension = row.content_type.rpartition("/")[2].replace("jpeg", "jpg")
    return Attachment(f"screenshot{index}.{extension}", row.content_type, vault.decrypt(row.content))
