"""Evaluation of the cloze/classification tasks: predict every example of a split, compute
the task's metrics (when the split is labelled) and write ``<output_dir>/<split>.jsonl``.

Every rank runs the whole split (tensor-parallel ranks must see the same batches); only global
rank 0 writes (``tasks.task_io``). Predictions: default ``{"idx", "label": label string}``;
MultiRC nested per passage/question/answer; ReCoRD ``{"idx", "label": chosen entity}``; CLUE
sorted by idx.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from tasks.cloze_samples import InputExample, collate
from tasks.superglue.metrics import task_metrics
from tasks.superglue.scoring import compute_scores, greedy_matches
from tasks.task_io import write_jsonl

CHOICE_CHUNK = 10  # candidate rows per forward pass during evaluation
CLUE_TASKS = ("afqmc", "tnews", "cluewsc")


@torch.no_grad()
def predict(model, dataset, batch_size: int, wsc_mode: str | None = None) -> list[int]:
    """Predicted index per example, in dataset order. ``wsc_mode``: "choices" maps candidate 0
    (span1) to True (1); "generative" predicts True iff greedy decoding gives span1."""
    model.eval()
    device = next(model.parameters()).device
    predictions = [0] * len(dataset)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    for batch in loader:
        uids = batch.pop("uid")
        batch = {k: v.to(device) for k, v in batch.items()}
        if wsc_mode == "generative":
            predicted = greedy_matches(model, batch)
        else:
            predicted = compute_scores(model, batch, chunk=CHOICE_CHUNK).argmax(-1)
            if wsc_mode == "choices":
                predicted = (predicted == 0).long()
        for uid, p in zip(uids, predicted.tolist(), strict=True):
            predictions[uid] = p
    return predictions


def gold_labels(examples: list[InputExample], labels: tuple[str, ...]) -> list[int] | None:
    """Label indices, or None when the split is unlabelled (test data)."""
    if any(ex.label is None for ex in examples):
        return None
    return [labels.index(ex.label) for ex in examples]


def prediction_records(
    task: str, predictions: list[int], examples: list[InputExample], labels: tuple[str, ...]
) -> list[dict]:
    if task == "multirc":
        return _multirc_records(predictions, examples, labels)
    if task == "record":
        return [
            {"idx": ex.idx, "label": ex.meta["candidates"][p]}
            for p, ex in zip(predictions, examples, strict=True)
        ]
    pairs = zip(predictions, examples, strict=True)
    records = [{"idx": ex.idx, "label": labels[p]} for p, ex in pairs]
    if task in CLUE_TASKS:
        records.sort(key=lambda r: r["idx"])
    return records


def _multirc_records(predictions, examples, labels) -> list[dict]:
    passages: dict = defaultdict(lambda: defaultdict(list))
    for p, ex in zip(predictions, examples, strict=True):
        passage, question, answer = ex.idx
        passages[passage][question].append({"idx": answer, "label": int(labels[p])})
    return [
        {
            "idx": passage,
            "passage": {
                "questions": [
                    {"idx": question, "answers": answers} for question, answers in questions.items()
                ]
            },
        }
        for passage, questions in passages.items()
    ]


def evaluate_predictions(
    task: str, dataset, predictions: list[int], split: str, output_dir: Path | None
) -> dict[str, float]:
    """Metrics of ``predictions`` (empty for unlabelled data) and the prediction file."""
    examples, labels = dataset.examples, dataset.labels
    gold = gold_labels(examples, labels)
    if task in ("wsc", "wsc1") and gold is not None:
        gold = [int(ex.label == "True") for ex in examples]
    results = {}
    if gold is not None:
        results = {name: metric(predictions, gold, examples) for name, metric in task_metrics(task)}
    if output_dir is not None:
        records = prediction_records(task, predictions, examples, labels)
        write_jsonl(Path(output_dir) / f"{split}.jsonl", records)
    return results
