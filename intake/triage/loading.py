"""Load the triage config (packaged `intake/defaults/triage.yaml`, or INTAKE_TRIAGE_CONFIG) into
a checked, compiled `Rules` value, once, at start.

Every mistake in the file stops loading with `TriageConfigError` naming the file, the line
and the key path, so ops find a typo before the first message is mis-routed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

import re2
import yaml

from intake.triage.language import fold
from intake.triage.matcher import Matcher
from intake.triage.model import ModelError, load_model, model_path
from intake.triage.privacy import MASKS
from intake.triage.rules import (
    _DURATION, _DURATION_UNITS, _PYTHON_SPACE, BUILTIN_SIGNALS, CATEGORIES, DEFAULT_PATH, PRIORITIES, Near,
    PriorityRow, Rule, Rules, TriageConfigError, _terms_regex,
)


def load_rules(path: str | Path | None = None, *, data_dir: Path | None = None, model: bool = True) -> Rules:
    """Read, check and compile the triage config (default: the packaged intake/defaults/triage.yaml),
    with the learned model: the one `intake triage train` left under `data_dir`, else the packaged
    one (`model=False`: rules alone)."""
    source = Path(path) if path is not None else DEFAULT_PATH
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise TriageConfigError(f"{source}: cannot read triage config: {exc}") from exc
    try:
        # libyaml's C loader where PyYAML has it: the pure-Python one costs ~0.2 s per start
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        root = yaml.compose(text, Loader=loader)
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}" if mark is not None else "?"
        raise TriageConfigError(f"{source}:{line}: YAML syntax error: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise TriageConfigError(f"{source}: YAML error: {exc}") from exc
    built = _Builder(source, root, data).build()
    rules = dataclasses.replace(built, matcher=Matcher(built.rules))
    found = model_path(data_dir) if model else None
    if found is None:
        return rules
    try:
        return dataclasses.replace(rules, model=load_model(found))
    except ModelError as exc:
        raise TriageConfigError(f"{exc} (retrain with `intake triage train`, or delete it)") from None


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
            hint_weight=self.get(("scoring", "hint_weight"), int, required=False) or 0,
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
                    words=tuple(terms),
                )
            )
        return tuple(built)

    def _near(self, at: tuple[str | int, ...]) -> Near:
        window = self.get((*at, "window"), int)
        first, second = self.strings((*at, "a")), self.strings((*at, "b"))
        if not first or not second:
            raise self.fail(at, "near needs terms in both 'a' and 'b'")
        return Near(_terms_regex(first), _terms_regex(second), window, tuple(first), tuple(second))

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
