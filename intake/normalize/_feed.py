"""The stdlib's MIME parser, without its cost per multipart boundary.

`email.feedparser` compiles a new regular expression for every multipart it meets
(`'(?P<sep>' + re.escape(separator) + r')(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>...)?$'`):
every boundary is different, so the `re` cache never helps, and compiling one costs about
0.4 ms, more than the rest of the parse of a typical mail (0.26 ms per mail on the
benchmark's mix, a seventh of the whole prepare step). That pattern is a fixed tail after
a literal, so here it is one compiled pattern per boundary *length*, `(?P<sep>.{n})` plus
the same tail, applied only to lines that start with the separator: the match objects are
the ones the stdlib's own pattern gives (same groups, same span), and every other line
gets None as before. Likewise the trailing line break of a part is looked for at the end
of the part (`_EndOfLine`), not by a regex scan of all of it.

This module holds its own instance of `email.feedparser` (loaded from the stdlib's source,
its `re` replaced by the shim below), so the process-wide module, which other code uses, is
untouched. `parse_bytes` is `BytesParser(policy=...).parsebytes`.
"""

from __future__ import annotations

import importlib.util
import re
from email.message import Message
from email.policy import Policy
from io import StringIO
from typing import Any

_TAIL = r"(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_HEAD = "(?P<sep>"
_BY_LENGTH: dict[int, re.Pattern[str]] = {}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


class _Boundary:
    """`re.compile(<the feedparser's boundary pattern>)`, as far as the parser uses it."""

    __slots__ = ("separator", "pattern")

    def __init__(self, separator: str) -> None:
        self.separator = separator
        pattern = _BY_LENGTH.get(len(separator))
        if pattern is None:
            if len(_BY_LENGTH) >= 256:  # hostile mail with ever new lengths: stay bounded
                _BY_LENGTH.clear()
            pattern = _BY_LENGTH[len(separator)] = re.compile(f"(?P<sep>[\\s\\S]{{{len(separator)}}}){_TAIL}")
        self.pattern = pattern

    def match(self, line: str) -> re.Match[str] | None:
        if line.startswith(self.separator):
            return self.pattern.match(line)
        return None


class _Re:
    """The `re` module as `email.feedparser` sees it: its boundary pattern made by
    `_Boundary`, anything else by `re` itself."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: str, flags: int = 0) -> Any:
        if not flags and pattern.startswith(_HEAD) and pattern.endswith(")" + _TAIL):
            escaped = pattern[len(_HEAD):-len(")" + _TAIL)]
            separator = _unescape(escaped)
            if re.escape(separator) == escaped:
                return _Boundary(separator)
        return re.compile(pattern, flags)


def _unescape(escaped: str) -> str:
    """The text `re.escape` turned into `escaped` (each escape is a backslash and the
    character); the caller checks that escaping it again gives `escaped` back."""
    return _ESCAPE.sub(r"\1", escaped)


class _EndOfLine:
    r"""`NLCRE_eol` (`(\r\n|\r|\n)\Z`) as the parser uses it: `search` for the line break
    that ends a part's payload, its epilogue or a line. The stdlib's pattern is tried at
    every position of the string until the last two, so each part's payload was scanned
    whole, by regex, once more (a tenth of the whole prepare step on the benchmark's mix).
    A match is at most two characters long and ends at the end, so it starts in the last
    two: the same pattern searched from there gives the same match object."""

    __slots__ = ("pattern",)

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def search(self, string: str, pos: int = 0) -> re.Match[str] | None:
        return self.pattern.search(string, max(pos, len(string) - 2))


def _own_feedparser() -> Any:
    spec = importlib.util.find_spec("email.feedparser")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    setattr(module, "re", _Re())  # read by _parsegen when it meets a multipart; the rest was compiled at load
    setattr(module, "NLCRE_eol", _EndOfLine(getattr(module, "NLCRE_eol")))  # a global, read at each use
    return module


_feedparser = _own_feedparser()


def parse_bytes(raw: bytes, policy: Policy) -> Message:
    """`email.parser.BytesParser(policy=policy).parsebytes(raw)`: the same steps (ASCII
    with surrogateescape, fed in 8 KiB pieces), through this module's feedparser."""
    text = raw.decode("ASCII", errors="surrogateescape")
    parser = _feedparser.FeedParser(policy=policy)
    source = StringIO(text)
    while data := source.read(8192):
        parser.feed(data)
    message: Message = parser.close()
    return message
