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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from checkpoint_io import (
    CheckpointError,
    extract_module_state,
    load_checkpoint_file,
    locate_checkpoint,
)
from interop.folders import read_run_config, run_config_heads, write_checkpoint_folder
from model.glm import glm_partition_spec
from mpu.sharding import reshard_state_dicts

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


def check_divisible(state: dict, target_mp: int, num_attention_heads: int | None = None) -> None:
    """One clear error when the model cannot be split ``target_mp`` ways."""
    if target_mp < 1:
        raise ValueError(f"target model-parallel size must be >= 1, got {target_mp}")
    bad = [k for k in state if any(part in k for part in _UNSUPPORTED)]
    if bad:
        raise CheckpointError(
            f"{bad[0]} belongs to a --transformer-xl model, which this project does not support"
        )
    for key, value in state.items():
        if key.endswith("word_embeddings.weight") and value.shape[0] % target_mp:
            raise CheckpointError(
                f"the padded vocabulary ({value.shape[0]} rows of {key}) is not divisible by "
                f"model-parallel size {target_mp}: choose a size that divides {value.shape[0]}"
            )
        if key.endswith("final_layernorm.weight") and value.shape[0] % target_mp:
            raise CheckpointError(
                f"hidden size {value.shape[0]} is not divisible by model-parallel size {target_mp}"
            )
    if num_attention_heads is not None and num_attention_heads % target_mp:
        raise CheckpointError(
            f"--num-attention-heads {num_attention_heads} is not divisible by "
            f"model-parallel size {target_mp}"
        )


def reshard_checkpoints(shards: list[dict], target_mp: int) -> list[dict]:
    """Whole checkpoint dicts at ``len(shards)`` ranks -> ``target_mp`` checkpoint dicts."""
    modules = [extract_module_state(shard, Path(f"shard {r}")) for r, shard in enumerate(shards)]
    new_modules = reshard_state_dicts(modules, target_mp, glm_partition_spec)
    out = []
    for rank, module in enumerate(new_modules):
        parent = shards[rank * len(shards) // target_mp]
        kept = {key: parent[key] for key in KEPT_KEYS if key in parent}
        out.append({**kept, "module": module, "mp_world_size": target_mp})
    return out


def reshard_folder(
    src: str | Path,
    target_mp: int,
    out: str | Path | None = None,
    safetensors: bool = False,
    num_attention_heads: int | None = None,
) -> ReshardResult:
    """Write ``src`` (a checkpoint folder or tag folder) resharded to ``target_mp`` ranks.

    The output (default ``<src>_MP<target_mp>``) holds ``<tag>/mp_rank_XX_model_states.pt``
    and both ``latest_checkpointed_iteration.txt`` and ``latest``; it is written atomically.
    The head count comes from ``num_attention_heads`` or the run configuration saved with the
    checkpoint (``<tag>/config.json``), which is carried over.
    """
    try:
        location = locate_checkpoint(src)
    except CheckpointError:
        _refuse_zero3(Path(src))
        raise
    out = Path(out) if out is not None else default_output(src, target_mp)
    paths = [location.shard_path(rank) for rank in range(location.num_shards)]
    shards = [load_checkpoint_file(path) for path in paths]
    run_config = read_run_config(location.tag_dir)
    heads = num_attention_heads or run_config_heads(run_config)
    check_divisible(extract_module_state(shards[0], paths[0]), target_mp, heads)
    new_shards = reshard_checkpoints(shards, target_mp)
    write_checkpoint_folder(out, location.tag, new_shards, safetensors, run_config)
    return ReshardResult(out, location.tag, location.num_shards, target_mp)


def _refuse_zero3(src: Path) -> None:
    """ZeRO-3 model files hold empty placeholders: the weights are in the optimizer files."""
    pattern = "zero_pp_rank_*_mp_rank_*_model_states.pt"
    if any(src.glob(pattern)) or any(src.glob(f"*/{pattern}")):
        raise CheckpointError(
            f"{src} is a ZeRO-3 checkpoint (its weights live in the optimizer files): "
            "consolidate it with `python change_mp.py --from-zero CHECKPOINT TARGET_MP`"
        )
