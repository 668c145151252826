"""Cross-entropy over vocabulary-sharded logits, with optional label smoothing.

Each tensor-parallel rank holds the logits of its contiguous vocabulary range ``[start, end)``.
The max, the softmax denominator and the target logit are all-reduced over the group, so the
full ``[..., V]`` logits are never gathered. Label smoothing ``eps`` gives
``(1 - eps) * CE + eps * mean_v(-log p_v)`` over the whole (padded) vocabulary, computed
correctly across shards, which is what ``torch.nn.functional.cross_entropy`` gives at one rank.
"""

import torch
import torch.distributed as dist
import torch.nn.functional as F

from mpu.parallel_state import (
    get_model_parallel_group,
    get_model_parallel_rank,
    get_model_parallel_world_size,
)


class _VocabParallelCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, target, label_smoothing):
        group = get_model_parallel_group()
        world = get_model_parallel_world_size()
        local_vocab = logits.shape[-1]
        start = get_model_parallel_rank() * local_vocab
        logits = logits.float()
        logits_max = logits.max(dim=-1).values
        dist.all_reduce(logits_max, op=dist.ReduceOp.MAX, group=group)
        shifted = logits - logits_max.unsqueeze(-1)

        outside = (target < start) | (target >= start + local_vocab)
        local_target = (target - start).masked_fill(outside, 0)
        target_logit = shifted.gather(-1, local_target.unsqueeze(-1)).squeeze(-1)
        target_logit = target_logit.masked_fill(outside, 0.0)
        exp = shifted.exp()
        sum_exp = exp.sum(dim=-1)
        sums = torch.stack([target_logit, sum_exp])
        dist.all_reduce(sums, group=group)
        target_logit, sum_exp = sums[0], sums[1]
        log_sum = sum_exp.log()
        loss = log_sum - target_logit

        vocab = local_vocab * world
        if label_smoothing > 0:
            neg_logp_sum = (log_sum.unsqueeze(-1) - shifted).sum(dim=-1)
            dist.all_reduce(neg_logp_sum, group=group)
            loss = (1.0 - label_smoothing) * loss + label_smoothing * neg_logp_sum / vocab

        exp.div_(sum_exp.unsqueeze(-1))
        ctx.save_for_backward(exp, local_target, outside)
        ctx.label_smoothing, ctx.vocab = label_smoothing, vocab
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        softmax, local_target, outside = ctx.saved_tensors
        eps = ctx.label_smoothing
        grad = softmax
        onehot_weight = (~outside).to(grad.dtype) * (1.0 - eps)
        grad.scatter_add_(-1, local_target.unsqueeze(-1), -onehot_weight.unsqueeze(-1))
        if eps > 0:
            grad.sub_(eps / ctx.vocab)
        grad.mul_(grad_output.unsqueeze(-1))
        return grad, None, None


def vocab_parallel_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Per-token loss ``[...]`` from local logits ``[..., V/p]`` and global targets ``[...]``."""
    if get_model_parallel_world_size() == 1:
        flat = F.cross_entropy(
            logits.float().flatten(0, -2),
            target.flatten(),
            reduction="none",
            label_smoothing=label_smoothing,
        )
        return flat.view(target.shape)
    return _VocabParallelCrossEntropy.apply(logits, target, label_smoothing)


@torch.no_grad()
def vocab_parallel_argmax(logits: torch.Tensor) -> torch.Tensor:
    """The index of the largest logit over the whole vocabulary, from local logits
    ``[..., V/p]``: each rank's best is gathered (not the logits); ties go to the lowest
    index, as ``argmax`` over the gathered logits would."""
    values, index = logits.float().max(dim=-1)
    world = get_model_parallel_world_size()
    if world == 1:
        return index
    index = index + get_model_parallel_rank() * logits.shape[-1]
    group = get_model_parallel_group()
    all_values = [torch.empty_like(values) for _ in range(world)]
    all_index = [torch.empty_like(index) for _ in range(world)]
    dist.all_gather(all_values, values, group=group)
    dist.all_gather(all_index, index, group=group)
    best = torch.stack(all_values).argmax(dim=0, keepdim=True)
    return torch.stack(all_index).gather(0, best).squeeze(0)
