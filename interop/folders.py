"""Write checkpoint folders atomically, in the GLM layout.

A folder is built under a hidden temporary name beside its destination and renamed into place
only when complete, so an interrupted run never leaves a half-written checkpoint where a loader
would find it. The destination must not exist yet: we never overwrite a user's files.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from checkpoint_io import TRACKER_FILES, shard_name
from common.atomic import atomic_folder

RUN_CONFIG = "config.json"  # the resolved run configuration our training saves in a tag folder


def read_run_config(tag_dir: Path) -> dict | None:
    """The run configuration saved beside the weights, if any (our training checkpoints)."""
    path = Path(tag_dir) / RUN_CONFIG
    return json.loads(path.read_text()) if path.is_file() else None


def run_config_heads(run_config: dict | None) -> int | None:
    return ((run_config or {}).get("model") or {}).get("num_attention_heads")


def with_model_parallel_size(run_config: dict, size: int) -> dict:
    parallel = {**run_config.get("parallel", {}), "model_parallel_size": size}
    return {**run_config, "parallel": parallel}


def write_checkpoint_folder(
    out: str | Path,
    tag: str,
    shards: list[dict],
    safetensors: bool = False,
    run_config: dict | None = None,
) -> Path:
    """Write ``out/<tag>/mp_rank_XX_model_states.*`` plus both tracker files, atomically.

    ``run_config`` (the source's resolved configuration) is stored as ``<tag>/config.json``
    with its model-parallel size set to the number of shards.

    Each shard is a checkpoint dict holding at least ``module``. With ``safetensors`` only the
    tensors of ``module`` are stored (plus ``iteration`` as metadata): safetensors holds tensors,
    not RNG states or optimizer objects.
    """
    with atomic_folder(out) as tmp:
        (tmp / tag).mkdir()
        for name in TRACKER_FILES:
            (tmp / name).write_text(tag)
        if run_config is not None:
            config = with_model_parallel_size(run_config, len(shards))
            (tmp / tag / RUN_CONFIG).write_text(json.dumps(config, indent=1) + "\n")
        for rank, shard in enumerate(shards):
            path = tmp / tag / shard_name(rank, safetensors)
            if safetensors:
                metadata = {"format": "pt", "iteration": str(shard.get("iteration", 0))}
                save_file(_contiguous(shard["module"]), path, metadata=metadata)
            else:
                torch.save(shard, path)
    return Path(out)


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.contiguous() for key, value in state.items()}
