"""Load the triage config (packaged `intake/defaults/triage.yaml`, or INTAKE_TRIAGE_CONFIG) into
a checked, compiled `Rules` value, once, at start.

Every mistake in the file stops loading with `TriageConfigError` naming the file, the line
and the key path, so ops find a typo before the first message is mis-routed.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, get_args

import re2
import yaml

from intake.messages import Category, Priority
from intake.settings import DEFAULTS_DIR
from intake.triage.language import fold
from intake.triage.privacy import MASKS

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

    first: re.Pattern[str]
    second: re.Pattern[str]
    window: int

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
    terms: re.Pattern[str] | None = None
    patterns: re.Pattern[str] | None = None
    near: Near | None = None
    category: str | None = None
    signal: str | None = None
    weight: int = 1

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


def _word_matches(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
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

    def department_for(self, category: str) -> str:
        return self.departments[category]

    def response_target(self, category: str, priority: str) -> dt.timedelta:
        return self.targets[(category, priority)]


def load_rules(path: str | Path | None = None) -> Rules:
    """Read, check and compile the triage config (default: the packaged intake/defaults/triage.yaml)."""
    source = Path(path) if path is not None else DEFAULT_PATH
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise TriageConfigError(f"{source}: cannot read triage config: {exc}") from exc
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}" if mark is not None else "?"
        raise TriageConfigError(f"{source}:{line}: YAML syntax error: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise TriageConfigError(f"{source}: YAML error: {exc}") from exc
    return _Builder(source, root, data).build()


class _Builder:
    def __init__(self, source: Path, root: yaml.Node | None, data: Any) -> None:
        self.source = source
        self.root = root

        self.data = data

    # -- errors with line numbers -------------------------------------------------------
    def fail(self, path: tuple[str | int, ...], message: str) -> TriageConfigError:
        node = self._node(path)
        line = node.start_mark.line + 1 if node is not None else "?"
        where = ".".join(str(p) for p in path) or "(top)"
        return TriageConfigError(f"{self.source}:{line}: {where}: {message}")

    def _node(self, path: tuple[str | int, ...]) -> yaml.Node | None:
        node = self.root
        found = node
        for key in path:
            if isinstance(node, yaml.MappingNode):
                match = next((v for k, v in node.value if k.value == key), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                match = node.value[key]
            else:
                match = None
            if match is None:
                return found
            node = found = match
        return found

    def get(self, path: tuple[str | int, ...], kind: type | tuple[type, ...], *, required: bool = True) -> Any:
        value: Any = self.data
        for key in path:
            if isinstance(value, dict) and key in value:
                value = value[key]
            elif isinstance(value, list) and isinstance(key, int) and key < len(value):
                value = value[key]
            else:
                if required:
                    raise self.fail(path[:-1], f"missing key {path[-1]!r}")
                return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(path, f"expected {names}, got {type(value).__name__}")
        return value

    def strings(self, path: tuple[str | int, ...], *, required: bool = True) -> list[str]:
        values = self.get(path, list, required=required) or []
        for index, value in enumerate(values):
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise self.fail((*path, index), "expected a string")
        return [str(v) for v in values]

    def regex(self, path: tuple[str | int, ...], pattern: str) -> re.Pattern[str]:
        try:
            return re.compile(pattern, re.IGNORECASE | re.DOTALL)
        except re.error as exc:
            raise self.fail(path, f"bad regex {pattern!r}: {exc}") from exc

    def known(self, path: tuple[str | int, ...], value: str, allowed: tuple[str, ...] | frozenset[str], what: str) -> str:
        if value not in allowed:
            raise self.fail(path, f"unknown {what} {value!r} (known: {', '.join(sorted(allowed))})")
        return value

    # -- the build --------------------------------------------------------------------------
    def build(self) -> Rules:
        if not isinstance(self.data, dict):
            raise self.fail((), "the triage config must be a mapping")
        departments = self._departments()
        rules = self._rules()
        signals = BUILTIN_SIGNALS | {r.signal for r in rules if r.signal}
        large_sum, amount_pattern, currency_of = self._amounts()
        fallback = self.known(("scoring", "fallback_category"), self.get(("scoring", "fallback_category"), str), CATEGORIES, "category")
        negation_terms = self.strings(("negation",), required=False)
        negation = None
        if negation_terms:
            for index, pattern in enumerate(negation_terms):
                self.regex(("negation", index), pattern)
            negation = self.regex(("negation",), "|".join(f"(?:{p})" for p in negation_terms))
        return Rules(
            source=str(self.source),
            subject_weight=self.get(("scoring", "subject_weight"), int),
            min_category_score=self.get(("scoring", "min_category_score"), int),
            fallback_category=fallback,
            departments=departments,
            rules=rules,
            negation=negation,
            priority_rows=self._priority_rows(signals),
            default_priority={
                c: self.known(("decide", "default_priority", c), self.get(("decide", "default_priority", c), str), PRIORITIES, "priority")
                for c in CATEGORIES
            },
            private_categories=frozenset(
                self.known(("decide", "private", "categories", i), c, CATEGORIES, "category")
                for i, c in enumerate(self.strings(("decide", "private", "categories")))
            ),
            private_signals=frozenset(
                self.known(("decide", "private", "signals", i), s, signals, "signal")
                for i, s in enumerate(self.strings(("decide", "private", "signals"), required=False))
            ),
            private_pii_kinds=frozenset(
                self.known(("decide", "private", "pii_kinds", i), k, tuple(MASKS), "PII kind")
                for i, k in enumerate(self.strings(("decide", "private", "pii_kinds")))
            ),
            large_sum=large_sum,
            amount_pattern=amount_pattern,
            currency_of=currency_of,
            targets=self._targets(),
        )

    def _departments(self) -> dict[str, str]:
        categories = self.get(("categories",), dict)
        for name in categories:
            self.known(("categories", name), str(name), CATEGORIES, "category")
        for name in CATEGORIES:
            if name not in categories:
                raise self.fail(("categories",), f"missing category {name!r}")
        return {name: self.get(("categories", name, "department"), str) for name in CATEGORIES}

    def _rules(self) -> tuple[Rule, ...]:
        entries = self.get(("rules",), list)
        seen: set[str] = set()
        built = []
        for index, _entry in enumerate(entries):
            at: tuple[str | int, ...] = ("rules", index)
            self.get(at, dict)
            rule_id = self.get((*at, "id"), str)
            if rule_id in seen:
                raise self.fail((*at, "id"), f"duplicate rule id {rule_id!r}")
            seen.add(rule_id)
            category = self.get((*at, "category"), str, required=False)
            signal = self.get((*at, "signal"), str, required=False)
            if (category is None) == (signal is None):
                raise self.fail(at, f"rule {rule_id!r} needs exactly one of 'category' or 'signal'")
            if category is not None:
                self.known((*at, "category"), category, CATEGORIES, "category")
            weight = self.get((*at, "weight"), int, required=False)
            weight = 1 if weight is None else weight
            if weight <= 0:
                raise self.fail((*at, "weight"), "weight must be a positive integer")
            terms = self.strings((*at, "terms"), required=False)
            patterns = self.strings((*at, "patterns"), required=False)
            for p_index, pattern in enumerate(patterns):
                self.regex((*at, "patterns", p_index), pattern)
            near = None
            if self.get((*at, "near"), dict, required=False) is not None:
                near = self._near((*at, "near"))
            if not (terms or patterns or near):
                raise self.fail(at, f"rule {rule_id!r} has no terms, patterns or near")
            built.append(
                Rule(
                    id=rule_id,
                    terms=_terms_regex(terms) if terms else None,
                    patterns=self.regex((*at, "patterns"), "|".join(f"(?:{p})" for p in patterns)) if patterns else None,
                    near=near,
                    category=category,
                    signal=signal,
                    weight=weight,
                )
            )
        return tuple(built)

    def _near(self, at: tuple[str | int, ...]) -> Near:
        window = self.get((*at, "window"), int)
        first, second = self.strings((*at, "a")), self.strings((*at, "b"))
        if not first or not second:
            raise self.fail(at, "near needs terms in both 'a' and 'b'")
        return Near(_terms_regex(first), _terms_regex(second), window)

    def _amounts(self) -> tuple[dict[str, float], re.Pattern[str] | None, dict[str, str]]:
        if self.get(("amounts",), dict, required=False) is None:
            return {}, None, {}
        thresholds = self.get(("amounts", "large_sum"), dict)
        for code, value in thresholds.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise self.fail(("amounts", "large_sum", code), "threshold must be a positive number")
        currency_of: dict[str, str] = {}
        words = self.get(("amounts", "currency_words"), dict)
        for code in words:
            if code not in thresholds:
                raise self.fail(("amounts", "currency_words", code), f"currency {code!r} has no large_sum threshold")
            for word in self.strings(("amounts", "currency_words", code)):
                currency_of[fold(word)] = code
        alternation = "|".join(re.escape(w) for w in sorted(currency_of, key=len, reverse=True))
        # RE2, not re: a number may start at any digit, and `re` retries a long digit run
        # from each of its digits (quadratic); RE2 tries all starts in one pass, with the
        # same leftmost-first answers. \d and \s are spelled out as Python's Unicode ones
        # (RE2's Unicode tables lag Python's by a version: 20 new digits of Unicode 15 differ).
        digit, space = r"\p{Nd}", _PYTHON_SPACE
        number = rf"({digit}{{1,3}}(?:,{digit}{{3}})+(?:\.{digit}+)?|{digit}+(?:\.{digit}+)?){space}?(万|千|k)?"
        pattern = re2.compile(rf"(?:({alternation}){space}?{number})|(?:{number}{space}?({alternation}))")
        return {str(k): float(v) for k, v in thresholds.items()}, pattern, currency_of

    def _priority_rows(self, signals: frozenset[str]) -> tuple[PriorityRow, ...]:
        rows = []
        for index, _row in enumerate(self.get(("decide", "priority"), list)):
            at: tuple[str | int, ...] = ("decide", "priority", index)
            self.get(at, dict)
            priority = self.known((*at, "priority"), self.get((*at, "priority"), str), PRIORITIES, "priority")

            def names(key: str, allowed: frozenset[str] | tuple[str, ...], what: str) -> frozenset[str]:
                return frozenset(
                    self.known((*at, key, i), v, allowed, what)
                    for i, v in enumerate(self.strings((*at, key), required=False))
                )

            row = PriorityRow(
                priority=priority,
                signals_any=names("signals_any", signals, "signal"),
                signals_all=names("signals_all", signals, "signal"),
                categories=names("categories", CATEGORIES, "category"),
            )
            if not (row.signals_any or row.signals_all or row.categories):
                raise self.fail(at, "a priority row needs at least one condition")
            rows.append(row)
        return tuple(rows)

    def _targets(self) -> dict[tuple[str, str], dt.timedelta]:
        targets = {}
        for category in CATEGORIES:
            for priority in PRIORITIES:
                at = ("response_targets", category, priority)
                raw = str(self.get(at, (str, int)))
                match = _DURATION.match(raw)
                if match is None:
                    raise self.fail(at, f"bad duration {raw!r} (use e.g. 30m, 4h, 2d)")
                targets[(category, priority)] = dt.timedelta(**{_DURATION_UNITS[match.group(2)]: float(match.group(1))})
        return targets


def _terms_regex(terms: list[str]) -> re.Pattern[str]:
    """One alternation of folded literals, longest first; a trailing '*' matches a word prefix.

    Whole-word matching for English terms is checked by `_word_matches`.
    """
    alternatives = []
    for term in sorted({fold(t.strip()) for t in terms if t.strip()}, key=len, reverse=True):
        if term.endswith("*") and len(term) > 1:
            alternatives.append(re.escape(term.rstrip("*")) + "[a-z0-9_]*")
        else:
            alternatives.append(re.escape(term))
    return re.compile("|".join(alternatives))
