"""Finetuning's epochs: the batch stream over epochs, and what happens at an epoch's end.

``epoch_batches`` yields micro-batches epoch after epoch and resumes inside an epoch.
``EpochEnd`` (a ``TrainHooks.on_step_end``) evaluates on dev every ``--eval-epoch`` epochs,
keeping the best weights, then saves a training checkpoint every ``--save-epoch`` epochs (so the
checkpoint holds the best result so far, and a run resumed from it skips no validation):

``<save>/best/mp_rank_XX_model_states.pt`` holds ``{"module": state_dict, "iteration": n}``
(model weights only, the GLM layout), ``<save>/best_checkpointed_iteration.txt`` the iteration
it was taken at. Global rank 0 writes the tracker file; data-parallel rank 0 of every
tensor-parallel rank writes its shard. What else a new best result writes (``results.json``) is
the caller's ``on_best``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from checkpoint_io import full_state_dict, load_model_checkpoint, shard_name
from common.atomic import atomic_write, atomic_write_text, publish_folder
from mpu import (
    barrier,
    get_data_parallel_rank,
    get_model_parallel_rank,
    get_model_parallel_world_size,
    is_rank_0,
)
from training.checkpointing import INCOMPLETE_DIR
from training.engine import Engine
from training.log import TrainingLog
from training.loop import TrainState, rng_neutral

BEST_TAG = "best"


def epoch_batches(
    loader: DataLoader, sampler: DistributedSampler, seed: int, consumed: int = 0
) -> Iterator:
    """Micro-batches epoch after epoch, reshuffled with ``seed + epoch``, from micro-batch
    ``consumed`` of that stream on: a resumed run continues where the saved one stopped, also
    inside an epoch, and skips the consumed samples without loading them."""
    epoch, skip = divmod(consumed, len(loader))
    while True:
        sampler.set_epoch(seed + epoch)
        if skip:
            rest = DataLoader(
                loader.dataset,
                batch_size=loader.batch_size,
                sampler=list(sampler)[skip * loader.batch_size :],
                collate_fn=loader.collate_fn,
                num_workers=loader.num_workers,
                drop_last=loader.drop_last,
            )
            # Starting an epoch draws a seed from torch's RNG, which the interrupted run did
            # before the checkpoint that restored the RNG: draw it from a copy.
            with torch.random.fork_rng(devices=[]):
                rest = iter(rest)
            yield from rest
            skip = 0
        else:
            yield from loader
        epoch += 1


def save_best_model(model: nn.Module, save_dir: Path, iteration: int) -> None:
    """Save the model weights as tag ``best`` and record ``iteration``. The shards are staged
    in a folder that replaces ``best`` once all are written, so a crash never leaves a
    ``best`` mixing the shards of two iterations."""
    save_dir = Path(save_dir)
    staging = save_dir / INCOMPLETE_DIR / BEST_TAG
    state = full_state_dict(model)  # collective under ZeRO-3: every rank gathers
    if is_rank_0():
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    barrier()
    if get_data_parallel_rank() == 0:
        checkpoint = {"module": state, "iteration": iteration}
        shard = staging / shard_name(get_model_parallel_rank())
        atomic_write(shard, lambda handle: torch.save(checkpoint, handle))
    barrier()
    if is_rank_0():
        publish_folder(staging, save_dir / BEST_TAG)
        atomic_write_text(save_dir / "best_checkpointed_iteration.txt", str(iteration))
    barrier()


def load_best_model(model: nn.Module, save_dir: Path) -> bool:
    """Reload the ``best`` weights if a best checkpoint was saved; returns whether it was."""
    folder = Path(save_dir) / BEST_TAG
    if not folder.is_dir():
        return False
    load_model_checkpoint(
        model, folder, get_model_parallel_rank(), get_model_parallel_world_size(), strict=True
    )
    return True


@dataclass(frozen=True)
class EpochConfig:
    steps_per_epoch: int  # optimizer steps
    save_epoch: int  # --save-epoch
    eval_epoch: int  # --eval-epoch
    validate: bool  # dev data exists and no --no-validation
    metric: str  # --validation-metric, or the task's first metric: selects the best weights


@dataclass
class EpochEnd:
    """After every optimizer step: at epoch ends save, evaluate on dev, keep the best."""

    config: EpochConfig
    engine: Engine
    evaluate_dev: Callable[[nn.Module], dict]  # dev metrics; writes the dev predictions
    save: Callable[[TrainState], None] | None  # a training checkpoint
    on_best: Callable[[dict, int], None]  # (dev results, epoch) of a new best
    log: TrainingLog
    save_dir: Path | None  # where the best weights go (None: not saved)

    def __call__(self, state: TrainState) -> None:
        config = self.config
        if state.iteration % config.steps_per_epoch:
            return
        epoch = state.iteration // config.steps_per_epoch
        if config.validate and epoch % config.eval_epoch == 0:
            self._validate(state, epoch)
        if self.save is not None and epoch % config.save_epoch == 0:
            self.save(state)

    def _validate(self, state: TrainState, epoch: int) -> None:
        """Dev metrics; a new best is saved as tag ``best`` and passed to ``on_best``."""
        config = self.config
        results = rng_neutral(self.evaluate_dev, self.engine.module)
        self.engine.ds.train()
        self.log.evaluation(state, results, prefix="dev")
        if config.metric not in results:
            raise ValueError(f"--validation-metric {config.metric} is not one of {sorted(results)}")
        if state.best_metric is None or results[config.metric] > state.best_metric:
            state.best_metric = results[config.metric]
            if self.save_dir is not None:
                save_best_model(self.engine.module, self.save_dir, state.iteration)
            self.on_best(results, epoch)
