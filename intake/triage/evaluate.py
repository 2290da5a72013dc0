"""Score triage against labels: the figures issue 12 asks for, overall and per channel and
language. Pure: takes (truth, outcome) pairs, returns numbers.

PII left counts labelled strings still present in the redacted text, compared as
LABELS.md says: ignoring spaces, dashes and case.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

CATEGORIES = ("technical", "account", "content_review", "payment", "feedback", "other")
PRIORITY_STEPS = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class Scored:
    """One message: its truth (a labels.json entry) and what triage said."""

    name: str
    truth: dict[str, Any]
    category: str
    private: bool
    priority: str
    redacted_text: str


def _squeeze(text: str) -> str:
    return "".join(c for c in text.lower() if c not in " -\n\t\r\u3000")


def pii_left(truth: dict[str, Any], redacted_text: str) -> int:
    """How many labelled PII strings survive in `redacted_text`."""
    squeezed = _squeeze(redacted_text)
    return sum(1 for value in truth.get("pii", []) if _squeeze(value) and _squeeze(value) in squeezed)


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    scores = []
    for category in CATEGORIES:
        tp = sum(1 for got, want in pairs if got == want == category)
        fp = sum(1 for got, want in pairs if got == category != want)
        fn = sum(1 for got, want in pairs if want == category != got)
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else 0.0


def figures(rows: list[Scored]) -> dict[str, Any]:
    """Category accuracy, macro-F1, private recall and precision, priority, PII left."""
    if not rows:
        return {"messages": 0}
    pairs = [(r.category, r.truth["category"]) for r in rows]
    tp = sum(1 for r in rows if r.private and r.truth.get("private"))
    fn = sum(1 for r in rows if not r.private and r.truth.get("private"))
    fp = sum(1 for r in rows if r.private and not r.truth.get("private"))
    steps = [
        abs(PRIORITY_STEPS.index(r.priority) - PRIORITY_STEPS.index(r.truth["priority"]))
        for r in rows
        if r.priority in PRIORITY_STEPS and r.truth.get("priority") in PRIORITY_STEPS
    ]
    return {
        "messages": len(rows),
        "category_accuracy": round(sum(g == w for g, w in pairs) / len(rows), 3),
        "category_macro_f1": round(macro_f1(pairs), 3),
        "private_recall": round(tp / (tp + fn), 3) if tp + fn else 1.0,
        "private_precision": round(tp / (tp + fp), 3) if tp + fp else 1.0,
        "priority_exact": round(sum(s == 0 for s in steps) / len(steps), 3) if steps else None,
        "priority_within_one": round(sum(s <= 1 for s in steps) / len(steps), 3) if steps else None,
        "pii_left": sum(pii_left(r.truth, r.redacted_text) for r in rows),
    }


def report(rows: list[Scored]) -> dict[str, Any]:
    """`figures` overall, per channel and per language."""
    by: dict[str, dict[str, list[Scored]]] = {"channel": defaultdict(list), "language": defaultdict(list)}
    for row in rows:
        by["channel"][str(row.truth.get("channel", "?"))].append(row)
        by["language"][str(row.truth.get("language", "?"))].append(row)
    return {
        "overall": figures(rows),
        **{f"by_{axis}": {key: figures(group) for key, group in sorted(groups.items())} for axis, groups in by.items()},
    }


def misses(rows: list[Scored]) -> list[str]:
    """One line per wrong message, without the PII values (output stays clean)."""
    lines = []
    for r in rows:
        notes = []
        if r.category != r.truth["category"]:
            notes.append(f"category {r.category} (want {r.truth['category']})")
        if r.priority != r.truth.get("priority"):
            notes.append(f"priority {r.priority} (want {r.truth.get('priority')})")
        if r.private != bool(r.truth.get("private")):
            notes.append("PRIVATE MISSED" if r.truth.get("private") else "extra private")
        left = pii_left(r.truth, r.redacted_text)
        if left:
            notes.append(f"PII LEFT {left}")
        if notes:
            lines.append(f"{r.name}: " + "; ".join(notes))
    return lines
