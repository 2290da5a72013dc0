"""The learned side of triage: a linear model over n-grams (see `features.py`), loaded from a
numpy .npz file without running any code in it (allow_pickle=False), evaluated with numpy.

Two heads share the features: category and priority. Training lives in `training.py` and
needs scikit-learn; nothing here does. A model trained with `intake triage train` is kept
under the data directory and wins over the one that ships with the package.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from intake.settings import DEFAULTS_DIR
from intake.triage.features import CACHED_TOKEN, NUMBER, TokenFeatures, features_of, pair_of, sequence

PACKAGED_MODEL = DEFAULTS_DIR / "triage_model.npz"
MODEL_FILE = Path("triage") / "model.npz"  # under the data directory
FORMAT = 2  # 2: with the corrections memory


class ModelError(Exception):
    """A model file cannot be used; the message names the file."""


@dataclass(frozen=True)
class Head:
    """One linear softmax classifier: classes, weights (classes x features), biases."""

    classes: tuple[str, ...]
    coef: Any  # np.ndarray, float32
    bias: Any

    def probabilities(self, index: Any, values: Any) -> dict[str, float]:
        logits = self.coef[:, index] @ values + self.bias
        logits -= logits.max()
        odds = np.exp(logits)
        odds /= odds.sum()
        return dict(zip(self.classes, (float(p) for p in odds), strict=True))


@dataclass(frozen=True)
class Memory:
    """The agents' corrections as TF-IDF vectors (CSR rows): a near-identical message (cosine
    similarity at least `NEAR_IDENTICAL`) takes the corrected category and priority outright."""

    indptr: Any
    indices: Any
    values: Any
    categories: tuple[str, ...]
    priorities: tuple[str, ...]

    def recall(self, index: Any, values: Any, width: int) -> tuple[str, str] | None:
        if not self.categories or not len(index):
            return None
        dense = np.zeros(width, dtype=np.float32)
        dense[index] = values
        products = dense[self.indices] * self.values
        sums = np.add.reduceat(products, self.indptr[:-1]) if len(products) else np.zeros(0)
        empty = self.indptr[1:] == self.indptr[:-1]  # reduceat reads one value for an empty row
        sums = np.where(empty, 0.0, sums)
        best = int(np.argmax(sums))
        return (self.categories[best], self.priorities[best]) if sums[best] >= NEAR_IDENTICAL else None


NEAR_IDENTICAL = 0.8
_KNOWN_TOKENS = 20_000  # tokens whose indices a model keeps (a few MB)
NO_MEMORY = Memory(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), (), ())


@dataclass(frozen=True)
class TriageModel:
    vocabulary: dict[str, int]
    idf: Any
    category: Head
    priority: Head
    meta: dict[str, Any]
    memory: Memory = NO_MEMORY
    # token -> its known features' indices (`features.sequence`): a word is looked up once.
    _known: dict[str, TokenFeatures[int]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def vector(self, text: str) -> tuple[Any, Any]:
        """The message's TF-IDF features (indices, L2-normalized values); unknown n-grams dropped.

        The indices come in the order of `features.ngrams(text)` less the unknown n-grams."""
        number = self.vocabulary.get(NUMBER)
        counts = Counter(sequence(text, self._token_indices, self._pair_index, () if number is None else (number,)))
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        values = (1.0 + np.log(tf)) * self.idf[index]  # sublinear tf, as `features.weighted`
        norm = float(np.sqrt(values @ values))
        return index, values / norm if norm else values

    def _token_indices(self, token: str) -> TokenFeatures[int]:
        known = self._known.get(token)
        if known is None:
            get = self.vocabulary.get
            head, tail = features_of(token)
            known = (tuple(i for i in map(get, head) if i is not None), tuple(i for i in map(get, tail) if i is not None))
            if len(token) <= CACHED_TOKEN:
                if len(self._known) >= _KNOWN_TOKENS:
                    self._known.clear()
                self._known[token] = known
        return known

    def _pair_index(self, previous: str, token: str) -> int | None:
        return self.vocabulary.get(pair_of(previous, token))

    def predict(self, text: str) -> tuple[dict[str, float], dict[str, float]]:
        """Category and priority probabilities for `text`."""
        index, values = self.vector(text)
        return self.category.probabilities(index, values), self.priority.probabilities(index, values)

    def assess(self, text: str) -> tuple[dict[str, float], dict[str, float], tuple[str, str] | None]:
        """`predict`, and the (category, priority) of a correction `text` nearly repeats, if any."""
        index, values = self.vector(text)
        return (self.category.probabilities(index, values), self.priority.probabilities(index, values),
                self.memory.recall(index, values, len(self.idf)))


def _strings(array: Any) -> list[str]:
    return bytes(array.astype(np.uint8)).decode("utf-8").split("\n") if array.size else []


def _utf8(strings: list[str] | tuple[str, ...]) -> Any:
    return np.frombuffer("\n".join(strings).encode("utf-8"), dtype=np.uint8)


def save_model(model: TriageModel, path: Path) -> None:
    """Write `model` as a compressed .npz of plain arrays (no pickles), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    words = sorted(model.vocabulary, key=model.vocabulary.__getitem__)
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        temporary,
        vocabulary=_utf8(words),
        idf=model.idf.astype(np.float32),
        category_classes=_utf8(model.category.classes),
        category_coef=model.category.coef.astype(np.float32),
        category_bias=model.category.bias.astype(np.float32),
        priority_classes=_utf8(model.priority.classes),
        priority_coef=model.priority.coef.astype(np.float32),
        priority_bias=model.priority.bias.astype(np.float32),
        meta=_utf8([json.dumps({**model.meta, "format": FORMAT}, sort_keys=True)]),
        memory_indptr=model.memory.indptr.astype(np.int64),
        memory_indices=model.memory.indices.astype(np.int64),
        memory_values=model.memory.values.astype(np.float32),
        memory_categories=_utf8(model.memory.categories),
        memory_priorities=_utf8(model.memory.priorities),
    )
    temporary.replace(path)


