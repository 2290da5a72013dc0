"""Walk a parsed MIME tree: pick the body text, collect attachments and report facts.

Works on `email.message.Message` objects from the stdlib parser (compat32 or default
policy); uses only the raw-value API (`get_payload(decode=True)`, `get_param`,
`raw_items`), so header objects of the default policy are never built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from intake.messages import Attachment
from intake.normalize._charset import clean_text, decode_bytes, decode_header_value, declared_codecs
from intake.normalize._html import MAX_QUOTE_DEPTH, MAX_TEXT_CHARS

_MAX_DEPTH = 40  # parts walked below the root (message/rfc822 inside counts too)


@dataclass(frozen=True)
class MailLimits:
    """Caps on the work one mail may cause; each is an INTAKE_ setting (see README).

    The stdlib parser builds the whole tree in time linear in the mail, but what we do per
    part (decode, convert, keep) and per header (decode RFC 2047 words, parse addresses)
    is bounded here so that a mail of 50,000 parts or a 100 KB subject costs what a normal
    one does.
    """

    max_parts: int = 1_000  # INTAKE_MAIL_MAX_PARTS: MIME parts walked; the rest skipped
    max_attachments: int = 100  # INTAKE_MAIL_MAX_ATTACHMENTS: kept; the rest counted as skipped
    max_header_chars: int = 8_192  # INTAKE_MAIL_MAX_HEADER_CHARS: of each header we decode
    max_nesting: int = 40  # INTAKE_MAIL_MAX_NESTING: multipart levels given to the parser
    html_max_quote_depth: int = MAX_QUOTE_DEPTH  # INTAKE_HTML_MAX_QUOTE_DEPTH
    html_max_text_chars: int = MAX_TEXT_CHARS  # INTAKE_HTML_MAX_TEXT_CHARS
_EXTENSIONS = {
    "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
    "application/pdf": ".pdf", "message/rfc822": ".eml", "text/plain": ".txt",
    "text/html": ".html", "text/calendar": ".ics", "text/rfc822-headers": ".txt",
    "audio/mpeg": ".mp3", "video/mp4": ".mp4", "application/zip": ".zip",
}
_MESSAGE_ID = re.compile(r"^(?:X-)?(?:Original-)?Message-ID[ \t]*:[ \t]*<?([^\s<>]+)>?", re.I | re.M)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f]+")
_BROKEN_MULTIPART = ("StartBoundaryNotFoundDefect", "NoBoundaryInMultipartDefect")
_BOUNDARY_LINE = re.compile(r"^--([^\s\"]{1,200})[ \t]*$", re.M)


@dataclass
class Body:
    """What the walk found."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    skipped: int = 0
    charset: str | None = None  # first declared text charset: a hint for raw 8-bit headers
    charset_fallbacks: list[str] = field(default_factory=list)
    report_type: str | None = None
    delivery_actions: list[str] = field(default_factory=list)
    reported_ids: list[str] = field(default_factory=list)
    broken_structure: bool = False
    too_deep: bool = False
    too_many_parts: bool = False


def _param(part: Message, name: str, header: str = "content-type") -> str | None:
    """A MIME parameter as text, RFC 2231 (charset'lang'value, continuations) decoded."""
    try:
        value = part.get_param(name, header=header)
    except Exception:
        return None
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231 §4: (charset, language, percent-decoded text)
        charset, _language, text = value
        try:
            data = text.encode("latin-1", "surrogateescape")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "surrogateescape")
        return decode_bytes(data, charset or None)[0]
    if not isinstance(value, str):
        return None
    # Non-standard but common: RFC 2047 encoded words, or raw 8-bit bytes, in a parameter.
    return decode_header_value(value.strip())


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _filename(part: Message) -> str:
    name = _param(part, "filename", "content-disposition") or _param(part, "name") or ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # never a path
    name = _UNSAFE_FILENAME.sub("", name).strip()
    return "" if name in (".", "..") else name[:255]


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _message_bytes(part: Message) -> bytes:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if isinstance(inner, Message):
        try:
            return inner.as_bytes()
        except Exception:
            try:
                return inner.as_string().encode("utf-8", "surrogateescape")
            except Exception:
                return b""
    return _payload_bytes(part)


