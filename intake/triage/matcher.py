"""All rule terms in one Aho-Corasick automaton, all rule patterns in one RE2 set: a text is
read once for every term of every rule, not once per rule (68 scans a message before).

What a rule finds is what its own alternation found before (`Rule.find`): for each rule,
the leftmost-longest matches that do not overlap and do not cut an ASCII word in two; a
term ending in `*` runs on to the end of its word. `Rule.find` stays the reference the
tests compare with.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import ahocorasick
import re2

from intake.triage.language import fold
from intake.triage.rules import Near, Rule, _is_word_char

_TERMS, _FIRST, _SECOND = 0, 1, 2


class Matcher:
    """One automaton for the terms (and `near` terms) of all rules, one set for their patterns."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        payloads: dict[str, list[tuple[int, bool, int, int]]] = defaultdict(list)
        for index, rule in enumerate(self.rules):
            groups = [(_TERMS, rule.words)]
            if rule.near is not None:
                groups += [(_FIRST, rule.near.first_words), (_SECOND, rule.near.second_words)]
            for role, words in groups:
                for word in {fold(w.strip()) for w in words if w.strip()}:
                    prefix = word.endswith("*") and len(word) > 1
                    key = word.rstrip("*") if prefix else word
                    payloads[key].append((len(key), prefix, index, role))
        self.automaton: Any = ahocorasick.Automaton()
        for key, entries in payloads.items():
            self.automaton.add_word(key, tuple(entries))
        self.empty = not payloads
        if not self.empty:
            self.automaton.make_automaton()
        self.pattern_rules, self.pattern_set = self._pattern_set()

    def _pattern_set(self) -> tuple[tuple[int, ...], Any]:
        """An RE2 set of the rules' patterns; None (scan each rule) if one is not RE2 syntax."""
        indexes = tuple(i for i, rule in enumerate(self.rules) if rule.patterns is not None)
        if not indexes:
            return indexes, None
        options = re2.Options()
        options.case_sensitive = False
        options.dot_nl = True
        found = re2.Set.SearchSet(options)
        try:
            for index in indexes:
                found.Add(self.rules[index].patterns.pattern)  # type: ignore[union-attr]
            found.Compile()
        except Exception:  # noqa: BLE001 - re2 raises plain errors for Python-only syntax
            return indexes, None
        return indexes, found

    def find_all(self, text: str) -> dict[int, list[str]]:
        """Rule index -> the distinct strings it matched in `text`, in order (only rules that hit)."""
        spans: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        if not self.empty:
            for last, entries in self.automaton.iter(text):
                for length, prefix, index, role in entries:
                    start, end = last - length + 1, last + 1
                    if start > 0 and _is_word_char(text[start]) and _is_word_char(text[start - 1]):
                        continue
                    if prefix:
                        while end < len(text) and _is_word_char(text[end]):
                            end += 1
                    elif end < len(text) and _is_word_char(text[end - 1]) and _is_word_char(text[end]):
                        continue
                    spans[(index, role)].append((start, end))
        found: dict[int, list[str]] = defaultdict(list)
        for (index, role), matches in spans.items():
            if role == _TERMS:
                found[index].extend(text[s:e] for s, e in _leftmost_longest(matches))
        for index, rule in enumerate(self.rules):
            if rule.near is not None and (index, _FIRST) in spans and (index, _SECOND) in spans:
                hit = _near(rule.near, _leftmost_longest(spans[(index, _FIRST)]),
                            _leftmost_longest(spans[(index, _SECOND)]), text)
                if hit:
                    found[index].append(hit)
        for index in self._pattern_hits(text):
            found[index].extend(m.group() for m in self.rules[index].patterns.finditer(text))  # type: ignore[union-attr]
        return {index: list(dict.fromkeys(strings)) for index, strings in sorted(found.items()) if strings}

    def _pattern_hits(self, text: str) -> tuple[int, ...]:
        if self.pattern_set is None:
            return self.pattern_rules
        return tuple(self.pattern_rules[i] for i in sorted(self.pattern_set.Match(text) or ()))


def _leftmost_longest(matches: list[tuple[int, int]]) -> list[tuple[int, int]]:
    kept: list[tuple[int, int]] = []
    for start, end in sorted(matches, key=lambda m: (m[0], -m[1])):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return kept


def _near(near: Near, firsts: list[tuple[int, int]], seconds: list[tuple[int, int]], text: str) -> str:
    """`Near.find` on spans already found: the first `second` with a `first` in reach.

    Kept spans do not overlap, so their starts and ends both rise: two bisections per second.
    """
    window = near.window
    starts = [s for s, _ in firsts]
    ends = [e for _, e in firsts]
    for second_start, second_end in seconds:
        by_end = bisect.bisect_left(ends, second_start - window)
        if by_end < len(ends) and ends[by_end] > second_start + window:
            by_end = len(ends)
        by_start = bisect.bisect_left(starts, second_end - window)
        if by_start < len(starts) and starts[by_start] > second_end + window:
            by_start = len(starts)
        index = min(by_end, by_start)
        if index < len(firsts):
            lo, hi = min(firsts[index][0], second_start), max(firsts[index][1], second_end)
            return text[lo:hi]
    return ""
