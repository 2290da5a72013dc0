"""Triage, PII detection, redaction and language detection stay linear on hostile text.

Each generator aims at a way a pattern can go super-linear: long unbroken runs (letters,
digits, dots, "@", "+86 ", dashes, spaces), repeated near-matches of every PII pattern
(card-, ID- and phone-like digit runs, "password:" again and again, "a@a@a@..."), long
combining-mark runs for NFKC, and term pairs for the `near` rules.

The bound: on the machine these were written on (2 cores, shared), the slowest 100 KB
input takes ~1 s through the whole of `triage_message` and the 1 MB word ~3 s; the
quadratic code these tests replaced took 33 s for a 100 KB word and did not finish a 1 MB
one in 10 minutes. A quadratic step at 100 KB needs ~10^10 steps, minutes at best, so
BOUND_SECONDS (10 s) leaves noisy machines plenty of room and still catches it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intake.messages import InboundMessage
from intake.triage import detect_language, detect_pii, load_rules, redact, triage_message
from intake.triage.classify import MAX_SCORED_CHARS
from intake.triage.language import _without_noise, fold
from intake.triage.privacy import _ZH_ADDRESS, _emails
from intake.triage.rules import Near, Rules, _terms_regex, _word_matches

BOUND_SECONDS = 10.0
SIZE = 100_000
HOSTILE = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Units repeated to SIZE: each alone or glued to one or two others.
UNITS = [
    "a", "1", ".", "@", "+86 ", "-", " ", "\n", "_", "a@", "a.", "a@a.", "a@b.cc-", ".x1",
    "password: ", "password is ", "pwd 1", "pin ", "code ", "验证码", "密码：", "1234 ",
    "4111 ", "1-", "4111111111111111", "11010519491231002", "X ", "身份证 ", "139 0123 ",
    "(512) ", "+1 ", "1.2", "passport ", "account number ", "iban DE12", "银行账号：",
    "省", "路", "1号", "北京市朝阳区", "12 Main ", "Abc ", "A.", "Hauptstraße ", "1,234",
    "¥1", "元", "account ", "withdraw ", "missing ", "ads ", "stopped ", "not asking about ",
    "不是", "> ", "On ", "wrote:", "From", "*", "--", "http://", "www.", "=?utf-8?B?",
    "re: ", "\u0301\u0316", "帐号被盗", "thanks\n",
]


def _repeat(pieces: list[str], size: int = SIZE) -> str:
    unit = "".join(pieces)
    return (unit * (size // len(unit) + 1))[:size]


hostile_text = st.lists(st.sampled_from(UNITS), min_size=1, max_size=3).map(_repeat)

T = TypeVar("T")


def within_bound(function: Callable[..., T], *args: Any, bound: float = BOUND_SECONDS) -> T:
    start = time.perf_counter()
    result = function(*args)
    elapsed = time.perf_counter() - start
    assert elapsed < bound, f"{function.__name__} took {elapsed:.1f} s"
    return result


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules()


def _email(subject: str, body: str) -> InboundMessage:
    return InboundMessage(channel="email", sender="a@example.com", subject=subject, text=body, new_text=body)


@HOSTILE
@given(text=hostile_text)
def test_pii_detection_and_redaction_are_linear(text: str) -> None:
    spans = within_bound(detect_pii, text)
    redacted = within_bound(redact, text, spans)
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    assert len(redacted) <= len(text) + len("[BANK_ACCOUNT]") * len(spans)


@HOSTILE
@given(text=hostile_text)
def test_triage_of_a_hostile_body_is_linear(text: str, rules: Rules) -> None:
    triage = within_bound(triage_message, _email("help", text), rules)
    assert triage.category


@HOSTILE
@given(text=hostile_text)
def test_triage_of_a_hostile_subject_is_linear(text: str, rules: Rules) -> None:
    within_bound(triage_message, _email(text, "hello"), rules)


@HOSTILE
@given(text=hostile_text)
def test_language_and_fold_are_linear(text: str) -> None:
    within_bound(detect_language, text)
    within_bound(fold, text)


def test_an_x_inside_a_digit_run_is_no_crash(rules: Rules) -> None:
    # Found by hypothesis: "11010519491231002X 1号" repeated made a run with an X inside,
    # and the card check called int("X").
    text = _repeat(["1号", "11010519491231002", "X "])
    triage = within_bound(triage_message, _email(text, "hello"), rules)
    assert triage.category
    assert "11010519491231002" not in triage.redacted_text


@pytest.mark.parametrize("unit", UNITS)
def test_language_on_every_single_unit_run(unit: str) -> None:
    # Cheap enough to try every unit alone, not just hypothesis' draw: "1-" repeated once
    # made an exact-answer rewrite of the noise pattern quadratic.
    within_bound(detect_language, _repeat([unit]))


def test_one_megabyte_word_through_triage(rules: Rules) -> None:
    # The e-mail address pattern used to retry the local part from every letter: 33 s at
    # 100 KB, unfinished after 10 minutes at 1 MB. Linear, it takes ~3 s here (PII
    # detection reads the whole megabyte), 7 s on a machine running three other test
    # suites; 30 s still fails anything quadratic, which would take hours.
    word = "a" * 1_000_000
    triage = within_bound(triage_message, _email("hi", word), rules, bound=30.0)
    assert triage.pii == ()


def test_combining_mark_run_through_fold() -> None:
    # NFKC sorts a run of combining marks with an insertion sort: 40,000 alternating marks
    # took 6.5 s, and 200,000 would take minutes.
    folded = within_bound(fold, "a" + "\u0301\u0316" * 100_000)
    assert folded[0] == "á" and len(folded) > 200_000  # U+034F joiners break the run


def test_scoring_reads_only_the_cap_but_pii_reads_all(rules: Rules) -> None:
    filler = "lorem ipsum " * (MAX_SCORED_CHARS // 12 + 10)
    triage = triage_message(_email("hi", filler + " my card 4111 1111 1111 1111 crashes"), rules)
    assert not any("crash" in reason for reason in triage.reasons)
    assert [span.kind for span in triage.pii] == ["card"]
    assert "[CARD]" in triage.redacted_text


# -- the linear rewrites give the answers of the patterns they replace ---------------------

_OLD_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ab1.@-+_%c .x", max_size=40))
def test_email_scanner_finds_what_the_regex_found(text: str) -> None:
    assert [(s.start, s.end) for s in _emails(text)] == [m.span() for m in _OLD_EMAIL.finditer(text)]


_OLD_ZH_PLACE = r"[\u4e00-\u9fff0-9A-Za-z\-－]"
_OLD_ZH_ADDRESS = re.compile(
    r"(?:" + _OLD_ZH_PLACE + r"{0,30}?(?:省|市|区|區|县|縣|镇|鎮|乡|鄉|村|路|街|道|巷|弄|里|园|園|苑|小区|社区|大厦|大廈|花园|花園|广场|廣場))"
    r"" + _OLD_ZH_PLACE + r"{0,16}?"
    r"[ \t]?(?:\d+|[一二三四五六七八九十百]+)[ \t]?(?:号楼|號樓|号院|號院|号|號|栋|棟|幢|座|弄)"
    r"(?:[ \t]?" + _OLD_ZH_PLACE + r"{0,6}?(?:\d+|[一二三四五六七八九十]+)[ \t]?(?:单元|單元|室|房|楼|樓|层|層|户|戶|号|號|座|栋|棟)?)*"
)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="省市区路街道号楼单元室房栋1234567890一二十百ab-－ \t北京的", max_size=50))
def test_re2_chinese_address_finds_what_re_found(text: str) -> None:
    assert [m.span() for m in _ZH_ADDRESS.finditer(text)] == [m.span() for m in _OLD_ZH_ADDRESS.finditer(text)]


def _pairwise_near(near: Near, text: str) -> list[str]:
    """Near.find as it was: every (second, first) pair in order."""
    firsts = [(m.start(), m.end()) for m in _word_matches(near.first, text)]
    for second in _word_matches(near.second, text):
        for start, end in firsts:
            if -near.window <= second.start() - end <= near.window or -near.window <= start - second.end() <= near.window:
                return [text[min(start, second.start()) : max(end, second.end())]]
    return []


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(["pay", "payout", "missing", "x", "xxxxxxxxxx", "pay missing", " "]), max_size=30),
    window=st.integers(0, 20),
)
def test_near_by_bisection_equals_the_pairwise_search(words: list[str], window: int) -> None:
    near = Near(_terms_regex(["pay*"]), _terms_regex(["missing", "x"]), window)
    text = " ".join(words)
    assert near.find(text) == _pairwise_near(near, text)


def test_near_with_many_terms_far_apart_is_linear() -> None:
    near = Near(_terms_regex(["withdraw"]), _terms_regex(["missing"]), 80)
    text = "withdraw " * 20_000 + "x" * 200 + " missing" * 20_000
    assert within_bound(near.find, text) == []


_OLD_AMOUNT_NUMBER = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s?(万|千|k)?"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="1, .元$万k\u3000usd", max_size=30))
def test_re2_amount_pattern_matches_what_re_matched(text: str, rules: Rules) -> None:
    assert rules.amount_pattern is not None
    alternation = "|".join(re.escape(w) for w in sorted(rules.currency_of, key=len, reverse=True))
    old = re.compile(rf"(?:({alternation})\s?{_OLD_AMOUNT_NUMBER})|(?:{_OLD_AMOUNT_NUMBER}\s?({alternation}))")
    assert [m.groups() for m in rules.amount_pattern.finditer(text)] == [m.groups() for m in old.finditer(text)]


def test_amounts_in_a_long_digit_run_are_linear(rules: Rules) -> None:
    digits = "1" * 100_000
    within_bound(triage_message, _email("hi", digits), rules)
    within_bound(triage_message, _email("hi", "1" + ",234" * 25_000 + " 元"), rules)


_OLD_NOISE = re.compile(r"https?://\S+|www\.\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|@[\w.]+|\b\w*[\d_]\w*\b", re.ASCII)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ab1_.+-@ x帐/:w", max_size=40))
def test_noise_removal_equals_the_regex_sub(text: str) -> None:
    assert _without_noise(text) == _OLD_NOISE.sub(" ", text)
