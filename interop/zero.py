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

DeepSpeed's reader passes ``weights_only=False`` to ``torch.load``; we run it under torch's
``TORCH_FORCE_WEIGHTS_ONLY_LOAD``, so every file is read by the weights-only unpickler, which
accepts tensors, containers and the few DeepSpeed bookkeeping types listed in
``_safe_globals`` and refuses anything else: no code from the files runs. The reassembled
weights are materialised and written one tensor group at a time; DeepSpeed's reassembly itself
holds the fp32 master weights (4 bytes per parameter) while it runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from checkpoint_io import TRACKER_FILES, CheckpointError, TensorSpec, load_checkpoint_file
from checkpoint_io.files import NUMPY_GLOBALS
from interop.folders import (
    Fill,
    ShardPlan,
    read_run_config,
    run_config_heads,
    write_checkpoint_folder,
)
from interop.reshard import check_divisible, resized_specs
from model.glm import glm_partition_spec
from mpu.sharding import copy_shard, reshard_state_dicts

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


def _safe_globals() -> list:
    """What the weights-only unpickler may build from a ZeRO file besides tensors and
    containers: DeepSpeed's loss scaler, stage enum and fragment addresses, NumPy arrays."""
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    return [LossScaler, DynamicLossScaler, ZeroStageEnum, fragment_address, *NUMPY_GLOBALS]


@contextlib.contextmanager
def _weights_only_loads(tag_dir: Path) -> Iterator[None]:
    """Every ``torch.load`` in the block is weights-only, whatever its caller passes."""
    old = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            yield
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0][:200]
        raise CheckpointError(
            f"{tag_dir} holds a file that is not only weights and DeepSpeed state ({first}): "
            "consolidate only checkpoints of our training runs"
        ) from error
    finally:
        if old is None:
            os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = old


def _lazy_rank_state(tag_dir: Path, rank: int) -> dict:
    """DeepSpeed's fp32 reassembly over the files of one model-parallel rank, lazily: each
    value materialises with ``.contiguous()`` (ZeRO-3 tensors are gathered only then)."""
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    with tempfile.TemporaryDirectory(prefix="glm-zero-") as scratch:
        view = Path(scratch) / tag_dir.name
        view.mkdir()
        for f in tag_dir.glob(f"*mp_rank_{rank:02d}_*.pt"):
            (view / f.name).symlink_to(f.resolve())
        with contextlib.redirect_stdout(io.StringIO()), _weights_only_loads(tag_dir):
            state = get_fp32_state_dict_from_zero_checkpoint(
                scratch, tag=tag_dir.name, lazy_mode=True
            )
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


def _iteration(tag_dir: Path) -> int:
    path = next(f for f in sorted(tag_dir.iterdir()) if _MODEL_FILE.match(f.name))
    checkpoint = load_checkpoint_file(path)
    return int(checkpoint.get("iteration", checkpoint.get("global_steps", 0)))


def _lazy_states(tag_dir: Path, dtype: str) -> list[dict]:
    if dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return [_lazy_rank_state(tag_dir, rank) for rank in _model_parallel_ranks(tag_dir)]


def consolidate_zero_checkpoint(
    src: str | Path, tag: str | None = None, target_mp: int = 1, dtype: str = "fp32"
) -> tuple[list[dict[str, torch.Tensor]], int]:
    """The master weights of a ZeRO checkpoint as ``target_mp`` state dicts in memory, and the
    iteration (small models; ``consolidate_zero_folder`` streams)."""
    tag_dir = find_zero_tag_dir(src, tag)
    states = [
        {key: value.contiguous() for key, value in state.items()}
        for state in _lazy_states(tag_dir, dtype)
    ]
    check_divisible(
        resized_specs(_specs(states[0]), len(states)),
        target_mp,
        run_config_heads(read_run_config(tag_dir)),
    )
    resharded = reshard_state_dicts(states, target_mp, glm_partition_spec)
    cast = [{k: v.to(DTYPES[dtype]) for k, v in state.items()} for state in resharded]
    return cast, _iteration(tag_dir)


def _specs(state: dict, dtype: torch.dtype | None = None) -> dict[str, TensorSpec]:
    return {
        key: TensorSpec(tuple(value.shape), dtype if dtype is not None else value.dtype)
        for key, value in state.items()
    }


def zero_fill(states: list[dict]) -> Fill:
    """Materialise each tensor of each model-parallel rank once and copy every target rank's
    piece of it (cast to the target dtype)."""

    def fill(keys, targets):
        for key in keys:
            layout = glm_partition_spec(key)
            pieces = [s[key].contiguous() for s in (states if layout else states[:1])]
            for rank, tensors in targets.items():
                if layout is None:
                    tensors[key].copy_(pieces[0])
                else:
                    copy_shard(pieces, tensors[key], *layout, rank)

    return fill


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
    states = _lazy_states(tag_dir, dtype)
    whole = resized_specs(_specs(states[0], DTYPES[dtype]), len(states))
    heads = run_config_heads(read_run_config(tag_dir))
    check_divisible(whole, target_mp, heads)
    iteration = _iteration(tag_dir)
    plan = ShardPlan(resized_specs(whole, 1 / target_mp), {"iteration": iteration})
    out = Path(out) if out is not None else default_output(src)
    run_config = read_run_config(tag_dir)
    plans = [plan] * target_mp
    write_checkpoint_folder(
        out, "release", plans, zero_fill(states), safetensors, run_config, heads
    )
    return ZeroResult(out, tag_dir.name, len(states), target_mp, iteration)
