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

import json
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

TRACKER_FILES = ("latest_checkpointed_iteration.txt", "latest")
SHARD_PATTERN = re.compile(r"^mp_rank_(\d{2})_model_states\.(pt|safetensors)$")

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
    tag_dir: Path  # the folder holding mp_rank_XX_model_states.pt (or .safetensors)
    tag: str
    num_shards: int
    suffix: str = "pt"

    def shard_path(self, rank: int) -> Path:
        return self.tag_dir / f"mp_rank_{rank:02d}_model_states.{self.suffix}"


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
    found = [m for f in tag_dir.iterdir() if (m := SHARD_PATTERN.match(f.name))]
    ranks = sorted(int(m.group(1)) for m in found)
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
    suffix = "pt" if any(m.group(2) == "pt" for m in found) else "safetensors"
    return CheckpointLocation(tag_dir, tag if tag is not None else tag_dir.name, len(ranks), suffix)


def load_checkpoint_file(path: Path) -> dict:
    """``torch.load`` a shard safely (or read a safetensors shard, whose tensors are the
    ``module``); a damaged file is a one-line error naming it."""
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
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


def _load_safetensors(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            module = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
            metadata = handle.metadata() or {}
    except FileNotFoundError as error:
        raise CheckpointError(f"checkpoint file {path} does not exist") from error
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(
            f"cannot read checkpoint file {path} ({error}): it is truncated or corrupt"
        ) from error
    checkpoint = {"module": module}
    if "iteration" in metadata:
        checkpoint["iteration"] = int(metadata["iteration"])
    return checkpoint


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


def _whole_shape(tensor: torch.Tensor) -> tuple[int, ...]:
    """A tensor's shape; for a parameter ZeRO-3 has partitioned, the shape of the whole."""
    return tuple(getattr(tensor, "ds_shape", tensor.shape))


def _zero3_tensors(model: nn.Module) -> dict[str, torch.Tensor] | None:
    """``model``'s state tensors themselves (not copies) if ZeRO-3 has partitioned any, else
    None."""
    tensors = model.state_dict(keep_vars=True)
    return tensors if any(hasattr(t, "ds_id") for t in tensors.values()) else None


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()``, whole also where ZeRO-3 has partitioned the parameters.

    Partitioned parameters are gathered one at a time and copied to the CPU, so no rank ever
    holds more than one whole parameter beyond its partition. Every data-parallel rank must call
    this (the gathers are collective). DeepSpeed, otherwise confined to engine.py, is imported
    only when its partitioned parameters are present: gathering them needs its API.
    """
    tensors = _zero3_tensors(model)
    if tensors is None:
        return model.state_dict()
    import deepspeed

    state = {}
    for key, tensor in tensors.items():
        with deepspeed.zero.GatheredParameters([tensor]):
            state[key] = tensor.detach().to("cpu", copy=True)
    return state


def load_state(model: nn.Module, state: dict[str, torch.Tensor], strict: bool = True) -> None:
    """``model.load_state_dict(state)``, also into parameters ZeRO-3 has partitioned.

    Each partitioned parameter is gathered, overwritten and partitioned again (data-parallel
    rank 0's copy is broadcast, so every rank must call this with the same ``state``).
    """
    tensors = _zero3_tensors(model)
    if tensors is None:
        model.load_state_dict(state, strict=strict)
        return
    import deepspeed

    with torch.no_grad():
        for key, tensor in tensors.items():
            if key in state:
                with deepspeed.zero.GatheredParameters([tensor], modifier_rank=0):
                    tensor.data.copy_(state[key])


def check_state_against_model(
    state: dict[str, torch.Tensor], model: nn.Module, path: Path, strict: bool = True
) -> None:
    """Raise a CheckpointError naming the first key whose presence or shape does not match.

    Shapes are those of the whole tensors, also under ZeRO-3.
    """
    expected = {k: _whole_shape(t) for k, t in model.state_dict(keep_vars=True).items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if strict and (missing or unexpected):
        layers = [k for k in missing + unexpected if ".layers." in k]
        advice = (
            "check --num-layers"
            if layers
            else "check the model flags (--block-lm, --no-block-position, --num-layers, ...)"
        )
        raise CheckpointError(
            f"{path} does not match the model: missing keys {missing[:3]}, unexpected keys "
            f"{unexpected[:3]}: {advice}"
        )
    hidden = [k for k in state if k.endswith("final_layernorm.weight") and k in expected]
    if hidden and tuple(state[hidden[0]].shape) != expected[hidden[0]]:
        raise CheckpointError(
            f"{path} has hidden size {state[hidden[0]].shape[0]} but the model has "
            f"{expected[hidden[0]][0]}: check --hidden-size"
        )
    for key, value in state.items():
        if key in expected and tuple(value.shape) != expected[key]:
            raise CheckpointError(
                f"{path}: {key} has shape {list(value.shape)} but the model expects "
                f"{list(expected[key])}: check {_hint(key)}"
            )


def read_model_shard(
    path: str | Path, tp_rank: int = 0, tp_world: int = 1
) -> tuple[dict[str, torch.Tensor], dict, Path]:
    """This rank's model state of the checkpoint at ``path``, the whole checkpoint dict, and
    the shard file. The checkpoint must have been saved at ``tp_world`` shards (resharding is
    ``change_mp.py``)."""
    location = locate_checkpoint(path)
    if location.num_shards != tp_world:
        raise CheckpointError(
            f"{location.tag_dir} was saved at model-parallel size {location.num_shards} but this "
            f"run uses {tp_world}: launch with --model-parallel-size {location.num_shards} or "
            f"reshard with `python change_mp.py {path} {tp_world}`"
        )
    shard = location.shard_path(tp_rank)
    checkpoint = load_checkpoint_file(shard)
    return extract_module_state(checkpoint, shard), checkpoint, shard


def load_model_checkpoint(
    model: nn.Module,
    path: str | Path,
    tp_rank: int = 0,
    tp_world: int = 1,
    strict: bool = True,
) -> dict:
    """Load this rank's shard of the checkpoint at ``path`` into ``model``.

    Returns the whole checkpoint dict (iteration, RNG states, ... for callers that resume).
    """
    state, checkpoint, shard = read_model_shard(path, tp_rank, tp_world)
    check_state_against_model(state, model, shard, strict=strict)
    load_state(model, state, strict=strict)
    return checkpoint


# --- saving and resuming training runs -------------------------------------------------------

INCOMPLETE_DIR = ".incomplete"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new content, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _rng_state() -> dict:
    from mpu import get_rng_tracker

    state = {
        "random_rng_state": random.getstate(),
        "np_rng_state": np.random.get_state(),
        "torch_rng_state": torch.get_rng_state(),
        "rng_tracker_states": get_rng_tracker().get_states(),
    }
    if torch.cuda.is_available():
        state["cuda_rng_state"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    from mpu import get_rng_tracker

    random.setstate(_as_random_state(state["random_rng_state"]))
    np.random.set_state(state["np_rng_state"])
    torch.set_rng_state(state["torch_rng_state"])
    get_rng_tracker().set_states(state["rng_tracker_states"])
    if "cuda_rng_state" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda_rng_state"])


def _as_random_state(value):
    """``random.setstate`` needs tuples; a round trip through a checkpoint may give lists."""
    version, internal, gauss = value
    return version, tuple(internal), gauss


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def save_training_checkpoint(
    engine,
    save_dir: str | Path,
    train_state: dict,
    config: dict,
    keep_last_n: int | None = None,
    save_optimizer: bool = True,
    save_rng: bool = True,
) -> Path:
    """Save everything needed to resume exactly, atomically, under tag ``<iteration>``.

    All ranks write into ``<save_dir>/.incomplete/<tag>``; then rank 0 moves the folder into
    place and rewrites the tracker files. A crash at any point leaves the previous checkpoint
    and the trackers that point to it untouched.
    """
    save_dir = Path(save_dir)
    tag = str(train_state["iteration"])
    staging_root = save_dir / INCOMPLETE_DIR
    if _rank() == 0:
        shutil.rmtree(staging_root / tag, ignore_errors=True)
        staging_root.mkdir(parents=True, exist_ok=True)
    _barrier()
    client_state = {
        "iteration": train_state["iteration"],
        "train_state": train_state,
        "lr_scheduler": engine.scheduler.state_dict(),
    }
    engine.ds.save_checkpoint(
        str(staging_root),
        tag=tag,
        client_state=client_state,
        save_latest=False,
    )
    staging = staging_root / tag
    if save_rng:
        torch.save(_rng_state(), staging / f"rng_state_{_rank():05d}.pt")
    if not save_optimizer and _rank() == 0:
        for shard in staging.glob("*optim_states.pt"):
            shard.unlink()
    _barrier()
    final = save_dir / tag
    if _rank() == 0:
        atomic_write_text(staging / "config.json", json.dumps(config, indent=1, default=str))
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        for tracker in TRACKER_FILES:
            atomic_write_text(save_dir / tracker, tag)
        if keep_last_n:
            _prune_checkpoints(save_dir, keep_last_n, keep=tag)
    _barrier()
    return final


def _prune_checkpoints(save_dir: Path, keep_last_n: int, keep: str) -> None:
    tags = sorted(
        (p for p in save_dir.iterdir() if p.is_dir() and p.name.isdigit()),
        key=lambda p: int(p.name),
    )
    for old in tags[:-keep_last_n]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def resume_training_checkpoint(
    engine,
    load_dir: str | Path,
    load_optimizer: bool = True,
    load_rng: bool = True,
    load_lr_scheduler: bool = True,
) -> dict | None:
    """Restore a run saved by ``save_training_checkpoint``; returns its train state dict.

    Returns None when ``load_dir`` holds no training state (e.g. a release checkpoint: load
    its weights with ``load_model_checkpoint`` and start at iteration 0).
    """
    location = locate_checkpoint(load_dir)
    root = location.tag_dir.parent
    shard = load_checkpoint_file(location.shard_path(0)) if location.num_shards else {}
    if "train_state" not in shard:
        return None
    _, client_state = engine.ds.load_checkpoint(
        str(root),
        tag=location.tag,
        load_optimizer_states=load_optimizer,
        load_lr_scheduler_states=False,
    )
    if client_state is None:
        raise CheckpointError(f"DeepSpeed could not load {location.tag_dir}")
    if load_lr_scheduler:
        engine.scheduler.load_state_dict(client_state["lr_scheduler"])
    rng_file = location.tag_dir / f"rng_state_{_rank():05d}.pt"
    if load_rng and rng_file.is_file():
        _set_rng_state(load_checkpoint_file(rng_file))
    return dict(client_state["train_state"])
