"""Training logs: a progress bar, log lines, ``metrics.jsonl`` and TensorBoard, on rank 0.

Scalars: ``train/loss``, ``train/lr``, ``train/grad_norm``, ``train/tokens_per_sec``,
``train/mfu`` (when the accelerator's peak is known), ``val/loss``, ``val/ppl`` and per-mode
validation losses. Every other rank stays quiet.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist

from common.atomic import atomic_write_text
from mpu import is_rank_0

logger = logging.getLogger("glm")

# Dense bf16/fp16 peak TFLOP/s by device name (for MFU); GLM_PEAK_TFLOPS overrides.
_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "A800": 312.0, "V100": 125.0}


def setup_logging() -> None:
    """stdlib logging: INFO on rank 0, WARNING elsewhere."""
    logging.basicConfig(
        level=logging.INFO if is_rank_0() else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def peak_flops() -> float | None:
    """Peak FLOP/s of one accelerator, None when unknown (e.g. CPUs)."""
    if "GLM_PEAK_TFLOPS" in os.environ:
        return float(os.environ["GLM_PEAK_TFLOPS"]) * 1e12
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((tf * 1e12 for key, tf in _PEAK_TFLOPS.items() if key in name), None)


def flops_per_token(num_params: int, num_layers: int, hidden: int, seq_length: int) -> float:
    """Training FLOPs per token: 6 per parameter (incl. the tied output projection) plus
    attention scores and values (12 * layers * hidden * seq)."""
    return 6.0 * num_params + 12.0 * num_layers * hidden * seq_length


def drop_records_after(path: Path, step: int) -> None:
    """A resumed run logs again the steps after its checkpoint that the interrupted run had
    logged already: drop those records (atomically) so every step appears once."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if _step_of(line) is not None and _step_of(line) <= step]
    if len(kept) != len(lines):
        atomic_write_text(path, "".join(kept))


def _step_of(line: str) -> int | None:
    """The step of a metrics record; None for a torn line (a kill in mid-write)."""
    try:
        return int(json.loads(line).get("step", 0))
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
        return None


def format_results(results: dict) -> str:
    """``loss 4.1234 | ppl 61.8 | acc 31.2% (most frequent 6.0%) | bert: loss ... | ...``:
    accuracies as labelled percentages, each objective's numbers together."""
    groups: dict[str, list[str]] = {}
    for key, value in results.items():
        name, _, mode = key.partition("_")
        if name == "acc" and mode.endswith("most_frequent"):
            continue
        if name == "acc":
            floor = results.get(f"{key}_most_frequent")
            label = "acc"
            if mode == "text" or mode.endswith("_text"):  # text tokens only (no span end)
                mode, label = mode.removesuffix("text").removesuffix("_"), "text acc"
            elif mode == "first" or mode.endswith("_first"):  # each span's first token
                mode, label = mode.removesuffix("first").removesuffix("_"), "first-token acc"
            text = f"{label} {100 * value:.1f}%"
            text += f" (most frequent {100 * floor:.1f}%)" if floor is not None else ""
        elif name == "ppl":
            text = f"ppl {value:.1f}"
        else:
            text = f"{name} {value:.4f}"
        groups.setdefault(mode if name in ("loss", "acc", "ppl") else "", []).append(text)
    overall = groups.pop("", [])
    return " | ".join([*overall, *(f"{mode}: {' '.join(parts)}" for mode, parts in groups.items())])


class TrainingLog:
    def __init__(
        self,
        log_dir: Path | None,
        total_steps: int,
        start_step: int,
        log_interval: int,
        flops_per_token: float | None = None,
    ):
        self.enabled = is_rank_0()
        self.log_interval = max(1, log_interval)
        self.flops_per_token = flops_per_token
        world = dist.get_world_size() if dist.is_initialized() else 1
        peak = peak_flops()
        self.peak_total = peak * world if peak else None
        self._window: list[dict] = []
        self._last_time = time.perf_counter()
        self.bar = self.writer = self.metrics_file = None
        if not self.enabled:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=total_steps, initial=start_step, desc="train", dynamic_ncols=True)
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            metrics = log_dir / "metrics.jsonl"
            drop_records_after(metrics, start_step)
            self.metrics_file = open(metrics, "a")  # noqa: SIM115 - closed in close()
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=start_step + 1)

    def _record(self, step: int, scalars: dict) -> None:
        scalars = {k: v for k, v in scalars.items() if v is not None}
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(key, value, step)
        if self.metrics_file is not None:
            self.metrics_file.write(json.dumps({"step": step, **scalars}) + "\n")
            self.metrics_file.flush()

    def train_step(self, state, metrics: dict) -> None:
        now = time.perf_counter()
        elapsed, self._last_time = now - self._last_time, now
        self._window.append({**metrics, "time": elapsed})
        if not self.enabled:
            return
        tokens_per_sec = metrics["tokens"] / elapsed if elapsed > 0 else 0.0
        self.bar.update(1)
        self.bar.set_postfix(
            loss=f"{metrics['loss']:.4f}", lr=f"{metrics['lr']:.2e}", tok_s=f"{tokens_per_sec:.0f}"
        )
        if state.iteration % self.log_interval == 0:
            self._flush_window(state.iteration)

    def _flush_window(self, step: int) -> None:
        window, self._window = self._window, []
        seconds = sum(m["time"] for m in window)
        tokens = sum(m["tokens"] for m in window)
        norms = [m["grad_norm"] for m in window if m.get("grad_norm") is not None]
        scalars = {
            "train/loss": sum(m["loss"] for m in window) / len(window),
            "train/lr": window[-1]["lr"],
            "train/grad_norm": sum(norms) / len(norms) if norms else None,
            "train/tokens_per_sec": tokens / seconds if seconds else None,
            "train/step_time": seconds / len(window),
        }
        by_mode: dict[str, list[float]] = {}
        for metrics in window:
            for mode, loss in metrics.get("loss_by_mode", {}).items():
                by_mode.setdefault(mode, []).append(loss)
        scalars.update({f"train/loss_{m}": sum(v) / len(v) for m, v in by_mode.items()})
        if self.flops_per_token and self.peak_total and seconds:
            scalars["train/mfu"] = tokens * self.flops_per_token / seconds / self.peak_total
        self._record(step, scalars)
        skipped = sum(1 for m in window if not m.get("applied", True))
        logger.info(
            "iteration %d | loss %.4f | lr %.3e | %.0f tokens/s | %.2f s/step%s",
            step,
            scalars["train/loss"],
            scalars["train/lr"],
            scalars["train/tokens_per_sec"] or 0,
            scalars["train/step_time"],
            f" | {skipped} steps skipped" if skipped else "",
        )

    def evaluation(self, state, results: dict, prefix: str = "val") -> None:
        if not self.enabled or not results:
            return
        self._record(state.iteration, {f"{prefix}/{k}": v for k, v in results.items()})
        text = format_results(results)
        logger.info("%s at iteration %d | %s", prefix, state.iteration, text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()
        if self.metrics_file is not None:
            self.metrics_file.close()
