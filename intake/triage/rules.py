"""The triage rules as values: what each rule matches (terms, nearness, negation) and the
compiled `Rules` table that turns hits into category, priority and privacy. Loading and
checking the config file lives in `loading.py`."""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, get_args


from intake.messages import Category, Priority
from intake.settings import DEFAULTS_DIR
from intake.triage.language import fold
from intake.triage.model import TriageModel

CATEGORIES: tuple[str, ...] = get_args(Category)
PRIORITIES: tuple[str, ...] = get_args(Priority)
BUILTIN_SIGNALS = frozenset({"large_sum"})  # raised by code (amount parsing), not by a rule
DEFAULT_PATH = DEFAULTS_DIR / "triage.yaml"  # packaged; INTAKE_TRIAGE_CONFIG overrides

# What `\s` matches in Python's `re` for str (str.isspace()), for patterns run by RE2,
# whose own `\s` is ASCII only.
_PYTHON_SPACE = "[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}]"


class AmountMatch(Protocol):
    def groups(self) -> tuple[str | None, ...]: ...


class AmountPattern(Protocol):
    """A compiled RE2 pattern (google-re2 has no type hints)."""

    def finditer(self, text: str) -> Iterator[AmountMatch]: ...


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d)\s*$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class TriageConfigError(Exception):
    """The triage config cannot be used; the message names file, line and key."""


@dataclass(frozen=True)
class Near:
    """Two term sets whose matches lie within `window` characters of each other."""

    first: Terms
    second: Terms
    window: int
    first_words: tuple[str, ...] = ()  # the terms as written: what `Matcher` reads
    second_words: tuple[str, ...] = ()

    def find(self, text: str) -> list[str]:
        """The text from the first `second` term that has a `first` term in reach, to it.

        Matches of one alternation do not overlap, so their starts and ends both rise:
        the firsts in reach of a second (its start within `window` of a first's end, or its
        end within `window` of a first's start) are two index ranges found by bisection,
        not by trying every pair, which was quadratic in the number of terms.
        """
        firsts = _word_matches(self.first, text)
        if not firsts:
            return []
        starts = [m.start() for m in firsts]
        ends = [m.end() for m in firsts]
        window = self.window
        for second in _word_matches(self.second, text):
            by_end = bisect.bisect_left(ends, second.start() - window)
            if by_end < len(ends) and ends[by_end] > second.start() + window:
                by_end = len(ends)
            by_start = bisect.bisect_left(starts, second.end() - window)
            if by_start < len(starts) and starts[by_start] > second.end() + window:
                by_start = len(starts)
            index = min(by_end, by_start)
            if index < len(firsts):
                first = firsts[index]
                lo, hi = min(first.start(), second.start()), max(first.end(), second.end())
                return [text[lo:hi]]
        return []


@dataclass(frozen=True)
class Rule:
    """One rule: what it matches, and what a hit reports (a category weight or a signal).

    Text given to `find` is already folded (see `language.fold`).
    """

    id: str
    terms: Terms | None = None
    patterns: re.Pattern[str] | None = None
    near: Near | None = None
    category: str | None = None
    signal: str | None = None
    weight: int = 1
    words: tuple[str, ...] = ()  # the terms as written: what `Matcher` reads

    def find(self, text: str) -> list[str]:
        """The distinct strings of `text` this rule matched, in order of appearance."""
        found: list[str] = []
        if self.terms is not None:
            found.extend(m.group() for m in _word_matches(self.terms, text))
        if self.patterns is not None:
            found.extend(m.group() for m in self.patterns.finditer(text))
        if self.near is not None:
            found.extend(self.near.find(text))
        return list(dict.fromkeys(found))


def _is_word_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def _word_matches(pattern: Terms, text: str) -> list[re.Match[str]]:
    """Matches of a literal alternation that do not cut an ASCII word in two.

    The check is done here rather than with lookarounds in the regex: a bare alternation
    of literals lets `re` skip ahead by first character, which is ten times faster.
    """
    kept = []
    for match in pattern.finditer(text):
        start, end = match.span()
        word = match.group()
        if start > 0 and _is_word_char(word[0]) and _is_word_char(text[start - 1]):
            continue
        if end < len(text) and _is_word_char(word[-1]) and _is_word_char(text[end]):
            continue
        kept.append(match)
    return kept


@dataclass(frozen=True)
class PriorityRow:
    priority: str
    signals_any: frozenset[str] = frozenset()
    signals_all: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()  # empty: any category

    def applies(self, category: str, signals: frozenset[str]) -> bool:
        if self.categories and category not in self.categories:
            return False
        if self.signals_any and not (self.signals_any & signals):
            return False
        return self.signals_all <= signals


@dataclass(frozen=True)
class Rules:
    """The triage config, checked and compiled."""

    source: str
    subject_weight: int
    min_category_score: int
    fallback_category: str
    departments: Mapping[str, str]
    rules: tuple[Rule, ...]
    negation: re.Pattern[str] | None
    priority_rows: tuple[PriorityRow, ...]
    default_priority: Mapping[str, str]
    private_categories: frozenset[str]
    private_signals: frozenset[str]
    private_pii_kinds: frozenset[str]
    large_sum: Mapping[str, float]
    amount_pattern: AmountPattern | None
    currency_of: Mapping[str, str]  # folded currency word -> currency code
    targets: Mapping[tuple[str, str], dt.timedelta]
    # What the category a sender chose (`category_hint` in the message's extra, from the
    # support form or the app) adds to that category's score: strong, but rules may outvote it.
    hint_weight: int = 0
    model: TriageModel | None = None  # the learned side; None: rules decide alone
    matcher: Any = None  # intake.triage.matcher.Matcher: every rule in one pass

    def department_for(self, category: str) -> str:
        return self.departments[category]

    def response_target(self, category: str, priority: str) -> dt.timedelta:
        return self.targets[(category, priority)]


class Terms:
    """One alternation of folded literals, longest first; a trailing '*' matches a word prefix.
    Whole-word matching for English terms is checked by `_word_matches`.

    Compiled on first use: triage runs every rule's terms through the one `Matcher`, so only
    `Rule.find` (the reference the tests compare with) needs the regex, and compiling some
    forty alternations took 0.12 s of every start.
    """

    __slots__ = ("words", "_regex")

    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = words
        self._regex: re.Pattern[str] | None = None

    @property
    def regex(self) -> re.Pattern[str]:
        if self._regex is None:
            alternatives = []
            for term in sorted({fold(t.strip()) for t in self.words if t.strip()}, key=len, reverse=True):
                if term.endswith("*") and len(term) > 1:
                    alternatives.append(re.escape(term.rstrip("*")) + "[a-z0-9_]*")
                else:
                    alternatives.append(re.escape(term))
            self._regex = re.compile("|".join(alternatives))
        return self._regex

    @property
    def pattern(self) -> str:
        return self.regex.pattern

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.regex.finditer(text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Terms) and other.words == self.words

    def __hash__(self) -> int:
        return hash(self.words)


def _terms_regex(terms: list[str]) -> Terms:
    """The terms as one alternation (see `Terms`), compiled when first matched."""
    return Terms(tuple(terms))
