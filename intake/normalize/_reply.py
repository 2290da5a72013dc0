"""Cut quoted history and signatures off a mail body: what the sender newly wrote.

mail-parser-reply's English rules are good, but its Chinese ones cannot work (its zh
"wrote" pattern is excluded by its own negative look-ahead, its header rules expect an
ASCII colon where Chinese clients write "：", and it strips every line and treats any
"- item" line as a signature). So the rules live here (`_reply_headers`), for the clients
our users have: Gmail / Apple Mail ("On ... wrote:"), QQ / NetEase / Foxmail ("在 ... 写道：",
"------------------ 原始邮件 ------------------"), Outlook ("From: ... Sent: ...",
"发件人：... 发送时间：..."), their translations, and "> " quoting.

Each line is marked (blank, quoted, header, forward marker, text), as mailgun/talon does
(Apache-2.0), and the marks decide: a header followed by unquoted text starts history that
runs to the end (Outlook quotes without ">"); a header followed by quoted lines starts a
quote after which the sender may write again (a reply below the quote, inline answers);
a forward marker with only text before it starts a forwarded mail, which for a support
desk is the case itself and is kept. One pass over the lines, each looked at a bounded
number of times: linear in the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from intake.normalize._reply_headers import BARE_ADDRESS, RULE, header_span, is_forward_marker, split_shared_line

# "-- " is the RFC 3676 §4.3 signature separator; many clients strip the trailing space.
_SIGNATURE = re.compile(r"^--\s*+$")
_SENT_FROM = re.compile(
    r"^(?:Sent from my .{1,40}|Sent from (?:Mail|Outlook) for .{1,30}|Get Outlook for .{1,30}|Sent with .{1,60}"
    r"|发自我的.{1,30}|从我的.{1,30}发送|來自我的.{1,30}|寄自我的.{1,30}|发自.{0,10}(?:邮箱|郵箱|手机|iPhone|iPad)(?:大师|大師)?)\s*$",
    re.IGNORECASE,
)
# Mailman's footer: a rule of underscores, then "<list> mailing list" or the listinfo URL.
_LIST_FOOTER = re.compile(r"mailing list|/listinfo/|^To unsubscribe", re.IGNORECASE)
_QUOTED = re.compile(r"^[ \t]*+>")
_FORWARD_SUBJECT = re.compile(r"^\s*+(?:Fwd?|FW|TR|WG|VS|RV|Doorst|转发|轉寄|轉發)\s*+[:：]", re.IGNORECASE)

# Zapier's "-Abhishek Kona": a dash and a name closing the mail.
_DASH_NAME = re.compile(r"^-[^\s\-][^\n]{0,40}$")
# A long link the client broke out of its quote: "(http://x/y) >", "_nonce=3dd518)".
_LINK_PIECE = re.compile(r"://|^[^\s]{1,200}[)=/_]$")

BLANK, QUOTED, HEADER, CONTINUED, FORWARD, TEXT, SIGNATURE = "e", "m", "s", "c", "f", "t", "g"


@dataclass(frozen=True)
class ReplyCut:
    """The new text of a mail, and what was cut to get it."""

    text: str
    cut_chars: int = 0  # characters of quoted history and signature left out
    forwarded: bool = False  # the mail forwards another one, kept in `text`


def is_forward_subject(subject: str) -> bool:
    return bool(_FORWARD_SUBJECT.match(subject[:100]))


def _lines_of(text: str) -> list[str]:
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        shared = split_shared_line(line)
        lines.extend(shared if shared else (line,))
    return lines


def _marks(lines: list[str]) -> list[str]:
    marks: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped:
            marks.append(BLANK)
        elif _QUOTED.match(line):
            marks.append(QUOTED)
        elif is_forward_marker(stripped):
            marks.append(FORWARD)
        else:
            span = header_span(lines, index)
            if span:
                marks.extend([HEADER] + [CONTINUED] * (span - 1))
                # Outlook draws a rule above its header block, sometimes a blank line away.
                back = index - 1
                while back >= 0 and marks[back] == BLANK and index - back <= 3:
                    back -= 1
                if back >= 0 and marks[back] == TEXT and (
                    RULE.match(lines[back].strip()) or BARE_ADDRESS.match(lines[back].strip()[:400])
                ):
                    marks[back] = HEADER
                    for between in range(back + 1, index):
                        marks[between] = CONTINUED
                    marks[index] = CONTINUED
                index += span
                continue
            marks.append(TEXT)
        index += 1
    for index in range(1, len(marks) - 1):
        if marks[index] == TEXT and marks[index - 1] == QUOTED and marks[index + 1] == QUOTED:
            if _LINK_PIECE.search(lines[index].strip()[:300]):
                marks[index] = QUOTED
    # "Sent from my iPhone" closes the mail only at its very end (else it is kept, as
    # talon keeps it above a quote).
    for index in range(max(0, len(marks) - 4), len(marks)):
        if marks[index] == TEXT and _SENT_FROM.match(lines[index].strip()[:200]):
            marks[index] = SIGNATURE
            break
    return marks


def _longest_quote_run(marks: list[str]) -> int:
    longest = run = 0
    for mark in marks:
        if mark == QUOTED:
            run += 1
            longest = max(longest, run)
        elif mark != BLANK:
            run = 0
    return longest


def _next_significant(marks: list[str], index: int) -> int | None:
    """The first line after `index` that is neither blank nor part of the same header."""
    for following in range(index + 1, len(marks)):
        if marks[following] not in (BLANK, CONTINUED):
            return following
    return None


def _drop_trailing_blanks(kept: list[str]) -> None:
    while kept and not kept[-1].strip():
        kept.pop()


def _without_history(lines: list[str], marks: list[str]) -> list[str]:
    # A stray ">>> link <<<" line is not a quote: with no header, a quote is >= 2 lines.
    quotes_are_text = HEADER not in marks and _longest_quote_run(marks) < 2
    kept: list[str] = []
    index = 0
    skip_blanks = False
    while index < len(lines):
        mark = marks[index]
        if mark == QUOTED and quotes_are_text:
            mark = TEXT
        if mark == SIGNATURE:
            break
        if mark == HEADER:
            following = _next_significant(marks, index)
            if following is None or marks[following] != QUOTED:
                break  # unquoted history (Outlook, "-----Original Message-----"): to the end
            index = following  # the header, then the quote it introduces
            skip_blanks = True
            continue
        if mark == QUOTED:
            if not skip_blanks:
                _drop_trailing_blanks(kept)  # "answer\n\n> more quote\n\nanswer": one line apart
            while index < len(lines) and marks[index] in (QUOTED, BLANK):
                index += 1
            skip_blanks = True
            continue
        if mark == BLANK and skip_blanks:
            index += 1
            continue
        skip_blanks = False
        kept.append(lines[index])
        index += 1
    return kept


def _without_signature(kept: list[str]) -> list[str]:
    for index, line in enumerate(kept):
        stripped = line.strip()
        if _SIGNATURE.match(line) or (
            RULE.match(stripped) and any(_LIST_FOOTER.search(after[:200]) for after in kept[index + 1 : index + 4])
        ):
            kept = kept[:index]
            break
    _drop_trailing_blanks(kept)
    if len(kept) > 2 and not kept[-2].strip() and _DASH_NAME.match(kept[-1].strip()):
        kept = kept[:-1]
    return kept


def _joined(lines: list[str]) -> str:
    return "\n".join(lines).strip()


def cut_reply(text: str, *, forward_subject: bool = False) -> ReplyCut:
    """The newly written part of `text`: no quoted history, no signature; a forwarded mail kept.

    `forward_subject`: the subject says "Fwd:", so a header block with only text before it
    opens the forwarded mail (Outlook forwards with the same block it replies with).
    Never empty when `text` has content: if cutting would leave nothing, the quoted lines
    alone are removed, and failing that the text is kept.
    """
    whole = text.strip()
    if not whole:
        return ReplyCut(whole)
    lines = _lines_of(text)
    marks = _marks(lines)
    opening = next((i for i, mark in enumerate(marks) if mark not in (BLANK, TEXT)), None)
    if opening is not None and (
        marks[opening] == FORWARD or (forward_subject and marks[opening] == HEADER)
    ):
        head = _joined(_without_signature(lines[:opening]))
        forwarded = _joined(lines[opening:])
        result = (head + "\n\n" + forwarded) if head else forwarded
        return ReplyCut(result, max(0, len(whole) - len(result)), forwarded=True)
    result = _joined(_without_signature(_without_history(lines, marks)))
    if not result:
        # Only a quote, or only a header and history: keep what is not quoted.
        result = _joined([line for line, mark in zip(lines, marks) if mark not in (QUOTED, HEADER, CONTINUED)])
    if not result:
        result = whole
    return ReplyCut(result, max(0, len(whole) - len(result)))


def strip_reply(text: str) -> str:
    """The newly written part of `text` (see `cut_reply`)."""
    return cut_reply(text).text
