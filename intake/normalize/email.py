"""Turn the raw bytes of one RFC 5322 mail into an `InboundMessage`; pure, never raises.

The stdlib parser (policy compat32) is the primary path: it is the most lenient parser
we have, keeps raw header bytes reachable, and lets us decode charsets ourselves (see
`_charset`). If it, or the walk over its tree, fails, we retry with policy.default, and
last we split the bytes at the first blank line and decode what we can.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from email import policy
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from intake.messages import InboundMessage
from intake.normalize._charset import clean_text, decode_bytes, decode_header_value
from intake.normalize._feed import parse_bytes
from intake.normalize._html import html_to_text
from intake.normalize._mime import Body, MailLimits, Walker, nesting_cut
from intake.normalize._reply import ReplyCut, cut_reply, is_forward_subject
from intake.normalize.loop import loop_signals

__all__ = ["MailLimits", "ParseFailure", "decode_header_value", "parse_email"]

_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
# Starts only at a token boundary (the look-behind), so a long run without "@" costs O(n).
_BARE_ADDRESS = re.compile(r"(?<![^\s<>\"(),;:\[\]])[^\s<>\"(),;:\[\]@]+@[^\s<>\"(),;:\[\]]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
_SPACE_RUN = re.compile(r"\s+")
_HEADER_LINE = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*)$")
_OBSOLETE_COLON = re.compile(rb"^([!-9;-~]+)[ \t]+:")


class ParseFailure(ValueError):
    """The input holds no message at all (empty)."""


Headers = dict[str, list[str]]  # lower-cased name -> raw (undecoded, unfolded) values


def _headers_of(message: Message) -> Headers:
    headers: Headers = {}
    for name, value in message.raw_items():
        text = value if isinstance(value, str) else str(value)
        headers.setdefault(str(name).strip().lower(), []).append(text)
    return headers


def _first(headers: Headers, *names: str) -> str | None:
    for name in names:
        values = headers.get(name)
        if values:
            return values[0]
    return None


def _addresses(value: str | None, hint: str | None) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; names RFC 2047 decoded.

    `value` is already cut to the header cap: we only need the first address.
    """
    if not value:
        return []
    unfolded = re.sub(r"[\r\n]+", " ", value)
    result: list[tuple[str, str]] = []
    try:
        pairs = getaddresses([unfolded])
    except Exception:
        pairs = []
    for name, address in pairs:
        address = decode_header_value(address, hint).strip().strip("<>").lower()
        if "@" in address or address:
            result.append((decode_header_value(name, hint).strip().strip('"').strip(), address))
    if not any("@" in address for _, address in result):
        found = _BARE_ADDRESS.search(decode_header_value(unfolded, hint))
        if found:
            result = [("", found.group(0).strip(".").lower())]
    return [(_SPACE_RUN.sub(" ", name), _CONTROL.sub("", address)) for name, address in result]


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    found = _ANGLE_ID.search(value)
    text = found.group(1) if found else _SPACE_RUN.sub("", value).strip("<>")
    text = clean_text(_CONTROL.sub("", text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")))
    return text[:998] or None


def _references(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    ids = _ANGLE_ID.findall(value) or value.split()
    cleaned = (_message_id(f"<{i}>") for i in ids)
    return tuple(dict.fromkeys(i for i in cleaned if i))


def _date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(_SPACE_RUN.sub(" ", value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:  # RFC 5322 §3.3: "-0000" means UTC with no local-time info
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


def _subject(value: str | None, hint: str | None) -> str:
    # CR/LF and other controls could forge lines in logs or outgoing mail headers.
    text = _CONTROL.sub(" ", decode_header_value(value, hint))
    return _SPACE_RUN.sub(" ", text).strip()


def _text_of(body: Body, limits: MailLimits) -> str:
    if body.plain:
        text = "\n\n".join(part.strip("\n") for part in body.plain)
    elif body.html:
        text = "\n\n".join(
            html_to_text(part, max_quote_depth=limits.html_max_quote_depth, max_chars=limits.html_max_text_chars)
            for part in body.html
        )
    else:
        text = ""
    return text.strip()


def _parse_tree(
    raw: bytes, max_attachment_bytes: int | None, which: policy.Policy, limits: MailLimits
) -> tuple[Headers, Body]:
    message = parse_bytes(raw, which)
    walker = Walker(max_attachment_bytes, limits)
    walker.walk(message)
    return _headers_of(message), walker.body


def _parse_raw(raw: bytes) -> tuple[Headers, Body]:
    """Last resort: header lines up to the first blank line, the rest as text."""
    raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    head, separator, rest = raw.partition(b"\n\n")
    if not separator:
        head, rest = b"", raw
    headers: Headers = {}
    last: str | None = None
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and last is not None:
            headers[last][-1] += "\n" + line.decode("utf-8", "surrogateescape")
            continue
        match = _HEADER_LINE.match(line)
        if match is None:
            rest = line + b"\n" + rest
            continue
        last = match.group(1).decode("ascii").lower()
        headers.setdefault(last, []).append(match.group(2).strip().decode("utf-8", "surrogateescape"))
    body = Body()
    text, _ = decode_bytes(rest)
    text = clean_text(text)
    if text.strip():
        body.plain.append(text)
    return headers, body


def _repair_header_block(raw: bytes) -> tuple[bytes, int] | None:
    """Headers the stdlib parser could not see: "Name :" (RFC 5322 §4.5.1 obsolete
    syntax, white space before the colon), or a few stray lines before the first header
    (a truncated Received: continuation). Returns the repaired bytes and how many leading
    lines were dropped, or None if no header block is found near the top.
    """
    lines = raw.split(b"\n")
    for start in range(min(len(lines), 12)):
        if _HEADER_LINE.match(lines[start].rstrip(b"\r")) and start + 1 < len(lines) and (
            _HEADER_LINE.match(lines[start + 1].rstrip(b"\r")) or lines[start + 1][:1] in (b" ", b"\t")
        ):
            break
    else:
        return None
    out: list[bytes] = []
    index = start
    for index in range(start, len(lines)):
        line = lines[index]
        if not line.rstrip(b"\r"):
            break
        out.append(_OBSOLETE_COLON.sub(rb"\1:", line, count=1))
    return b"\n".join(out + lines[index:]), start


def _read(raw: bytes, max_attachment_bytes: int | None, limits: MailLimits) -> tuple[Headers, Body, str | None]:
    headers, body, error = _read_chain(raw, max_attachment_bytes, limits)
    if headers or error:
        return headers, body, error
    repaired = _repair_header_block(raw)
    if repaired is not None:
        fixed_headers, fixed_body, fixed_error = _read_chain(repaired[0], max_attachment_bytes, limits)
        if fixed_headers:
            if repaired[1] and fixed_error is None:
                fixed_error = "stray lines before the headers skipped"
            return fixed_headers, fixed_body, fixed_error
    return headers, body, error


def _read_chain(raw: bytes, max_attachment_bytes: int | None, limits: MailLimits) -> tuple[Headers, Body, str | None]:
    attempts: list[tuple[str, Callable[[], tuple[Headers, Body]]]] = [
        ("compat32", lambda: _parse_tree(raw, max_attachment_bytes, policy.compat32, limits)),
        ("default", lambda: _parse_tree(raw, max_attachment_bytes, policy.default, limits)),
    ]
    failed: list[str] = []
    for name, attempt in attempts:
        try:
            headers, body = attempt()
        except Exception as error:  # a parser bug must not lose the mail
            failed.append(f"{name} parser: {type(error).__name__}")
            continue
        return headers, body, ("; ".join(failed) + "; used " + name) if failed else None
    headers, body = _parse_raw(raw)
    return headers, body, "; ".join(failed) + "; read as raw text"


def parse_email(
    raw: bytes, *, max_attachment_bytes: int | None = None, limits: MailLimits = MailLimits()
) -> InboundMessage:
    """Normalize one raw mail. Raises `ParseFailure` only for empty input.

    Attachments larger than `max_attachment_bytes`, or past `limits.max_attachments`, are
    left out and counted in extra["attachments_skipped"]. `limits` bounds the work (see
    `MailLimits`); the time taken is linear in the size of `raw`.
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    raw = bytes(raw)
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark written by an editor
        raw = raw[3:]
    if not raw.strip():
        raise ParseFailure("empty message")
    cut = nesting_cut(raw, limits.max_nesting)
    if cut is not None:
        raw = raw[:cut]
    headers, body, parse_error = _read(raw, max_attachment_bytes, limits)
    if cut is not None and parse_error is None:
        parse_error = "MIME nesting too deep; inner parts skipped"  # as the walker says it
    try:
        return _build(headers, body, parse_error, limits)
    except Exception as error:  # a bug in our own field code: keep the text at least
        headers, body = _parse_raw(raw)
        return _build({}, body, f"field extraction failed: {type(error).__name__}; read as raw text", limits)


def _capped(headers: Headers, limit: int) -> Headers:
    """Each header value cut to `limit` characters, References to its last `limit`.

    RFC 5322 §2.1.1 allows 998 characters a line but no limit on a folded header; decoding
    words and parsing addresses of a 100 KB one bought nothing. References keeps its
    end, which names the nearest ancestors.
    """
    return {
        name: [value[-limit:] if name == "references" else value[:limit] for value in values]
        for name, values in headers.items()
    }


def _build(headers: Headers, body: Body, parse_error: str | None, limits: MailLimits) -> InboundMessage:
    headers = _capped(headers, limits.max_header_chars)
    hint = body.charset
    sender_name, sender = "", ""
    for name in ("from", "sender", "return-path"):
        found = [pair for pair in _addresses(_first(headers, name), hint) if pair[1]]
        if found:
            sender_name, sender = found[0]
            break
    recipient = ""
    for name in ("to", "delivered-to", "x-original-to", "cc"):
        found = [pair for pair in _addresses(_first(headers, name), hint) if "@" in pair[1]]
        if found:
            recipient = found[0][1]
            break

    subject = _subject(_first(headers, "subject"), hint)
    text = _text_of(body, limits)
    if body.broken_structure and parse_error is None:
        parse_error = "multipart boundary not found; body read as raw text"
    if body.too_deep and parse_error is None:
        parse_error = "MIME nesting too deep; inner parts skipped"
    if body.too_many_parts and parse_error is None:
        parse_error = f"more than {limits.max_parts} MIME parts; the rest skipped"
    if not headers and parse_error is None:
        parse_error = "no message headers; body read as raw text"
    # A forwarded mail is the case a support desk works on: kept, and marked (extra).
    reply = cut_reply(text, forward_subject=is_forward_subject(subject)) if text else ReplyCut("")
    new_text = reply.text

    reported = list(body.reported_ids)
    if not reported and text:
        # Plain-text bounces, and some DSNs, quote the lost mail's headers in the body.
        reported = re.findall(r"^[ \t>]*Message-ID:[ \t]*<([^\s<>]+)>", text, re.I | re.M)
    own_id = _message_id(_first(headers, "message-id"))
    loop = loop_signals(
        headers,
        sender=sender,
        subject=subject,
        report_type=body.report_type,
        delivery_actions=body.delivery_actions,
        bounced_message_ids=(i for i in reported if i != own_id),
    )

    extra: list[tuple[str, str]] = []
    mailer = _first(headers, "x-mailer", "user-agent")
    if mailer:
        extra.append(("x_mailer", _subject(mailer, hint)[:200]))
    if body.skipped:
        extra.append(("attachments_skipped", str(body.skipped)))
    if reply.cut_chars:
        extra.append(("quoted_cut_chars", str(reply.cut_chars)))
    if reply.forwarded:
        extra.append(("forwarded", "yes"))
    if body.charset_fallbacks:
        extra.append(("charset_fallback", ",".join(dict.fromkeys(body.charset_fallbacks))[:200]))

    return InboundMessage(
        channel="email",
        sender=sender,
        sender_name=sender_name,
        recipient=recipient,
        subject=subject,
        text=text,
        new_text=new_text or text,
        message_id=own_id,
        in_reply_to=_message_id(_first(headers, "in-reply-to")),
        references=_references(_first(headers, "references")),
        sent_at=_date(_first(headers, "date")),
        attachments=tuple(body.attachments),
        loop=loop,
        parse_error=parse_error,
        extra=tuple(extra),
    )
