"""Checkpoints in the GLM layout: find, validate and load them.

Layout (released GLM checkpoints, and what DeepSpeed writes)::

    <dir>/latest_checkpointed_iteration.txt    the tag: "250000", "release", "best", ...
    <dir>/latest                                the same tag, written by DeepSpeed
    <dir>/<tag>/mp_rank_00_model_states.pt      {"module": state_dict, "iteration": ..., ...}
    <dir>/<tag>/mp_rank_01_model_states.pt      one file per tensor-parallel rank

``<dir>`` may also be a tag folder itself. Files load with ``torch.load(weights_only=True)``
(plus the NumPy types that RNG states in training checkpoints are pickled with) and memory
mapping, in fp16 or fp32; tensors are cast to the model's dtype on copy. Every mismatch between
a checkpoint and the model is reported in one line that names the key or file and the flag to
check, never as a shape traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

TRACKER_FILES = ("latest_checkpointed_iteration.txt", "latest")
SHARD_PATTERN = re.compile(r"^mp_rank_(\d{2})_model_states\.pt$")

_NUMPY_GLOBALS = [
    np._core.multiarray._reconstruct,
    (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
    np.ndarray,
    np.dtype,
    np.dtypes.UInt32DType,
    np.dtypes.Int64DType,
    np.dtypes.Float64DType,
]

# Which flag a mismatching tensor points to.
_KEY_HINTS = (
    (
        "word_embeddings",
        "the tokenizer flags (--tokenizer-type, --task-mask, ...) and "
        "--make-vocab-size-divisible-by, which set the padded vocabulary",
    ),
    ("position_embeddings", "--max-position-embeddings"),
    ("", "--hidden-size and --num-attention-heads"),
)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message says why and what to do."""


@dataclass(frozen=True)
class CheckpointLocation:
    tag_dir: Path  # the folder holding mp_rank_XX_model_states.pt
    tag: str
    num_shards: int

    def shard_path(self, rank: int) -> Path:
        return self.tag_dir / f"mp_rank_{rank:02d}_model_states.pt"


def _read_tag(root: Path) -> str | None:
    for name in TRACKER_FILES:
        tracker = root / name
        if tracker.is_file():
            tag = tracker.read_text().strip()
            if not tag:
                raise CheckpointError(f"{tracker} is empty: it should hold the checkpoint tag")
            return tag
    return None


def locate_checkpoint(path: str | Path) -> CheckpointLocation:
    """Resolve ``path`` (a checkpoint folder or one of its tag folders) to its shard files."""
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(f"checkpoint folder {root} does not exist")
    tag = _read_tag(root)
    tag_dir = root / tag if tag is not None else root
    if tag is not None and not tag_dir.is_dir():
        raise CheckpointError(f"{root} names tag {tag!r} but the folder {tag_dir} is missing")
    ranks = sorted(int(m.group(1)) for f in tag_dir.iterdir() if (m := SHARD_PATTERN.match(f.name)))
    if not ranks:
        raise CheckpointError(
            f"no mp_rank_XX_model_states.pt in {tag_dir}: not a GLM checkpoint folder "
            "(expected latest_checkpointed_iteration.txt and <tag>/mp_rank_00_model_states.pt)"
        )
    missing = sorted(set(range(max(ranks) + 1)) - set(ranks))
    if missing:
        raise CheckpointError(
            f"{tag_dir} lacks shard mp_rank_{missing[0]:02d}_model_states.pt "
            f"(found ranks {ranks}): copy the missing file"
        )
    return CheckpointLocation(tag_dir, tag if tag is not None else tag_dir.name, len(ranks))


def load_checkpoint_file(path: Path) -> dict:
    """``torch.load`` a shard safely; a damaged file is a one-line error naming it."""
    try:
        with torch.serialization.safe_globals(_NUMPY_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except FileNotFoundError as error:
        raise CheckpointError(f"checkpoint file {path} does not exist") from error
    except Exception as error:  # noqa: BLE001 - torch raises several types for damaged files
        unsafe = _unsafe_globals(path)
        if unsafe:
            raise CheckpointError(
                f"{path} pickles objects that are not weights ({', '.join(unsafe[:5])}); "
                "load it in a trusted Python session and re-save {'module': state_dict}"
            ) from error
        raise CheckpointError(
            f"cannot read checkpoint file {path} ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:120]}): it is truncated or corrupt, copy it again"
        ) from error


def _unsafe_globals(path: Path) -> list[str]:
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - a truncated file cannot even be scanned
        return []
    allowed = {"numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct"}
    return [name for name in found if name not in allowed and not name.startswith("numpy.")]


def extract_module_state(checkpoint: dict, path: Path) -> dict[str, torch.Tensor]:
    """The model state dict stored under ``module`` (a ``module.`` prefix is tolerated)."""
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("module"), dict):
        raise CheckpointError(f"{path} has no 'module' state dict: not a GLM model checkpoint")
    state = checkpoint["module"]
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


def _hint(key: str) -> str:
    return next(hint for part, hint in _KEY_HINTS if part in key)


def check_state_against_model(
    state: dict[str, torch.Tensor], model: nn.Module, path: Path, strict: bool = True
) -> None:
    """Raise a CheckpointError naming the first key whose presence or shape does not match."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if strict and (missing or unexpected):
        layers = [k for k in missing + unexpected if ".layers." in k]
        advice = "check --num-layers" if layers else "check the model flags"
        raise CheckpointError(
            f"{path} does not match the model: missing keys {missing[:3]}, unexpected keys "
            f"{unexpected[:3]} ({advice}, e.g. --block-lm, --num-layers)"
        )
    hidden = [k for k in state if k.endswith("final_layernorm.weight") and k in expected]
    if hidden and state[hidden[0]].shape != expected[hidden[0]].shape:
        raise CheckpointError(
            f"{path} has hidden size {state[hidden[0]].shape[0]} but the model has "
            f"{expected[hidden[0]].shape[0]}: check --hidden-size"
        )
    for key, value in state.items():
        if key in expected and tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{path}: {key} has shape {list(value.shape)} but the model expects "
                f"{list(expected[key].shape)}: check {_hint(key)}"
            )


def load_model_checkpoint(
    model: nn.Module,
    path: str | Path,
    tp_rank: int = 0,
    tp_world: int = 1,
    strict: bool = True,
) -> dict:
    """Load this rank's shard of the checkpoint at ``path`` into ``model``.

    Returns the whole checkpoint dict (iteration, RNG states, ... for callers that resume).
    The checkpoint must have been saved at ``tp_world`` shards; resharding is ``change_mp.py``.
    """
    location = locate_checkpoint(path)
    if location.num_shards != tp_world:
        raise CheckpointError(
            f"{location.tag_dir} was saved at model-parallel size {location.num_shards} but this "
            f"run uses {tp_world}: launch with --model-parallel-size {location.num_shards} or "
            f"reshard with `python change_mp.py {path} {tp_world}`"
        )
    shard = location.shard_path(tp_rank)
    checkpoint = load_checkpoint_file(shard)
    state = extract_module_state(checkpoint, shard)
    check_state_against_model(state, model, shard, strict=strict)
    model.load_state_dict(state, strict=strict)
    return checkpoint
