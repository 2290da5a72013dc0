"""Triage: category, department, priority, language and private handling for a message.

Pure: rules come from `intake/defaults/triage.yaml` (or INTAKE_TRIAGE_CONFIG) through `load_rules`, compiled once; the rest
takes values and returns values. Beside the rules, a learned model (`model.py`, trained by
`training.py`: `intake triage train`) gives category and priority probabilities; `decide.py`
blends the two, and the agents' corrections route near-identical messages. Privacy and
redaction stay rule-driven (`privacy.py`, `numbers.py`): recall first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from intake.triage.classify import triage_message
    from intake.triage.language import detect_language
    from intake.triage.loading import load_rules
    from intake.triage.privacy import detect_pii, redact
    from intake.triage.rules import Rules, TriageConfigError

# Imported on first use (PEP 562): the log filter needs only the privacy detectors, and a
# process that never triages (beat, the web app's start) should not pay for the model's
# numpy, the rule loader and the classifier at start-up.
_HOMES = {
    "Rules": "intake.triage.rules",
    "TriageConfigError": "intake.triage.rules",
    "detect_language": "intake.triage.language",
    "detect_pii": "intake.triage.privacy",
    "load_rules": "intake.triage.loading",
    "redact": "intake.triage.privacy",
    "triage_message": "intake.triage.classify",
}

__all__ = ["Rules", "TriageConfigError", "detect_language", "detect_pii", "load_rules", "redact",
           "triage_message"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
