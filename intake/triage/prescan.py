"""Exact shortcuts for the detectors: a pattern that cannot match is not run.

Most detectors of `privacy.py` and `numbers.py` are case-insensitive patterns that cannot
match unless one of a few words occurs ("password", "验证码", "passport"...), and Python's
`re` tries every alternative at every character of the text to find out. Here the text is
folded once and the words looked for with `str.__contains__` (C, a few bytes a nanosecond);
a pattern whose words are all absent is skipped. The check may say "maybe" when the
pattern finds nothing (then the pattern runs, as before), never "no" when it would match.

Why the fold is exact: `re.IGNORECASE` on a str pattern lets a text character match a
pattern letter when its simple lowercase is that letter, or when the two are in `re`'s
short list of extra equivalences (i and dotless ı, s and long ſ). `str.lower()` gives the
simple lowercase for every character but İ (U+0130), which becomes "i" + U+0307; so the
fold drops U+0307 and maps ı and ſ. Every character a pattern word can match then folds to
that word's own letter, and a match in the text is a substring of the fold.
tests/unit/test_triage_prescan.py checks this over every code point.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator


def fold(text: str) -> str:
    """`text` folded so that an `re.IGNORECASE` match of a lower-case word is a substring."""
    folded = text.lower()
    if not folded.isascii():
        folded = folded.replace("\u0307", "").replace("\u0131", "i").replace("\u017f", "s")
    return folded


def any_in(folded: str, words: Iterable[str]) -> bool:
    """Whether one of `words` (lower case) occurs in `folded`: False means no pattern match."""
    for word in words:
        if word in folded:
            return True
    return False


# The words one of which every match of a pattern contains (lower case). Keep each beside
# its pattern when the pattern changes: a word missing here is a detector skipped.
SECRET_WORDS = ("密码", "密碼", "口令", "pass", "pw", "pin")  # privacy._SECRET_WORD
CODE_WORDS = ("验证码", "驗證碼", "校验码", "校驗碼", "动态码", "動態碼", "短信码", "简讯码", "code", "otp", "pin")
CODE_BEFORE_WORDS = ("验证码", "驗證碼", "code")
PASSPORT_WORDS = ("passport", "护照", "護照")
BANK_ACCOUNT_WORDS = ("银行账号", "銀行帳號", "银行帐号", "收款账号", "收款帳號", "对公账户", "對公帳戶", "银行账户",
                      "銀行帳戶", "account ", "routing ", "iban", "acct ")
ID15_WORDS = ("身份证", "身份證", "id card", "identity")
ADDRESS_CUE_WORDS = ("address", "deliver to", "ship to", "flat", "house no", "hno", "h.no", "h no", "h. no", "door no",
                     "plot no", "地址", "住址", "住在")
_EQUIVALENTS = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}  # beyond upper case (see the fold)


def word_starts(literals: str, words: str) -> re.Pattern[str]:
    """The `starts` of an IGNORECASE pattern `literal|...|\\b(?:word|...)\\b` (words and
    literals given space-separated): a literal's first character, or a word's first letter
    in any case at a word start; either followed by a second character one of them has."""
    def cased(chars: set[str]) -> str:
        return "".join(sorted(c + c.upper() + _EQUIVALENTS.get(c, "") for c in chars))

    firsts = cased({w[0] for w in words.split()})
    seconds = cased({w[1] for w in (*words.split(), *literals.split())})
    literal_firsts = cased({w[0].lower() for w in literals.split()})  # "yzm" is a literal too: any case
    return re.compile(f"[{literal_firsts}{firsts}](?<!\\w[{firsts}])(?=[{re.escape(seconds)}])")


def finditer_from(pattern: re.Pattern[str], starts: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """What `pattern.finditer(text)` yields, trying `pattern` only where `starts` matches.

    For patterns that `re` cannot scan fast (a look-behind or an alternation first: every
    character is tried against every branch): `starts` is one character class, which `re`
    scans in a tight C loop, plus look-behinds. It must match at every position where a
    match of `pattern` can begin (more positions cost time, fewer lose matches), and
    `pattern` must never match the empty string. A match tried at a position is the one
    `finditer` would try there (look-behinds see the text before it), so the result is
    the same, match for match.
    """
    end = 0
    match = pattern.match
    for start in starts.finditer(text):
        position = start.start()
        if position < end:
            continue
        found = match(text, position)
        if found is not None:
            yield found
            end = found.end()
