"""Teacher-forced scoring of GLM samples: per-token log-probs and "is every target the argmax".

Works on vocabulary-sharded logits: the log-probs come from the vocab-parallel cross entropy,
and only the scored rows of the logits are gathered for the argmax, so tensor-parallel ranks
agree with one process. Batches are split over data-parallel ranks and the per-sample results
gathered back, so every rank returns the whole list in dataset order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mpu import (
    gather_from_model_parallel_region,
    get_data_parallel_group,
    get_data_parallel_rank,
    get_data_parallel_world_size,
    get_model_parallel_world_size,
    vocab_parallel_cross_entropy,
)
from tasks.glm_samples import GLMSample, collate_samples


@dataclass(frozen=True)
class SampleScore:
    uid: int
    logprob_sum: float  # sum of scored target log-probs
    num_scored: int
    all_argmax: bool  # every scored target is the argmax of its logits
    logprobs: tuple[float, ...]  # the scored log-probs, in order


def forward_logprobs(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Target log-probs ``[b, L]`` and argmax hits ``[b, L]`` (bool) of one collated batch."""
    device = next(model.parameters()).device
    logits = model(
        batch["input_ids"].to(device),
        batch["position_ids"].to(device),
        batch["sep"].to(device),
    )
    targets = batch["target_ids"].to(device)
    logprobs = -vocab_parallel_cross_entropy(logits, targets)
    scored = batch["loss_mask"].to(device).bool()
    rows = logits[scored]  # (n, V / p): only scored positions are gathered
    if get_model_parallel_world_size() > 1:
        rows = gather_from_model_parallel_region(rows)
    hits = torch.zeros_like(scored)
    hits[scored] = rows.argmax(dim=-1) == targets[scored]
    return logprobs.float(), hits


def _batches(count: int, batch_size: int) -> list[range]:
    """This data-parallel rank's share of the batches (round robin)."""
    starts = range(0, count, batch_size)[get_data_parallel_rank() :: get_data_parallel_world_size()]
    return [range(s, min(s + batch_size, count)) for s in starts]


def score_dataset(
    model: torch.nn.Module,
    dataset: Sequence[GLMSample],
    batch_size: int,
    pad_id: int,
    progress: Callable[[int], None] | None = None,
) -> list[SampleScore]:
    """Score every sample of ``dataset`` (any indexable of GLMSample), in dataset order."""
    results: list[SampleScore] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for indices in _batches(len(dataset), batch_size):
            batch = collate_samples([dataset[i] for i in indices], pad_id)
            logprobs, hits = forward_logprobs(model, batch)
            mask = batch["loss_mask"].bool()
            for row, uid in enumerate(batch["uid"]):
                scored = logprobs[row][mask[row].to(logprobs.device)].cpu()
                results.append(
                    SampleScore(
                        uid=uid,
                        logprob_sum=float(scored.double().sum()),
                        num_scored=int(mask[row].sum()),
                        all_argmax=bool(hits[row][mask[row].to(hits.device)].all()),
                        logprobs=tuple(scored.tolist()),
                    )
                )
            if progress is not None:
                progress(len(indices))
    model.train(was_training)
    return _gather_over_data_parallel(results)


def _gather_over_data_parallel(results: list[SampleScore]) -> list[SampleScore]:
    if get_data_parallel_world_size() == 1:
        return results
    shards: list = [None] * get_data_parallel_world_size()
    dist.all_gather_object(shards, results, group=get_data_parallel_group())
    return sorted((s for shard in shards for s in shard), key=lambda s: s.uid)
