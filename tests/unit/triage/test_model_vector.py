"""`TriageModel.vector` (token indices cached) equals the vector made from `ngrams` strings."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.triage import load_rules
from intake.triage.features import ngrams
from intake.triage.model import TriageModel

MODEL = load_rules().model


def _from_strings(model: TriageModel, text: str) -> tuple[Any, Any]:
    """The vector as it was made before the cache: every n-gram string looked up."""
    counts = ngrams(text)
    positions = np.array([model.vocabulary.get(key, -1) for key in counts], dtype=np.int64)
    known = positions >= 0
    if not known.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    index = positions[known]
    tf = np.array(list(counts.values()), dtype=np.float32)[known]
    values = (1.0 + np.log(tf)) * model.idf[index]
    norm = float(np.sqrt(values @ values))
    return index, values / norm if norm else values


WORDS = ["account", "Password", "refund", "the", "login", "账户", "密碼", "退款", "123", "uh", "ok", "card", "locked",
         "x", "a", "ab", "abcdefghijklmnopqrstuvwxyzabc", "帐号被盗了吗", "\n", ".", "呃", "like", "İd"]


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from(WORDS), max_size=60))
def test_vector_is_what_the_ngram_strings_give(words: list[str]) -> None:
    assert MODEL is not None
    text = " ".join(words)
    for _ in range(2):  # cold, then from the cache
        index, values = MODEL.vector(text)
        expected_index, expected_values = _from_strings(MODEL, text)
        assert index.dtype == expected_index.dtype and values.dtype == expected_values.dtype
        assert index.tobytes() == expected_index.tobytes() and values.tobytes() == expected_values.tobytes()
