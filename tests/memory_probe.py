"""The peak memory a real CPU training run adds, to check the memory planner against.

``measure(argv, vocab_size, ...)`` trains the model the flags ``argv`` describe (the flags of
``pretrain_glm.py``) for a few optimizer steps through ``training.loop.train_step`` on
synthetic batches, in fresh processes (``world`` gloo ranks), and returns each rank's peak RSS
minus its baseline in bytes.

The baseline is the RSS after the imports and after a warm-up engine on a one-layer model (same
precision and ZeRO stage) has loaded what DeepSpeed imports and builds on first use: code and
small buffers, 70-120 MiB, the same for any model size. The kernel's peak-RSS counter is reset
there (``/proc/self/clear_refs``).

glibc keeps freed blocks under its dynamic mmap threshold (up to 32 MiB) in the heap, where
later tensors of other sizes often cannot reuse them: a plain CPU run's RSS grows up to ~25%
above its live tensors. The probe sets ``MALLOC_MMAP_THRESHOLD_`` so that every block over
64 KiB is mapped and unmapped on its own; the RSS then follows the live tensors, which is what
the planner counts and what a GPU's caching allocator gives back to PyTorch. ``plain_malloc``
measures without it.

    python tests/memory_probe.py '{"argv": [...], "vocab_size": 30592}'   # prints JSON
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRACKING_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
_WARM_UP_SHAPE = ["--num-layers", "1", "--hidden-size", "64", "--num-attention-heads", "4"]


# The checked runs: 6 layers, hidden 768, BERT vocabulary (66 M parameters), 1024 tokens per
# micro-batch: big enough that parameters, optimizer states and activations dominate, small
# enough for a few seconds per step on one core. Case -> (extra flags, data-parallel ranks).
SHAPE = [
    "--num-layers", "6", "--hidden-size", "768", "--num-attention-heads", "12",
    "--seq-length", "256", "--max-position-embeddings", "256", "--batch-size", "4",
    "--block-lm", "--hidden-dropout", "0", "--attention-dropout", "0",
]  # fmt: skip
SCORED = 0.5  # Part B: the half of each sequence whose logits are computed

CASES = {
    "fp32-zero0": ([], 1),
    "bf16-zero0": (["--bf16"], 1),
    "fp32-zero2": (["--zero-stage", "2"], 1),
    "bf16-zero2": (["--zero-stage", "2", "--bf16"], 1),
    "fp32-zero0-checkpointed": (["--checkpoint-activations"], 1),
    "bf16-zero0-dropout": (["--bf16", "--hidden-dropout", "0.1", "--attention-dropout", "0.1"], 1),
    "bf16-zero2-dp2": (["--zero-stage", "2", "--bf16"], 2),
}


def predicted_peak(argv: list[str], world: int) -> tuple[int, int]:
    """The planner's peak per process for this CPU run, and its padded vocabulary."""
    from scripts.estimate_memory import build_parser, plan_inputs
    from training.arguments import parse_args
    from training.memory_plan import estimate_training

    args = parse_args(argv)
    options = build_parser().parse_args(
        ["flags", "--cpu", "--dp", str(world), "--scored-fraction", str(SCORED)]
    )
    config, setup, _ = plan_inputs(options, args)
    estimate = estimate_training(config, setup, config.checkpoint_activations)
    return estimate.peak_device, config.vocab_size


def _rss() -> tuple[int, int]:
    """(current, peak) resident set size in bytes."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(value.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _batches(batch: int, length: int, vocab: int, scored_fraction: float):
    """GLM-shaped batches: Part A of ``1 - scored_fraction`` of the sequence, Part B scored."""
    import torch

    generator = torch.Generator().manual_seed(0)
    sep = length - round(length * scored_fraction)
    positions = torch.stack(
        [
            torch.arange(length).clamp(max=sep).expand(batch, -1),
            (torch.arange(length) - sep + 1).clamp(min=0).expand(batch, -1),
        ],
        1,
    )
    loss_mask = (torch.arange(length) >= sep).float().expand(batch, -1).contiguous()
    while True:
        tokens = torch.randint(0, vocab, (batch, length), generator=generator)
        yield {
            "tokens": tokens,
            "targets": tokens.roll(-1, 1),
            "loss_mask": loss_mask,
            "position_ids": positions,
            "sep": torch.full((batch,), sep),
            "mode": "bert",
        }


def _train(argv: list[str], vocab: int, scored_fraction: float, steps: int) -> None:
    from model import GLMModel
    from training.arguments import parse_args
    from training.engine import build_engine
    from training.loop import TrainState, lm_forward_step, train_step

    args = parse_args(argv)
    model = GLMModel(args.model_config(vocab), seed=1)
    engine = build_engine(model, args.engine_config(), train_iters=steps)
    batches = _batches(args.train.batch_size, args.data.seq_length, vocab, scored_fraction)
    state = TrainState()
    engine.ds.train()
    for _ in range(steps):
        train_step(engine, batches, lm_forward_step, args.loop_config(), state)


def rank_peak(rank: int, world: int, spec: dict) -> int:
    """Peak RSS over the baseline of one rank's run (the body of every probe process)."""
    import torch

    from mpu import initialize_distributed, set_random_seed
    from training.arguments import parse_args

    torch.set_num_threads(1)
    argv = spec["argv"]
    device = initialize_distributed(parse_args(argv).parallel.model_parallel_size)
    set_random_seed(1, device)
    tiny = [*_WARM_UP_SHAPE, "--seq-length", "16", "--max-position-embeddings", "16"]
    _train(argv + tiny, 256, 0.5, 1)
    gc.collect()
    _reset_peak()
    baseline, _ = _rss()
    _train(argv, spec["vocab_size"], spec.get("scored_fraction", 0.5), spec.get("steps", 2))
    return _rss()[1] - baseline


def measure(
    argv: list[str],
    vocab_size: int,
    scored_fraction: float = 0.5,
    steps: int = 2,
    world: int = 1,
    plain_malloc: bool = False,
    timeout: float = 600,
) -> list[int]:
    """Each rank's peak RSS over its baseline (bytes), from fresh processes."""
    spec = dict(argv=argv, vocab_size=vocab_size, scored_fraction=scored_fraction, steps=steps)
    # the planner predicts live tensors: CPU training's malloc retention (common/memory.py) is off
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "GLM_MALLOC_RETAIN": "0"}
    env.update({} if plain_malloc else TRACKING_MALLOC)
    command = [sys.executable, str(Path(__file__).resolve()), json.dumps(spec), str(world)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"memory probe failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _main() -> None:
    spec, world = json.loads(sys.argv[1]), int(sys.argv[2])
    if world == 1:
        peaks = [rank_peak(0, 1, spec)]
    else:
        import tempfile

        from tests.distributed import run_distributed

        with tempfile.TemporaryDirectory() as folder:
            peaks = run_distributed(rank_peak, world, Path(folder), spec)
    print(json.dumps(peaks))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    _main()
