"""Gradient-norm clipping that counts each parameter once across the tensor-parallel group.

Sharded parameters (``model_parallel`` attribute) contribute on every rank; replicated ones only
on tensor-parallel rank 0. The partial sums are all-reduced over the group, so every rank gets
the norm of the whole model. No per-parameter host synchronisation.
"""

import torch
import torch.distributed as dist

from mpu.parallel_state import (
    get_model_parallel_group,
    get_model_parallel_rank,
    get_model_parallel_world_size,
)


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0) -> torch.Tensor:
    """Clip gradients in place to total norm ``max_norm``; returns the norm before clipping."""
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return torch.tensor(0.0)
    first_rank = get_model_parallel_rank() == 0
    counted = [p.grad for p in params if getattr(p, "model_parallel", False) or first_rank]
    device = params[0].grad.device
    if norm_type == float("inf"):
        total = torch.stack([g.detach().abs().max().float() for g in counted]).max()
        if get_model_parallel_world_size() > 1:
            dist.all_reduce(total, op=dist.ReduceOp.MAX, group=get_model_parallel_group())
    else:
        if counted:
            norms = torch._foreach_norm([g.detach() for g in counted], norm_type)
            total = torch.stack([n.float() for n in norms]).pow(norm_type).sum()
        else:
            total = torch.zeros((), device=device)
        if get_model_parallel_world_size() > 1:
            dist.all_reduce(total, group=get_model_parallel_group())
        total = total.pow(1.0 / norm_type)
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    torch._foreach_mul_([p.grad for p in params], coef.to(device))
    return total
