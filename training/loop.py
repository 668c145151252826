"""The one training loop, shared by pretraining and finetuning.

``train_loop(engine, batches, forward_step, num_steps, config, state, hooks, log)`` runs
optimizer steps until ``state.iteration == num_steps``; callers pass ``forward_step(batch,
model) -> (loss, metrics)`` and optional hooks (evaluate, save, after every step). The engine
(``training/engine.py``) does precision, accumulation, ZeRO and clipping; validation is
``training/evaluation.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

import mpu
from training.engine import Engine

ForwardStep = Callable[[dict, nn.Module], tuple[torch.Tensor, dict]]


@dataclass(frozen=True)
class LoopConfig:
    """What the loop reads: batch geometry (for the data position) and its intervals."""

    micro_batch_size: int  # per data-parallel rank
    gradient_accumulation_steps: int
    max_bad_steps: int  # consecutive non-finite losses before stopping
    eval_interval: int  # optimizer steps between evaluations
    save_interval: int  # optimizer steps between checkpoints


@dataclass
class TrainState:
    """Runtime state that a checkpoint restores (never written back into the config)."""

    iteration: int = 0  # optimizer steps done
    consumed_samples: int = 0  # global samples drawn, for resuming the sampler
    tokens_seen: int = 0
    skipped_steps: int = 0  # non-finite losses and fp16 overflows
    best_metric: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class TrainHooks:
    """Optional callbacks of ``train_loop``."""

    on_step_end: Callable[[TrainState], None] | None = None  # after every optimizer step
    evaluate: Callable[[TrainState], dict] | None = None  # every --eval-interval steps
    save: Callable[[TrainState], None] | None = None  # every --save-interval steps and at the end


class NonFiniteLossError(RuntimeError):
    pass


MODES = ("bert", "sentence", "gpt", "multi-task", "")


def _as_tensor_dict(batch) -> dict:
    """A batch (dataclass such as GLMBatch, or dict) as a dict of tensors; ``mode`` becomes
    an index so it can travel with them."""
    items = batch if isinstance(batch, dict) else vars(batch)
    out = {k: v for k, v in items.items() if torch.is_tensor(v)}
    out["mode"] = torch.tensor([MODES.index(items.get("mode") or "")])
    return out


def model_parallel_batches(batches: Iterator | None, device: torch.device) -> Iterator[dict]:
    """Batches on ``device`` for every rank of a tensor-parallel group.

    Tensor-parallel rank 0 reads ``batches`` (GLMBatch or dicts of tensors); the other ranks
    pass None and receive the same tensors. Yields dicts with the tensors and ``mode`` (str).
    """
    reader = mpu.get_model_parallel_rank() == 0
    while True:
        batch = _as_tensor_dict(next(batches)) if reader else None
        data = mpu.broadcast_data(batch, device)
        data["mode"] = MODES[int(data["mode"][0])]
        yield data


def lm_forward_step(batch: dict, model: nn.Module) -> tuple[torch.Tensor, dict]:
    """Token-mean cross-entropy over ``loss_mask`` (pretraining and LM-style finetuning)."""
    mask_or_sep = batch.get("attention_mask")
    if mask_or_sep is None:
        mask_or_sep = batch["sep"]
    loss_mask = batch["loss_mask"].float()
    scored = loss_mask > 0
    logits = model(batch["tokens"], batch["position_ids"], mask_or_sep, output_positions=scored)
    targets = batch["targets"][scored]
    losses = mpu.vocab_parallel_cross_entropy(logits, targets)
    loss = (losses * loss_mask[scored]).sum() / loss_mask.sum().clamp(min=1.0)
    metrics = {"tokens": batch["tokens"].numel(), "mode": batch.get("mode")}
    if not torch.is_grad_enabled():  # evaluation: top-1 accuracy of the scored tokens
        metrics["predicted"] = mpu.vocab_parallel_argmax(logits)
        metrics["targets"] = targets
        metrics["inputs"] = batch["tokens"][scored]  # [sop] where a span's first token is due
    return loss, metrics


def _all_finite(loss: torch.Tensor) -> bool:
    """True when the loss is finite on every data-parallel rank (one small all-reduce)."""
    bad = (~torch.isfinite(loss.detach())).float().reshape(1)
    group = mpu.get_data_parallel_group()
    if dist.is_initialized() and dist.get_world_size(group=group) > 1:
        dist.all_reduce(bad, group=group)
    return bool(bad.item() == 0)


def _reduce_mean(value: float) -> float:
    group = mpu.get_data_parallel_group()
    if not dist.is_initialized() or dist.get_world_size(group=group) == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor, group=group)
    return float(tensor.item()) / dist.get_world_size(group=group)


def rng_neutral(fn: Callable, *args):
    """``fn(*args)`` with torch's RNG streams put back afterwards: evaluation (and what it
    builds: a DataLoader iterator draws its base seed) leaves training's dropout stream where it
    was, so the masks do not depend on --eval-interval or on how evaluation is done."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        return fn(*args)


