"""The detectors' shortcuts (`prescan`) skip a pattern only when it cannot match.

A skipped pattern that would have matched is personal data left in clear: the fold is
checked over every code point, and each shortcut against its full scan on texts made of
the patterns' own words in every case `re.IGNORECASE` accepts (ſ, ı, İ, K).
"""

from __future__ import annotations

import re
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.triage import mentions, numbers, numerals, prescan, privacy, spoken
from intake.triage.privacy import detect_pii, redact

ALL_WORDS = sorted({
    word
    for words in (
        prescan.SECRET_WORDS, prescan.CODE_WORDS, prescan.CODE_BEFORE_WORDS, prescan.PASSPORT_WORDS,
        prescan.BANK_ACCOUNT_WORDS, prescan.ID15_WORDS, prescan.ADDRESS_CUE_WORDS, *mentions.CONTEXT_WORDS.values(),
    )
    for word in words
})
# A fold that holds every word: every shortcut says "maybe", so every pattern runs.
EVERYTHING = " ".join(ALL_WORDS)
EVERY_CHARACTER = "".join(chr(c) for c in range(sys.maxunicode + 1))


def test_every_word_is_lower_case() -> None:
    assert all(word == prescan.fold(word) for word in ALL_WORDS)


def test_every_word_is_plain_text_not_a_piece_of_pattern() -> None:
    # "账号\\s?id" was a reference word: never a substring of a fold, so a text whose only
    # reference was "账号ID" skipped the reference scan, and an amount after it was masked
    # as a bank account ("广告账户（账户ID：ADV-…）… 人民币 186,400.00 元").
    assert [word for word in ALL_WORDS if re.search(r"[\\()\[\]{}?*+|^$]", word)] == []


@pytest.mark.parametrize("letter", sorted({c for word in ALL_WORDS for c in word} | set("abcdefghijklmnopqrstuvwxyz")))
def test_every_character_re_ignorecase_matches_to_a_letter_folds_to_it(letter: str) -> None:
    matched = re.compile(re.escape(letter), re.IGNORECASE).findall(EVERY_CHARACTER)
    assert matched and all(prescan.fold(char) == letter for char in matched), letter


def test_lower_keeps_one_character_but_for_dotted_capital_i() -> None:
    longer = [c for c in EVERY_CHARACTER if len(c.lower()) != 1]
    assert longer == ["\u0130"]


def _variants(word: str) -> list[str]:
    return [word, word.upper(), word.title(), word.replace("s", "\u017f"), word.replace("i", "\u0130"),
            word.replace("i", "\u0131"), word.replace("k", "\u212a"), word.replace("c", "C")]


UNITS = sorted({v for word in ALL_WORDS for v in _variants(word)} | {
    "Password is ", "PIN: ", "Passport No. ", "account number: ", " is 4829 ", " 1234 ", "E1234567 ",
    "110105194912310 ", "4111 1111 1111 1111 ", "139 0123 4567 ", "one two three four five six seven ",
    "double nine ", "ſix ", "n\u0130ne ", "Rosegarden52 ", "AB123456C ", "\n", ", ", "。", ": ", " ", "号",
    "地址是北京市朝阳区建国路88号 ", "my address is 12 Baker Street\n", "zip code 10001 ", "error code 1004 ",
})
texts = st.lists(st.sampled_from(UNITS), min_size=1, max_size=14).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=texts)
def test_each_shortcut_finds_what_the_full_scan_finds(text: str) -> None:
    folded = prescan.fold(text)
    assert list(privacy._secrets(text, folded)) == list(privacy._secrets(text, EVERYTHING))
    assert list(privacy._simple(text, folded)) == list(privacy._simple(text, EVERYTHING))
    assert list(privacy._resident_ids(text, folded)) == list(privacy._resident_ids(text, EVERYTHING))
    assert list(numbers.number_spans(text, folded)) == list(numbers.number_spans(text, EVERYTHING))
    assert list(spoken.address_spans(text, folded)) == list(spoken.address_spans(text, EVERYTHING))


def test_digit_words_in_any_case_re_accepts_are_read_not_a_crash() -> None:
    # "ſix" and "nİne" match the digit words under IGNORECASE; their lower() is no key.
    text = "call me on one two three \u017fix seven eight n\u0130ne"
    assert redact(text, detect_pii(text)) == "call me on [PHONE]"


STARTS = [
    (numerals._TOKEN, numerals._TOKEN_STARTS),
    (numbers._ID_SHAPES, numbers._ID_SHAPE_STARTS),
    (privacy._PHONE_SHAPES, privacy._PHONE_SHAPE_STARTS),
    (privacy._SECRET_EXPLICIT, privacy._SECRET_STARTS),
    (privacy._SECRET_BARE, privacy._SECRET_STARTS),
    (privacy._EN_ADDRESS, privacy._EN_ADDRESS_STARTS),
    (privacy._EU_ADDRESS, privacy._EU_ADDRESS_STARTS),
    *((mentions.CONTEXT[kind], mentions.CONTEXT_STARTS[kind]) for kind in mentions.CONTEXT),
]
START_UNITS = UNITS + [
    "1", "12", "١٢٣", "１２３", "一", "二三", "叉", "x", "X", "xx", "ox", "Oh", "OH ", "nil", "Double", "TRIPLE",
    "\u017feven", "\u212a", "四百八十二", "九百一十三", "三百零五", "三千二百", "五百万", "forty", "Sixty-two", "ELEVEN", "twenty one", "ninetynine", "ſixty",  "a", "Z", "zero", "o", "-", "+", "(", ")", "_", "+86 139 0123 4567", "(512) 555-0163",
    "0912-345-678", "A123456(7)", "S1234567D", "QQ 12 34 56 C", "ABCDE1234F", "A123456789", "\u0130",
    "é", "中", "银行", "卡", "登录密码", "支付密碼是", "Pw", "PWD ", "pin=", " 221B Baker Street", "12 Main St., Apt 4, Springfield, IL 62704",
    "Lindwurmstraße 112, 80337 München, Germany", "Ämtergasse 3", "Ö", "ü", "Hauptstr. 5", "42", "a/c", "sort code", "my number", "number is", "é\u0130d card", "\u0131ban",
]


