"""The lines that introduce quoted history or a forwarded mail, in the languages we see.

Each test here looks at one line, or at a few short lines joined (a client wraps a long
"On ..., Name <address> wrote:"), never at more than `MAX_HEADER_CHARS` characters, so a
pattern's backtracking is bounded by a constant and the cutter stays linear in its input.

Several forms were learnt from mailgun/talon's `quotations.py` (Apache-2.0): its
"On ... wrote" verbs in Dutch, Polish, Swedish/Norwegian/Danish and Vietnamese, the
"date <address>:" splitter, "---- X wrote ----" (Android), the "Ursprüngliche Nachricht",
"Antwort Nachricht" and "Oprindelig meddelelse" separators, header blocks that start with
"Date:", the Danish and Swedish Outlook fields, and "---------- Forwarded message" marking
a forward rather than a reply. The patterns themselves are written anew, possessive where
a run could be given back.
"""

from __future__ import annotations

import re

MAX_HEADER_CHARS = 600
MAX_JOINED_LINES = 5  # a header wrapped over at most this many lines

# "On <date>, <name> wrote:" and its translations: an opening word, then a verb.
_ON_WROTE = re.compile(
    r"""^-*+\s*+
    (?:On|Am|Le|El|Em|Il|Op|Den|På|Pa|Vào|W\sdniu|Dnia|Dne|Em\sdata|Le\sdate)\s
    .{1,450}?(?:\s|(?<=>))
    (?:wrote(?:\s*+[:：])?       # "wrote" alone ends a header; other verbs need the colon
      |(?:sent|schrieb|a\s+écrit|escribió|escreveu|ha\s+scritto|schreef|het\s+volgende\s+geschreven
        |skrev|đã\s+viết|napisał|napisała|написал|написала|napsal)(?:\s[^:：]{0,100}+)?\s*+[:：])
    \s*+-*+\s*+$""",
    re.IGNORECASE | re.VERBOSE,
)
_ON_WROTE_START = re.compile(
    r"^-*+\s*+(?:On|Am|Le|El|Em|Il|Op|Den|På|Pa|Vào|W\sdniu|Dnia|Dne)\s", re.IGNORECASE
)
_OTHER_HEADERS = re.compile(
    r"""^(?:
        # 在 2025年2月12日 周三 12:20，张伟 <x@y> 写道：  张伟 <x@y> 于2025年2月12日周三 写道：
        (?=[^\d@\n]*+[\d@])[^\n]{0,250}?(?:写道|寫道|wrote)\s*+[:：]
        # Sent from Samsung MobileName <address@example.com> wrote:
      | Sent\sfrom\sSamsung[^\n]{0,200}?wrote\s*+:
        # ---- John Smith wrote ----  (Android)
      | -{2,}+\s*+[^\n]{1,200}?\swrote\s*+-{2,}+
        # 2014-10-17 11:28 GMT+03:00 Postmaster <postmaster@x.org>:
        # 02.04.2012 14:20 пользователь "bob@x.org" <bob@x.org> написал:
      | \d{1,4}[./-]\d{1,2}[./-]\d{1,4}\b[^\n@]{0,300}+@[^\n]{0,300}?(?:>|>\s*+:|:|написал\s*+:|написала\s*+:)
        # Thu, 26 Jun 2014 14:00:51 +0400 Bob <bob@example.com>:
      | [A-Za-z]{3},\s\d{1,2}\s[A-Za-z]{3,10}\s\d{4}[^\n@]{0,200}+@[^\n\s]{1,200}+(?<=:)
        # -----Original Message----- and its translations
      | -{2,}+\s*+(?:Original|Original\s+Message|Reply\s+Message|Ursprüngliche\s+Nachricht|Antwort\s+Nachricht
          |Oprindelig\s+meddelelse|Opprinnelig\s+melding|Ursprungligt\s+meddelande|Oorspronkelijk\s+bericht
          |Mensaje\s+original|Message\s+d'origine|Messaggio\s+originale|Mensagem\s+original
          |Wiadomość\s+oryginalna|Исходное\s+сообщение|Původní\s+zpráva
          |原始邮件|原始郵件|原邮件|原始信件|回复邮件|回复的原邮件)\s*+-{2,}+
    )\s*+$""",
    re.IGNORECASE | re.VERBOSE,
)
_FORWARD = re.compile(
    r"""^(?:
        -{2,}+\s*+(?:Forwarded\s+message|Forwarded\s+Message|Weitergeleitete\s+Nachricht|Message\s+transféré
          |Mensaje\s+reenviado|Doorgestuurd\s+bericht|Videresendt\s+meddelelse|Vidarebefordrat\s+meddelande
          |转发的邮件|轉寄的郵件|转发邮件信息|转发邮件)\s*+-{2,}+
      | (?:Begin\s+forwarded\s+message|Inizio\s+messaggio\s+inoltrato|Anfang\s+der\s+weitergeleiteten\s+Nachricht
        |Début\s+du\s+message\s+réexpédié|Comienzo\s+del\s+mensaje\s+reenviado)\s*+:|开始转发的邮件\s*+[:：]|開始轉寄郵件\s*+[:：]|以下是转发的邮件\s*+[:：]
    )\s*+$""",
    re.IGNORECASE | re.VERBOSE,
)
# Outlook-style header block: a From (or Date) line followed closely by other fields.
# Possessive runs (`\s*+`): "From" and 200 KB of spaces made `\s*\**\s*` try every split
# of the spaces between its two halves, quadratically.
_BLOCK_START = re.compile(
    r"^\**+\s*+(?:From|Date|发件人|寄件者|寄件人|Von|De|Fra|Från|Van|Od|От|Lähettäjä|Da)\s*+\**+\s*+[:：]",
    re.IGNORECASE,
)
_HEADER_FIELD = re.compile(
    r"^\**+\s*+(?:From|Sent|Date|To|Subject|Cc|发件人|发送时间|时间|日期|收件人|主题|抄送|傳送時間|寄件日期|收件者|主旨|副本|"
    r"Gesendet|Datum|An|Betreff|Envoyé|À|Objet|Sendt|Til|Emne|Skickat|Till|Ämne|Verzonden|Aan|Onderwerp|"
    r"Wysłano|Do|Temat|Отправлено|Кому|Тема|Enviado|Para|Asunto|Inviato|Oggetto)\s*+\**+\s*+[:：]",
    re.IGNORECASE,
)
RULE = re.compile(r"^[_\-=]{20,}+$")
# Foxmail writes the sender's address alone above its "From:" block.
BARE_ADDRESS = re.compile(r"^[^\s@<>]{1,100}@[^\s@<>]{1,200}$")
# "From" and "Reply" on one line with the reply: "reply On Wed, ... wrote:".
_SHARED_LINE_START = re.compile(r"(?<![A-Za-z0-9])On\s")


