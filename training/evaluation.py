"""Validation during training: loss, perplexity and next-token accuracy, overall and per
blank-infilling objective.

For every objective (``bert`` token spans, ``sentence`` spans, ``gpt`` document generation)
``evaluate_loss`` reports the mean loss, the top-1 accuracy of the scored (Part-B) tokens, and
beside it the accuracy of always predicting the most frequent of those target tokens
(``acc_<mode>_most_frequent``): the floor a model that learned anything beats. Numbers are
summed over data-parallel ranks; ``ppl = exp(min(20, loss))``.

Given the span-end token (``[eop]``, the target after each span's last token), the same two
numbers are also reported over the text tokens alone (``acc_<mode>_text`` and
``acc_<mode>_text_most_frequent``). With GLM's short token spans (Poisson, mean 3) about a
quarter of the Part-B targets are ``[eop]``, so the all-targets floor is the share of
``[eop]``; the text-token numbers say how well the model predicts the words of a blank.

Given the span-start token (``[sop]``, the input at which each span's first token is
predicted), they are reported once more over those first tokens alone (``acc_<mode>_first``,
``acc_<mode>_first_most_frequent``): the only Part-B tokens that must be read off the words
beside the blank in Part A rather than continued from the span itself, what decides whether a
short ``[MASK]`` gets a word that fits.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn

import mpu
from training.loop import ForwardStep

EVAL_MODES = ("bert", "sentence", "gpt")


class _Tally:
    """Sums of one group of batches (all of them, or one objective's)."""

    def __init__(self, span_end_id: int | None = None, span_start_id: int | None = None) -> None:
        self.span_end_id, self.span_start_id = span_end_id, span_start_id
        self.loss, self.batches = 0.0, 0
        # hits and target counts over all scored targets, the text tokens, the first tokens
        self.correct = {"": 0, "_text": 0, "_first": 0}
        self.targets: dict[str, Counter] = {kind: Counter() for kind in self.correct}

    def add(self, loss: float, metrics: dict) -> None:
        self.loss += loss
        self.batches += 1
        if "predicted" in metrics:
            targets, hits = metrics["targets"], metrics["predicted"] == metrics["targets"]
            self.correct[""] += int(hits.sum())
            self.targets[""].update(targets.tolist())
            if self.span_end_id is not None:
                self._count("_text", hits, targets, targets != self.span_end_id)
            if self.span_start_id is not None and "inputs" in metrics:
                self._count("_first", hits, targets, metrics["inputs"] == self.span_start_id)

    def _count(self, kind: str, hits: torch.Tensor, targets: torch.Tensor, keep: torch.Tensor):
        self.correct[kind] += int(hits[keep].sum())
        self.targets[kind].update(targets[keep].tolist())

    def merge(self, other: _Tally) -> None:
        self.loss += other.loss
        self.batches += other.batches
        for kind in self.correct:
            self.correct[kind] += other.correct[kind]
            self.targets[kind].update(other.targets[kind])

    def results(self, suffix: str) -> dict:
        if not self.batches:
            return {}
        out = {f"loss{suffix}": self.loss / self.batches}
        for kind, counts in self.targets.items():
            scored = sum(counts.values())
            if scored:
                out[f"acc{suffix}{kind}"] = self.correct[kind] / scored
                out[f"acc{suffix}{kind}_most_frequent"] = max(counts.values()) / scored
        return out


def _merge_over_data_parallel(tallies: dict[str, _Tally]) -> dict[str, _Tally]:
    group = mpu.get_data_parallel_group()
    if not dist.is_initialized() or dist.get_world_size(group=group) == 1:
        return tallies
    gathered: list = [None] * dist.get_world_size(group=group)
    dist.all_gather_object(gathered, tallies, group=group)
    merged = {key: _Tally(tally.span_end_id, tally.span_start_id) for key, tally in tallies.items()}
    for shard in gathered:
        for key, tally in shard.items():
            merged[key].merge(tally)
    return merged


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    batches: Iterator[dict],
    forward_step: ForwardStep,
    num_batches: int,
    span_end_id: int | None = None,
    span_start_id: int | None = None,
) -> dict:
    """Loss (and, where ``forward_step`` reports predictions, accuracy) over ``num_batches``
    batches: ``loss``, ``ppl``, ``acc``, ``acc_most_frequent`` and the same per objective
    (``loss_bert``, ``ppl_bert``, ``acc_bert``, ``acc_bert_most_frequent``, ...); with
    ``span_end_id`` also ``acc_text``, ``acc_bert_text``, ... over the targets that are not it,
    with ``span_start_id`` ``acc_first``, ``acc_bert_first``, ... over the targets whose input
    is it (where ``forward_step`` reports ``inputs``)."""
    was_training = model.training
    model.eval()
    tallies = {key: _Tally(span_end_id, span_start_id) for key in ("", *EVAL_MODES)}
    for _ in range(num_batches):
        try:
            batch = next(batches)
        except StopIteration:
            break
        loss, metrics = forward_step(batch, model)
        tallies[""].add(float(loss), metrics)
        if metrics.get("mode") in EVAL_MODES:
            tallies[metrics["mode"]].add(float(loss), metrics)
    model.train(was_training)
    tallies = _merge_over_data_parallel(tallies)
    results = {}
    for key, tally in tallies.items():
        results.update(tally.results(f"_{key}" if key else ""))
    for key in [k for k in results if k.startswith("loss")]:  # ppl, ppl_bert, ppl_gpt, ...
        results["ppl" + key[4:]] = math.exp(min(20.0, results[key]))
    return results
