"""Triage one message: rules report hits, the config's tables decide the outcome. Pure.

`triage_message` reads only the message and the compiled `Rules`; it does no I/O.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from intake.messages import InboundMessage, Triage
from intake.triage.decide import (
    MODEL_PRIVATE_SHARE, NO_NET_CATEGORIES, NO_NET_RULES, PRIVATE_SHARE, Decision, decide_category,
    decide_priority,
)
from intake.triage.language import detect_language, fold
from intake.triage.privacy import detect_pii, private_pii_reasons, redact
from intake.triage.rules import Rules

# Where quoted history starts, if the normalizer left it in (mail-parser-reply misses
# some clients' markers).
_REPLY_MARKER = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|原始邮件|原始郵件|回复的邮件)\s*-{2,}"
    r"|on .{4,200}wrote:\s*$|.{1,80}(?:写道|寫道)\s*[:：]\s*$|在.{2,80}写道)",
    re.IGNORECASE,
)
# Where the signature, legal footer or client boilerplate starts.
_SIGNATURE_MARKER = re.compile(
    r"^\s*(?:--\s*$|_{3,}\s*$|sent from my |sent from outlook|get outlook for|发自我的|發自我的|"
    r"confidentiality notice|disclaimer|this e-?mail and any attachments|免责声明|本邮件(?:及其附件)?(?:含有|可能)|"
    r"this message (?:is|may be) confidential)",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^\s*(?:best regards|kind regards|warm regards|regards|sincerely|cheers|thanks|thank you|"
    r"many thanks|best|thx|谢谢|謝謝|此致|祝好|顺祝商祺)[\s,.!！，。]*$",
    re.IGNORECASE,
)
_CLOSING_TAIL_LINES = 6  # a closing this close to the end starts the signature
# The look-behind starts a marker only at the first dash of a run: from every dash of a long
# run, `search` was quadratic. A match from inside a run is also one from its first dash.
_FORWARD_MARKER = re.compile(
    r"(?:(?<!-)-{2,}\s*(?:转发的邮件|轉寄的郵件|转发邮件|forwarded message)\s*-{2,}|begin forwarded message:)\s*$",
    re.IGNORECASE,
)
# Hesitations of speech in voicemail transcripts ("cant, uh, log in", "登, 呃, 登不上"): dropped
# before the rules read a text, so phrases split by them still match.
_FILLERS = re.compile(r"(?<![a-z])(?:uh+|um+|uhm|erm|hmm+|mm+)(?![a-z])[ ,.…]*|[呃嗯]+[ ,，、…]*")
# The shape of a ticket reference (intake.tickets.store.REF_RE, which triage does not import).
_TICKET_REF = re.compile(r"(?<![A-Za-z0-9])TK-[0-9A-HJKMNP-TV-Z]{6}(?![A-Za-z0-9])", re.IGNORECASE)
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|sv|回复|回覆|答复|转发|轉寄)\s*[:：]\s*)+", re.IGNORECASE)
_CLAUSE_END = re.compile(r"(?<=[。！？!?;；\n])|(?<=\.)(?=\s)")

_AUTOMATED_PII_KINDS = frozenset({"card", "secret"})
_MAX_HITS_PER_RULE = 3  # repetition adds little after a few mentions
# How much of the body the rules score (INTAKE_TRIAGE_MAX_SCORED_CHARS): the writer's point
# is in its first pages, and 68 rule scans of a megabyte are the cost of a mail bomb.
# Privacy detection is not capped: it reads the whole text.
MAX_SCORED_CHARS = 20_000


@dataclass(frozen=True)
class _Hits:
    scores: dict[str, int]
    signals: frozenset[str]
    reasons: tuple[str, ...]


def message_body(msg: InboundMessage) -> str:
    """The writer's own words: `new_text`, or `text` when the normalizer left it empty."""
    return msg.new_text if msg.new_text.strip() else msg.text


def classification_body(msg: InboundMessage) -> str:
    """What the rules read: the writer's words, plus a forwarded mail they only introduce."""
    body = message_body(msg)
    if body is msg.new_text and _FORWARD_MARKER.search(body.rstrip()) and len(msg.text) > len(body):
        # "see the mail below, urgent": the forwarded mail is the case itself.
        return msg.text
    return body


def own_text(msg: InboundMessage) -> str:
    """Subject and body as one text: what `Triage.redacted_text` is made from."""
    body = message_body(msg)
    if msg.channel == "email" and msg.subject.strip():
        return f"{msg.subject}\n{body}"
    return body


