"""The training machinery shared by pretraining and finetuning.

- ``initialize_distributed`` / ``set_random_seed``: process group, tensor-parallel groups, seeds.
- ``param_groups``: AdamW groups, no weight decay on biases and LayerNorm parameters.
- ``AnnealingLR``: GLM's schedules (warmup, then constant / linear / cosine / exponential decay
  to ``lr * lr_decay_ratio``), with GLM's bugs fixed: linear decay stops at the floor instead of
  going negative, and exponential decay exists instead of being a silent constant.
- ``train_loop`` / ``evaluate_loss``: the one loop; callers pass ``forward_step(batch, model) ->
  (loss, metrics)``. DeepSpeed (``engine.py``) does precision, accumulation, ZeRO and clipping.
"""

from __future__ import annotations

import math
import os
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

import mpu
from arguments import GLMArgs, ParallelSection, ScheduleSection

ForwardStep = Callable[[dict, nn.Module], tuple[torch.Tensor, dict]]


def initialize_distributed(parallel: ParallelSection) -> torch.device:
    """Join (or create) the process group and build the tensor-parallel groups.

    Launchers (torchrun, deepspeed) set RANK / WORLD_SIZE / MASTER_ADDR; a plain ``python``
    run becomes a world of one. NCCL on GPU, gloo on CPU, unless --distributed-backend says.
    """
    cuda = torch.cuda.is_available()
    local_rank = parallel.local_rank or int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    os.environ.setdefault("LOCAL_RANK", str(local_rank))  # DeepSpeed insists on it
    if not dist.is_initialized():
        os.environ.setdefault("RANK", "0")
        os.environ.setdefault("WORLD_SIZE", "1")
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        backend = parallel.distributed_backend or ("nccl" if cuda else "gloo")
        dist.init_process_group(backend=backend)
    if not mpu.model_parallel_is_initialized():
        world = dist.get_world_size()
        if world % parallel.model_parallel_size:
            raise ValueError(
                f"--model-parallel-size {parallel.model_parallel_size} does not divide the "
                f"{world} launched processes"
            )
        mpu.initialize_model_parallel(parallel.model_parallel_size)
    return device


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def set_random_seed(seed: int, device: torch.device | None = None) -> None:
    """Seed Python, NumPy and torch (default and tensor-parallel streams)."""
    random.seed(seed)
    np.random.seed(seed)
    device_type = device.type if device is not None else "cpu"
    mpu.model_parallel_seed(seed, device_type)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decayed weights, and biases + LayerNorm parameters without decay."""
    no_decay_ids = set()
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            no_decay_ids.update(id(p) for p in module.parameters(recurse=False))
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if id(param) in no_decay_ids or name.endswith("bias"):
            no_decay.append(param)
        else:
            decay.append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


class AnnealingLR:
    """Learning rate after ``t`` optimizer steps; ``step()`` once per applied optimizer step.

    Warmup lasts ``warmup * horizon`` steps (a fraction of --lr-decay-iters, as in GLM's
    configs), then the rate decays over the rest of the horizon to ``lr * decay_ratio`` and
    stays there.
    """

    def __init__(self, optimizer, schedule: ScheduleSection, peak_lr: float, horizon: int):
        self.optimizer = optimizer
        self.peak_lr = peak_lr
        self.style = schedule.lr_decay_style
        self.decay_ratio = schedule.lr_decay_ratio
        self.horizon = max(1, horizon)
        self.warmup_steps = schedule.warmup * self.horizon
        self.num_steps = 0
        self._apply()

    def get_lr(self) -> float:
        t, warmup = self.num_steps, self.warmup_steps
        if warmup > 0 and t <= warmup:
            return self.peak_lr * t / warmup
        if self.style == "constant":
            return self.peak_lr
        progress = min(1.0, (t - warmup) / max(self.horizon - warmup, 1e-9))
        floor = self.decay_ratio
        if self.style == "linear":
            factor = 1.0 - (1.0 - floor) * progress
        elif self.style == "cosine":
            factor = floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        else:  # exponential
            factor = floor**progress
        return self.peak_lr * factor

    def _apply(self) -> None:
        lr = self.get_lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self) -> None:
        self.num_steps += 1
        self._apply()

    def switch_to_linear(self, remaining_steps: int) -> None:
        """``--switch-linear``: decay linearly from the current rate to 0 from here on."""
        self.peak_lr, self.style, self.decay_ratio = self.get_lr(), "linear", 0.0
        self.horizon, self.warmup_steps, self.num_steps = max(1, remaining_steps), 0.0, 0
        self._apply()

    def state_dict(self) -> dict:
        return {
            "num_steps": self.num_steps,
            "peak_lr": self.peak_lr,
            "style": self.style,
            "decay_ratio": self.decay_ratio,
            "horizon": self.horizon,
            "warmup_steps": self.warmup_steps,
        }

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
        self._apply()


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
    losses = mpu.vocab_parallel_cross_entropy(logits, batch["targets"][scored])
    loss = (losses * loss_mask[scored]).sum() / loss_mask.sum().clamp(min=1.0)
    return loss, {"tokens": batch["tokens"].numel(), "mode": batch.get("mode")}


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


def train_step(
    engine, batches: Iterator[dict], forward_step: ForwardStep, args: GLMArgs, state: TrainState
) -> dict:
    """Run micro-batches until one optimizer step is taken; returns the step's metrics."""
    losses, tokens, metrics, bad_in_a_row = [], 0, {}, 0
    while True:
        batch = next(batches)
        loss, step_metrics = forward_step(batch, engine.ds)
        if not _all_finite(loss):
            state.skipped_steps += 1
            bad_in_a_row += 1
            if bad_in_a_row >= args.train.max_bad_steps:
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
    state.consumed_samples += args.train.batch_size * args.train.gradient_accumulation_steps * dp
    state.tokens_seen += tokens * dp
    return {
        "loss": _reduce_mean(sum(losses) / len(losses)),
        "lr": engine.scheduler.get_lr(),
        "grad_norm": grad_norm,
        "tokens": tokens * dp,
        "applied": applied,
        **metrics,
    }


