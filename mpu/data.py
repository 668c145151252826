"""Broadcast a batch from tensor-parallel rank 0 to the other ranks of its group.

Only tensor-parallel rank 0 runs the data loader; the others receive the same tensors. Shapes
and dtypes travel first as a small object, then one tensor per key (any dtype, any rank count,
zero-sized dimensions allowed).
"""

import torch
import torch.distributed as dist

from mpu.parallel_state import (
    get_model_parallel_group,
    get_model_parallel_rank,
    get_model_parallel_src_rank,
    get_model_parallel_world_size,
)


def broadcast_data(
    data: dict[str, torch.Tensor] | None, device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Rank 0 of the group passes its dict; the others pass None and receive a copy."""
    if get_model_parallel_world_size() == 1:
        if data is None:
            raise ValueError("broadcast_data needs the data on a single-rank group")
        return {key: value.to(device) for key, value in data.items()}
    group, src = get_model_parallel_group(), get_model_parallel_src_rank()
    is_src = get_model_parallel_rank() == 0
    meta = [{k: (tuple(v.shape), v.dtype) for k, v in data.items()} if is_src else None]
    dist.broadcast_object_list(meta, src=src, group=group)
    out = {}
    for key, (shape, dtype) in meta[0].items():
        tensor = data[key].to(device).contiguous() if is_src else None
        if tensor is None:
            tensor = torch.empty(shape, dtype=dtype, device=device)
        dist.broadcast(tensor, src=src, group=group)
        out[key] = tensor
    return out


def broadcast_object(value: object) -> object:
    """Tensor-parallel rank 0's ``value`` (any picklable object) on every rank of its group;
    the other ranks pass anything (None). With one rank, ``value`` itself."""
    if get_model_parallel_world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(
        box, src=get_model_parallel_src_rank(), group=get_model_parallel_group()
    )
    return box[0]
