"""Numerals however they are written, to digits, and the checks a number's digits can pass.

    ZH_DIGITS, EN_DIGITS   one character or word: one digit (幺 one, 洞 zero, 拐 seven, 勾 nine:
                           the radio and police readings; 壹 贰 叁 the financial forms; "oh", "nil")
    EN_TENS, EN_TEENS      English numbers read in pairs ("forty", "sixty-two", "eleven")
    hundreds(value)        "四百八十二" -> "482": a code read in threes
    pair(word)             "sixty-two" -> "62"
    luhn(digits)           a card number's check
    resident_id(digits)    a mainland resident ID (GB 11643): birth date and check character
    runs(text)             maximal runs of number tokens however written, as digits (one pass)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import intake.triage.prescan as prescan

ZH_DIGITS = {"零": "0", "〇": "0", "○": "0", "洞": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "兩": "2", "三": "3", "四": "4",
             "五": "5", "六": "6", "七": "7", "拐": "7", "八": "8", "九": "9", "勾": "9",
             # the financial forms (大写), written so a number cannot be altered or, here, read by a bot
             "壹": "1", "贰": "2", "貳": "2", "叁": "3", "參": "3", "肆": "4", "伍": "5", "陆": "6", "陸": "6",
             "柒": "7", "捌": "8", "玖": "9"}
# For a regular expression's character class: every character ZH_DIGITS reads.
ZH_NUMERALS = "".join(ZH_DIGITS)
EN_DIGITS = {"zero": "0", "oh": "0", "o": "0", "nil": "0", "one": "1", "two": "2", "three": "3", "four": "4",
             "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
EN_TENS = {"twenty": "2", "thirty": "3", "forty": "4", "fourty": "4", "fifty": "5", "sixty": "6", "seventy": "7",
           "eighty": "8", "ninety": "9"}
EN_TEENS = {"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
            "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19"}


def hundreds(value: str) -> str:
    """"四百八十二" 482, "九百一十三" 913, "三百零五" 305, "五百" 500: a code read in threes."""
    head, _, rest = value.partition("百")
    tens, _, units = rest.lstrip("零〇").rpartition("十") if "十" in rest else ("", "", rest.lstrip("零〇"))
    return (ZH_DIGITS[head] + (ZH_DIGITS.get(tens, "1") if "十" in rest else "0")
            + (ZH_DIGITS[units] if units else "0"))


def pair(word: str) -> str:
    """"forty" 40, "sixty-two" 62, "eleven" 11 (folded)."""
    if word in EN_TEENS:
        return EN_TEENS[word]
    tens, _, unit = word.replace("-", " ").partition(" ")
    if not unit:  # "sixtytwo"
        for name in EN_TENS:
            if word.startswith(name):
                tens, unit = name, word[len(name):]
    return EN_TENS[tens] + (EN_DIGITS[unit] if unit else "0")


def luhn(digits: str) -> bool:
    if not digits.isdigit():  # an X inside a run ("…002X1…"): no card number
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(digits: str) -> bool:
    """A mainland resident ID (GB 11643): a birth date at 7-14 and the ISO 7064 check."""
    if not digits[:17].isdigit() or not ("1900" <= digits[6:10] <= "2029"):
        return False
    if not ("01" <= digits[10:12] <= "12" and "01" <= digits[12:14] <= "31"):
        return False
    check = "10X98765432"[sum(int(d) * w for d, w in zip(digits, _ID_WEIGHTS)) % 11]
    return digits[17] == check


# One token of a number: a run of digits (any script's, full-width too), a run of Chinese
# numerals, one English digit word or "double"/"triple", a pair read as a number ("forty",
# "sixty-two", "eleven": UK sort codes and phone numbers are read in pairs), or an X that may
# end an ID.
_TOKEN = re.compile(
    r"(?P<d>\d+)|(?P<h>[一二两兩三四五六七八九]百(?:[零〇][一二三四五六七八九]|[一二三四五六七八九]?十[一二三四五六七八九]?)?)"
    rf"(?![{ZH_NUMERALS}十百千万萬亿億])|(?P<z>[{ZH_NUMERALS}]+)|(?P<x>[xX叉]\b|叉)"
    rf"|(?<![A-Za-z])(?P<t>(?:{'|'.join(EN_TENS)})(?:[- ]?(?:one|two|three|four|five|six|seven|eight|nine)(?![A-Za-z]))?"
    rf"|{'|'.join(EN_TEENS)})(?![A-Za-z])"
    # "nine hundred" in a UK number read out ("oh seven seven double oh, nine hundred, five two three")
    r"|(?<![A-Za-z])(?P<u>(?:one|two|three|four|five|six|seven|eight|nine)[ -]hundred)(?![A-Za-z])"
    r"|(?<![A-Za-z])(?P<w>zero|oh|o|nil|one|two|three|four|five|six|seven|eight|nine|double|triple)(?![A-Za-z])",
    re.IGNORECASE,
)
# Where a token can begin (`prescan.finditer_from`): a digit or Chinese numeral that does not
# continue a run of them (the run's first one began the token), an X, or the first letter
# of a digit word (ſ is s under IGNORECASE) that no ASCII letter precedes.
_TOKEN_STARTS = re.compile(
    rf"[\dxX叉{ZH_NUMERALS}zZoOnNtTfFsSſeEdD](?<![A-Za-z][zZoOnNtTfFsSſeEdD])(?<!\d\d)"
    rf"(?<![{ZH_NUMERALS}][{ZH_NUMERALS}])"
)
# Typed groups of this many digits or more, with a comma between them, are items of a list:
# no card, account or phone number is written in groups that long with commas between.
_LISTED = 5
_LIST_MARK = re.compile(r"[,，、]")
_GAP_MAX = 12  # characters between two tokens of one number ("，呃，", ", uh, ")
# No "+": it starts another number ("…TX 78705\n+1 512…"), it never joins two pieces of one.
_GAP = re.compile(r"(?:[\s,，、\-‐‑–—_/()（）:：]|uh|um|er|erm|ah|呃|嗯|啊|那个|dash|hyphen|space)*", re.IGNORECASE)


@dataclass(frozen=True)
class Run:
    start: int
    end: int
    digits: str  # "0".."9", with a final "X" for a resident ID
    spoken: bool


def runs(text: str) -> Iterator[Run]:
    """Maximal runs of number tokens joined by short separators, in order."""
    start = end = -1
    digits: list[str] = []
    spoken = False
    repeat = 1
    typed = 0  # digits in the previous token, when it was typed digits
    for match in prescan.finditer_from(_TOKEN, _TOKEN_STARTS, text):
        kind, value = match.lastgroup, match.group()
        gap_ok = end >= 0 and match.start() - end <= _GAP_MAX and _GAP.fullmatch(text, end, match.start()) is not None
        if gap_ok and kind == "d" and min(typed, len(value)) >= _LISTED and _LIST_MARK.search(text, end, match.start()):
            gap_ok = False  # "creative IDs 901233, 901234, 901240": a list, not one number in groups
        typed = len(value) if kind == "d" else 0
        if not gap_ok and digits:
            yield Run(start, end, "".join(digits), spoken)
            digits, spoken, repeat = [], False, 1
        if kind == "x":
            if len(digits) in (14, 17):  # an ID's check character
                digits.append("X")
                end = match.end()
            elif digits:
                yield Run(start, end, "".join(digits), spoken)
                digits, spoken, repeat, end = [], False, 1, -1
            continue
        if not digits:
            start = match.start()
        end = match.end()
        if kind == "d":
            digits.extend(value if value.isascii() else (str(int(c)) for c in value))
        elif kind == "z":
            digits.extend(ZH_DIGITS[c] for c in value)
            spoken = True
        elif kind == "h":
            digits.extend(hundreds(value))
            spoken = True
        elif kind == "t":
            digits.extend(pair(prescan.fold(value)))
            spoken, repeat = True, 1
        elif kind == "u":
            digits.extend(EN_DIGITS[prescan.fold(value)[:-8]] + "00")
            spoken, repeat = True, 1
        else:
            # Folded as `re.IGNORECASE` matched it: "ſix" (long s), "nİne" are six and nine.
            word = prescan.fold(value)
            if word in ("double", "triple"):
                repeat = 2 if word == "double" else 3
                continue
            digits.extend(EN_DIGITS[word] * repeat)
            spoken, repeat = True, 1
    if digits:
        yield Run(start, end, "".join(digits), spoken)
