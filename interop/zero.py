"""Consolidate a DeepSpeed ZeRO (stage 1-3) training checkpoint into a release checkpoint.

A ZeRO checkpoint spreads the fp32 master weights over one ``*_optim_states.pt`` file per
data-parallel rank (and, with stage 3, the model files hold empty placeholders). DeepSpeed's
``zero_to_fp32`` reassembles them for one model-parallel rank; we run it once per
model-parallel rank (each sees only its own files, through links in a scratch folder), merge
the tensor-parallel shards with ``glm_partition_spec`` and write the release layout::

    <out>/latest_checkpointed_iteration.txt      "release"
    <out>/latest                                 "release"
    <out>/release/mp_rank_XX_model_states.pt     {"module": ..., "iteration": N}
    <out>/release/config.json                    the run configuration, when the run saved one

DeepSpeed unpickles these files with ``weights_only=False``; consolidate only checkpoints you
trust, as you would load them for training.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from checkpoint_io import TRACKER_FILES, CheckpointError
from interop.folders import read_run_config, run_config_heads, write_checkpoint_folder
from interop.reshard import check_divisible
from model.glm import glm_partition_spec
from mpu.sharding import reshard_state_dicts

_MODEL_FILE = re.compile(r"^(?:zero_pp_rank_\d+_)?mp_rank_(\d{2})_model_states\.pt$")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class ZeroResult:
    out: Path
    source_tag: str
    source_mp: int
    target_mp: int
    iteration: int


def find_zero_tag_dir(src: str | Path, tag: str | None = None) -> Path:
    """The tag folder holding the ZeRO files: ``src/<tag>``, the tracker's tag, or ``src``."""
    root = Path(src)
    if not root.is_dir():
        raise CheckpointError(f"checkpoint folder {root} does not exist")
    if tag is None:
        trackers = [root / name for name in TRACKER_FILES if (root / name).is_file()]
        tag = trackers[0].read_text().strip() if trackers else None
    tag_dir = root / tag if tag is not None else root
    if not tag_dir.is_dir():
        raise CheckpointError(f"tag folder {tag_dir} does not exist: check --tag")
    if not any(tag_dir.glob("*_optim_states.pt")):
        raise CheckpointError(
            f"{tag_dir} has no *_optim_states.pt files: not a ZeRO checkpoint (reshard a plain "
            "checkpoint with `python change_mp.py CHECKPOINT TARGET_MP`)"
        )
    return tag_dir


def _model_parallel_ranks(tag_dir: Path) -> list[int]:
    ranks = sorted({int(m.group(1)) for f in tag_dir.iterdir() if (m := _MODEL_FILE.match(f.name))})
    if ranks != list(range(len(ranks))) or not ranks:
        raise CheckpointError(f"{tag_dir}: model state files for ranks {ranks}, expected 0..N-1")
    return ranks


def _consolidate_rank(tag_dir: Path, rank: int) -> dict[str, torch.Tensor]:
    """DeepSpeed's fp32 reassembly over the files of one model-parallel rank."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    with tempfile.TemporaryDirectory(prefix="glm-zero-") as scratch:
        view = Path(scratch) / tag_dir.name
        view.mkdir()
        for f in tag_dir.glob(f"*mp_rank_{rank:02d}_*.pt"):
            (view / f.name).symlink_to(f.resolve())
        with contextlib.redirect_stdout(io.StringIO()):  # DeepSpeed prints per-file progress
            state = get_fp32_state_dict_from_zero_checkpoint(scratch, tag=tag_dir.name)
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


def _iteration(tag_dir: Path) -> int:
    path = next(f for f in sorted(tag_dir.iterdir()) if _MODEL_FILE.match(f.name))
    checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    return int(checkpoint.get("iteration", checkpoint.get("global_steps", 0)))


def consolidate_zero_checkpoint(
    src: str | Path, tag: str | None = None, target_mp: int = 1, dtype: str = "fp32"
) -> tuple[list[dict[str, torch.Tensor]], int]:
    """The master weights of a ZeRO checkpoint as ``target_mp`` state dicts, and the iteration."""
    return _consolidate(find_zero_tag_dir(src, tag), target_mp, dtype)


def _consolidate(
    tag_dir: Path, target_mp: int, dtype: str
) -> tuple[list[dict[str, torch.Tensor]], int]:
    if dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    states = [_consolidate_rank(tag_dir, rank) for rank in _model_parallel_ranks(tag_dir)]
    check_divisible(states[0], target_mp, run_config_heads(read_run_config(tag_dir)))
    resharded = reshard_state_dicts(states, target_mp, glm_partition_spec)
    cast = [{k: v.to(DTYPES[dtype]) for k, v in state.items()} for state in resharded]
    return cast, _iteration(tag_dir)


def default_output(src: str | Path) -> Path:
    src = Path(src)
    return src.parent / f"{src.name}_release"


def consolidate_zero_folder(
    src: str | Path,
    out: str | Path | None = None,
    tag: str | None = None,
    target_mp: int = 1,
    dtype: str = "fp32",
    safetensors: bool = False,
) -> ZeroResult:
    """Write the release checkpoint of a ZeRO training run (default ``<src>_release``)."""
    tag_dir = find_zero_tag_dir(src, tag)
    source_mp = len(_model_parallel_ranks(tag_dir))
    states, iteration = _consolidate(tag_dir, target_mp, dtype)
    out = Path(out) if out is not None else default_output(src)
    shards = [{"module": state, "iteration": iteration} for state in states]
    write_checkpoint_folder(out, "release", shards, safetensors, read_run_config(tag_dir))
    return ZeroResult(out, tag_dir.name, source_mp, target_mp, iteration)
