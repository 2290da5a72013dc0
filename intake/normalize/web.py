"""Support-form and app submissions -> `InboundMessage`; pure (STYLE 3).

A submission is the JSON document `intake.capture.web` stored: the type of problem, the
description, one contact (an e-mail address or a mobile number), an optional ticket
reference, and screenshots already checked by content. The message takes the channel
we answer on (`email` or `sms`, from the contact), so acknowledgements, agent replies and
threading work as for mail and SMS; `extra` keeps where it came from (`via=web`) and the
type the sender chose as `category_hint`, which triage scores as a strong signal.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from intake.messages import Attachment, InboundMessage

# The form's choices -> triage categories ("suggestion" is the product team's feedback).
TYPES: Mapping[str, str] = {
    "technical": "technical", "account": "account", "content_review": "content_review",
    "payment": "payment", "suggestion": "feedback", "other": "other",
}
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
_PHONE_CHARS = re.compile(r"\+?[0-9 ()\-.]{6,24}")
_REF = re.compile(r"TK-[0-9A-HJKMNP-TV-Z]{6}", re.IGNORECASE)
MAX_CONTACT = 254


class BadSubmission(ValueError):
    """A field the sender must correct; `field` names it (the form shows the message there)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def parse_contact(value: str, default_region: str = "CN") -> tuple[str, str]:
    """("email", address) or ("phone", E.164 mobile number), or BadSubmission.

    Exactly one address: no lists, no display names, no CR/LF (header injection), and a
    number must be a mobile we can text (a number without + is read as `default_region`)."""
    text = (value or "").strip()
    if not text:
        raise BadSubmission("contact", "required")
    if len(text) > MAX_CONTACT or any(c in text for c in "\r\n\x00"):
        raise BadSubmission("contact", "not one e-mail address or mobile number")
    if "@" in text:
        if not _EMAIL.fullmatch(text):
            raise BadSubmission("contact", "not one e-mail address")
        return "email", text.lower()
    if not _PHONE_CHARS.fullmatch(text):
        raise BadSubmission("contact", "not an e-mail address or mobile number")
    import phonenumbers
    from phonenumbers import PhoneNumberType

    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        raise BadSubmission("contact", "not a mobile number") from None
    # The same test the SMS sender applies to a caller's number (channels.sms.sms_capability).
    if not phonenumbers.is_valid_number(parsed) or phonenumbers.number_type(parsed) not in (
            PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise BadSubmission("contact", "not a mobile number that can receive SMS")
    return "phone", phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def parse_reference(value: str) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if not _REF.fullmatch(text):
        raise BadSubmission("reference", "not a reference like TK-4F7Q2M")
    return text.upper()


def parse_type(value: str) -> str:
    if value not in TYPES:
        raise BadSubmission("type", "choose one of the listed types")
    return value


def parse_text(value: str, max_chars: int) -> str:
    # Lone surrogates (JSON may carry "\udcff") have no UTF-8: they become U+FFFD.
    text = (value or "").encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    if not text:
        raise BadSubmission("description", "required")
    if len(text) > max_chars:
        raise BadSubmission("description", f"longer than {max_chars} characters")
    return text


def parse_web(document: Mapping[str, Any]) -> InboundMessage:
    """The message of a stored submission (the document `capture.web.make_item` wrote)."""
    kind = document["contact_kind"]
    ref = document.get("reference")
    chosen = str(document.get("type") or "other")
    extra: list[tuple[str, str]] = [("via", "web"), ("source", str(document.get("source", "form"))),
                                    ("chosen_type", chosen)]
    category = TYPES.get(chosen, "other")
    if category != "other":
        extra.append(("category_hint", category))
    for name in ("app_user_id", "device", "app_version", "submission_id"):
        if document.get(name):
            extra.append((name, str(document[name])))
    attachments = tuple(
        Attachment(filename=str(item["filename"]), content_type=str(item["content_type"]),
                   content=base64.b64decode(item["data"], validate=True))
        for item in document.get("screenshots") or ())
    text = str(document["text"])
    return InboundMessage(
        channel="email" if kind == "email" else "sms", sender=str(document["contact"]),
        # A reference given on the form is where threading looks for it (store.find_thread:
        # the subject), and joins that ticket only when the contact owns it.
        subject=f"[{ref}]" if ref else "", text=text, new_text=text,
        message_id=None, sent_at=dt.datetime.fromisoformat(document["received_at"]),
        attachments=attachments, extra=tuple(extra))
