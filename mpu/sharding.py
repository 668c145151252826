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


def copy_shard(
    sources: list[torch.Tensor], target: torch.Tensor, dim: int, stride: int, rank: int
) -> None:
    """Write into ``target`` rank ``rank``'s shard of the tensor whose shards at
    ``len(sources)`` ranks are ``sources`` (laid out as ``split_tensor`` does), at the
    tensor-parallel size that ``target``'s shape implies, without building the whole tensor.

    Equal to ``target.copy_(split_tensor(merge_tensors(sources, dim, stride), dim, stride,
    world)[rank])`` but touching only the rows it copies: resharding a checkpoint streams.
    """
    source_block = sources[0].shape[dim] // stride  # rows of one stride block per source rank
    target_block = target.shape[dim] // stride
    if source_block * len(sources) % target_block:
        raise ValueError(
            f"dimension {dim} of {source_block * len(sources) * stride} rows cannot be cut into "
            f"shards of {target_block * stride}"
        )
    for block in range(stride):
        start, end = rank * target_block, (rank + 1) * target_block  # within one whole block
        while start < end:
            source, offset = divmod(start, source_block)
            rows = min(end - start, source_block - offset)
            piece = sources[source].narrow(dim, block * source_block + offset, rows)
            written = start - rank * target_block
            target.narrow(dim, block * target_block + written, rows).copy_(piece)
            start += rows
