"""Cut quoted history and signatures off a mail body, for English and Chinese mail.

mail-parser-reply's English rules are good, but its Chinese ones cannot work (its zh
"wrote" pattern is excluded by its own negative look-ahead, its header rules expect an
ASCII colon where Chinese clients write "：", and it strips every line and treats any
"- item" line as a signature). So the rules live here, for the clients our users have:
Gmail / Apple Mail ("On ... wrote:"), QQ / NetEase / Foxmail ("在 ... 写道：",
"------------------ 原始邮件 ------------------"), Outlook ("From: ... Sent: ...",
"发件人：... 发送时间：..."), and "> " quoting.
"""

from __future__ import annotations

import re

# A line that on its own introduces quoted history.
_REPLY_HEADER = re.compile(
    r"""^(?:
        On\s.{1,250}\swrote:?                          # Gmail, Apple Mail, Thunderbird
      | Le\s.{1,250}\sa\sécrit\s?:                      # French Gmail
      | Am\s.{1,250}\sschrieb.{0,80}:                   # German
      | (?=.*[\d@]).{0,250}(?:写道|寫道|wrote)\s*[:：]  # 在 2025年2月12日 周三 12:20，张伟 <x@y> 写道：
      | -{2,}\s*(?:Original\sMessage|原始邮件|原始郵件|原邮件|原始信件)\s*-{2,}
      | -{2,}\s*(?:Reply\sMessage|回复邮件)\s*-{2,}
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# Outlook-style header block: a From line followed closely by Sent/Date/To/Subject lines.
# Possessive runs (`\s*+`): "From" and 200 KB of spaces made `\s*\**\s*` try every split
# of the spaces between its two halves, quadratically; what follows each run never
# starts with a space or "*", so giving them back could not have matched anyway.
_FROM_LINE = re.compile(r"^\**+\s*+(?:From|发件人|寄件者|寄件人|Von|De)\s*+\**+\s*+[:：]", re.IGNORECASE)
_HEADER_FIELD = re.compile(
    r"^\**+\s*+(?:Sent|Date|To|Subject|Cc|发送时间|时间|日期|收件人|主题|抄送|傳送時間|寄件日期|收件者|主旨|副本|"
    r"Gesendet|An|Betreff|Envoyé|À|Objet)\s*+\**+\s*+[:：]",
    re.IGNORECASE,
)
_OUTLOOK_RULE = re.compile(r"^[_\-=]{20,}\s*$")
# "-- " is the RFC 3676 §4.3 signature separator; many clients strip the trailing space.
_SIGNATURE = re.compile(r"^--\s*$")
_SENT_FROM = re.compile(
    r"^(?:Sent from my .{1,40}|Sent from (?:Mail|Outlook) for .{1,30}|Get Outlook for .{1,30}"
    r"|发自我的.{1,30}|从我的.{1,30}发送|來自我的.{1,30}|寄自我的.{1,30}|发自.{0,10}(?:邮箱|郵箱|手机|iPhone|iPad))\s*$",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"^\s*>")


def _unquoted(line: str) -> str:
    return line.lstrip(" >\t").strip()


def _is_outlook_block(lines: list[str], index: int) -> bool:
    if not _FROM_LINE.match(_unquoted(lines[index])):
        return False
    # One more header field within the next few lines ("发件人：" + "发送时间：", "From:" +
    # "Sent:"): a lone "From:" line is more likely prose.
    return any(_HEADER_FIELD.match(_unquoted(line)) for line in lines[index + 1 : index + 5])


def _cut_index(lines: list[str]) -> int | None:
    """Index of the first line that begins quoted history or a signature."""
    for index, line in enumerate(lines):
        stripped = _unquoted(line)
        if not stripped and not line.startswith("--"):
            continue
        if _SIGNATURE.match(line.rstrip("\r")):
            return index
        if _REPLY_HEADER.match(stripped):
            return index
        if stripped.lower().startswith("on ") and index + 1 < len(lines):
            # Gmail wraps a long "On ..., Name <address> wrote:" line in two.
            if _REPLY_HEADER.match(stripped + " " + _unquoted(lines[index + 1])):
                return index
        if _is_outlook_block(lines, index):
            if index and _OUTLOOK_RULE.match(lines[index - 1].strip()):
                return index - 1
            return index
        if _SENT_FROM.match(stripped) and index >= len(lines) - 4:
            return index
    return None


def strip_reply(text: str) -> str:
    """The newly written part of `text`: no quoted history, no signature.

    Never empty when `text` has content: if cutting would leave nothing (a bottom-posted
    reply, say), the quoted lines are removed instead, and failing that the text is kept.
    """
    if not text.strip():
        return text.strip()
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _cut_index(lines)
    head = lines if cut is None else lines[:cut]
    kept = [line for line in head if not _QUOTED.match(line)]
    result = "\n".join(kept).strip()
    if result:
        return result
    # Bottom-posted: the new text follows the quote. Drop quoted lines and headers only.
    kept = [
        line
        for line in lines
        if not _QUOTED.match(line) and not _REPLY_HEADER.match(_unquoted(line))
    ]
    return "\n".join(kept).strip() or text.strip()