def model_text(msg: InboundMessage, max_chars: int = MAX_SCORED_CHARS) -> str:
    """What the learned model reads: the subject and the writer's words, as the rules read them,
    without ticket references: a reference is random letters, and its n-grams swayed the model
    ("Update on [TK-…] Any news?" went technical for about one reference in thirty)."""
    subject = _SUBJECT_PREFIX.sub("", msg.subject[:max_chars]) if msg.channel == "email" else ""
    return _TICKET_REF.sub(" ", f"{subject}\n{strip_quotes_and_signature(classification_body(msg)[:max_chars])}")


def strip_quotes_and_signature(body: str) -> str:
    """Drop quoted lines, everything after a reply marker, and a trailing signature block."""
    lines: list[str] = []
    for line in body.splitlines():
        if _REPLY_MARKER.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        lines.append(line)
    for index, line in enumerate(lines):
        if _SIGNATURE_MARKER.match(line) or (
            _CLOSING.match(line) and len(lines) - index <= _CLOSING_TAIL_LINES and index > 0
        ):
            lines = lines[:index]
            break
    return "\n".join(lines)


def triage_message(msg: InboundMessage, rules: Rules, *, max_scored_chars: int = MAX_SCORED_CHARS) -> Triage:
    """Decide category, department, priority, language and private handling for `msg`.

    Category rules and language detection read the first `max_scored_chars` of the
    subject and of the body; PII detection reads all of the text.
    """
    text = own_text(msg)
    spans = detect_pii(text)
    own_subject = msg.subject[:max_scored_chars] if msg.channel == "email" else ""
    subject = _SUBJECT_PREFIX.sub("", own_subject)
    body = strip_quotes_and_signature(classification_body(msg)[:max_scored_chars])
    # A reply's subject names the case it answers, and the new text may have moved on
    # ("Re: Account suspension appeal" / "thanks, all sorted"): there it counts as body text.
    subject_weight = 1 if subject != own_subject else rules.subject_weight

    folded_subject = fold(subject)
    kept_body, negated_body = _split_negated(_FILLERS.sub("", fold(body)), rules)
    hint = _hint(msg, rules)
    hits = _with_hint(_run_rules(rules, folded_subject, kept_body, subject_weight), hint, rules)
    # Privacy never looks away: denied clauses ("not about my account") still count there.
    private_hits = _run_rules(rules, "", negated_body) if negated_body else None

    decision, priority = _decide(msg, rules, hits, _TICKET_REF.sub(" ", f"{subject}\n{body}"), hint)  # = model_text(msg)
    category = decision.category
    private_reasons: list[str] = []
    # spam, thanks for a closed case, a press enquiry: no case at all, whatever account words it repeats
    no_case = category == "other" and bool(_rule_ids(hits) & NO_NET_RULES)
    if category in rules.private_categories:
        private_reasons.append(f"category:{category}")
    elif category in NO_NET_CATEGORIES or no_case:
        pass  # no case to keep private (decide.NO_NET_CATEGORIES)
    elif decision.share(rules.private_categories) >= PRIVATE_SHARE:
        private_reasons.append("blend:private_categories")
    elif decision.model_share(rules.private_categories) >= MODEL_PRIVATE_SHARE:
        private_reasons.append("model:private_categories")
    # Automated mail quotes headers full of ids and timestamps: there only data with a
    # check or a stated secret (card, code, password) makes it private; all of it is masked.
    kinds = rules.private_pii_kinds & _AUTOMATED_PII_KINDS if msg.loop.automated else rules.private_pii_kinds
    pii_reasons = private_pii_reasons(spans, kinds)
    own_words = message_body(msg)
    if msg.text and msg.text != own_words:
        # Sensitive data in quoted history or a signature still makes the case private.
        extra = private_pii_reasons(detect_pii(_beyond(msg.text, own_words)), kinds)
        pii_reasons = tuple(dict.fromkeys((*pii_reasons, *extra)))
    private_reasons.extend(pii_reasons)
    all_signals = hits.signals | (private_hits.signals if private_hits else frozenset())
    if not no_case:  # "thanks, my stolen account is back": a takeover that is over
        private_reasons.extend(sorted(all_signals & rules.private_signals))

    return Triage(
        category=category,  # type: ignore[arg-type]  # checked against Category in load_rules
        department=rules.department_for(category),
        priority=priority,  # type: ignore[arg-type]
        language=detect_language(f"{subject}\n{body}"),
        private=bool(private_reasons),
        private_reasons=tuple(private_reasons),
        reasons=(*hits.reasons, f"decided:{decision.decided_by}"),
        pii=spans,
        redacted_text=redact(text, spans),
    )


# More than any detector reads around a number for its context words (mentions.BEFORE)
_CONTEXT_OVERLAP = 400


