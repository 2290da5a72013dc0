"""Convert an HTML mail body to readable plain text, in time linear in its length.

Script, style and head content is dropped, block elements become line breaks, entities
are decoded, and text inside <blockquote> is prefixed with "> " so that the reply cutter
treats it as quoted history, exactly as it would in a text/plain reply.

The tokenizer is our own, not `html.parser`: on unclosed markup ("<a " fifty thousand
times, or "<!--" repeated) `html.parser` rescans the rest of the document from every "<",
which took 37 s for 24 KB. Ours follows `html.parser` on well-formed input (the same tags,
the same data runs, `html.unescape` on each run; all 42 HTML parts of the shared corpus
give the same text) with one difference: a tag ends at its first ">", even one inside a
quoted attribute value. It finds every closer with one forward search whose failure is
remembered, so no character is scanned more than a few times. Two caps keep the
output in proportion to the input: quoting is at most `max_quote_depth` levels deep (each
level prefixes every line, so 208 KB of nested <blockquote> made 256 million characters),
and the text stops at `max_chars`.
"""

from __future__ import annotations

import html
import re

MAX_QUOTE_DEPTH = 10  # INTAKE_HTML_MAX_QUOTE_DEPTH
MAX_TEXT_CHARS = 1_000_000  # INTAKE_HTML_MAX_TEXT_CHARS

_SKIP = {"script", "style", "head", "title", "template", "noscript", "xml"}
_BLOCK = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
    "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "thead",
    "tfoot", "tr", "ul", "body", "html",
}
# html.parser reads the content of these as raw text up to their end tag.
_RAW_TEXT = {"script", "style"}
_SPACES = re.compile(r"[ \t\r\n\f\v\u200b]+")
_BLANK_RUNS = re.compile(r"\n{3,}")

# The pieces of markup, as html.parser (Python 3.11) reads them. Every run is possessive
# or bounded by a literal that cannot occur in it, so a failed match costs its length once.
_START_TAG_NAME = re.compile(r"<([a-zA-Z][^\t\n\r\f />\x00]*+)")
_END_TAG = re.compile(r"</\s*+([a-zA-Z][-.a-zA-Z0-9:_]*+)\s*+>")
_END_TAG_TOLERANT = re.compile(r"</([a-zA-Z][^\t\n\r\f />\x00]*+)")
_ATTRIBUTE = re.compile(r"""([^\s/>=]++)(?:\s*+=\s*+("[^"]*+"|'[^']*+'|[^\s>]*+))?""")
_COMMENT_CLOSE = re.compile(r"--\s*+>")
_MARKED_SECTION_CLOSE = re.compile(r"]\s*+>")


def _unescape(text: str) -> str:
    try:
        return html.unescape(text)
    except ValueError:  # "&#" and more digits than int() accepts (Python's 4300-digit limit)
        return text


