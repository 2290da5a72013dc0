"""Fit the learned side of triage (scikit-learn's logistic regression over TF-IDF n-grams) and
turn it into a `TriageModel` of plain numpy arrays. Only training imports scikit-learn.

Agents' corrections count more than a labelled file (`CORRECTION_WEIGHT`): they are the
desk's own mail, and a correction should win over the messages it resembles.

The packaged model (intake/defaults/triage_model.npz) is built from all the public labelled
data: ../shared's two folders, the messages written for training in tests/data/triage-extra
and the blind probe sets (each scored once before it was learned from; adding one set
raised another's category accuracy by 0.05-0.07):

    intake triage train ../shared/samples ../shared/triage-train tests/data/triage-extra \
        tests/data/triage-probe tests/data/triage-probe2 tests/data/triage-probe3 \
        tests/data/triage-probe4 tests/data/triage-probe6 --no-corrections \
        --output intake/defaults/triage_model.npz
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from intake.triage.classify import model_text
from intake.triage.dataset import Example
from intake.triage.features import ngrams, weighted
from intake.triage.model import Head, Memory, TriageModel

CORRECTION_WEIGHT = 5.0
MIN_DOCUMENTS = 2  # an n-gram seen in one message only is noise (and a name or a number)
REGULARISATION = 10.0  # C of the logistic regression; 5-fold CV on the tuning part put C = 3..100 within 0.015


class TrainingError(Exception):
    """Training cannot run (no data, one class, scikit-learn missing); says why."""


@dataclass(frozen=True)
class Sample:
    """One training message: its text (subject and body), its truth, how much it counts."""

    text: str
    category: str
    priority: str
    weight: float = 1.0
    source: str = "labelled"


def train(samples: Iterable[Sample]) -> TriageModel:
    """Fit category and priority heads on `samples`."""
    try:
        from scipy.sparse import csr_matrix
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise TrainingError("training needs scikit-learn: pip install scikit-learn") from None
    rows = list(samples)
    if not rows:
        raise TrainingError("no labelled messages to train on")
    features = [weighted(ngrams(row.text)) for row in rows]
    frequency: Counter[str] = Counter(key for feature in features for key in feature)
    always = {key for row, feature in zip(rows, features, strict=True) if row.source == "correction" for key in feature}
    words = sorted(key for key, seen in frequency.items() if seen >= MIN_DOCUMENTS or key in always)
    vocabulary = {word: i for i, word in enumerate(words)}
    idf = np.array([math.log((1 + len(rows)) / (1 + frequency[w])) + 1 for w in words], dtype=np.float32)
    data: list[float] = []
    indices: list[int] = []
    pointers = [0]
    for feature in features:
        kept = [(vocabulary[k], v * idf[vocabulary[k]]) for k, v in feature.items() if k in vocabulary]
        norm = math.sqrt(sum(v * v for _, v in kept)) or 1.0
        indices.extend(i for i, _ in kept)
        data.extend(v / norm for _, v in kept)
        pointers.append(len(indices))
    matrix = csr_matrix((np.array(data, dtype=np.float64), indices, pointers), shape=(len(rows), len(words)))
    weights = np.array([row.weight for row in rows])

    def head(labels: list[str]) -> Head:
        if len(set(labels)) < 2:
            raise TrainingError(f"every message has the same label {labels[0]!r}: nothing to learn")
        fit = LogisticRegression(C=REGULARISATION, class_weight="balanced", max_iter=3000)
        fit.fit(matrix, labels, sample_weight=weights)
        coef, bias = fit.coef_, fit.intercept_
        if len(fit.classes_) == 2:  # binary: scikit-learn keeps one row; softmax needs both
            coef, bias = np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-bias[0] / 2, bias[0] / 2])
        return Head(tuple(str(c) for c in fit.classes_), coef.astype(np.float32), bias.astype(np.float32))

    corrected = [i for i, row in enumerate(rows) if row.source == "correction"]
    memory = Memory(
        indptr=np.concatenate([[0], np.cumsum([pointers[i + 1] - pointers[i] for i in corrected])]).astype(np.int64),
        indices=np.array([indices[j] for i in corrected for j in range(pointers[i], pointers[i + 1])], dtype=np.int64),
        values=np.array([data[j] for i in corrected for j in range(pointers[i], pointers[i + 1])], dtype=np.float32),
        categories=tuple(rows[i].category for i in corrected),
        priorities=tuple(rows[i].priority for i in corrected),
    )
    return TriageModel(
        memory=memory,
        vocabulary=vocabulary,
        idf=idf,
        category=head([row.category for row in rows]),
        priority=head([row.priority for row in rows]),
        meta={
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "messages": len(rows),
            "corrections": sum(1 for row in rows if row.source == "correction"),
        },
    )


def training_samples(examples: Iterable[Example]) -> Iterator[Sample]:
    """Labelled messages as training samples: the text triage gives the model."""
    for example in examples:
        yield Sample(model_text(example.message), example.label["category"], example.label["priority"])
