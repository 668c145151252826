"""Saving and resuming training runs (DeepSpeed engines) in the GLM layout.

``save_training_checkpoint`` writes everything needed to resume exactly (model, optimizer,
schedule, per-rank RNG states, the train state with the data position, the resolved config);
``resume_training_checkpoint`` restores it. Reading plain weights is ``checkpoint_io``.
"""

from __future__ import annotations

import json
import random
import re
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
from checkpoint_io.locate import tag_folder, zero3_state_file
from common.atomic import atomic_write, atomic_write_text, fsync_tree, publish_folder
from mpu import (
    barrier,
    get_data_parallel_rank,
    get_model_parallel_rank,
    get_rng_tracker,
    global_rank,
    is_rank_0,
)

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
    if is_rank_0():  # what a killed save left behind is never resumed from: start clean
        shutil.rmtree(staging_root, ignore_errors=True)
        staging_root.mkdir(parents=True)
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
    barrier()
    if not options.optimizer and is_rank_0():
        _drop_optimizer_state(staging)
    fsync_tree(staging, _written_by_this_rank)  # on disk before the folder is published
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
        shutil.rmtree(staging_root, ignore_errors=True)
    barrier()
    return final


_RANK_FILE = re.compile(
    r"^(?:(?:bf16_)?zero_pp_rank_(\d+)_)?mp_rank_(\d{2})_|^rng_state_(\d+)\.pt$"
)


def _written_by_this_rank(path: Path) -> bool:
    """Whether this rank wrote ``path`` (DeepSpeed's file names say which rank did; files they
    do not attribute are rank 0's). Each rank flushes its own files: on a shared file system
    another client's fsync need not reach a writer's cache."""
    match = _RANK_FILE.match(path.name)
    if match is None:
        return is_rank_0()
    dp, mp, rank = match.groups()
    if rank is not None:
        return int(rank) == global_rank()
    return int(mp) == get_model_parallel_rank() and int(dp or 0) == get_data_parallel_rank()


def _drop_optimizer_state(staging: Path) -> None:
    """``--no-save-optim``: the optimizer files, and the optimizer DeepSpeed keeps inside the
    model file when no ZeRO optimizer is used (refused under ZeRO-3, whose optimizer files hold
    the only copy of the weights)."""
    for shard in staging.glob("*optim_states.pt"):
        shard.unlink()
    for shard in staging.glob("mp_rank_*_model_states.pt"):
        checkpoint = torch.load(shard, map_location="cpu", weights_only=False)
        if checkpoint.get("optimizer") is not None:
            checkpoint["optimizer"] = None
            atomic_write(shard, lambda handle, c=checkpoint: torch.save(c, handle))


def _prune_checkpoints(save_dir: Path, keep_last_n: int, keep: str) -> None:
    tags = sorted(
        (p for p in save_dir.iterdir() if p.is_dir() and p.name.isdigit()),
        key=lambda p: int(p.name),
    )
    for old in tags[:-keep_last_n]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def training_state(path: str | Path) -> dict | None:
    """The train state saved with the checkpoint at ``path`` (our training checkpoints, any
    ZeRO stage), or None for a checkpoint of weights only (a release)."""
    tag_dir, _ = tag_folder(path)
    state_file = zero3_state_file(tag_dir) or locate_checkpoint(path).shard_path(0)
    return load_checkpoint_file(state_file).get("train_state")


def resume_training_checkpoint(
    engine,
    load_dir: str | Path,
    options: ResumeOptions = ResumeOptions(),
) -> dict:
    """Restore a run saved by ``save_training_checkpoint`` (model, optimizer, schedule, RNG);
    returns its train state dict. Any ZeRO stage; the engine must use the same one."""
    tag_dir, tag = tag_folder(load_dir)
    _, client_state = engine.ds.load_checkpoint(
        str(tag_dir.parent),
        tag=tag,
        load_optimizer_states=options.optimizer,
        load_lr_scheduler_states=False,
    )
    if client_state is None or "train_state" not in client_state:
        raise CheckpointError(
            f"DeepSpeed could not load {tag_dir}: was it saved with the same --zero-stage and "
            "--model-parallel-size?"
        )
    if options.lr_scheduler:
        engine.scheduler.load_state_dict(client_state["lr_scheduler"])
    rng_file = tag_dir / f"rng_state_{global_rank():05d}.pt"
    if options.rng and rng_file.is_file():
        _set_rng_state(load_checkpoint_file(rng_file))
    return dict(client_state["train_state"])