def train_loop(
    engine,
    batches: Iterator[dict],
    forward_step: ForwardStep,
    num_steps: int,
    args: GLMArgs,
    state: TrainState,
    hooks: TrainHooks | None = None,
    log=None,
) -> TrainState:
    """Train until ``state.iteration == num_steps``; evaluate and save on their intervals."""
    hooks = hooks or TrainHooks()
    engine.ds.train()
    while state.iteration < num_steps:
        step_metrics = train_step(engine, batches, forward_step, args, state)
        if log is not None:
            log.train_step(state, step_metrics)
        if hooks.on_step_end is not None:
            hooks.on_step_end(state)
        if hooks.evaluate is not None and state.iteration % args.train.eval_interval == 0:
            results = hooks.evaluate(state)
            if log is not None:
                log.evaluation(state, results)
            engine.ds.train()
        if hooks.save is not None and state.iteration % args.checkpoint.save_interval == 0:
            hooks.save(state)
    return state


EVAL_MODES = ("bert", "sentence", "gpt")


@torch.no_grad()
def evaluate_loss(
    model: nn.Module, batches: Iterator[dict], forward_step: ForwardStep, num_batches: int
) -> dict:
    """Mean loss over ``num_batches`` batches, and per blank-infilling ``mode`` when batches
    carry one, averaged over data-parallel ranks; ``ppl = exp(min(20, loss))``."""
    was_training = model.training
    model.eval()
    keys = ("loss", *(f"loss_{mode}" for mode in EVAL_MODES))
    sums = torch.zeros(2 * len(keys), dtype=torch.float64)
    for _ in range(num_batches):
        try:
            batch = next(batches)
        except StopIteration:
            break
        loss, metrics = forward_step(batch, model)
        for key in ("loss", f"loss_{metrics.get('mode')}"):
            if key in keys:
                index = keys.index(key)
                sums[2 * index] += float(loss)
                sums[2 * index + 1] += 1
    model.train(was_training)
    group = mpu.get_data_parallel_group()
    if dist.is_initialized() and dist.get_world_size(group=group) > 1:
        dist.all_reduce(sums, group=group)
    results = {
        key: float(sums[2 * i] / sums[2 * i + 1])
        for i, key in enumerate(keys)
        if sums[2 * i + 1] > 0
    }
    if "loss" in results:
        results["ppl"] = math.exp(min(20.0, results["loss"]))
    return results


@contextmanager
def exit_on_bad_input(prog: str):
    """Report bad input (a missing file or folder, a flag, file or checkpoint that does not fit,
    all raised as ``ValueError`` / ``OSError`` with a message that says what to do) in one line,
    ``<prog>: error: <message>``, with exit status 2 as argparse does. ``GLM_TRACEBACK=1``
    re-raises instead, for the full traceback."""
    try:
        yield
    except (ValueError, OSError) as error:
        if os.environ.get("GLM_TRACEBACK"):
            raise
        print(f"{prog}: error: {error} (GLM_TRACEBACK=1 shows where)", file=sys.stderr)
        raise SystemExit(2) from None
