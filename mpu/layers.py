"""Tensor-parallel layers: vocab-parallel embedding, column- and row-parallel linear.

Parameters are created empty; ``model/init.py`` fills them (a full master tensor sliced per rank,
see ``mpu.sharding``), so one seed gives the same model at every tensor-parallel size. Each
sharded parameter records its split dimension and stride (``mark_parallel``).
"""

import torch
import torch.nn.functional as F
from torch import nn

from mpu.mappings import (
    copy_to_model_parallel_region,
    gather_from_model_parallel_region,
    reduce_from_model_parallel_region,
    scatter_to_model_parallel_region,
)
from mpu.parallel_state import get_model_parallel_rank, get_model_parallel_world_size
from mpu.sharding import mark_parallel


def _divide(numerator: int, denominator: int, what: str) -> int:
    if numerator % denominator:
        raise ValueError(
            f"{what} {numerator} is not divisible by the tensor-parallel size {denominator}"
        )
    return numerator // denominator


class VocabParallelEmbedding(nn.Module):
    """Embedding whose rows (the vocabulary) are split into contiguous per-rank ranges."""

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        world, rank = get_model_parallel_world_size(), get_model_parallel_rank()
        self.num_embeddings = num_embeddings
        per_rank = _divide(
            num_embeddings, world, "the padded vocabulary size (see --make-vocab-size-divisible-by)"
        )
        self.vocab_start, self.vocab_end = rank * per_rank, (rank + 1) * per_rank
        self.weight = nn.Parameter(torch.empty(per_rank, embedding_dim))
        mark_parallel(self.weight, dim=0)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if get_model_parallel_world_size() == 1:
            return F.embedding(input_ids, self.weight)
        outside = (input_ids < self.vocab_start) | (input_ids >= self.vocab_end)
        local_ids = (input_ids - self.vocab_start).masked_fill(outside, 0)
        out = F.embedding(local_ids, self.weight).masked_fill(outside.unsqueeze(-1), 0.0)
        return reduce_from_model_parallel_region(out)


class ColumnParallelLinear(nn.Module):
    """``y = x A^T + b`` with A split along its output rows; ``stride`` for fused projections."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        gather_output: bool = False,
        stride: int = 1,
    ):
        super().__init__()
        world = get_model_parallel_world_size()
        per_rank = _divide(out_features, world, "the output size")
        self.gather_output = gather_output
        self.weight = nn.Parameter(torch.empty(per_rank, in_features))
        mark_parallel(self.weight, dim=0, stride=stride)
        if bias:
            self.bias = nn.Parameter(torch.empty(per_rank))
            mark_parallel(self.bias, dim=0, stride=stride)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(copy_to_model_parallel_region(x), self.weight, self.bias)
        return gather_from_model_parallel_region(y) if self.gather_output else y


class RowParallelLinear(nn.Module):
    """``y = x A^T + b`` with A split along its input columns; bias added after the all-reduce."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        input_is_parallel: bool = True,
    ):
        super().__init__()
        world = get_model_parallel_world_size()
        per_rank = _divide(in_features, world, "the input size")
        self.input_is_parallel = input_is_parallel
        self.weight = nn.Parameter(torch.empty(out_features, per_rank))
        mark_parallel(self.weight, dim=1)
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.input_is_parallel:
            x = scatter_to_model_parallel_region(x)
        if get_model_parallel_world_size() == 1:
            return F.linear(x, self.weight, self.bias)
        y = reduce_from_model_parallel_region(F.linear(x, self.weight))
        return y + self.bias if self.bias is not None else y
