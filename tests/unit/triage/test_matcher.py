"""One pass over all rules (`Matcher`) finds what each rule's own scan (`Rule.find`) finds."""

from __future__ import annotations

import time

import pytest

from intake.triage import load_rules
from intake.triage.language import fold
from intake.triage.matcher import Matcher
from intake.triage.rules import Near, Rule, _terms_regex

from tests.unit.triage.test_helpers import load_message, sample_labels, samples_dir

TEXTS = [
    "the app crashes and keeps crashing after the update, cant log in",
    "视频上传失败了，一直转圈，登不上去，提现也没到账",
    "someone has changed my password and my account was suspended for no reason",
    "Withdrawal missing for two weeks; my payout is missing",
    "",
    "crash" * 1000,
]


def _per_rule(rules, text: str) -> dict[int, list[str]]:
    return {i: hits for i, rule in enumerate(rules.rules) if (hits := rule.find(text))}


@pytest.mark.parametrize("text", TEXTS)
def test_one_pass_finds_what_each_rule_finds(text: str) -> None:
    rules = load_rules(model=False)
    folded = fold(text)
    assert rules.matcher.find_all(folded) == _per_rule(rules, folded)


def test_one_pass_agrees_on_the_samples() -> None:
    rules = load_rules(model=False)
    labels = sample_labels()
    if not labels:
        pytest.skip("no samples")
    for name, label in sorted(labels.items()):
        msg = load_message(samples_dir() / name, label["channel"])
        folded = fold(f"{msg.subject}\n{msg.new_text or msg.text}")
        assert set(rules.matcher.find_all(folded)) == set(_per_rule(rules, folded)), name


def test_near_terms_in_one_pass() -> None:
    near = Near(_terms_regex(["withdraw*"]), _terms_regex(["missing"]), 20, ("withdraw*",), ("missing",))
    rule = Rule(id="x.near", near=near, category="payment")
    matcher = Matcher([rule])
    text = "withdrawals are missing"
    assert matcher.find_all(text) == {0: rule.find(text)}


def test_a_megabyte_of_term_prefixes_is_one_pass() -> None:
    rules = load_rules(model=False)
    text = fold("crash upload 上传 " * 60_000)
    started = time.perf_counter()
    rules.matcher.find_all(text)
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize("unit", ["uh ", "mmm", "呃", "um, ", "帳號被盜", "oh ", "card 4111 ", "a1 "])
def test_a_megabyte_of_speech_noise_through_triage(unit: str) -> None:
    from intake.messages import InboundMessage
    from intake.triage import triage_message

    text = unit * (1_000_000 // len(unit))
    started = time.perf_counter()
    triage = triage_message(InboundMessage(channel="voice", sender="", text=text, new_text=text), load_rules())
    assert time.perf_counter() - started < 60
    assert triage.category
