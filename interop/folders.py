"""Write checkpoint folders atomically, in the GLM layout, one group of tensors at a time.

A folder is built under a hidden temporary name beside its destination and renamed into place
only when complete, so an interrupted run never leaves a half-written checkpoint where a loader
would find it. The destination must not exist yet: we never overwrite a user's files.

The writer never holds a whole checkpoint: the caller says what each shard holds
(``ShardPlan``: shapes and dtypes, and the small entries beside the weights) and fills the
tensors a group at a time (``Fill``), reading its source a group at a time too. ``.pt`` shards
stream through ``interop.streamed``; a ``.safetensors`` shard is written whole by
``safetensors``, so it holds one shard in memory. The folder gets a ``manifest.json``
(model-parallel size, a SHA-256 per shard).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file

from checkpoint_io import (
    RUN_CONFIG,
    TRACKER_FILES,
    TensorSpec,
    plan_groups,
    read_run_config,
    run_config_heads,
    shard_name,
    write_manifest,
)
from common.atomic import atomic_folder
from interop.streamed import StreamedFiles, placeholders

__all__ = ["ShardPlan", "read_run_config", "run_config_heads", "write_checkpoint_folder"]

# fill(keys, targets): copy the tensors ``keys`` of each rank into targets[rank][key].
Fill = Callable[[list[str], dict[int, dict[str, torch.Tensor]]], None]


@dataclass(frozen=True)
class ShardPlan:
    """What one rank's shard holds: its weights' shapes and dtypes, and the entries beside
    them (iteration, RNG states, ...)."""

    specs: dict[str, TensorSpec]
    extras: dict = field(default_factory=dict)


def with_model_parallel_size(run_config: dict, size: int) -> dict:
    parallel = {**run_config.get("parallel", {}), "model_parallel_size": size}
    return {**run_config, "parallel": parallel}


def write_checkpoint_folder(
    out: str | Path,
    tag: str,
    plans: list[ShardPlan],
    fill: Fill,
    safetensors: bool = False,
    run_config: dict | None = None,
    num_attention_heads: int | None = None,
) -> Path:
    """Write ``out/<tag>/mp_rank_XX_model_states.*``, both tracker files and the manifest,
    atomically; shard ``r`` holds ``plans[r]``, its tensors copied in by ``fill``.

    ``run_config`` (the source's resolved configuration) is stored as ``<tag>/config.json``
    with its model-parallel size set to the number of shards. With ``safetensors`` only the
    weights are stored (plus ``iteration`` as metadata): safetensors holds tensors, not RNG
    states or optimizer objects.
    """
    with atomic_folder(out) as tmp:
        folder = tmp / tag
        folder.mkdir()
        paths = {rank: folder / shard_name(rank, safetensors) for rank in range(len(plans))}
        (_write_safetensors if safetensors else _write_torch)(paths, plans, fill)
        if run_config is not None:
            config = with_model_parallel_size(run_config, len(plans))
            (folder / RUN_CONFIG).write_text(json.dumps(config, indent=1) + "\n")
        write_manifest(folder, num_attention_heads or run_config_heads(run_config))
        for name in TRACKER_FILES:
            (tmp / name).write_text(tag)
    return Path(out)


def _write_torch(paths: dict[int, Path], plans: list[ShardPlan], fill: Fill) -> None:
    specs = {rank: plans[rank].specs for rank in paths}
    files = StreamedFiles(paths, specs, {rank: plans[rank].extras for rank in paths})
    sizes = {key: sum(plan.specs[key].nbytes for plan in plans) for key in plans[0].specs}
    for keys in plan_groups(sizes):
        with files.open(keys) as targets:
            fill(keys, targets)


def _write_safetensors(paths: dict[int, Path], plans: list[ShardPlan], fill: Fill) -> None:
    for rank, path in paths.items():
        weights = placeholders(plans[rank].specs)
        sizes = {key: spec.nbytes for key, spec in plans[rank].specs.items()}
        for keys in plan_groups(sizes):
            fill(keys, {rank: {key: weights[key] for key in keys}})
        iteration = str(plans[rank].extras.get("iteration", 0))
        save_file(weights, path, metadata={"format": "pt", "iteration": iteration})
        del weights


def fill_from_memory(shards: list[dict[str, torch.Tensor]]) -> Fill:
    """A ``Fill`` copying from state dicts already in memory (small models, tests)."""

    def fill(keys: list[str], targets: dict[int, dict[str, torch.Tensor]]) -> None:
        for rank, tensors in targets.items():
            for key in keys:
                tensors[key].copy_(shards[rank][key])

    return fill


def plans_from_memory(shards: list[dict[str, torch.Tensor]], extras: list[dict]) -> list[ShardPlan]:
    return [
        ShardPlan({k: TensorSpec(tuple(v.shape), v.dtype) for k, v in shard.items()}, extra)
        for shard, extra in zip(shards, extras, strict=True)
    ]
