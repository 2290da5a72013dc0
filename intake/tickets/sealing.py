"""Sealing private text at rest, on plain values: what `store.seal_message` and
`store.seal_outbox` do to a row, for the chunk store's rows (dicts written in bulk)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from intake.crypto import Vault

# Marks a follow-up's sealed bodies; part of the value itself, so no concurrent header
# write can lose it.
SEALED_PREFIX = "sealed:"
# Links to a private message's media (Twilio keeps them; they open the recording or the
# picture): sealed with the text, never left in `extra`.
LINK_KEYS = ("RecordingUrl", "MediaUrl")


def seal_texts(vault: Vault, text: str, new_text: str, extra: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """(text_secret, extra without media links) of a private message."""
    kept = dict(extra or {})
    links = {k: kept.pop(k) for k in list(kept) if k.startswith(LINK_KEYS)}
    secret = vault.encrypt_text(json.dumps({"text": text, "new_text": new_text, "links": links},
                                           ensure_ascii=False))
    return secret, kept


def is_sealed(body_text: str | None) -> bool:
    return (body_text or "").startswith(SEALED_PREFIX)


def sealed_body(vault: Vault, text: str | None, html: str | None) -> str:
    """A private ticket's follow-up bodies as the one sealed `body_text` value."""
    document = json.dumps({"text": text or "", "html": html}, ensure_ascii=False)
    return SEALED_PREFIX + vault.seal_ascii(document.encode("utf-8"))
