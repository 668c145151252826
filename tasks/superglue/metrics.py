"""Task metrics, all in percent: accuracy, F1 (label 1 positive), macro F1, MultiRC exact match
per question, and ReCoRD/SQuAD-style EM and F1 of the chosen candidate against every answer.

A metric is ``metric(predictions, labels, examples) -> float``; predictions and labels are
label indices.
"""

from __future__ import annotations

import re
import string
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

from tasks.cloze_samples import InputExample

Metric = Callable[[Sequence[int], Sequence[int], Sequence[InputExample]], float]


def accuracy(predictions, labels, examples=None) -> float:
    right = sum(p == y for p, y in zip(predictions, labels, strict=True))
    return 100.0 * right / max(len(labels), 1)


def _f1(predictions, labels, positive: int) -> float:
    tp = sum(p == positive and y == positive for p, y in zip(predictions, labels, strict=True))
    predicted, actual = sum(p == positive for p in predictions), sum(y == positive for y in labels)
    if tp == 0:
        return 0.0
    precision, recall = tp / predicted, tp / actual
    return 2 * precision * recall / (precision + recall)


def f1(predictions, labels, examples=None) -> float:
    return 100.0 * _f1(predictions, labels, positive=1)


def f1_macro(predictions, labels, examples=None) -> float:
    classes = sorted(set(labels) | set(predictions))
    return 100.0 * sum(_f1(predictions, labels, c) for c in classes) / max(len(classes), 1)


def multirc_em(predictions, labels, examples: Sequence[InputExample]) -> float:
    """Share of questions whose answers are all classified right; a question is identified by
    (passage, question) index, since question indices repeat across passages."""
    right: dict[tuple, bool] = defaultdict(lambda: True)
    for p, y, example in zip(predictions, labels, examples, strict=True):
        key = (example.meta["passage_idx"], example.meta["question_idx"])
        right[key] &= p == y
    return 100.0 * sum(right.values()) / max(len(right), 1)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match_score(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1_score(prediction: str, truth: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _qa(score: Callable[[str, str], float]) -> Metric:
    def metric(predictions, labels, examples: Sequence[InputExample]) -> float:
        total = 0.0
        for p, example in zip(predictions, examples, strict=True):
            answers = example.meta["answers"]
            chosen = example.meta["candidates"][p]
            total += max((score(chosen, a) for a in answers), default=0.0)
        return 100.0 * total / max(len(examples), 1)

    return metric


qa_exact_match = _qa(exact_match_score)
qa_f1 = _qa(f1_score)

ACCURACY = (("accuracy", accuracy),)
TASK_METRICS: dict[str, tuple[tuple[str, Metric], ...]] = {
    "record": (("EM", qa_exact_match), ("F1", qa_f1)),
    "cb": (("accuracy", accuracy), ("f1-macro", f1_macro)),
    "multirc": (("f1a", f1), ("em", multirc_em), ("acc", accuracy)),
    "mrpc": (("accuracy", accuracy), ("f1", f1)),
    "qqp": (("accuracy", accuracy), ("f1", f1)),
}


def task_metrics(task: str) -> tuple[tuple[str, Metric], ...]:
    return TASK_METRICS.get(task, ACCURACY)