def _beyond(text: str, body: str) -> str:
    """The part of `text` after the writer's own words `body` (quoted history, a signature),
    with enough of their end for context: the own words were already read. All of `text`
    when it does not begin with them (a reply written below the quote)."""
    head = body.rstrip()
    if head and text.startswith(head):
        return text[max(0, len(head) - _CONTEXT_OVERLAP):]
    return text


def _rule_ids(hits: _Hits) -> set[str]:
    return {reason.partition("@")[0] for reason in hits.reasons}


def _hint(msg: InboundMessage, rules: Rules) -> str | None:
    """The sender's own choice of category (support form, app), when the rules know it."""
    hint = msg.extra_value("category_hint")
    return hint if hint and hint in rules.departments and rules.hint_weight > 0 else None


def _with_hint(hits: _Hits, hint: str | None, rules: Rules) -> _Hits:
    """The sender's own choice of category (`_hint`) scores `hint_weight`."""
    if not hint:
        return hits
    scores = {**hits.scores, hint: hits.scores.get(hint, 0) + rules.hint_weight}
    return _Hits(scores, hits.signals, (*hits.reasons, f"hint.category:{hint}"))


def _split_negated(body: str, rules: Rules) -> tuple[str, str]:
    """Body without the clauses that deny a topic, and those clauses on their own."""
    if rules.negation is None or not rules.negation.search(body):
        return body, ""
    kept: list[str] = []
    denied: list[str] = []
    for clause in _CLAUSE_END.split(body):
        (denied if rules.negation.search(clause) else kept).append(clause)
    return "".join(kept), "\n".join(denied)


def _run_rules(rules: Rules, subject: str, body: str, subject_weight: int | None = None) -> _Hits:
    scores: dict[str, int] = defaultdict(int)
    signals: set[str] = set()
    reasons: list[str] = []
    weight = rules.subject_weight if subject_weight is None else subject_weight
    for part, factor, where in ((subject, weight, "subject"), (body, 1, "body")):
        if not part:
            continue
        for index, found in _matches(rules, part).items():
            rule = rules.rules[index]
            if rule.category is not None:
                scores[rule.category] += rule.weight * factor * min(len(found), _MAX_HITS_PER_RULE)
            if rule.signal is not None:
                signals.add(rule.signal)
            reasons.append(f"{rule.id}@{where}:{'|'.join(f[:30] for f in found[:_MAX_HITS_PER_RULE])}")
    large = _large_sum(rules, f"{subject}\n{body}")
    if large:
        signals.add("large_sum")
        reasons.append(f"amount.large_sum:{large}")
    return _Hits(dict(scores), frozenset(signals), tuple(reasons))


def _matches(rules: Rules, text: str) -> dict[int, list[str]]:
    """Rule index -> what it matched: one pass of the automaton, or each rule (no matcher built)."""
    if rules.matcher is not None:
        found: dict[int, list[str]] = rules.matcher.find_all(text)
        return found
    return {i: hits for i, rule in enumerate(rules.rules) if (hits := rule.find(text))}


def _large_sum(rules: Rules, text: str) -> str:
    """The first amount at or above its currency's threshold, as "48600CNY"; or ""."""
    if rules.amount_pattern is None:
        return ""
    if not _encodable(text):  # RE2 reads UTF-8, which has no lone surrogates
        text = text.encode("utf-8", "replace").decode("utf-8")
    for match in rules.amount_pattern.finditer(text):
        symbol_first, number1, scale1, number2, scale2, symbol_last = match.groups()
        number, scale = (number1, scale1) if symbol_first else (number2, scale2)
        currency = rules.currency_of.get(symbol_first or symbol_last or "")
        if currency is None or currency not in rules.large_sum or number is None:
            continue
        value = float(number.replace(",", "")) * {"万": 10_000, "千": 1_000, "k": 1_000}.get(scale or "", 1)
        if value >= rules.large_sum[currency]:
            return f"{value:g}{currency}"
    return ""


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decide(msg: InboundMessage, rules: Rules, hits: _Hits, text: str, hint: str | None) -> tuple[Decision, str]:
    """Category and priority: automated mail is `other`; else rules and model together."""
    if msg.loop.automated:
        # Bounces, auto-replies and reports: nobody to help, whatever words they quote.
        return Decision(rules.fallback_category, "automated"), rules.default_priority[rules.fallback_category]
    if rules.model is None:
        decision = decide_category(hits.scores, rules, None)
        return decision, decide_priority(decision.category, hits.signals, rules, None)
    categories, priorities, corrected = rules.model.assess(text)
    if corrected is not None:  # an agent routed a near-identical message: their word stands
        return Decision(corrected[0], "correction", {corrected[0]: 1.0}), corrected[1]
    decision = decide_category(hits.scores, rules, categories, hint)
    return decision, decide_priority(decision.category, hits.signals, rules, priorities)
