"""Weight initialisation of GLM, in one place.

N(0, std) for embeddings, position tables and the input projections (QKV, h->4h); the output
projections of each residual branch (``attention.dense``, ``mlp.dense_4h_to_h``) use
N(0, std / sqrt(2 * num_layers)); biases 0; LayerNorm weight 1 and bias 0. Sharded parameters
are drawn as the full master tensor (from one generator, identical on every rank) and sliced,
so one seed gives the same model at every tensor-parallel size. The P-tuning encoder keeps
PyTorch's default initialisation.
"""

import math

import torch
from torch import nn

from mpu import get_model_parallel_rank, get_model_parallel_world_size
from mpu.sharding import split_tensor

_SCALED_OUTPUTS = ("attention.dense.weight", "mlp.dense_4h_to_h.weight")


def _full_shape(param: torch.Tensor, world: int) -> list[int]:
    shape = list(param.shape)
    if getattr(param, "model_parallel", False):
        shape[param.partition_dim] *= world
    return shape


@torch.no_grad()
def init_glm_weights(model: nn.Module, seed: int) -> None:
    config = model.config
    generator = torch.Generator().manual_seed(seed)
    world, rank = get_model_parallel_world_size(), get_model_parallel_rank()
    scaled_std = config.init_method_std / math.sqrt(2.0 * config.num_layers)
    for name, param in model.named_parameters():
        if name.startswith("prompt_spell."):
            continue
        if "layernorm" in name:
            param.fill_(1.0 if name.endswith("weight") else 0.0)
            continue
        if name.endswith("bias"):
            param.zero_()
            continue
        std = scaled_std if name.endswith(_SCALED_OUTPUTS) else config.init_method_std
        master = torch.empty(_full_shape(param, world)).normal_(0.0, std, generator=generator)
        if getattr(param, "model_parallel", False) and world > 1:
            master = split_tensor(master, param.partition_dim, param.partition_stride, world)[rank]
        param.copy_(master)
