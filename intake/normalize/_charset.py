"""Turn bytes of unknown or doubtful charset into text without mojibake where possible.

Mail in the wild mislabels its charset all the time: gb2312 declared over gbk bytes, big5
over cp950, latin-1 over utf-8, no label at all over raw 8-bit headers. RFC 6657 says a
missing charset on text/* means US-ASCII (or what the media type says), but real senders
do not obey it, so we treat a label as a strong hint and verify it by decoding strictly.
"""

from __future__ import annotations

import binascii
import codecs
import re

# Charsets decoded as a superset instead, because senders label the superset's bytes with
# the subset's name (Windows' "gb2312" is really cp936/gbk; gb18030 contains both).
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "cp936": ("gb18030",),
    "gb18030": ("gb18030",),
    "big5": ("big5", "cp950", "big5hkscs"),
    "cp950": ("cp950", "big5hkscs"),
    "big5hkscs": ("big5hkscs", "cp950"),
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_2", "iso2022_jp_ext"),
    "shift_jis": ("cp932", "shift_jis"),
    "cp932": ("cp932",),
    "euc_kr": ("cp949", "euc_kr"),
    "cp949": ("cp949",),
    "iso8859_1": ("cp1252", "latin-1"),  # HTML5's rule: iso-8859-1 labels mean windows-1252
    "ascii": ("ascii",),
}

# Labels that are not charset names at all (RFC 1428 "unknown-8bit", "x-unknown", junk).
_MEANINGLESS = {"unknown-8bit", "x-unknown", "unknown", "default", "charset", "none", "x-user-defined"}

# The order to guess in when the label is missing, meaningless or wrong. utf-8 first: a
# non-ASCII byte string that decodes strictly as utf-8 is almost never anything else.
# Then gb18030 (most of our legacy mail is mainland Chinese), big5, and finally cp1252,
# which only fails on five bytes, and latin-1, which never fails.
GUESS_ORDER: tuple[str, ...] = ("utf-8", "gb18030", "big5", "cp950", "cp1252")

_SINGLE_BYTE = re.compile(r"^(ascii|latin_\d+|iso8859_\d+|cp125\d|cp437|cp850|koi8_[ru]|mac_roman)$")
_ALIASES = {
    "x-gbk": "gbk",
    "gb_2312-80": "gb2312",
    "csgb2312": "gb2312",
    "x-euc-cn": "gb2312",
    "euc-cn": "gb2312",
    "x-big5": "big5",
    "big5-hkscs": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "unicode-1-1-utf-7": "utf-7",
    "x-sjis": "shift_jis",
    "utf8": "utf-8",
    "iso-8859-8-i": "iso-8859-8",
}


def codec_name(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None if the label is useless."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    if not label or label in _MEANINGLESS:
        return None
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None


def declared_codecs(label: str | None) -> tuple[str, ...]:
    """The codecs that honour `label` (its superset first); empty if the label is useless."""
    name = codec_name(label)
    if name is None:
        return ()
    key = name.replace("-", "_")
    order = _SUPERSETS.get(key, (name,))
    if _SINGLE_BYTE.match(key):
        # A single-byte label accepts any bytes, so it cannot be verified by decoding;
        # valid non-ASCII utf-8 under such a label is mislabelled utf-8 in practice.
        order = ("utf-8", *order)
    return order


def decode_bytes(data: bytes, label: str | None = None) -> tuple[str, str]:
    """Decode `data`, trying `label` strictly, then the usual guesses.

    Returns (text, codec used). Never raises: latin-1 is the last resort.
    """
    if not data:
        return "", "ascii"
    if data.isascii() and b"\x1b" not in data:
        # ASCII is the same in every charset we accept (iso-2022-jp needs ESC to shift).
        return data.decode("ascii"), "ascii"
    declared = declared_codecs(label)
    for codec in declared:
        try:
            return data.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    if declared:
        # A few bad bytes in otherwise valid text of the declared charset (a truncated
        # character, one corrupt byte): keep the declared reading, with U+FFFD for the
        # damage, rather than re-reading everything in another charset as mojibake.
        own = next((codec for codec in declared if codec != "utf-8"), declared[0])
        lossy = data.decode(own, "replace")
        damage = lossy.count("\ufffd")
        if damage <= max(1, len(lossy) // 200):
            return lossy, own + "+replace"
    for codec in GUESS_ORDER:
        if codec in declared:
            continue
        try:
            return data.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1"), "latin-1"


def clean_text(text: str) -> str:
    """Drop characters that must not reach storage: NUL and lone surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


# RFC 2047 §2 encoded word: =?charset?encoding?text?=. The charset may carry an RFC 2231
# §5 language suffix (=?utf-8*zh?B?...?=). Spaces inside the text are illegal but occur.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAKS = re.compile(r"[\r\n]+")


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        data = re.sub(r"[^A-Za-z0-9+/]", "", text)
        data += "=" * (-len(data) % 4)
        try:
            return binascii.a2b_base64(data)
        except (binascii.Error, ValueError):
            return text.encode("ascii", "replace")
    try:
        return binascii.a2b_qp(text.encode("ascii", "surrogateescape"), header=True)
    except (binascii.Error, ValueError):
        return text.encode("ascii", "replace")


def to_raw_bytes(value: str) -> bytes:
    """Undo the parser's surrogateescape so raw 8-bit header bytes can be decoded."""
    return value.encode("utf-8", "surrogateescape")


def decode_header_value(value: str | bytes | None, hint: str | None = None) -> str:
    """Decode a raw header value: unfold it, decode RFC 2047 encoded words, and decode raw
    8-bit bytes (illegal per RFC 5322 but sent by many legacy CJK clients) by guessing,
    starting with `hint` (the message's body charset). Never raises.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        if value.isascii():
            text = value
        else:
            text, _ = decode_bytes(to_raw_bytes(value), hint)
    else:
        text, _ = decode_bytes(bytes(value), hint)
    text = _LINE_BREAKS.sub(" ", _FOLD.sub("", text))
    if "=?" not in text:
        return clean_text(text)

    pieces: list[str] = []
    pending: bytes = b""
    pending_charset: str | None = None
    position = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            pieces.append(decode_bytes(pending, pending_charset)[0])
        pending, pending_charset = b"", None

    for match in _ENCODED_WORD.finditer(text):
        gap = text[position : match.start()]
        # RFC 2047 §6.2: white space between adjacent encoded words is not displayed.
        if gap and not (pending and gap.isspace()):
            flush()
            pieces.append(gap)
        charset = match.group(1).split("*", 1)[0]
        data = _word_bytes(match.group(2), match.group(3))
        # Join words of one charset before decoding: bad encoders split a multi-byte
        # character across two words.
        if pending and charset.lower() != (pending_charset or "").lower():
            flush()
        pending += data
        pending_charset = charset
        position = match.end()
    flush()
    pieces.append(text[position:])
    return clean_text("".join(pieces))