@settings(max_examples=500, deadline=None)
@given(text=st.lists(st.sampled_from(START_UNITS), min_size=1, max_size=20).map("".join))
def test_scanning_from_the_starts_finds_what_finditer_finds(text: str) -> None:
    for pattern, starts in STARTS:
        expected = [(m.start(), m.end(), m.lastgroup) for m in pattern.finditer(text)]
        assert [(m.start(), m.end(), m.lastgroup) for m in prescan.finditer_from(pattern, starts, text)] == expected


def test_every_character_that_can_begin_a_word_is_a_start() -> None:
    first = re.compile(r"[zontfsedx]", re.IGNORECASE)
    for char in first.findall(EVERY_CHARACTER):
        assert numerals._TOKEN_STARTS.match(char), repr(char)
    for kind, pattern in mentions.CONTEXT.items():
        alternatives = pattern.pattern.split("\\b", 1)[1].rsplit("\\b", 1)[0]  # "(?:code|...)" or "passport"
        words = re.sub(r"\([^()]*\)", "", alternatives.removeprefix("(?:").removesuffix(")")).split("|")
        literals = pattern.pattern.split("\\b", 1)[0].strip("|").split("|")
        for word in [*words, *filter(None, literals)]:
            # Each character a word's first two can be under IGNORECASE, in every pairing.
            first, second = (re.compile(re.escape(c), re.IGNORECASE).findall(EVERY_CHARACTER) for c in word[:2])
            for a in first:
                for b in second:
                    assert mentions.CONTEXT_STARTS[kind].match(a + b), (kind, word, a + b)


@pytest.mark.parametrize("unit", ["p", "pw ", "password ", "o ", "one ", "1", "1 ", "一", "x", "A", "A1 ", "(", "+1 ",
                                  "id ", "in ", "account ", "12 Main ", "Ab ", "\u017f", "\u0130d ", "账号ID 1 ", "cvv 1",
                                  "_code ", "ref1 ", "tin", "代码"])
def test_scans_from_starts_stay_linear_on_candidate_runs(unit: str) -> None:
    text = (unit * (200_000 // len(unit) + 1))[:200_000]
    started = time.perf_counter()
    redact(text, detect_pii(text))
    assert time.perf_counter() - started < 10.0, unit


# The context words' automaton (`mentions.context_hits`) in place of a scan per kind: every
# kind's mentions, start and end, as the scan from its starts finds them. Words glued to
# letters, digits or "_" (no word start), CJK before an ASCII-only word, and U+0307, which
# the fold drops (then the positions move and each kind is scanned).
CONTEXT_UNITS = START_UNITS + [
    "_code", "x_id card", "卡的CVV是", "cvv2 ", "CVC", "my_pin", "pin", "9pin ", "éphone", "\u0307", "i\u0307d card ",
    "账号ID 77310452", "帳號 id", "account: ", "account #", "Account", "verification", "One-Time", "a/c ", "A/C",
    "订单", "作品ID ", "yzm", "YZM", "texted ", "passport", "护照", "银行", "bank", "ssn", "tin ", "getting ",
]


@settings(max_examples=600, deadline=None)
@given(text=st.lists(st.sampled_from(CONTEXT_UNITS), min_size=1, max_size=24).map("".join))
def test_context_hits_find_every_mention_the_scans_find(text: str) -> None:
    folded = prescan.fold(text)
    found = mentions.Mentions(text, folded)
    for kind in mentions.CONTEXT:
        assert found.starts(kind) == list(mentions.mentions_by_scan(text, folded, kind)), kind
        assert found.ends[kind] == mentions.mentions_by_scan(text, folded, kind), kind


def test_a_platform_account_id_is_a_reference_with_no_other_reference_word() -> None:
    text = "我司在贵平台的广告账户（账户ID：ADV-3301928）2025年4月至6月累计消耗广告费人民币 186,400.00 元"
    assert mentions.Mentions(text).starts("reference") == [text.index("账户ID")]
    assert list(numbers.number_spans(text)) == []  # the amount is no bank account, the id a system's


def test_a_text_whose_fold_moves_positions_is_scanned_kind_by_kind() -> None:
    text = "my card i\u0307s 4111 1111 1111 1111, code 482913"
    assert len(prescan.fold(text)) != len(text)
    assert mentions.context_hits(text, prescan.fold(text)) is None
    found = mentions.Mentions(text)
    assert found.starts("card") == [text.index("card")] and found.starts("secret") == [text.index("code")]
    assert redact(text) == "my card i\u0307s [CARD], code [SECRET]"


def test_each_context_word_is_in_the_automaton_by_the_text_it_begins_with() -> None:
    heads = mentions.context_heads()
    assert set(heads) == set(mentions.CONTEXT)
    for kind, (literals, words) in mentions.CONTEXT_TERMS.items():
        alternatives = [*literals.split(), *mentions.LOOKAROUND.sub("", words).split("|")]
        assert len(heads[kind]) == len(alternatives)
        for (head, _), alternative in zip(heads[kind], alternatives, strict=True):
            assert head and alternative.lower().startswith(head), (kind, alternative)
    assert [head for head, _ in heads["cvv"]] == ["cvv", "cvc", "csc", "cvn"]