def _bounded(text: str) -> bool:
    return len(text) <= MAX_HEADER_CHARS


def is_single_header(stripped: str) -> bool:
    """One (unquoted, stripped) line is a reply header on its own."""
    if not _bounded(stripped):
        return False
    return bool(_ON_WROTE.match(stripped) or _OTHER_HEADERS.match(stripped))


def is_forward_marker(stripped: str) -> bool:
    return _bounded(stripped) and bool(_FORWARD.match(stripped))


def header_span(lines: list[str], index: int) -> int:
    """How many lines from `index` make up a reply header (0: none there).

    Tries the line alone, then joined with the next few (blank lines skipped): Gmail and
    Polish, Russian and Apple clients wrap a long header line.
    """
    stripped = lines[index].strip()
    if not stripped or not _bounded(stripped):
        return 0
    if is_single_header(stripped):
        return 1
    if is_outlook_block(lines, index):
        return 1
    if not (_ON_WROTE_START.match(stripped) or stripped[:1].isdigit() or stripped[:1] == "在" or "@" in stripped):
        return 0
    if not any(character.isdigit() for character in stripped):
        return 0  # the date: without it, "On Monday ...\n... wrote:" is likely prose
    joined = stripped
    for offset in range(1, MAX_JOINED_LINES):
        if index + offset >= len(lines):
            break
        more = lines[index + offset].strip()
        if not more:
            continue
        joined = joined + " " + more
        if not _bounded(joined):
            break
        if is_single_header(joined):
            return offset + 1
    return 0


def is_outlook_block(lines: list[str], index: int) -> bool:
    line = lines[index].lstrip(" \t")
    if len(line) > MAX_HEADER_CHARS or not _BLOCK_START.match(line):
        return False
    # One more header field within the next few lines ("发件人：" + "发送时间：", "From:" +
    # "Sent:"): a lone "From:" line is more likely prose.
    return any(
        _HEADER_FIELD.match(following.lstrip(" \t")[:MAX_HEADER_CHARS])
        for following in lines[index + 1 : index + 5]
    )


def split_shared_line(line: str) -> tuple[str, str] | None:
    """("reply", "On ... wrote:") when a reply and its header share one line."""
    stripped = line.rstrip()
    if not stripped.lower().endswith("wrote:") or stripped[:1] == ">":
        return None
    start = max(0, len(stripped) - MAX_HEADER_CHARS)  # only a header-sized tail is looked at
    for tried, found in enumerate(_SHARED_LINE_START.finditer(stripped, start)):
        if tried == 3:  # the header is the first "On" of its tail: a few tries, bounded work
            break
        if found.start() == 0:
            return None
        before = stripped[: found.start()]
        if is_single_header(stripped[found.start():].strip()):
            head = before.rstrip(" \t-")
            return (head, stripped[found.start():].strip()) if head else None
    return None
