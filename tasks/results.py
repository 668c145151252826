"""Finetuning outputs: ``results.json`` / ``test_results.json``, the ``best`` checkpoint, and
the end-of-epoch callback that produces them.

``<save>/best/mp_rank_XX_model_states.pt`` holds ``{"module": state_dict, "iteration": n}``
(model weights only, the GLM layout), ``<save>/best_checkpointed_iteration.txt`` the iteration
it was taken at. Global rank 0 writes the JSON files; data-parallel rank 0 of every
tensor-parallel rank writes its shard.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from checkpointing import full_state_dict, load_model_checkpoint, save_training_checkpoint
from mpu import get_data_parallel_rank, get_model_parallel_rank, get_model_parallel_world_size

BEST_TAG = "best"


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_results(path: Path, results: dict) -> None:
    """``results`` as indented JSON at ``path`` (global rank 0 only)."""
    if _rank() == 0:
        _atomic_write(Path(path), json.dumps(results, indent=2, sort_keys=False) + "\n")


def check_results_absent(log_dir: Path, overwrite: bool, resuming: bool) -> None:
    """Refuse to redo a finished run unless ``--overwrite`` (or ``--load`` to resume)."""
    done = Path(log_dir) / "test_results.json"
    if done.exists() and not (overwrite or resuming):
        raise FileExistsError(
            f"{done} exists: this run finished already; pass --overwrite to run it again"
        )


def save_best_model(model: nn.Module, save_dir: Path, iteration: int) -> None:
    """Save the model weights as tag ``best`` and record ``iteration``."""
    save_dir = Path(save_dir)
    folder = save_dir / BEST_TAG
    state = full_state_dict(model)  # collective under ZeRO-3: every rank gathers
    if get_data_parallel_rank() == 0:
        folder.mkdir(parents=True, exist_ok=True)
        shard = folder / f"mp_rank_{get_model_parallel_rank():02d}_model_states.pt"
        tmp = shard.with_name(f".{shard.name}.tmp-{os.getpid()}")
        torch.save({"module": state, "iteration": iteration}, tmp)
        os.replace(tmp, shard)
    _barrier()
    if _rank() == 0:
        _atomic_write(save_dir / "best_checkpointed_iteration.txt", str(iteration))
    _barrier()


def load_best_model(model: nn.Module, save_dir: Path) -> bool:
    """Reload the ``best`` weights if a best checkpoint was saved; returns whether it was."""
    folder = Path(save_dir) / BEST_TAG
    if not folder.is_dir():
        return False
    load_model_checkpoint(
        model, folder, get_model_parallel_rank(), get_model_parallel_world_size(), strict=True
    )
    return True


@dataclass
class EpochEnd:
    """After every optimizer step: at epoch ends save, evaluate on dev, keep the best."""

    args: object
    spec: object
    engine: object
    data: object
    tokenizer: object
    log: object
    log_dir: Path
    save_dir: Path | None
    steps_per_epoch: int

    def __call__(self, state) -> None:
        if state.iteration % self.steps_per_epoch:
            return
        epoch, args = state.iteration // self.steps_per_epoch, self.args
        if self.save_dir is not None and epoch % args.checkpoint.save_epoch == 0:
            save_training_checkpoint(
                self.engine,
                self.save_dir,
                vars(state),
                args.to_dict(),
                args.checkpoint.keep_last_n,
                not args.checkpoint.no_save_optim,
                not args.checkpoint.no_save_rng,
            )
        if self.data.dev is None or args.task.no_validation or epoch % args.train.eval_epoch:
            return
        results = self.spec.evaluate(
            self.engine.module, self.data.dev, args, self.tokenizer, "dev", self.log_dir
        )
        self.engine.ds.train()
        self.log.evaluation(state, results, prefix="dev")
        metric = args.task.validation_metric or self.spec.metrics[0]
        if metric not in results:
            raise ValueError(f"--validation-metric {metric} is not one of {sorted(results)}")
        if state.best_metric is None or results[metric] > state.best_metric:
            state.best_metric = results[metric]
            if self.save_dir is not None:
                save_best_model(self.engine.module, self.save_dir, state.iteration)
            write_results(
                self.log_dir / "results.json", {**results, "type": "validation", "epoch": epoch}
            )
