"""Convert an HTML mail body to readable plain text, in time linear in its length.

Script, style and head content is dropped, block elements become line breaks, entities
are decoded, and text inside <blockquote> is prefixed with "> " so that the reply cutter
treats it as quoted history, exactly as it would in a text/plain reply.

The parsing is lxml's: libxml2's HTML parser (2.14 and later tokenize as HTML5 says) driven
through the parser-target interface, which hands us start, end and data events without
building a tree. We chose it over the alternatives after measuring them on hostile input:
- `html.parser` (stdlib) rescans the rest of the document from every unclosed "<"
  ("<a " repeated: 24 KB took 37 s);
- selectolax (lexbor) is quadratic in nesting depth: 50,000 nested <div> took 23 s and
  2.3 MB of nested <blockquote> 348 s;
- lxml, with our callbacks, converts every hostile input of test_hostile.py in about a
  second or less, growing linearly with the input (2.3 MB of nested <blockquote>, 92,000
  levels deep: 0.3-0.7 s; "<a " or "<!--" times 50,000: 0.01-0.03 s, where the
  hand-written tokenizer this replaces took 0.5 s; 200,000 "<li>x": 1.5 s). In target
  mode libxml2 keeps no tree, so its nesting limit (256 levels, `huge_tree`) does not
  cut deep documents short; our own quote cap bounds the output instead.
The document goes to libxml2 as UTF-8 bytes with the encoding given, so a <meta charset>
in an already decoded body cannot make it decode the text a second time.

Two caps keep the output in proportion to the input: quoting is at most `max_quote_depth`
levels deep (each level prefixes every line, so 208 KB of nested <blockquote> made 256
million characters), and the text stops at `max_chars` (the parser is fed 64 KB at a
time and stops being fed there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lxml import etree

MAX_QUOTE_DEPTH = 10  # INTAKE_HTML_MAX_QUOTE_DEPTH
MAX_TEXT_CHARS = 1_000_000  # INTAKE_HTML_MAX_TEXT_CHARS

_SKIP = {"script", "style", "head", "title", "template", "noscript", "xml"}
_BLOCK = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead",
    "tfoot", "tr", "ul", "body", "html",
}
_SPACES = re.compile(r"[ \t\r\n\f\v\u200b]+")
_BLANK_RUNS = re.compile(r"\n{3,}")
_CHUNK = 64 * 1024  # bytes fed to the parser at a time


class _TextExtractor:
    """An lxml parser target: turns start, end and data events into lines of text."""

    def __init__(self, max_quote_depth: int, max_chars: int) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.pending: list[str] = []  # data not yet added to `current`; libxml2 splits runs
        self.skip_depth = 0
        self.quote_depth = 0
        self.pre_depth = 0
        self.max_quote_depth = max_quote_depth
        self.max_chars = max_chars
        self.size = 0  # characters in self.lines, with their line breaks

    def _emit(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1

    @property
    def full(self) -> bool:
        return self.size >= self.max_chars

    def _prefix(self) -> str:
        return "> " * min(self.quote_depth, self.max_quote_depth)

    def _flush(self) -> None:
        if not self.pending:
            return
        data = "".join(self.pending)
        self.pending = []
        if self.pre_depth:
            parts = data.split("\n")
            for index, part in enumerate(parts):
                if index:
                    self._break()
                self.current.append(part)
        else:
            self.current.append(_SPACES.sub(" ", data))

    def _break(self, blank: bool = True) -> None:
        """End the current line; with nothing on it, leave one blank line if `blank`."""
        line = "".join(self.current).strip()
        self.current = []
        if line:
            self._emit(self._prefix() + line)
        elif blank and self.lines and self.lines[-1] != "":
            self._emit("")

    # The target interface of lxml.etree.HTMLParser: tag names come lower-cased.
    # Once the text is full the events are ignored; html_to_text stops feeding the parser.
    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        if self.full:
            return
        self._flush()
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag == "br":
            line = "".join(self.current).strip()
            self.current = []
            self._emit(self._prefix() + line if line else "")
        elif tag in _BLOCK:
            # List items follow each other line by line, whether "</li>" is written or
            # implied (libxml2 reports the implied end tags too).
            self._break(blank=tag != "li")
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag == "pre":
                self.pre_depth += 1
            elif tag == "li":
                self.current.append("- ")
        elif tag in ("td", "th") and self.current:
            self.current.append("\t")
        elif tag == "img":
            alt = attrib.get("alt")
            if alt and not self.skip_depth:
                self.current.append(f"[{alt}]")

    def end(self, tag: str) -> None:
        if self.full:
            return
        self._flush()
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK:
            self._break(blank=tag != "li")
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            elif tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def data(self, data: str) -> None:
        if not self.skip_depth and not self.full:
            self.pending.append(data)

    def close(self) -> None:
        self._flush()

    def text(self) -> str:
        self._flush()
        self._break()
        return "\n".join(self.lines).strip()


def html_to_text(
    html_text: str, *, max_quote_depth: int = MAX_QUOTE_DEPTH, max_chars: int = MAX_TEXT_CHARS
) -> str:
    """Readable text of an HTML document, at most `max_chars` long; never raises."""
    sink = _TextExtractor(max_quote_depth, max_chars)
    if html_text.strip():
        # Lone surrogates (from undecodable bytes) cannot be UTF-8; they become "?".
        document = html_text.encode("utf-8", "replace")
        parser = etree.HTMLParser(target=sink, encoding="utf-8", no_network=True)
        try:
            # In pieces, so that parsing stops soon after the text is full (an exception
            # raised in a target callback does not stop libxml2).
            for start in range(0, len(document), _CHUNK):
                parser.feed(document[start : start + _CHUNK])
                if sink.full:
                    break
            parser.close()
        except Exception:  # an odd input must not stop a mail
            pass
    text = sink.text().replace("\xa0", " ")
    return _BLANK_RUNS.sub("\n\n", text)[:max_chars]
