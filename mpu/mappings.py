"""Autograd-aware communication at the borders of tensor-parallel regions.

| function                          | forward                   | backward                  |
|-----------------------------------|---------------------------|---------------------------|
| copy_to_model_parallel_region     | identity                  | all-reduce (sum)          |
| reduce_from_model_parallel_region | all-reduce (sum)          | identity                  |
| scatter_to_model_parallel_region  | keep my slice of last dim | all-gather along last dim |
| gather_from_model_parallel_region | all-gather along last dim | keep my slice of last dim |

All are identities when the tensor-parallel world has one rank.
"""

import torch
import torch.distributed as dist

from mpu.parallel_state import (
    get_model_parallel_group,
    get_model_parallel_rank,
    get_model_parallel_world_size,
)


def _all_reduce(x: torch.Tensor) -> torch.Tensor:
    if get_model_parallel_world_size() == 1:
        return x
    x = x.contiguous()
    dist.all_reduce(x, group=get_model_parallel_group())
    return x


def _split_last_dim(x: torch.Tensor) -> torch.Tensor:
    world = get_model_parallel_world_size()
    if world == 1:
        return x
    if x.shape[-1] % world:
        raise ValueError(f"last dimension {x.shape[-1]} is not divisible by {world} ranks")
    return x.chunk(world, dim=-1)[get_model_parallel_rank()].contiguous()


def _gather_last_dim(x: torch.Tensor) -> torch.Tensor:
    world = get_model_parallel_world_size()
    if world == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.contiguous(), group=get_model_parallel_group())
    return torch.cat(parts, dim=-1)


class _CopyToRegion(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return _all_reduce(grad.clone())


class _ReduceFromRegion(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _all_reduce(x.clone())

    @staticmethod
    def backward(ctx, grad):
        return grad


class _ScatterToRegion(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _split_last_dim(x)

    @staticmethod
    def backward(ctx, grad):
        return _gather_last_dim(grad)


class _GatherFromRegion(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _gather_last_dim(x)

    @staticmethod
    def backward(ctx, grad):
        return _split_last_dim(grad)


def copy_to_model_parallel_region(x: torch.Tensor) -> torch.Tensor:
    if get_model_parallel_world_size() == 1:
        return x
    return _CopyToRegion.apply(x)


def reduce_from_model_parallel_region(x: torch.Tensor) -> torch.Tensor:
    if get_model_parallel_world_size() == 1:
        return x
    return _ReduceFromRegion.apply(x)


def scatter_to_model_parallel_region(x: torch.Tensor) -> torch.Tensor:
    if get_model_parallel_world_size() == 1:
        return x
    return _ScatterToRegion.apply(x)


def gather_from_model_parallel_region(x: torch.Tensor) -> torch.Tensor:
    if get_model_parallel_world_size() == 1:
        return x
    return _GatherFromRegion.apply(x)
