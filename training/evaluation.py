"""Validation during training: loss, perplexity and next-token accuracy, overall and per
blank-infilling objective.

For every objective (``bert`` token spans, ``sentence`` spans, ``gpt`` document generation)
``evaluate_loss`` reports the mean loss, the top-1 accuracy of the scored (Part-B) tokens, and
beside it the accuracy of always predicting the most frequent of those target tokens
(``acc_<mode>_most_frequent``): the floor a model that learned anything beats. Numbers are
summed over data-parallel ranks; ``ppl = exp(min(20, loss))``.
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

    def __init__(self) -> None:
        self.loss, self.batches, self.correct, self.scored = 0.0, 0, 0, 0
        self.targets: Counter = Counter()

    def add(self, loss: float, metrics: dict) -> None:
        self.loss += loss
        self.batches += 1
        if "predicted" in metrics:
            targets = metrics["targets"]
            self.correct += int((metrics["predicted"] == targets).sum())
            self.scored += int(targets.numel())
            self.targets.update(targets.tolist())

    def merge(self, other: _Tally) -> None:
        self.loss += other.loss
        self.batches += other.batches
        self.correct += other.correct
        self.scored += other.scored
        self.targets.update(other.targets)

    def results(self, suffix: str) -> dict:
        if not self.batches:
            return {}
        out = {f"loss{suffix}": self.loss / self.batches}
        if self.scored:
            out[f"acc{suffix}"] = self.correct / self.scored
            out[f"acc{suffix}_most_frequent"] = max(self.targets.values()) / self.scored
        return out


def _merge_over_data_parallel(tallies: dict[str, _Tally]) -> dict[str, _Tally]:
    group = mpu.get_data_parallel_group()
    if not dist.is_initialized() or dist.get_world_size(group=group) == 1:
        return tallies
    gathered: list = [None] * dist.get_world_size(group=group)
    dist.all_gather_object(gathered, tallies, group=group)
    merged = {key: _Tally() for key in tallies}
    for shard in gathered:
        for key, tally in shard.items():
            merged[key].merge(tally)
    return merged


@torch.no_grad()
def evaluate_loss(
    model: nn.Module, batches: Iterator[dict], forward_step: ForwardStep, num_batches: int
) -> dict:
    """Loss (and, where ``forward_step`` reports predictions, accuracy) over ``num_batches``
    batches: ``loss``, ``ppl``, ``acc``, ``acc_most_frequent`` and the same per objective
    (``loss_bert``, ``acc_bert``, ``acc_bert_most_frequent``, ...)."""
    was_training = model.training
    model.eval()
    tallies = {key: _Tally() for key in ("", *EVAL_MODES)}
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
    if "loss" in results:
        results["ppl"] = math.exp(min(20.0, results["loss"]))
    return results
