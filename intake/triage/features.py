"""What the learned model reads from a message: n-grams of the folded text. Pure, no numpy.

Chinese is read as character unigrams and bigrams (no word segmenter needed; Traditional is
folded to Simplified first), English as words, word pairs and character 4-grams inside
words (spelling variants of Indian, Nigerian or Singaporean English, transcription slips,
"uh"-split phrases still share most of them). Training and inference call the same function,
so the two can never disagree on what a feature is.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from intake.triage.language import fold

MAX_MODEL_CHARS = 4_000  # the writer's point is in the first lines; keeps inference cheap
_TOKEN = re.compile(r"[a-z]+|[\u3400-\u9fff]+|\d+")
_FILLERS = frozenset("um uh er erm ah hmm mm like okay ok yeah 呃 嗯 啊 那个 就是".split())


K = TypeVar("K")
# What one token gives: the features before its pair with the previous word (the word
# itself; a Chinese run's characters and pairs) and the features after (a word's 4-grams).
TokenFeatures = tuple[tuple[K, ...], tuple[K, ...]]


def ngrams(text: str) -> Counter[str]:
    """Feature counts of `text` (subject and body as one string)."""
    return Counter(sequence(text, _token_features, pair_of, (NUMBER,)))


def sequence(text: str, of_token: Callable[[str], TokenFeatures[K]], of_pair: Callable[[str, str], K | None],
             number: tuple[K, ...]) -> list[K]:
    """The features of `text` in reading order, each made by the given functions: `ngrams`
    makes strings; the model makes vocabulary indices (unknown n-grams are left out, so the
    order of the rest is that of `ngrams`). `of_pair` gives None for a pair to leave out."""
    found: list[K] = []
    add, extend = found.append, found.extend
    previous = ""
    for token in _TOKEN.findall(fold(text[:MAX_MODEL_CHARS])):
        if token in _FILLERS:
            continue
        first = token[0]
        if "\u3400" <= first <= "\u9fff":
            extend(of_token(token)[0])
            previous = ""
        elif first.isdigit():
            extend(number)
            previous = ""
        else:
            head, tail = of_token(token)
            extend(head)
            if previous:
                pair = of_pair(previous, token)
                if pair is not None:
                    add(pair)
            extend(tail)
            previous = token
    return found


NUMBER = "#num"  # every run of digits


def pair_of(previous: str, token: str) -> str:
    return "b:" + previous + " " + token


def features_of(token: str) -> TokenFeatures[str]:
    """A token's own features (see `TokenFeatures`)."""
    if "\u3400" <= token[0] <= "\u9fff":  # characters and character pairs
        return (*token, *(token[i : i + 2] for i in range(len(token) - 1))), ()
    if len(token) <= 2:
        return ("w:" + token,), ()
    padded = f" {token} "  # a word, and its character 4-grams
    return ("w:" + token,), tuple("c:" + padded[i : i + 4] for i in range(len(padded) - 3))


# A token's features are the same wherever it occurs: short tokens, nearly all of them,
# are cut once. Long ones are not cached, so the cache stays under ~10 MB.
CACHED_TOKEN = 24
_cached_features = functools.lru_cache(maxsize=8192)(features_of)


def _token_features(token: str) -> TokenFeatures[str]:
    return _cached_features(token) if len(token) <= CACHED_TOKEN else features_of(token)


def weighted(counts: Counter[str]) -> dict[str, float]:
    """Sublinear term frequency (1 + log tf), as the model was trained on."""
    return {key: 1.0 + math.log(value) if value > 1 else 1.0 for key, value in counts.items()}
