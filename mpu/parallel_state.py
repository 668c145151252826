"""Explicit parallel state: the tensor-parallel and data-parallel process groups.

Built once by ``initialize_model_parallel`` in the entry script. Tensor-parallel groups are
consecutive global ranks ``[k*p, ..., k*p + p - 1]``; data-parallel groups are strided
``[i, i + p, i + 2p, ...]``. This module also satisfies DeepSpeed's ``mpu`` protocol (it can be
passed as ``deepspeed.initialize(mpu=parallel_state)``), which asks for both the
``get_model_parallel_*`` and the ``get_tensor_model_parallel_*`` spellings.

Without torch.distributed (single-process inference) every query answers for a world of one.
"""

from __future__ import annotations

import torch.distributed as dist

_MODEL_PARALLEL_GROUP: dist.ProcessGroup | None = None
_DATA_PARALLEL_GROUP: dist.ProcessGroup | None = None
_DATA_PARALLEL_RANKS: list[int] | None = None
_MODEL_PARALLEL_SIZE: int = 1


def initialize_model_parallel(tensor_parallel_size: int) -> None:
    """Create the groups; every rank must call this with the same size."""
    global _MODEL_PARALLEL_GROUP, _DATA_PARALLEL_GROUP, _DATA_PARALLEL_RANKS, _MODEL_PARALLEL_SIZE
    if not dist.is_initialized():
        raise RuntimeError("initialize_model_parallel needs torch.distributed to be initialised")
    if _MODEL_PARALLEL_GROUP is not None:
        raise RuntimeError("model parallel groups are already initialised")
    world, rank = dist.get_world_size(), dist.get_rank()
    if tensor_parallel_size < 1 or world % tensor_parallel_size:
        raise ValueError(
            f"--model-parallel-size {tensor_parallel_size} does not divide the world size {world}"
        )
    p = tensor_parallel_size
    for start in range(0, world, p):
        ranks = list(range(start, start + p))
        group = dist.new_group(ranks)
        if rank in ranks:
            _MODEL_PARALLEL_GROUP = group
    for i in range(p):
        ranks = list(range(i, world, p))
        group = dist.new_group(ranks)
        if rank in ranks:
            _DATA_PARALLEL_GROUP, _DATA_PARALLEL_RANKS = group, ranks
    _MODEL_PARALLEL_SIZE = p


def model_parallel_is_initialized() -> bool:
    return _MODEL_PARALLEL_GROUP is not None


def destroy_model_parallel() -> None:
    global _MODEL_PARALLEL_GROUP, _DATA_PARALLEL_GROUP, _DATA_PARALLEL_RANKS, _MODEL_PARALLEL_SIZE
    _MODEL_PARALLEL_GROUP = _DATA_PARALLEL_GROUP = _DATA_PARALLEL_RANKS = None
    _MODEL_PARALLEL_SIZE = 1


def get_model_parallel_group() -> dist.ProcessGroup | None:
    return _MODEL_PARALLEL_GROUP


def get_model_parallel_world_size() -> int:
    return _MODEL_PARALLEL_SIZE if _MODEL_PARALLEL_GROUP is not None else 1


def get_model_parallel_rank() -> int:
    if _MODEL_PARALLEL_GROUP is None:
        return 0
    return dist.get_rank(group=_MODEL_PARALLEL_GROUP)


def get_model_parallel_src_rank() -> int:
    """Global rank of tensor-parallel rank 0 in my group."""
    if not dist.is_initialized():
        return 0
    p = get_model_parallel_world_size()
    return (dist.get_rank() // p) * p


def get_data_parallel_group() -> dist.ProcessGroup | None:
    return _DATA_PARALLEL_GROUP


def get_data_parallel_world_size() -> int:
    if _DATA_PARALLEL_GROUP is None:
        return dist.get_world_size() if dist.is_initialized() else 1
    return dist.get_world_size(group=_DATA_PARALLEL_GROUP)


def get_data_parallel_rank() -> int:
    if _DATA_PARALLEL_GROUP is None:
        return global_rank()
    return dist.get_rank(group=_DATA_PARALLEL_GROUP)


def get_data_parallel_group_ranks() -> list[int]:
    if _DATA_PARALLEL_RANKS is None:
        return list(range(get_data_parallel_world_size()))
    return list(_DATA_PARALLEL_RANKS)


# DeepSpeed's newer spelling of the same queries.
get_tensor_model_parallel_group = get_model_parallel_group
get_tensor_model_parallel_world_size = get_model_parallel_world_size
get_tensor_model_parallel_rank = get_model_parallel_rank
get_tensor_model_parallel_src_rank = get_model_parallel_src_rank


def global_rank() -> int:
    """This process's rank in the whole world (0 without torch.distributed)."""
    return dist.get_rank() if dist.is_initialized() else 0


def is_rank_0() -> bool:
    """Global rank 0: the one process that writes shared files and prints results."""
    return global_rank() == 0


def barrier() -> None:
    """Wait for every process (a no-op in a single process)."""
    if dist.is_initialized():
        dist.barrier()
