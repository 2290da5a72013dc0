"""An outgoing e-mail as the bytes a sender hands over, built directly.

`smtp.build_message` goes through `EmailMessage` and the SMTP policy: every header is
parsed into a header object and refolded, every part through the content manager, about
4 ms of CPU per follow-up, more than storing the mail that caused it. Follow-ups are a
narrow shape (one sender, one recipient, a few known headers, a text and an HTML part,
UTF-8), so `render` writes them out directly with the stdlib's RFC 2047 encoder
(`email.header.Header`) and base64 bodies; `smtp.build_message` stays the builder for
what this one does not cover (an internationalised address, RFC 6531), and the tests
parse both back with the stdlib parser and compare.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime

# RFC 5322 section 2.1.1: lines SHOULD stay within 78 characters.
LINE = 78
_SPECIALS = set('()<>[]:;@\\,."')


@dataclass(frozen=True)
class Wire:
    """A message ready for delivery: the envelope (RFC 5321) and the message bytes."""

    envelope_from: str
    rcpt: str
    data: bytes


def encoded(name: str, value: str) -> str:
    """`Name: value` folded to 78 columns; non-ASCII text, or text a reader would take for
    an encoded-word, as RFC 2047 UTF-8 encoded-words (the value has no CR/LF: the caller
    cleaned it)."""
    if value.isascii() and "=?" not in value:
        if len(name) + 2 + len(value) <= LINE:
            return f"{name}: {value}"
        return f"{name}: " + Header(value, "us-ascii", header_name=name, maxlinelen=LINE).encode(linesep="\r\n")
    return f"{name}: " + Header(value, "utf-8", header_name=name, maxlinelen=LINE).encode(linesep="\r\n")


def mailbox(name: str, address: str) -> str:
    """`display name <addr-spec>` (RFC 5322 section 3.4), the name quoted or encoded."""
    if not name:
        return address
    if name.isascii() and "=?" not in name:
        if _SPECIALS.intersection(name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{address}>"
    return Header(name, "utf-8", maxlinelen=LINE).encode(linesep="\r\n") + f" <{address}>"


def ids(name: str, values: list[str]) -> str:
    """Message-ID / In-Reply-To / References: literal msg-ids folded between ids only
    (RFC 5322 section 3.6.4; an encoded id threads in no client)."""
    return f"{name}: " + "\r\n ".join(values)


def _body(text: str, subtype: str, boundary: str) -> list[str]:
    """One text part: 7bit when it is plain short-lined ASCII, else UTF-8 in base64
    (always 7bit-clean and line-safe, so no server needs 8BITMIME)."""
    text = text.replace("\r\n", "\n")
    if text.isascii() and boundary not in text and all(len(line) <= 998 for line in text.split("\n")):
        return [f"Content-Type: text/{subtype}; charset=\"utf-8\"", "Content-Transfer-Encoding: 7bit", "",
                text.replace("\n", "\r\n").rstrip("\r\n")]
    data = base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n").rstrip("\r\n")
    return [f"Content-Type: text/{subtype}; charset=\"utf-8\"", "Content-Transfer-Encoding: base64", "", data]


def render(*, from_line: str, to_line: str, subject: str, date: dt.datetime, message_id: str,
           in_reply_to: str | None, references: list[str], auto_submitted: bool,
           extra_headers: list[tuple[str, str]], text: str, html: str | None) -> bytes:
    """The message bytes (CRLF line ends). Values are already clean: one line each, ids in
    angle brackets, addresses checked."""
    head = [f"From: {from_line}", f"To: {to_line}", encoded("Subject", subject), f"Date: {format_datetime(date)}",
            ids("Message-ID", [message_id])]
    if in_reply_to:
        head.append(ids("In-Reply-To", [in_reply_to]))
    if references:
        head.append(ids("References", references))
    if auto_submitted:
        head.append("Auto-Submitted: auto-replied")  # RFC 3834 section 5
        head.append("X-Auto-Response-Suppress: All")  # [MS-OXCMAIL]: no out-of-office answers
    head.extend(encoded(name, value) for name, value in extra_headers)
    head.append("MIME-Version: 1.0")
    boundary = "=_intake_" + secrets.token_hex(16)
    if html is None:
        lines = head + _body(text, "plain", boundary)
    else:
        lines = [*head, f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"', "",
                 f"--{boundary}", *_body(text, "plain", boundary),
                 f"--{boundary}", *_body(html, "html", boundary), f"--{boundary}--"]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