class Walker:
    """Collects body text and attachments from one message tree."""

    def __init__(self, max_attachment_bytes: int | None, limits: MailLimits = MailLimits()) -> None:
        self.max_attachment_bytes = max_attachment_bytes
        self.limits = limits
        self.parts = 0
        self.body = Body()

    def walk(self, part: Message, *, text_wanted: bool = True, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            self.body.too_deep = True
            return
        self.parts += 1
        if self.parts > self.limits.max_parts:
            self.body.too_many_parts = True
            return
        ctype = content_type(part)
        if depth == 0 and ctype == "multipart/report":
            self.body.report_type = (_param(part, "report-type") or "").lower() or "unknown"
        elif depth == 0 and ctype == "message/delivery-status":
            self.body.report_type = "delivery-status"
        if ctype == "message/delivery-status":
            if self.body.report_type in (None, "unknown"):
                # A DSN part under a multipart/report that lost its report-type (or
                # under a mislabelled multipart/mixed) still makes this a DSN.
                self.body.report_type = "delivery-status"
            self._delivery_status(part)
            return
        if ctype == "text/rfc822-headers":
            self.body.reported_ids.extend(_MESSAGE_ID.findall(decode_bytes(_payload_bytes(part))[0]))
            return
        if ctype in ("message/rfc822", "message/global"):
            self._rfc822(part)
            return
        payload = part.get_payload()
        if isinstance(payload, list):
            children = [child for child in payload if isinstance(child, Message)]
            if ctype == "multipart/alternative":
                chosen = self._choose_alternative(children)
                for child in children:
                    # The other alternatives give no text, but may hold the only copy of
                    # an inline screenshot (Outlook's HTML-only images).
                    self.walk(child, text_wanted=text_wanted and child is chosen, depth=depth + 1)
            else:
                for child in children:
                    self.walk(child, text_wanted=text_wanted, depth=depth + 1)
            return
        self._leaf(part, ctype, text_wanted, depth)

    def _choose_alternative(self, children: list[Message]) -> Message | None:
        for child in children:
            if content_type(child) == "text/plain" and _disposition(child) != "attachment":
                if _payload_bytes(child).strip():
                    return child
        return children[-1] if children else None  # RFC 2046 §5.1.4: last is richest

    def _leaf(self, part: Message, ctype: str, text_wanted: bool, depth: int) -> None:
        disposition = _disposition(part)
        filename = _filename(part)
        maintype = ctype.partition("/")[0]
        if maintype == "multipart":
            # A multipart whose declared boundary never appears: compat32 keeps the body
            # as one string. Retry with the boundary the body actually uses; failing
            # that, read it as text rather than lose it.
            repaired = _reparse_with_found_boundary(part, ctype) if depth < _MAX_DEPTH else None
            if repaired is not None:
                self.walk(repaired, text_wanted=text_wanted, depth=depth + 1)
                return
            self.body.broken_structure = True
            if text_wanted:
                self._text(part, "text/plain")
            return
        is_body = (
            ctype in ("text/plain", "text/html")
            and disposition != "attachment"
            and not filename
        )
        if is_body:
            if text_wanted:
                self._text(part, ctype)
            return
        self._attachment(part, ctype, filename, _payload_bytes(part), disposition)

    def _text(self, part: Message, ctype: str) -> None:
        data = _payload_bytes(part)
        declared = _param(part, "charset")
        if not declared and ctype == "text/html":
            meta = _META_CHARSET.search(data[:4096])
            declared = meta.group(1).decode("ascii") if meta else None
        text, used = decode_bytes(data, declared)
        if declared and self.body.charset is None:
            self.body.charset = declared
        if declared and used != "ascii" and used not in declared_codecs(declared):
            self.body.charset_fallbacks.append(f"{declared[:40]}->{used}")
        elif declared is None and used != "ascii" and self.body.charset is None:
            self.body.charset = used
        text = clean_text(text.replace("\r\n", "\n").replace("\r", "\n"))
        if not text.strip():
            return
        if ctype == "text/html":
            self.body.html.append(text)
        else:
            if _param(part, "format") == "flowed":
                text = unflow(text, delsp=(_param(part, "delsp") or "").lower() == "yes")
            self.body.plain.append(text)

    def _attachment(
        self, part: Message, ctype: str, filename: str, content: bytes, disposition: str | None
    ) -> None:
        if self.max_attachment_bytes is not None and len(content) > self.max_attachment_bytes:
            self.body.skipped += 1
            return
        if len(self.body.attachments) >= self.limits.max_attachments:
            self.body.skipped += 1
            return
        raw_cid = part.get("content-id")
        content_id = decode_header_value(str(raw_cid)).strip().strip("<>").strip() if raw_cid else ""
        index = len(self.body.attachments) + self.body.skipped + 1
        name = filename or f"attachment-{index}{_EXTENSIONS.get(ctype, '.bin')}"
        inline = disposition == "inline" or (disposition is None and bool(content_id))
        self.body.attachments.append(
            Attachment(
                filename=name,
                content_type=ctype,
                content=content,
                content_id=content_id or None,
                inline=inline,
            )
        )

    def _rfc822(self, part: Message) -> None:
        content = _message_bytes(part)
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if self.body.report_type and isinstance(inner, Message):
            for name in ("message-id", "original-message-id", "x-original-message-id"):
                for value in inner.get_all(name, []) or []:
                    self.body.reported_ids.extend(_MESSAGE_ID.findall(f"Message-ID: {value}"))
        self._attachment(part, "message/rfc822", _filename(part), content, _disposition(part))

    def _delivery_status(self, part: Message) -> None:
        # RFC 3464 §2: blocks of fields; compat32 parses each block as a Message.
        payload = part.get_payload()
        if isinstance(payload, list):
            blocks = "\n".join(
                "\n".join(f"{name}: {value}" for name, value in block.raw_items())
                for block in payload
                if isinstance(block, Message)
            )
        else:
            blocks = decode_bytes(_payload_bytes(part))[0]
        self.body.delivery_actions.extend(
            re.findall(r"^Action[ \t]*:[ \t]*([A-Za-z\-]+)", blocks, re.I | re.M)
        )
        self.body.reported_ids.extend(
            match
            for match in re.findall(
                r"^(?:X-)?Original-Message-ID[ \t]*:[ \t]*<?([^\s<>]+)>?", blocks, re.I | re.M
            )
        )


# A boundary declared in a Content-Type, and a line that uses one (RFC 2046 §5.1.1).
_BOUNDARY_EVENT = re.compile(
    rb"""boundary[ \t]*=[ \t]*"?([^"\s;]{1,200})|^--([^\s]{1,202})[ \t]*\r?$""", re.IGNORECASE | re.MULTILINE
)


def nesting_cut(raw: bytes, max_nesting: int) -> int | None:
    """Where the mail's multipart nesting first goes deeper than `max_nesting`, or None.

    The stdlib parser nests one generator per open multipart and passes every line up
    through all of them, so its time is lines x depth: 200 nested multiparts and 100,000
    lines took 7 s, 5,000 nested ones hit the recursion limit after 21 s. This scan (one
    regex pass) follows the boundaries as the parser would: a declared boundary's first
    delimiter line opens a level, its close delimiter ("--b--") or an outer delimiter
    closes it. The caller gives the parser only what comes before the returned offset.
    """
    # Only declared boundaries open a level, each at most once at a time: a mail that
    # declares no more boundaries than `max_nesting` cannot nest deeper (an exact shortcut;
    # the count of "boundary" in any case bounds the declarations the pattern finds).
    if raw.lower().count(b"boundary") <= max_nesting:
        return None
    declared: set[bytes] = set()
    open_levels: list[bytes] = []
    for match in _BOUNDARY_EVENT.finditer(raw):
        if match.group(1) is not None:
            declared.add(match.group(1))
            continue
        marker = match.group(2)
        closing = marker.endswith(b"--") and marker[:-2] in open_levels
        name = marker[:-2] if closing else marker
        if name in open_levels:
            del open_levels[open_levels.index(name) + (0 if closing else 1) :]
        elif name in declared and not closing:
            open_levels.append(name)
            if len(open_levels) > max_nesting:
                return match.start()
    return None


def _reparse_with_found_boundary(part: Message, ctype: str) -> Message | None:
    payload = part.get_payload()
    if not isinstance(payload, str):
        return None
    found = _BOUNDARY_LINE.search(payload)
    if found is None:
        return None
    boundary = found.group(1)
    if boundary.endswith("--") and payload.count(f"--{boundary[:-2]}") > 1:
        boundary = boundary[:-2]
    head = f'Content-Type: {ctype}; boundary="{boundary}"\n\n'
    try:
        repaired = BytesParser(policy=compat32).parsebytes(
            (head + payload).encode("utf-8", "surrogateescape")
        )
    except Exception:
        return None
    if not repaired.is_multipart() or any(
        type(defect).__name__ in _BROKEN_MULTIPART for defect in repaired.defects
    ):
        return None
    return repaired


def unflow(text: str, *, delsp: bool) -> str:
    """Join RFC 3676 format=flowed soft line breaks (a line ending in a space).

    §4.5: lines join only at the same quote depth, so "> Hi " never takes the unquoted
    line below it; §4.4: a space after the quote marks (or opening the line) is stuffing.
    """
    out: list[str] = []
    buffer = ""
    buffer_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        if buffer_depth >= 0 and depth != buffer_depth:  # a soft break across depths: a hard one
            out.append(_quoted(buffer, buffer_depth))
            buffer, buffer_depth = "", -1
        if content == "-- ":  # RFC 3676 §4.3: the signature separator is never flowed
            if buffer:
                out.append(_quoted(buffer, depth))
                buffer, buffer_depth = "", -1
            out.append(_quoted(content, depth))
            continue
        buffer += content[:-1] if (delsp and content.endswith(" ")) else content
        buffer_depth = depth
        if not content.endswith(" "):
            out.append(_quoted(buffer, depth))
            buffer, buffer_depth = "", -1
    if buffer_depth >= 0:
        out.append(_quoted(buffer, buffer_depth))
    return "\n".join(out)


def _quoted(content: str, depth: int) -> str:
    return (">" * depth + " " + content if content else ">" * depth) if depth else content