class _TextExtractor:
    def __init__(self, max_quote_depth: int, max_chars: int) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0
        self.pre_depth = 0
        self.max_quote_depth = max_quote_depth
        self.max_chars = max_chars
        self.size = 0  # characters in self.lines, with their line breaks

    @property
    def full(self) -> bool:
        return self.size >= self.max_chars

    def _emit(self, line: str) -> None:
        self.lines.append(line)
        self.size += len(line) + 1

    def _prefix(self) -> str:
        return "> " * min(self.quote_depth, self.max_quote_depth)

    def _break(self) -> None:
        line = "".join(self.current).strip()
        self.current = []
        if line:
            self._emit(self._prefix() + line)
        elif self.lines and self.lines[-1] != "":
            self._emit("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag == "br":
            line = "".join(self.current).strip()
            self.current = []
            self._emit(self._prefix() + line if line else "")
        elif tag in _BLOCK:
            self._break()
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag == "pre":
                self.pre_depth += 1
            elif tag == "li":
                self.current.append("- ")
        elif tag in ("td", "th") and self.current:
            self.current.append("\t")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and not self.skip_depth:
                self.current.append(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            return  # <script/> opens nothing
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK:
            self._break()
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            elif tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            parts = data.split("\n")
            for index, part in enumerate(parts):
                if index:
                    self._break()
                self.current.append(part)
            return
        self.current.append(_SPACES.sub(" ", data))

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines).strip()


def _attributes(tag_text: str) -> list[tuple[str, str | None]]:
    attrs: list[tuple[str, str | None]] = []
    for match in _ATTRIBUTE.finditer(tag_text):
        name, value = match.group(1), match.group(2)
        if value is not None and value[:1] in ("'", '"') and value[:1] == value[-1:] and len(value) > 1:
            value = value[1:-1]
        attrs.append((name.lower(), _unescape(value) if value else value))
    return attrs


class _Tokenizer:
    """Feeds the extractor tags and data runs; remembers where each closer stops existing."""

    def __init__(self, document: str, sink: _TextExtractor) -> None:
        self.doc = document
        self.sink = sink
        self.last_gt = document.rfind(">")
        self.no_comment_close_from = len(document) + 1
        self.no_section_close_from = len(document) + 1

    def _data(self, text: str) -> None:
        if text:
            self.sink.handle_data(_unescape(text))

    def _search(self, pattern: re.Pattern[str], start: int, attribute: str) -> re.Match[str] | None:
        # A search that failed from `start` fails from anywhere after it: remember that,
        # or unclosed "<!--" repeated would rescan the rest of the document each time.
        if start >= getattr(self, attribute):
            return None
        match = pattern.search(self.doc, start)
        if match is None:
            setattr(self, attribute, start)
        return match

    def run(self) -> None:
        doc, sink = self.doc, self.sink
        n = len(doc)
        i = 0
        while i < n and not sink.full:
            lt = doc.find("<", i)
            if lt < 0:
                self._data(doc[i:])
                return
            self._data(doc[i:lt])
            i = self._markup(lt)

    def _markup(self, i: int) -> int:
        """Handle the markup at doc[i] == "<"; return where reading goes on."""
        doc, sink = self.doc, self.sink
        n = len(doc)
        if i + 1 >= n:
            self._data("<")
            return n
        following = doc[i + 1]
        if following.isascii() and following.isalpha():
            end = self._start_tag(i)
        elif following == "/":
            end = self._end_tag(i)
        elif doc.startswith("<!--", i):
            close = self._search(_COMMENT_CLOSE, i + 4, "no_comment_close_from")
            end = close.end() if close else -1
        elif doc.startswith("<![", i):
            close = self._search(_MARKED_SECTION_CLOSE, i + 3, "no_section_close_from")
            end = close.end() if close else -1
        elif following in "!?":  # declaration, processing instruction, bogus comment
            end = doc.find(">", i + 2) + 1 if i + 2 <= self.last_gt else -1
            end = end if end > 0 else -1
        else:
            sink.handle_data("<")
            return i + 1
        if end >= 0:
            return end
        # Unterminated markup: html.parser gives it as text, up to the next ">" or else
        # the next "<".
        gt = doc.find(">", i + 1) if i + 1 <= self.last_gt else -1
        if gt >= 0:
            stop = gt + 1
        else:
            stop = doc.find("<", i + 1)
            stop = stop if stop >= 0 else i + 1
        self._data(doc[i:stop])
        return stop

    def _start_tag(self, i: int) -> int:
        doc = self.doc
        if i >= self.last_gt:
            return -1
        name_match = _START_TAG_NAME.match(doc, i)
        if name_match is None:
            return -1
        gt = doc.find(">", name_match.end())
        if gt < 0:
            return -1
        tag = name_match.group(1).lower()
        inside = doc[name_match.end() : gt]
        attrs = _attributes(inside)
        if inside.rstrip().endswith("/"):
            self.sink.handle_startendtag(tag, attrs)
            return gt + 1
        self.sink.handle_starttag(tag, attrs)
        if tag in _RAW_TEXT:
            # The content is raw text up to </tag>; without one, the rest is dropped.
            close = re.compile(rf"</\s*+{tag}\s*+>", re.IGNORECASE).search(doc, gt + 1)
            if close is None:
                return len(doc)
            self.sink.handle_data(doc[gt + 1 : close.start()])
            self.sink.handle_endtag(tag)
            return close.end()
        return gt + 1

    def _end_tag(self, i: int) -> int:
        doc = self.doc
        if i >= self.last_gt:
            return -1
        gt = doc.find(">", i + 2)
        if gt < 0:
            return -1
        exact = _END_TAG.match(doc, i, gt + 1)
        if exact is not None:
            self.sink.handle_endtag(exact.group(1).lower())
            return gt + 1
        tolerant = _END_TAG_TOLERANT.match(doc, i, gt + 1)
        if tolerant is not None:
            self.sink.handle_endtag(tolerant.group(1).lower())
        return gt + 1  # "</>" and "</ junk>" are dropped, as html.parser does


def html_to_text(
    html_text: str, *, max_quote_depth: int = MAX_QUOTE_DEPTH, max_chars: int = MAX_TEXT_CHARS
) -> str:
    """Readable text of an HTML document, at most `max_chars` long; never raises."""
    sink = _TextExtractor(max_quote_depth, max_chars)
    try:
        _Tokenizer(html_text, sink).run()
    except Exception:  # an odd input must not stop a mail
        pass
    text = sink.text().replace("\xa0", " ")
    return _BLANK_RUNS.sub("\n\n", text)[:max_chars]
