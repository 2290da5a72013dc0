"""The labelled samples in ../shared/samples drive triage: private recall, redaction, accuracy."""

from __future__ import annotations

import pytest

from intake.triage import Rules, load_rules, triage_message

from tests.unit.triage.test_helpers import TRIAGE_DATA, load_message, sample_labels, samples_dir
from tests.support.shared import need_shared

LABELS = sample_labels()
# Labels that predate ../shared/LABELS.md and disagree with it (the page decides): an
# address alone is not sensitive data, so this wrong-number voicemail is not private.
PREDATES_LABELS_PAGE = {"voice_006.txt"}


@pytest.fixture(scope="module")
def labelled_samples() -> None:
    need_shared("samples", "labels.json")  # skips here, fails under CI=true


needs_samples = pytest.mark.usefixtures("labelled_samples")


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules()


@needs_samples
@pytest.mark.parametrize("name", sorted(LABELS) or ["none"])
def test_sample_private_and_redacted(name: str, rules: Rules) -> None:
    label = LABELS[name]
    triage = triage_message(load_message(samples_dir() / name, label["channel"]), rules)
    if label["private"] and name not in PREDATES_LABELS_PAGE:
        assert triage.private, f"{name}: labelled private, triage said not private ({triage.reasons})"
        assert triage.private_reasons
    for secret in label["pii"]:
        assert secret not in triage.redacted_text, f"{name}: {secret!r} survived redaction"


@needs_samples
def test_sample_category_accuracy(rules: Rules) -> None:
    misses = []
    for name, label in sorted(LABELS.items()):
        triage = triage_message(load_message(samples_dir() / name, label["channel"]), rules)
        if triage.category != label["category"]:
            misses.append(f"{name}: {triage.category} != {label['category']}")
    accuracy = 1 - len(misses) / len(LABELS)
    assert accuracy >= 0.9, "\n".join(misses)


@needs_samples
def test_sample_priority_accuracy(rules: Rules) -> None:
    right = sum(
        triage_message(load_message(samples_dir() / name, label["channel"]), rules).priority == label["priority"]
        for name, label in LABELS.items()
    )
    assert right / len(LABELS) >= 0.8


def _own_cases() -> dict[str, dict]:
    import json

    return json.loads((TRIAGE_DATA / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(_own_cases()))
def test_own_edge_cases(name: str, rules: Rules) -> None:
    """Messages written for this repo (not the samples' wording), one oddity each."""
    expected = _own_cases()[name]
    triage = triage_message(load_message(TRIAGE_DATA / name), rules)
    got = {k: getattr(triage, k) for k in ("category", "private", "priority", "language")}
    assert got == {k: expected[k] for k in got}, triage.reasons
    for secret in expected["pii"]:
        assert secret not in triage.redacted_text