def load_model(path: Path) -> TriageModel:
    """Read a model written by `save_model`; `ModelError` names the file if it is unusable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        words = _strings(arrays["vocabulary"])
        meta = json.loads(_strings(arrays["meta"])[0])
        model = TriageModel(
            vocabulary={word: i for i, word in enumerate(words)},
            idf=arrays["idf"].astype(np.float32),
            category=Head(tuple(_strings(arrays["category_classes"])), arrays["category_coef"], arrays["category_bias"]),
            priority=Head(tuple(_strings(arrays["priority_classes"])), arrays["priority_coef"], arrays["priority_bias"]),
            meta=meta,
            memory=Memory(arrays["memory_indptr"], arrays["memory_indices"], arrays["memory_values"],
                          tuple(_strings(arrays["memory_categories"])), tuple(_strings(arrays["memory_priorities"]))),
        )
    except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: not a usable triage model ({type(exc).__name__})") from None
    width = len(words)
    for head in (model.category, model.priority):
        if head.coef.shape != (len(head.classes), width) or head.bias.shape != (len(head.classes),):
            raise ModelError(f"{path}: weights do not match the vocabulary")
    if model.idf.shape != (width,) or meta.get("format") != FORMAT:
        raise ModelError(f"{path}: unknown model format")
    memory = model.memory
    rows = len(memory.categories)
    if (memory.indptr.shape != (rows + 1,) or len(memory.priorities) != rows or memory.indptr[0] != 0
            or np.any(np.diff(memory.indptr) < 0) or memory.indptr[-1] != len(memory.indices)
            or len(memory.values) != len(memory.indices) or (len(memory.indices) and
                                                             (memory.indices.min() < 0 or memory.indices.max() >= width))):
        raise ModelError(f"{path}: the corrections memory does not match the vocabulary")
    return model


def model_path(data_dir: Path | None) -> Path | None:
    """The model to use: the one trained under `data_dir` if present, else the packaged one."""
    if data_dir is not None and (data_dir / MODEL_FILE).is_file():
        return data_dir / MODEL_FILE
    return PACKAGED_MODEL if PACKAGED_MODEL.is_file() else None
