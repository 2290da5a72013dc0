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

from intake.triage.language import fold

MAX_MODEL_CHARS = 4_000  # the writer's point is in the first lines; keeps inference cheap
_TOKEN = re.compile(r"[a-z]+|[\u3400-\u9fff]+|\d+")
_FILLERS = frozenset("um uh er erm ah hmm mm like okay ok yeah 呃 嗯 啊 那个 就是".split())


def ngrams(text: str) -> Counter[str]:
    """Feature counts of `text` (subject and body as one string)."""
    found: list[str] = []
    add, extend = found.append, found.extend
    previous = ""
    for token in _TOKEN.findall(fold(text[:MAX_MODEL_CHARS])):
        if token in _FILLERS:
            continue
        first = token[0]
        if "\u3400" <= first <= "\u9fff":
            extend(_token_features(token) if len(token) <= _CACHED_TOKEN else _features_of(token))
            previous = ""
        elif first.isdigit():
            add("#num")
            previous = ""
        else:
            add("w:" + token)
            if previous:
                add("b:" + previous + " " + token)
            if len(token) > 2:
                extend(_token_features(token) if len(token) <= _CACHED_TOKEN else _features_of(token))
            previous = token
    return Counter(found)


# A word's character 4-grams (a Chinese run's characters and pairs) are the same wherever
# it occurs: short tokens, nearly all of them, are cut once. Long ones are not cached, so
# the cache stays under ~10 MB whatever the texts hold.
_CACHED_TOKEN = 24


def _features_of(token: str) -> tuple[str, ...]:
    if "\u3400" <= token[0] <= "\u9fff":  # characters and character pairs
        return (*token, *(token[i : i + 2] for i in range(len(token) - 1)))
    padded = f" {token} "  # a word: its character 4-grams
    return tuple("c:" + padded[i : i + 4] for i in range(len(padded) - 3))


_token_features = functools.lru_cache(maxsize=8192)(_features_of)


def weighted(counts: Counter[str]) -> dict[str, float]:
    """Sublinear term frequency (1 + log tf), as the model was trained on."""
    return {key: 1.0 + math.log(value) if value > 1 else 1.0 for key, value in counts.items()}
