"""The one place that builds a DeepSpeed engine, with its optimizer and learning-rate schedule.

``build_engine(model, config, train_iters)`` turns an ``EngineConfig`` (the flags, already
reconciled with a DeepSpeed JSON by ``training/arguments.py``) into a DeepSpeed config, builds
the optimizer with GLM's parameter groups and ``AnnealingLR``, and returns an ``Engine``. The
optimizer is always a PyTorch one (``torch.optim.AdamW``, fused, or ``torch.optim.Adafactor``
with ``--optimizer adafactor``): DeepSpeed's own Adam would JIT-compile a C++ op, and one
optimizer everywhere keeps CPU tests and GPU runs on the same arithmetic. DeepSpeed does ZeRO
(stages 0-3, optional CPU offload), bf16 / fp16 with dynamic loss scaling, gradient accumulation
and clipping; with plain fp32 and no ZeRO we clip ourselves so the gradient norm is known for
logging.

``AnnealingLR`` is GLM's schedule (warmup, then constant / linear / cosine / exponential decay to
``lr * lr_decay_ratio``) with GLM's bugs fixed: linear decay stops at the floor instead of going
negative, and exponential decay exists instead of being a silent constant.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import torch
from torch import nn

import mpu
from common.memory import retain_freed_memory
from mpu import parallel_state

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduleConfig:
    """The learning-rate schedule flags."""

    lr_decay_style: str = "linear"  # constant, linear, cosine, exponential
    lr_decay_iters: int | None = None  # the decay horizon (default: the run's steps)
    lr_decay_ratio: float = 0.1  # final rate / peak
    warmup: float = 0.01  # warmup as a fraction of the horizon


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine reads: optimizer, precision, ZeRO and batch geometry."""

    micro_batch_size: int
    gradient_accumulation_steps: int
    optimizer: str  # adam (AdamW) or adafactor
    lr: float
    weight_decay: float
    adam_beta1: float
    adam_beta2: float
    adam_eps: float
    clip_grad: float
    fp16: bool
    bf16: bool
    loss_scale: float | None
    loss_scale_window: float
    hysteresis: int
    min_scale: float
    zero_stage: int
    cpu_offload: bool
    schedule: ScheduleConfig
    deepspeed_json: dict | None = None  # the user's DeepSpeed JSON, if any


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: decayed weights, and biases + LayerNorm parameters without decay."""
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

    def __init__(self, optimizer, schedule: ScheduleConfig, peak_lr: float, horizon: int):
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


def deepspeed_config(config: EngineConfig) -> dict:
    """The DeepSpeed JSON for this run: the user's JSON (if any) with our values filled in.

    Optimizer and scheduler blocks are dropped: their values are already in the flags, and the
    optimizer and schedule are built here.
    """
    ds = {
        key: value
        for key, value in (config.deepspeed_json or {}).items()
        if key not in ("optimizer", "scheduler", "train_batch_size")
    }
    ds.update(
        train_micro_batch_size_per_gpu=config.micro_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        gradient_clipping=config.clip_grad,
        zero_allow_untested_optimizer=True,
        zero_force_ds_cpu_optimizer=False,
        steps_per_print=10**9,
        wall_clock_breakdown=False,
    )
    zero = dict(ds.get("zero_optimization", {}))
    zero["stage"] = config.zero_stage
    if config.cpu_offload:
        zero.setdefault("offload_optimizer", {"device": "cpu"})
    ds["zero_optimization"] = zero
    if config.fp16:
        fp16 = dict(ds.get("fp16", {}))
        fp16.update(enabled=True, loss_scale=config.loss_scale or 0)
        fp16.setdefault("loss_scale_window", config.loss_scale_window)
        fp16.setdefault("hysteresis", config.hysteresis)
        fp16.setdefault("min_loss_scale", config.min_scale)
        ds["fp16"] = fp16
    else:
        ds.pop("fp16", None)
    if config.bf16:
        ds["bf16"] = {"enabled": True}
    else:
        ds.pop("bf16", None)
    return ds


class Engine:
    """A DeepSpeed engine plus the learning-rate schedule and gradient-norm bookkeeping."""

    def __init__(self, ds, scheduler: AnnealingLR, clip_grad: float, clip_ourselves: bool):
        self.ds = ds
        self.scheduler = scheduler
        self.clip_grad = clip_grad
        self.clip_ourselves = clip_ourselves
        self._grad_norm: float | None = None

    @property
    def module(self) -> torch.nn.Module:
        return self.ds.module

    def clip_gradients(self) -> None:
        """Before an optimizer step: clip (when DeepSpeed does not) and record the norm."""
        if not self.clip_ourselves:
            return
        max_norm = self.clip_grad if self.clip_grad > 0 else float("inf")
        params = [p for p in self.ds.module.parameters() if p.grad is not None]
        self._grad_norm = float(mpu.clip_grad_norm(params, max_norm))

    def grad_norm(self) -> float | None:
        if self.clip_ourselves:
            return self._grad_norm
        norm = self.ds.get_global_grad_norm()
        return float(norm) if norm is not None else None


def build_optimizer(model: nn.Module, config: EngineConfig) -> torch.optim.Optimizer:
    """AdamW (fused: one kernel for all parameters, about 5x faster than the loop, CPU too), or
    Adafactor for ``--optimizer adafactor``."""
    groups = param_groups(model, config.weight_decay)
    if config.optimizer == "adafactor":
        return torch.optim.Adafactor(groups, lr=config.lr)
    betas = (config.adam_beta1, config.adam_beta2)
    return torch.optim.AdamW(groups, lr=config.lr, betas=betas, eps=config.adam_eps, fused=True)


def build_engine(model: torch.nn.Module, config: EngineConfig, train_iters: int) -> Engine:
    """Wrap ``model`` for training ``train_iters`` optimizer steps."""
    os.environ.setdefault("DS_ACCELERATOR", "cuda" if torch.cuda.is_available() else "cpu")
    import deepspeed

    if config.fp16 and not torch.cuda.is_available():
        raise ValueError("--fp16 needs a GPU (DeepSpeed's loss scaling is CUDA-only); use --bf16")
    ds_config = deepspeed_config(config)
    if not torch.cuda.is_available():
        retain_freed_memory()  # CPU steps reuse freed blocks instead of faulting in new pages
    clip_ourselves = not (config.fp16 or config.bf16 or config.zero_stage > 0)
    if clip_ourselves:
        ds_config["gradient_clipping"] = 0.0
    optimizer = build_optimizer(model, config)
    horizon = config.schedule.lr_decay_iters or train_iters
    scheduler = AnnealingLR(optimizer, config.schedule, config.lr, horizon)
    ds_engine, ds_optimizer, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, config=ds_config, mpu=parallel_state
    )
    scheduler.optimizer = ds_optimizer
    scheduler.load_state_dict(scheduler.state_dict())
    if config.zero_stage == 0 and mpu.get_data_parallel_world_size() == 1:
        # nothing to average, but DeepSpeed would still flatten every gradient into one buffer,
        # all-reduce it over one rank and copy it back (measured 4-5% of a CPU step of GLM-Base)
        ds_engine.enable_backward_allreduce = False
    logger.info(
        "ZeRO stage %d, %s, micro-batch %d x %d accumulation x %d data-parallel",
        config.zero_stage,
        "fp16" if config.fp16 else "bf16" if config.bf16 else "fp32",
        config.micro_batch_size,
        config.gradient_accumulation_steps,
        mpu.get_data_parallel_world_size(),
    )
    return Engine(ds_engine, scheduler, config.clip_grad, clip_ourselves)
