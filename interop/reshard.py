"""Reshard a GLM checkpoint folder to another model-parallel (tensor-parallel) size.

Works for the original layout and ours, any tag (``1000``, ``global_step7``, ``release``,
``best``), fp16 or fp32 (dtypes are kept, so a round trip is bit-exact). Which tensors are split
and how comes from ``glm_partition_spec``: the fused QKV by thirds, the vocabulary by rows,
``h -> 4h`` by rows, the row-parallel weights by columns; everything else, including
classification heads and the P-tuning prompt encoder, is replicated (spec §17.14).

Non-module keys: the iteration, learning-rate scheduler state, step counters and RNG states are
kept (each output rank takes them from the source rank its tensors come from);
``mp_world_size`` is set to the new size; the optimizer state and DeepSpeed bookkeeping
(parameter shapes, ZeRO partitions), which are laid out per source rank and would be wrong at
the new size, are dropped, as are ZeRO optimizer files. Resume training from a resharded
checkpoint with ``--no-load-optim``, or finetune from it.

The source is read and the output written one group of tensors at a time
(``checkpoint_io.stream``, ``interop.streamed``): each output rank's piece is copied straight
from the source shards' rows (``mpu.sharding.copy_shard``), so memory stays near two groups
whatever the size of the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from checkpoint_io import (
    CheckpointError,
    ShardReader,
    TensorSpec,
    extract_module_state,
    open_checkpoint,
)
from interop.folders import Fill, ShardPlan, write_checkpoint_folder
from model.glm import glm_partition_spec
from mpu.sharding import copy_shard, reshard_state_dicts

# Non-module keys that describe the run, not the source's partitioning.
KEPT_KEYS = (
    "iteration",
    "lr_scheduler",
    "client_lr_scheduler",
    "skipped_steps",
    "global_steps",
    "global_samples",
    "dp_world_size",
    "random_rng_state",
    "np_rng_state",
    "torch_rng_state",
    "cuda_rng_state",
    "rng_tracker_states",
    "config",
)
_UNSUPPORTED = ("r_w_bias", "r_r_bias", "attention.relative.", "position_embeddings.inv_freq")


@dataclass(frozen=True)
class ReshardResult:
    out: Path
    tag: str
    source_mp: int
    target_mp: int


def default_output(src: str | Path, target_mp: int) -> Path:
    """``<src>_MP<k>``, as GLM's change_mp.py names it (a trailing slash is ignored)."""
    src = Path(src)
    return src.parent / f"{src.name}_MP{target_mp}"


def check_divisible(
    state: Mapping[str, object], target_mp: int, num_attention_heads: int | None = None
) -> None:
    """One clear error when the model cannot be split ``target_mp`` ways. ``state`` maps the
    keys to whole (unsharded) tensors or ``TensorSpec``s."""
    if target_mp < 1:
        raise ValueError(f"target model-parallel size must be >= 1, got {target_mp}")
    bad = [k for k in state if any(part in k for part in _UNSUPPORTED)]
    if bad:
        raise CheckpointError(
            f"{bad[0]} belongs to a --transformer-xl model, which this project does not support"
        )
    for key, value in state.items():
        rows = value.shape[0]
        if key.endswith("word_embeddings.weight") and rows % target_mp:
            raise CheckpointError(
                f"the padded vocabulary ({rows} rows of {key}) is not divisible by "
                f"model-parallel size {target_mp}: choose a size that divides {rows}"
            )
        if key.endswith("final_layernorm.weight") and rows % target_mp:
            raise CheckpointError(
                f"hidden size {rows} is not divisible by model-parallel size {target_mp}"
            )
    if num_attention_heads is not None and num_attention_heads % target_mp:
        raise CheckpointError(
            f"--num-attention-heads {num_attention_heads} is not divisible by "
            f"model-parallel size {target_mp}"
        )


