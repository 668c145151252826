"""Saving and resuming training runs (DeepSpeed engines) in the GLM layout.

``save_training_checkpoint`` writes everything needed to resume exactly (model, optimizer,
schedule, per-rank RNG states, the train state with the data position, the resolved config);
``resume_training_checkpoint`` restores it. Reading plain weights is ``checkpoint_io``.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from checkpoint_io import (
    TRACKER_FILES,
    CheckpointError,
    load_checkpoint_file,
    locate_checkpoint,
    write_manifest,
)
from common.atomic import atomic_write_text, publish_folder
from mpu import barrier, get_rng_tracker, global_rank, is_rank_0

INCOMPLETE_DIR = ".incomplete"


@dataclass(frozen=True)
class SaveOptions:
    """What a training checkpoint holds beyond the model, and how many are kept."""

    optimizer: bool = True  # not --no-save-optim
    rng: bool = True  # not --no-save-rng
    keep_last_n: int | None = None  # --keep-last-n


@dataclass(frozen=True)
class ResumeOptions:
    """What ``--load`` restores beyond the model."""

    optimizer: bool = True  # not --no-load-optim
    rng: bool = True  # not --no-load-rng
    lr_scheduler: bool = True  # not --no-load-lr-scheduler


def _rng_state() -> dict:
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


def save_training_checkpoint(
    engine,
    save_dir: str | Path,
    train_state: dict,
    config: dict,
    options: SaveOptions = SaveOptions(),
) -> Path:
    """Save everything needed to resume exactly, atomically, under tag ``<iteration>``.

    All ranks write into ``<save_dir>/.incomplete/<tag>``; then rank 0 moves the folder into
    place and rewrites the tracker files. A crash at any point leaves the previous checkpoint
    and the trackers that point to it untouched.
    """
    save_dir = Path(save_dir)
    tag = str(train_state["iteration"])
    staging_root = save_dir / INCOMPLETE_DIR
    if is_rank_0():
        shutil.rmtree(staging_root / tag, ignore_errors=True)
        staging_root.mkdir(parents=True, exist_ok=True)
    barrier()
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
    if options.rng:
        torch.save(_rng_state(), staging / f"rng_state_{global_rank():05d}.pt")
    if not options.optimizer and is_rank_0():
        for shard in staging.glob("*optim_states.pt"):
            shard.unlink()
    barrier()
    final = save_dir / tag
    if is_rank_0():
        atomic_write_text(staging / "config.json", json.dumps(config, indent=1, default=str))
        write_manifest(staging)  # MP size and a SHA-256 per shard, checked when loading
        publish_folder(staging, final)
        for tracker in TRACKER_FILES:
            atomic_write_text(save_dir / tracker, tag)
        if options.keep_last_n:
            _prune_checkpoints(save_dir, options.keep_last_n, keep=tag)
    barrier()
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
    options: ResumeOptions = ResumeOptions(),
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
        load_optimizer_states=options.optimizer,
        load_lr_scheduler_states=False,
    )
    if client_state is None:
        raise CheckpointError(f"DeepSpeed could not load {location.tag_dir}")
    if options.lr_scheduler:
        engine.scheduler.load_state_dict(client_state["lr_scheduler"])
    rng_file = location.tag_dir / f"rng_state_{global_rank():05d}.pt"
    if options.rng and rng_file.is_file():
        _set_rng_state(load_checkpoint_file(rng_file))
    return dict(client_state["train_state"])