def train_step(
    engine: Engine,
    batches: Iterator[dict],
    forward_step: ForwardStep,
    config: LoopConfig,
    state: TrainState,
) -> dict:
    """Run micro-batches until one optimizer step is taken; returns the step's metrics."""
    losses, tokens, metrics, bad_in_a_row = [], 0, {}, 0
    by_mode: dict[str, list[float]] = {}
    while True:
        batch = next(batches)
        loss, step_metrics = forward_step(batch, engine.ds)
        if not _all_finite(loss):
            state.skipped_steps += 1
            bad_in_a_row += 1
            if bad_in_a_row >= config.max_bad_steps:
                raise NonFiniteLossError(
                    f"loss was not finite for {bad_in_a_row} micro-batches in a row at "
                    f"iteration {state.iteration}: lower --lr, check the data, or raise "
                    "--max-bad-steps"
                )
            continue
        bad_in_a_row = 0
        engine.ds.backward(loss)
        boundary = engine.ds.is_gradient_accumulation_boundary()
        if boundary:
            engine.clip_gradients()
        engine.ds.step()
        losses.append(float(loss.detach()))
        if step_metrics.get("mode"):
            by_mode.setdefault(step_metrics["mode"], []).append(losses[-1])
        tokens += int(step_metrics.pop("tokens", 0))
        metrics.update(step_metrics)
        if boundary:
            break
    applied, grad_norm = engine.ds.was_step_applied(), engine.grad_norm()
    if applied:
        engine.scheduler.step()
        state.iteration += 1
    else:
        state.skipped_steps += 1
    dp = mpu.get_data_parallel_world_size()
    state.consumed_samples += config.micro_batch_size * config.gradient_accumulation_steps * dp
    state.tokens_seen += tokens * dp
    return {
        "loss": _reduce_mean(sum(losses) / len(losses)),
        "lr": engine.scheduler.get_lr(),
        "grad_norm": grad_norm,
        "tokens": tokens * dp,
        "applied": applied,
        # this rank's micro-batches by objective (not averaged over ranks: for curves)
        "loss_by_mode": {mode: sum(v) / len(v) for mode, v in by_mode.items()},
        **metrics,
    }


def train_loop(
    engine: Engine,
    batches: Iterator[dict],
    forward_step: ForwardStep,
    num_steps: int,
    config: LoopConfig,
    state: TrainState,
    hooks: TrainHooks | None = None,
    log=None,
) -> TrainState:
    """Train until ``state.iteration == num_steps``; evaluate and save on their intervals."""
    hooks = hooks or TrainHooks()
    engine.ds.train()
    while state.iteration < num_steps:
        step_metrics = train_step(engine, batches, forward_step, config, state)
        if log is not None:
            log.train_step(state, step_metrics)
        if hooks.on_step_end is not None:
            hooks.on_step_end(state)
        if hooks.evaluate is not None and state.iteration % config.eval_interval == 0:
            results = rng_neutral(hooks.evaluate, state)
            if log is not None:
                log.evaluation(state, results)
            engine.ds.train()
        if hooks.save is not None and state.iteration % config.save_interval == 0:
            hooks.save(state)
    return state
