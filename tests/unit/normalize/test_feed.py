"""`_feed.parse_bytes` is the stdlib's BytesParser without a regex compile per boundary: the
same message tree (parts, payloads, preambles, epilogues, defects) for every mail of the
shared corpus, for generated mail, and for hostile boundaries (regex metacharacters, a
boundary that is a prefix of another, one 5,000 characters long, lines that almost match,
every kind of line ending and trailing white space after a boundary)."""

from __future__ import annotations

import email.feedparser
import re
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

import pytest

from intake.normalize import _feed
from tests.support import gen_mail
from tests.support.shared import need_shared



def tree(message: Message) -> Any:
    parts = []
    for part in message.walk():
        payload = part.get_payload() if part.is_multipart() else part.get_payload(decode=False)
        parts.append((list(part.raw_items()), part.preamble, part.epilogue,
                      [type(d).__name__ for d in part.defects],
                      None if part.is_multipart() else payload))
    return parts


def same_as_stdlib(raw: bytes, which: Any = policy.compat32) -> None:
    assert tree(_feed.parse_bytes(raw, which)) == tree(BytesParser(policy=which).parsebytes(raw))


def test_every_corpus_mail_parses_as_the_stdlib_parses_it() -> None:
    corpus = need_shared("corpus", "email")
    files = [p for p in sorted(corpus.rglob("*")) if p.is_file() and p.suffix not in (".tsv",)]
    assert len(files) > 200
    for path in files:
        raw = path.read_bytes()
        same_as_stdlib(raw)
        same_as_stdlib(raw, policy.default)


def test_generated_mail_parses_as_the_stdlib_parses_it() -> None:
    for i in range(300):
        same_as_stdlib(gen_mail.generate(i, seed=7))


def multipart(boundary: str, parts: list[str], closing: str = "--", tail: str = "\r\n") -> bytes:
    body = "".join(f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n{text}\r\n" for text in parts)
    return (f'From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n'
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\npreamble\r\n'
            f'{body}--{boundary}{closing}{tail}epilogue\r\n').encode("utf-8", "surrogateescape")


@pytest.mark.parametrize("boundary", [
    "simple", "a.b*c+d?e(f)g[h]i{j}k|l^m$n\\o", "=_Part_0_12345.67890", "--", "-", "x" * 70,
    "b" * 5000, "a b\tc", "(?P<sep>x)", "(?P<end>--)?$", "ü-boundary",
])
@pytest.mark.parametrize("tail", ["\r\n", "\n", "\r", "", "  \t\r\n", " x\r\n"])
def test_hostile_boundaries_parse_as_the_stdlib_parses_them(boundary: str, tail: str) -> None:
    same_as_stdlib(multipart(boundary, ["one", f"--{boundary}x not a boundary", f" --{boundary}", "two"], tail=tail))
    same_as_stdlib(multipart(boundary, ["one", "two"], closing="", tail=tail))  # no closing line


def test_nested_boundaries_that_prefix_each_other() -> None:
    inner = (b'--ab\r\nContent-Type: multipart/alternative; boundary="ab-c"\r\n\r\n--ab-c\r\n'
             b'Content-Type: text/plain\r\n\r\ninner\r\n--ab-c--\r\n--ab\r\nContent-Type: text/plain\r\n\r\nouter\r\n--ab--\r\n')
    same_as_stdlib(b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="ab"\r\n\r\n' + inner)


def test_many_boundary_lengths_keep_the_pattern_cache_bounded() -> None:
    for n in range(1, 700):
        same_as_stdlib(multipart("q" * n, ["x"]))
    assert len(_feed._BY_LENGTH) <= 256


def test_the_process_wide_feedparser_is_left_alone() -> None:
    assert email.feedparser.re is re
    assert _feed._feedparser is not email.feedparser
    assert _feed._Re.compile("a+b") == re.compile("a+b")  # any other pattern: re's own
    separator = "--=_a.b(c)"
    built = _feed._Re.compile("(?P<sep>" + re.escape(separator) + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")
    assert isinstance(built, _feed._Boundary)  # the feedparser's own pattern: not compiled per boundary
    found = built.match(separator + "--  \r\n")
    assert found is not None and found.group("end") == "--" and found.group("linesep") == "\r\n"
    assert built.match("x" + separator) is None and built.match(separator + "x") is None


@pytest.mark.parametrize("ending", ["", "\r\n", "\n", "\r", "\n\r", "\r\r\n", "\n\n", " ", "\r\n "])
@pytest.mark.parametrize("body", ["", "x", "line\r\n" * 3, "é"])
def test_the_end_of_line_search_finds_what_the_stdlib_pattern_finds(body: str, ending: str) -> None:
    stdlib = email.feedparser.NLCRE_eol
    ours = _feed._feedparser.NLCRE_eol
    assert isinstance(ours, _feed._EndOfLine) and stdlib is not ours
    text = body + ending
    want, got = stdlib.search(text), ours.search(text)
    assert (want is None) == (got is None)
    if want is not None and got is not None:
        assert (got.span(), got.group(0), got.groups()) == (want.span(), want.group(0), want.groups())


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r", "", "\n\r"])
def test_parts_preambles_epilogues_and_unix_from_lose_their_last_line_break_as_in_the_stdlib(ending: str) -> None:
    for raw in (multipart("b", ["one" + ending, "two" + ending + ending]),
                ("From sender@example.com Mon Jan  1 00:00:00 2024" + ending + "From: a@example.com" + ending
                 + "Subject: x" + ending + ending + "body" + ending).encode()):
        same_as_stdlib(raw)
        same_as_stdlib(raw, policy.default)


def test_a_large_part_is_not_scanned_for_its_last_line_break() -> None:
    # The stdlib's pattern tries each position of the payload; this one looks at the end.
    # Counted, not timed: the search is handed a start two characters from the end.
    payload = "A" * 2_000_000
    raw = multipart("big", [payload, "small"])
    seen: list[tuple[int, int]] = []
    pattern = _feed._feedparser.NLCRE_eol.pattern

    class Spy:
        def search(self, string: str, pos: int = 0) -> re.Match[str] | None:
            seen.append((len(string), pos))
            return pattern.search(string, pos)

    original = _feed._feedparser.NLCRE_eol.pattern
    _feed._feedparser.NLCRE_eol.pattern = Spy()  # type: ignore[assignment]
    try:
        same_as_stdlib(raw)
    finally:
        _feed._feedparser.NLCRE_eol.pattern = original
    assert seen and all(length - pos <= 2 for length, pos in seen)