def resized_specs(specs: dict[str, TensorSpec], factor: float) -> dict[str, TensorSpec]:
    """The shapes after multiplying each sharded dimension by ``factor`` (``world`` merges
    shards into the whole tensor, ``1 / world`` cuts the whole into one shard)."""
    out = {}
    for key, spec in specs.items():
        layout = glm_partition_spec(key)
        shape = list(spec.shape)
        if layout is not None:
            shape[layout[0]] = round(shape[layout[0]] * factor)
        out[key] = TensorSpec(tuple(shape), spec.dtype)
    return out


def reshard_fill(sources: list[ShardReader]) -> Fill:
    """Copy each target rank's piece straight from the source shards, a group at a time
    (replicated tensors from source rank 0)."""

    def fill(keys, targets):
        sharded = [key for key in keys if glm_partition_spec(key) is not None]
        with ExitStack() as stack:
            read = [
                stack.enter_context(reader.read(keys if rank == 0 else sharded))
                for rank, reader in enumerate(sources)
            ]
            for key in keys:
                layout = glm_partition_spec(key)
                for rank, tensors in targets.items():
                    if layout is None:
                        tensors[key].copy_(read[0][key])
                    else:
                        copy_shard([r[key] for r in read], tensors[key], *layout, rank)

    return fill


def reshard_checkpoints(shards: list[dict], target_mp: int) -> list[dict]:
    """Whole checkpoint dicts at ``len(shards)`` ranks -> ``target_mp`` checkpoint dicts, in
    memory (small models; folders are resharded by ``reshard_folder``, which streams)."""
    modules = [extract_module_state(shard, Path(f"shard {r}")) for r, shard in enumerate(shards)]
    new_modules = reshard_state_dicts(modules, target_mp, glm_partition_spec)
    out = []
    for rank, module in enumerate(new_modules):
        parent = shards[rank * len(shards) // target_mp]
        kept = {key: parent[key] for key in KEPT_KEYS if key in parent}
        out.append({**kept, "module": module, "mp_world_size": target_mp})
    return out


def _same_keys(readers: list[ShardReader]) -> None:
    for reader in readers[1:]:
        if list(reader.specs) != list(readers[0].specs):
            raise CheckpointError(
                f"{reader.path} holds different keys from {readers[0].path}: the shards come "
                "from different checkpoints"
            )


def reshard_folder(
    src: str | Path,
    target_mp: int,
    out: str | Path | None = None,
    safetensors: bool = False,
    num_attention_heads: int | None = None,
    verify: bool = True,
) -> ReshardResult:
    """Write ``src`` (a checkpoint folder or tag folder) resharded to ``target_mp`` ranks.

    The output (default ``<src>_MP<target_mp>``) holds ``<tag>/mp_rank_XX_model_states.pt``,
    a manifest and both ``latest_checkpointed_iteration.txt`` and ``latest``; it is written
    atomically, one group of tensors at a time. The head count comes from
    ``num_attention_heads`` or what was saved with the checkpoint (``<tag>/config.json``, which
    is carried over, or the manifest). ``verify`` checks the source shards' checksums.
    """
    source = open_checkpoint(src, verify=verify)
    readers = [source.readers[rank] for rank in range(source.location.num_shards)]
    _same_keys(readers)
    whole = resized_specs(readers[0].specs, len(readers))
    heads = num_attention_heads or source.heads
    check_divisible(whole, target_mp, heads)
    out = Path(out) if out is not None else default_output(src, target_mp)
    plans = []
    for rank in range(target_mp):
        parent = readers[rank * len(readers) // target_mp].extras
        kept = {key: parent[key] for key in KEPT_KEYS if key in parent}
        extras = {**kept, "mp_world_size": target_mp}
        plans.append(ShardPlan(resized_specs(whole, 1 / target_mp), extras))
    fill = reshard_fill(readers)
    tag = source.location.tag
    write_checkpoint_folder(out, tag, plans, fill, safetensors, source.run_config, heads)
    return ReshardResult(out, tag, len(readers), target_mp)
