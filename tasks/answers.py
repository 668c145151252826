"""SQuAD-style answer comparison shared by ReCoRD (cloze) and SQuAD (seq2seq): normalisation,
exact match and token F1, each as GLM scored them.

GLM lower-cased, transliterated to ASCII (``unidecode``), dropped ASCII punctuation and the
articles a/an/the, and collapsed whitespace. Here accents are folded by Unicode decomposition
and Unicode punctuation is dropped with the ASCII one, which gives the same words for Latin
text (``José`` -> ``jose``, ``don’t`` -> ``dont``) without the extra dependency.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def _is_punctuation(char: str) -> bool:
    return char in _PUNCTUATION or unicodedata.category(char).startswith("P")


def normalize_answer(text: str) -> str:
    """Lower case, accents folded, no punctuation, no articles, single spaces."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c) and not _is_punctuation(c))
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def token_f1(predicted: list[str], gold: list[str]) -> float:
    """F1 of two token lists (0 when they share none)."""
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def answer_f1(prediction: str, truth: str) -> float:
    return token_f1(normalize_answer(prediction).split(), normalize_answer(truth).split())
