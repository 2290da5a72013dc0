"""Mail normalization stays linear, and bounded in output, on hostile input.

Generators aim at what went super-linear or blew up: 50,000 nested or unclosed tags
(html.parser rescanned the rest of the document from each: 24 KB of "<a " took 37 s),
nested <blockquote> (each level prefixed every line: 208 KB became 256 million
characters and 515 MB), 20,000 quoted lines, "From" and a run of spaces for the reply
cutter, 100 KB headers, and mails of 20,000 parts or attachments.

The bound: here the slowest of these takes ~1 s (100-200 KB) and the 2.3 MB mail ~2 s;
quadratic code at these sizes needs minutes. BOUND_SECONDS (10 s) leaves noisy machines
room and still catches it.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.normalize._charset import decode_header_value
from intake.normalize._html import MAX_QUOTE_DEPTH, MAX_TEXT_CHARS, html_to_text
from intake.normalize._reply import strip_reply
from intake.normalize.email import MailLimits, parse_email
from intake.normalize.loop import loop_signals
from intake.settings import Settings
from intake.triage.classify import MAX_SCORED_CHARS

BOUND_SECONDS = 10.0
HOSTILE = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])

T = TypeVar("T")


def within_bound(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND_SECONDS, f"{function.__name__} took {elapsed:.1f} s"
    return result


def _repeat(pieces: list[str], count: int) -> str:
    return "".join(pieces) * count


HTML_UNITS = [
    "<blockquote>", "<blockquote>line\n", "</blockquote>", "<div>", "<a ", "<a href='", '<a href="',
    "<!--", "-->", "<", "</", "<!", "<?", "<![CDATA[", "&", "&#", "&#123456789", "<script>",
    "<style>", "<pre>", "\n", "<br>", "<li>", "<td>x", "<img alt='x'>", "<p>text", "</p>", "> ",
    "<table><tr><td>", "<font><div>", "<b><p>",
]
hostile_html = st.builds(
    _repeat, st.lists(st.sampled_from(HTML_UNITS), min_size=1, max_size=3), st.integers(10_000, 50_000)
)

TEXT_UNITS = [
    "> quoted line\n", ">", " ", "\n", "From", "From: a\n", "Sent: b\n", "*", "-", "--",
    "On Mon, Jan 1, someone wrote:\n", "On ", "x ", "在", "写道", "@", " wrote", "发件人：",
    "------------------ 原始邮件 ------------------\n", "Sent from my iPhone\n", "=?utf-8?B?",
    "=?utf-8?B?YWJj?= ", "=?gb2312?Q?=B0=A1?=", "?=", "a",
]
hostile_lines = st.builds(
    _repeat, st.lists(st.sampled_from(TEXT_UNITS), min_size=1, max_size=3), st.integers(5_000, 20_000)
)


@HOSTILE
@given(document=hostile_html)
def test_html_to_text_is_linear_and_bounded(document: str) -> None:
    text = within_bound(html_to_text, document)
    assert len(text) <= MAX_TEXT_CHARS


def test_html_caps_are_keyword_arguments() -> None:
    text = html_to_text("<blockquote>" * 50 + "deep", max_quote_depth=3, max_chars=100)
    assert text == "> > > deep"
    assert len(html_to_text("<p>word</p>" * 10_000, max_chars=1_000)) <= 1_000


@HOSTILE
@given(text=hostile_lines)
def test_reply_cutting_is_linear(text: str) -> None:
    within_bound(strip_reply, text)


@HOSTILE
@given(text=hostile_lines)
def test_header_decoding_and_loop_signals_are_linear(text: str) -> None:
    within_bound(decode_header_value, text)
    within_bound(loop_signals, {"subject": [text]}, sender=text, subject=text)


def test_reply_header_with_a_long_run_of_spaces() -> None:
    # `\s*\**\s*` tried every split of the spaces between its two halves.
    within_bound(strip_reply, "From" + " " * 200_000 + "x\nSent: now")


def _mail(body: str, *, ctype: str = "text/plain; charset=utf-8", headers: str = "") -> bytes:
    return (
        f"From: a@example.com\nTo: b@example.com\nSubject: hi\n{headers}Content-Type: {ctype}\n\n{body}"
    ).encode("utf-8")


def test_nested_blockquote_mail_of_200_kb_is_bounded_in_time_and_memory() -> None:
    raw = _mail("<blockquote>line of text\n" * 8_320, ctype="text/html; charset=utf-8")
    assert 200_000 < len(raw) < 220_000
    tracemalloc.start()
    try:
        msg = within_bound(parse_email, raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # It was 256 million characters of text and 515 MB; now each line has at most ten "> ".
    assert peak < 200 * 1024 * 1024
    assert len(msg.text) <= MAX_TEXT_CHARS
    assert max(len(line) for line in msg.text.splitlines()) <= len("> " * MAX_QUOTE_DEPTH + "line of text")


def test_nested_blockquote_mail_of_2_mb_is_bounded() -> None:
    raw = _mail("<blockquote>line of text\n" * 92_000, ctype="text/html; charset=utf-8")
    msg = within_bound(parse_email, raw)
    assert len(msg.text) <= MAX_TEXT_CHARS


def test_a_100_kb_subject_is_cut_to_the_header_cap() -> None:
    raw = _mail("hi").replace(b"Subject: hi", b"Subject: " + b"a" * 100_000)
    msg = within_bound(parse_email, raw)
    assert len(msg.subject) == MailLimits().max_header_chars
    encoded = _mail("hi").replace(b"Subject: hi", b"Subject: " + b"=?utf-8?B?YWJj?= " * 6_000)
    assert within_bound(parse_email, encoded).subject.startswith("abcabc")


def test_a_100_kb_address_header() -> None:
    raw = _mail("hi").replace(b"From: a@example.com", b"From: " + b"a@" * 50_000)
    within_bound(parse_email, raw)


def test_parts_beyond_the_cap_are_skipped() -> None:
    parts = "".join(f"--B\nContent-Type: text/plain\n\npart {i}\n" for i in range(20_000))
    msg = within_bound(parse_email, _mail(parts + "--B--\n", ctype='multipart/mixed; boundary="B"'))
    assert msg.parse_error == "more than 1000 MIME parts; the rest skipped"
    assert "part 998" in msg.text and "part 999" not in msg.text  # the root is part 1


def test_attachments_beyond_the_cap_are_counted_as_skipped() -> None:
    parts = "".join(
        f"--B\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=a{i}.bin\n\nxx\n"
        for i in range(300)
    )
    raw = _mail(parts + "--B--\n", ctype='multipart/mixed; boundary="B"')
    msg = parse_email(raw, limits=MailLimits(max_attachments=100))
    assert len(msg.attachments) == 100
    assert msg.extra_value("attachments_skipped") == "200"


def test_deep_nesting_is_cut_before_the_stdlib_parser() -> None:
    # The parser's time is lines x depth: 5,000 levels took 21 s and hit the recursion limit.
    nested = "".join(f'--b{i}\nContent-Type: multipart/mixed; boundary="b{i + 1}"\n\n' for i in range(5_000))
    msg = within_bound(parse_email, _mail(nested + "x\n" * 100_000, ctype='multipart/mixed; boundary="b0"'))
    assert msg.parse_error == "MIME nesting too deep; inner parts skipped"
    assert msg.sender == "a@example.com"


def test_nesting_within_the_cap_is_read_whole() -> None:
    nested = "".join(f'--b{i}\nContent-Type: multipart/mixed; boundary="b{i + 1}"\n\n' for i in range(5))
    closing = "".join(f"--b{i}--\n" for i in reversed(range(6)))
    raw = _mail(nested + "--b5\nContent-Type: text/plain\n\ndeep text\n" + closing, ctype='multipart/mixed; boundary="b0"')
    msg = parse_email(raw)
    assert msg.parse_error is None and msg.text == "deep text"


def test_big_plain_and_quoted_mails_are_linear() -> None:
    within_bound(parse_email, _mail("a" * 1_000_000))
    within_bound(parse_email, _mail("> quoted line\n" * 20_000))


def test_settings_defaults_match_the_pure_functions_defaults() -> None:
    configured = Settings()
    limits = MailLimits()
    assert configured.mail_max_parts == limits.max_parts
    assert configured.mail_max_attachments == limits.max_attachments
    assert configured.mail_max_header_chars == limits.max_header_chars
    assert configured.mail_max_nesting == limits.max_nesting
    assert configured.html_max_quote_depth == limits.html_max_quote_depth == MAX_QUOTE_DEPTH
    assert configured.html_max_text_chars == limits.html_max_text_chars == MAX_TEXT_CHARS
    assert configured.triage_max_scored_chars == MAX_SCORED_CHARS
