"""Triage: category, department, priority, language and private handling for a message.

Pure: rules come from `intake/defaults/triage.yaml` (or INTAKE_TRIAGE_CONFIG) through `load_rules`, compiled once; the rest
takes values and returns values. Beside the rules, a learned model (`model.py`, trained by
`training.py`: `intake triage train`) gives category and priority probabilities; `decide.py`
blends the two, and the agents' corrections route near-identical messages. Privacy and
redaction stay rule-driven (`privacy.py`, `numbers.py`): recall first.
"""

from intake.triage.classify import triage_message
from intake.triage.language import detect_language
from intake.triage.privacy import detect_pii, redact
from intake.triage.loading import load_rules
from intake.triage.rules import Rules, TriageConfigError

__all__ = [
    "Rules",
    "TriageConfigError",
    "detect_language",
    "detect_pii",
    "load_rules",
    "redact",
    "triage_message",
]
