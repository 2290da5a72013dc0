"""Turn evidence into an outcome: rule scores and model probabilities into a category, signals
and the category into a priority, and say which side decided. Pure.

The rules' scores become a distribution with `FALLBACK_PSEUDO_SCORE` on the fallback
category (weak evidence stays near "other"); it is averaged with the model's probabilities,
`RULE_SHARE` to the rules. Both constants were chosen by cross-validation on the tuning part
of the labelled data (intake/triage/dataset.py). Without a model the rules decide alone,
exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from intake.triage.rules import Rules

CATEGORY_TIE_ORDER = ("payment", "account", "content_review", "technical", "feedback", "other")
RULE_SHARE = 0.35
FALLBACK_PSEUDO_SCORE = 3
PRIORITY_STEPS = ("low", "normal", "high", "urgent")
# Chosen by cross-validation, as RULE_SHARE. 0.6 (was 0.5) since the model learns from the probe
# sets: priority exact 0.878 -> 0.899 (tune part), 0.895 -> 0.915 (triage-extra), 0.856 -> 0.867
# (probe sets, each scored by a model that never saw it).
PRIORITY_CONFIDENCE = 0.6
# Private is recall first: a case the blend gives this much account+payment weight is kept
# private even when another category wins. 0.35 since the model learns from the four probe
# sets too: cross-validated private recall 0.988 -> 1.0 on the tuning part and 0.95 -> 0.964
# on triage-extra, with every private precision still >= 0.95 (0.3 reached 0.993 on
# triage-extra but took precision under 0.95 there and across the probe sets).
PRIVATE_SHARE = 0.35
# The net stays off where the decided category says there is no case to keep: feedback (a
# suggestion or a complaint about design or policy, LABELS.md), and `other` mail the rules know
# as spam, as thanks for a closed case, or as a press enquiry ("a piece on hijacked accounts").
# Leave one labelled set out, train on the rest, score it (and probes 5, 7-10): of the net's 10
# catches 7 were decided `other` (none spam, thanks or press), 2 content_review, 1 technical,
# none feedback; its false alarms went from 13 to 6. Those `other` cases lose the private
# signals too (a takeover thanked for is over, phishing repeats "stolen"); cards, codes, IDs
# and passwords still make any case private.
NO_NET_CATEGORIES = frozenset({"feedback"})
NO_NET_RULES = frozenset({"other.spam", "other.closed_case", "other.press_partnership"})
# ... or when the model alone gives account+payment this much: short SMS and voicemail carry
# few rule hits, and there the fallback's pseudo-score drowns the model's view in the blend.
MODEL_PRIVATE_SHARE = 0.5
# The category the sender chose on the support form or in the app is evidence the text's
# model never saw: it gets its own share of the blend, so a vague text ("please have a
# look") goes where the sender sent it, while a clear one still outvotes it.
HINT_SHARE = 0.25


@dataclass(frozen=True)
class Decision:
    category: str
    decided_by: str  # "rules", "model", or "rules+model" when both sides pick it
    shares: dict[str, float] | None = None  # the blended distribution, when a model took part
    model_shares: dict[str, float] | None = None  # the model's own probabilities

    def share(self, categories: frozenset[str]) -> float:
        return sum(self.shares.get(c, 0.0) for c in categories) if self.shares else 0.0

    def model_share(self, categories: frozenset[str]) -> float:
        return sum(self.model_shares.get(c, 0.0) for c in categories) if self.model_shares else 0.0


def decided_by(reasons: tuple[str, ...]) -> str:
    """Which side decided a triage: "rules", "model", "rules+model", "correction" or "automated"."""
    return next((r.split(":", 1)[1] for r in reasons if r.startswith("decided:")), "rules")


def rules_only(scores: dict[str, int], rules: Rules) -> str:
    best = max(CATEGORY_TIE_ORDER, key=lambda c: (scores.get(c, 0), -CATEGORY_TIE_ORDER.index(c)))
    if scores.get(best, 0) < rules.min_category_score:
        return rules.fallback_category
    return best


def decide_category(scores: dict[str, int], rules: Rules, probabilities: dict[str, float] | None,
                    hint: str | None = None) -> Decision:
    """The category, from rule scores, (when a model is loaded) its probabilities, and the
    sender's own choice (`hint`, already counted in `scores` as `hint_weight`)."""
    by_rules = rules_only(scores, rules)
    if not probabilities:
        return Decision(by_rules, "rules")
    fallback = rules.fallback_category
    total = sum(max(0, s) for s in scores.values()) + FALLBACK_PSEUDO_SCORE
    blended = {
        c: RULE_SHARE * (max(0, scores.get(c, 0)) + (FALLBACK_PSEUDO_SCORE if c == fallback else 0)) / total
        + (1 - RULE_SHARE) * probabilities.get(c, 0.0)
        for c in CATEGORY_TIE_ORDER
    }
    if hint in blended:
        blended = {c: (share + (HINT_SHARE if c == hint else 0.0)) / (1 + HINT_SHARE) for c, share in blended.items()}
    best = max(CATEGORY_TIE_ORDER, key=lambda c: (blended[c], -CATEGORY_TIE_ORDER.index(c)))
    by_model = max(probabilities, key=probabilities.__getitem__)
    side = "rules" if best == by_rules and best != by_model else "model" if best == by_model != by_rules else "rules+model"
    return Decision(best, side, blended, probabilities)


def decide_priority(category: str, signals: frozenset[str], rules: Rules, probabilities: dict[str, float] | None) -> str:
    """The config's signal rows (or the category's default), moved one step toward the model's
    priority when the model is at least `PRIORITY_CONFIDENCE` sure of another level. An
    urgent row (takeover, fraud, safety, a legal deadline) is never lowered by the model."""
    row = next((row.priority for row in rules.priority_rows if row.applies(category, signals)), None)
    by_rules = row or rules.default_priority[category]
    if not probabilities:
        return by_rules
    guess = max(probabilities, key=probabilities.__getitem__)
    if guess == by_rules or guess not in PRIORITY_STEPS or probabilities[guess] < PRIORITY_CONFIDENCE:
        return by_rules
    step = PRIORITY_STEPS.index(by_rules)
    if PRIORITY_STEPS.index(guess) > step:
        return PRIORITY_STEPS[step + 1]
    return by_rules if row == "urgent" else PRIORITY_STEPS[step - 1]
