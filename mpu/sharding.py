"""Split a full ("master") tensor into tensor-parallel shards and merge shards back.

A sharded parameter is cut along ``dim`` into ``world * stride`` equal chunks; rank ``r`` owns
chunks ``r, r + world, r + 2*world, ...`` concatenated. With ``stride=1`` this is a contiguous
slice. The fused QKV projection uses ``stride=3``: its rows are ``[Q; K; V]`` and each rank owns
``[Q_r; K_r; V_r]``, i.e. the heads ``r*n/p ... (r+1)*n/p - 1`` of all three projections, so
naive concatenation of shards would be wrong.

One routine serves weight initialisation (master-then-slice gives the same model at every
tensor-parallel size), checkpoint resharding and export.
"""

import torch


def split_tensor(master: torch.Tensor, dim: int, stride: int, world: int) -> list[torch.Tensor]:
    """Return the ``world`` shards of ``master`` (each a contiguous copy)."""
    size = master.shape[dim]
    if size % (world * stride):
        raise ValueError(
            f"dimension {dim} of size {size} cannot be split into {world} shards of stride {stride}"
        )
    chunks = master.chunk(world * stride, dim=dim)
    return [torch.cat(chunks[rank::world], dim=dim).contiguous() for rank in range(world)]


def merge_tensors(shards: list[torch.Tensor], dim: int, stride: int) -> torch.Tensor:
    """Inverse of ``split_tensor``."""
    world = len(shards)
    per_shard = [shard.chunk(stride, dim=dim) for shard in shards]
    ordered = [per_shard[rank][k] for k in range(stride) for rank in range(world)]
    return torch.cat(ordered, dim=dim).contiguous()


def mark_parallel(param: torch.Tensor, dim: int, stride: int = 1) -> None:
    """Record how ``param`` is sharded; read by init, clipping and checkpoint resharding."""
    param.model_parallel = True
    param.partition_dim = dim
    param.partition_stride = stride


def reshard_state_dicts(
    shards: list[dict[str, torch.Tensor]], target_world: int, spec
) -> list[dict[str, torch.Tensor]]:
    """Re-split state dicts saved at ``len(shards)`` ranks into ``target_world`` ranks.

    ``spec(key)`` returns ``(dim, stride)`` for a sharded tensor and None for a replicated one
    (replicated tensors are taken from rank 0). Tensors keep their dtype.
    """
    keys = list(shards[0])
    for rank, shard in enumerate(shards[1:], start=1):
        if list(shard) != keys:
            raise ValueError(f"shard {rank} holds different keys from shard 0")
    out: list[dict[str, torch.Tensor]] = [{} for _ in range(target_world)]
    for key in keys:
        layout = spec(key)
        if layout is None:
            for state in out:
                state[key] = shards[0][key]
            continue
        dim, stride = layout
        full = merge_tensors([shard[key] for shard in shards], dim, stride)
        try:
            pieces = split_tensor(full, dim, stride, target_world)
        except ValueError as error:
            raise ValueError(f"{key}: {error}") from error
        for state, piece in zip(out, pieces, strict=True):
            state[key] = piece
    return out
