"""Capture items for the help centre's own channels (support form, app endpoint): the
checked submission as one JSON document, screenshots included (base64), under a key that
makes the same submission twice one inbox row.

    form: web:form:<HMAC of the client's CSRF cookie and the form's nonce>  (a double click)
    app:  web:app:<key id>:<client-chosen submission id>                   (a client retry)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intake.capture.inbox import CaptureItem
from intake.messages import Attachment

CHANNEL = "web"


@dataclass(frozen=True)
class Submission:
    source: str  # form | app
    type: str
    text: str
    contact_kind: str  # email | phone
    contact: str
    reference: str | None
    language: str
    screenshots: Sequence[Attachment] = ()
    app: dict[str, str] | None = None  # app_user_id, device, app_version, submission_id


def make_item(submission: Submission, capture_key: str, received_at: dt.datetime | None = None) -> CaptureItem:
    document: dict[str, Any] = {
        "source": submission.source, "type": submission.type, "text": submission.text,
        "contact_kind": submission.contact_kind, "contact": submission.contact,
        "reference": submission.reference, "language": submission.language,
        "received_at": (received_at or dt.datetime.now(dt.timezone.utc)).isoformat(),
        "screenshots": [{"filename": a.filename, "content_type": a.content_type,
                         "data": base64.b64encode(a.content).decode("ascii")}
                        for a in submission.screenshots],
        **(submission.app or {}),
    }
    raw = json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")
    # The meta is in the clear (the raw document is encrypted): only what ops need to see.
    meta = {"source": submission.source, "screenshots": len(submission.screenshots),
            "body_sha256": content_digest(submission)}
    return CaptureItem(CHANNEL, capture_key, raw, meta=meta)


def content_digest(submission: Submission) -> str:
    """What a replayed submission id must match to count as the same submission."""
    digest = hashlib.sha256()
    for part in (submission.type, submission.text, submission.contact, submission.reference or ""):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    for attachment in submission.screenshots:
        digest.update(hashlib.sha256(attachment.content).digest())
    return digest.hexdigest()


def decode(raw: bytes) -> dict[str, Any]:
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("a web capture is a JSON object")
    return data
