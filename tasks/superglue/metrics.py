"""Task metrics on GLM's scales: accuracy and ReCoRD EM/F1 in percent (0-100); F1 (label 1
positive), macro F1 and MultiRC exact match per question as fractions (0-1), as GLM wrote them
into its result files (its F1s came from scikit-learn).

A metric is ``metric(predictions, labels, examples) -> float``; predictions and labels are
label indices. ``PERCENT`` names the metrics already in percent, for labelling log lines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from tasks.answers import answer_f1, exact_match
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
    """F1 of label 1, a fraction."""
    return _f1(predictions, labels, positive=1)


def f1_macro(predictions, labels, examples=None) -> float:
    """Mean F1 over the classes present in labels or predictions, a fraction."""
    classes = sorted(set(labels) | set(predictions))
    return sum(_f1(predictions, labels, c) for c in classes) / max(len(classes), 1)


def multirc_em(predictions, labels, examples: Sequence[InputExample]) -> float:
    """Share (a fraction) of questions whose answers are all classified right; a question is
    identified by (passage, question) index, since question indices repeat across passages
    (GLM keyed on the question index alone)."""
    right: dict[tuple, bool] = defaultdict(lambda: True)
    for p, y, example in zip(predictions, labels, examples, strict=True):
        key = (example.meta["passage_idx"], example.meta["question_idx"])
        right[key] &= p == y
    return sum(right.values()) / max(len(right), 1)


def _qa(score: Callable[[str, str], float]) -> Metric:
    def metric(predictions, labels, examples: Sequence[InputExample]) -> float:
        total = 0.0
        for p, example in zip(predictions, examples, strict=True):
            answers = example.meta["answers"]
            chosen = example.meta["candidates"][p]
            total += max((score(chosen, a) for a in answers), default=0.0)
        return 100.0 * total / max(len(examples), 1)

    return metric


qa_exact_match = _qa(exact_match)
qa_f1 = _qa(answer_f1)

ACCURACY = (("accuracy", accuracy),)
TASK_METRICS: dict[str, tuple[tuple[str, Metric], ...]] = {
    "record": (("EM", qa_exact_match), ("F1", qa_f1)),
    "cb": (("accuracy", accuracy), ("f1-macro", f1_macro)),
    "multirc": (("f1a", f1), ("em", multirc_em), ("acc", accuracy)),
    "mrpc": (("accuracy", accuracy), ("f1", f1)),
    "qqp": (("accuracy", accuracy), ("f1", f1)),
}


PERCENT = frozenset({"accuracy", "acc", "EM", "F1"})


def task_metrics(task: str) -> tuple[tuple[str, Metric], ...]:
    return TASK_METRICS.get(task, ACCURACY)


def describe(results: dict[str, float]) -> str:
    """``results`` for a log line, every value labelled with its scale."""
    return ", ".join(
        f"{name} {value:.2f} %" if name in PERCENT else f"{name} {value:.4f} ({100 * value:.2f} %)"
        for name, value in results.items()
    )
