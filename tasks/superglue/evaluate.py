"""Evaluation of the cloze/classification tasks: predict every example of a split, compute
the task's metrics (when the split is labelled) and write its prediction and score files.

Every rank runs the whole split (tensor-parallel ranks must see the same batches); only global
rank 0 writes (``tasks.task_io``). Files, named as GLM named them (``<task>-<split>``):

- ``<task>-<split>.jsonl``, the predictions in the SuperGLUE submission format: ``{"idx",
  "label"}`` with the label as the task's data spells it (``"entailment"``, ``"true"``,
  ``"True"``; COPA an integer); MultiRC nested per passage/question with integer answer
  labels; ReCoRD the chosen entity; CLUE sorted by idx.
- ``<task>-<split>.scores.jsonl``, one line per example: ``{"id", "idx", "choices", "scores",
  "prediction", "label"}``, the score of every label or candidate (verbalizer logits, summed
  answer log-probabilities, or head outputs), to compare runs example by example.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from tasks.cloze_samples import InputExample, collate
from tasks.superglue.metrics import describe, task_metrics
from tasks.superglue.scoring import compute_scores, greedy_matches
from tasks.task_io import write_jsonl

logger = logging.getLogger(__name__)
CHOICE_CHUNK = 10  # candidate rows per forward pass during evaluation
CLUE_TASKS = ("afqmc", "tnews", "cluewsc")
INTEGER_LABELS = ("copa", "multirc")  # the submission format wants 0/1, not "0"/"1"


def _row_scores(scores: torch.Tensor, batch: dict) -> list[list[float]]:
    """Each example's scores without the padded choices."""
    mask = batch.get("choice_mask")
    rows = scores.float().tolist()
    if mask is None:
        return rows
    return [row[: int(m.sum())] for row, m in zip(rows, mask, strict=True)]


@torch.no_grad()
def predict(
    model, dataset, batch_size: int, wsc_mode: str | None = None
) -> tuple[list[int], list[list[float] | None]]:
    """Predicted index and the scores of every choice, per example in dataset order.
    ``wsc_mode``: "choices" maps candidate 0 (span1) to True (1); "generative" predicts True
    iff greedy decoding gives span1 (no scores)."""
    model.eval()
    device = next(model.parameters()).device
    predictions, scores = [0] * len(dataset), [None] * len(dataset)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    for batch in loader:
        uids = batch.pop("uid")
        batch = {k: v.to(device) for k, v in batch.items()}
        if wsc_mode == "generative":
            predicted, rows = greedy_matches(model, batch), [None] * len(uids)
        else:
            output = compute_scores(model, batch, chunk=CHOICE_CHUNK)
            predicted, rows = output.argmax(-1), _row_scores(output, batch)
            if wsc_mode == "choices":
                predicted = (predicted == 0).long()
        for uid, p, row in zip(uids, predicted.tolist(), rows, strict=True):
            predictions[uid], scores[uid] = p, row
    return predictions, scores


def gold_labels(examples: list[InputExample], labels: tuple[str, ...]) -> list[int] | None:
    """Label indices, or None when the split is unlabelled (test data)."""
    if any(ex.label is None for ex in examples):
        return None
    return [labels.index(ex.label) for ex in examples]


def predicted_value(task: str, p: int, example: InputExample, labels: tuple[str, ...]):
    """A prediction as the submission format spells it."""
    if task == "record":
        return example.meta["candidates"][p]
    return int(labels[p]) if task in INTEGER_LABELS else labels[p]


def gold_value(task: str, example: InputExample):
    """The gold label as the submission format spells it (ReCoRD: its answers)."""
    if example.label is None:
        return None
    if task == "record":
        return list(example.meta["answers"])
    return int(example.label) if task in INTEGER_LABELS else example.label


def prediction_records(
    task: str, predictions: list[int], examples: list[InputExample], labels: tuple[str, ...]
) -> list[dict]:
    if task == "multirc":
        return _multirc_records(predictions, examples, labels)
    pairs = zip(predictions, examples, strict=True)
    records = [{"idx": ex.idx, "label": predicted_value(task, p, ex, labels)} for p, ex in pairs]
    if task in CLUE_TASKS:
        records.sort(key=lambda r: r["idx"])
    return records


def _multirc_records(predictions, examples, labels) -> list[dict]:
    passages: dict = defaultdict(lambda: defaultdict(list))
    for p, ex in zip(predictions, examples, strict=True):
        passage, question, answer = ex.idx
        label = predicted_value("multirc", p, ex, labels)
        passages[passage][question].append({"idx": answer, "label": label})
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


def choice_names(task: str, example: InputExample, labels: tuple[str, ...], wsc_choices: bool):
    """What each score of an example scores: its labels, or its candidate answers."""
    meta = example.meta
    if task == "copa":
        return [meta["choice1"], meta["choice2"]]
    if task == "record":
        return list(meta["candidates"])
    if task == "race":
        return list(meta["choices"])
    if task == "squad-cloze":
        return [meta["answer"]]
    if task in ("wsc", "wsc1") and wsc_choices:
        return [meta["span1_text"], *meta.get("candidates", [])]
    return list(labels)


def score_records(task, predictions, scores, examples, labels, wsc_choices) -> list[dict]:
    return [
        {
            "id": ex.guid,
            "idx": ex.idx,
            "choices": None if s is None else choice_names(task, ex, labels, wsc_choices),
            "scores": s,
            "prediction": predicted_value(task, p, ex, labels),
            "label": gold_value(task, ex),
        }
        for p, s, ex in zip(predictions, scores, examples, strict=True)
    ]


def evaluate_predictions(
    task: str,
    dataset,
    predicted: tuple[list[int], list[list[float] | None]],
    split: str,
    output_dir: Path | None,
    wsc_choices: bool = False,
) -> dict[str, float]:
    """Metrics of ``predicted`` (empty for unlabelled data), the prediction and score files."""
    predictions, scores = predicted
    examples, labels = dataset.examples, dataset.labels
    gold = gold_labels(examples, labels)
    if task in ("wsc", "wsc1") and gold is not None:
        gold = [int(ex.label == "True") for ex in examples]
    results = {}
    if gold is not None:
        results = {name: metric(predictions, gold, examples) for name, metric in task_metrics(task)}
        logger.info("%s-%s: %s", task, split, describe(results))
    if output_dir is not None:
        folder = Path(output_dir)
        records = prediction_records(task, predictions, examples, labels)
        write_jsonl(folder / f"{task}-{split}.jsonl", records)
        records = score_records(task, predictions, scores, examples, labels, wsc_choices)
        write_jsonl(folder / f"{task}-{split}.scores.jsonl", records)
    return results
