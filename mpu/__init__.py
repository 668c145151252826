"""Tensor (model) parallelism: process groups, parallel layers, vocab-parallel loss, RNG, clipping.

Megatron-style semantics: a tensor-parallel ("model-parallel") group holds consecutive global
ranks, a data-parallel group holds strided ranks. Every function degrades to the single-process
case when torch.distributed is not initialised, so inference needs no process group at all.
``initialize_distributed`` (``mpu.launch``) is the one start-up every entry point uses.
"""

from mpu.cross_entropy import vocab_parallel_argmax, vocab_parallel_cross_entropy
from mpu.data import broadcast_data, broadcast_object
from mpu.grads import clip_grad_norm
from mpu.launch import initialize_distributed, initialize_one_model, set_random_seed
from mpu.layers import ColumnParallelLinear, RowParallelLinear, VocabParallelEmbedding
from mpu.mappings import (
    copy_to_model_parallel_region,
    gather_from_model_parallel_region,
    reduce_from_model_parallel_region,
    scatter_to_model_parallel_region,
)
from mpu.parallel_state import (
    barrier,
    destroy_model_parallel,
    get_data_parallel_group,
    get_data_parallel_rank,
    get_data_parallel_world_size,
    get_model_parallel_group,
    get_model_parallel_rank,
    get_model_parallel_src_rank,
    get_model_parallel_world_size,
    global_rank,
    initialize_model_parallel,
    is_rank_0,
    model_parallel_is_initialized,
)
from mpu.random import checkpoint, get_rng_tracker, model_parallel_seed

__all__ = [
    "ColumnParallelLinear",
    "RowParallelLinear",
    "VocabParallelEmbedding",
    "barrier",
    "broadcast_data",
    "broadcast_object",
    "checkpoint",
    "clip_grad_norm",
    "copy_to_model_parallel_region",
    "destroy_model_parallel",
    "gather_from_model_parallel_region",
    "get_data_parallel_group",
    "get_data_parallel_rank",
    "get_data_parallel_world_size",
    "get_model_parallel_group",
    "get_model_parallel_rank",
    "get_model_parallel_src_rank",
    "get_model_parallel_world_size",
    "get_rng_tracker",
    "global_rank",
    "initialize_distributed",
    "initialize_one_model",
    "initialize_model_parallel",
    "is_rank_0",
    "model_parallel_is_initialized",
    "model_parallel_seed",
    "reduce_from_model_parallel_region",
    "scatter_to_model_parallel_region",
    "set_random_seed",
    "vocab_parallel_argmax",
    "vocab_parallel_cross_entropy",
]
