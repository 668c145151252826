"""Training throughput against the original GLM: tokens/s, step time and peak RSS.

    python bench/bench_training.py                      # small and base: original, ours, original
    python bench/bench_training.py --shapes base --reps 5
    python bench/bench_training.py --skip-original      # ours alone, quick
    python bench/bench_training.py --shapes large --bf16 --batch-size 8 --skip-original  # GPU: MFU

Shapes (the original's bench configs): ``small`` 6 x 512, 8 heads, batch 4 x 512; ``base``
12 x 768, 12 heads, batch 2 x 512; GPT-2 vocabulary padded to 50304, fp32, 2 threads, dropout
0.1. Both sides time the same work on the same batch: one training step on one fixed
blank-infilling batch (the 512-wide token-span batch the original's bench builds with its own
``ConstructBlockStrategy``, which ours reads from that run), 3 warm-up steps, then the median
of ``--reps`` steps. The headline step is forward with the loss + backward + AdamW, as the
original's bench reports it; gradient clipping is timed apart (both clip to norm 1). Ours is a
full ``training.loop.train_step`` through DeepSpeed; its clipping is timed apart the same way.

``--scheme-baseline`` adds a third process: GLM's arithmetic re-implemented here on our modules
(float mask multiplied in, explicit softmax and dropout, logits at every position, unfused
AdamW), no DeepSpeed. It says how much of the gap is the scheme rather than the code around it.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import side_by_side as sbs  # noqa: E402
from model import GLMModel  # noqa: E402
from mpu import initialize_distributed, set_random_seed  # noqa: E402
from training.arguments import parse_args  # noqa: E402
from training.engine import build_engine, param_groups  # noqa: E402
from training.log import flops_per_token, peak_flops  # noqa: E402
from training.loop import TrainState, lm_forward_step, train_step  # noqa: E402

SHAPES = {  # layers, hidden, heads, batch size; small and base are the original's configs
    "small": (6, 512, 8, 4),
    "base": (12, 768, 12, 2),
    "large": (24, 1024, 16, 2),
}
ORIGINAL_SHAPES = ("small", "base")
VOCAB = 50304
SEQ = 512
WARMUP = 3  # as the original's bench: the first AdamW step allocates its state
PARTS = ("forward", "backward", "clip", "optimizer")


def original_batch(npz: str) -> dict:
    """The original's batch (text, target, loss_mask, position_id, attention_mask = sep)."""
    import numpy as np

    data = np.load(npz)
    return {
        "tokens": torch.from_numpy(data["text"]),
        "targets": torch.from_numpy(data["target"]),
        "loss_mask": torch.from_numpy(data["loss_mask"]),
        "position_ids": torch.from_numpy(data["position_id"]),
        "sep": torch.from_numpy(data["attention_mask"]),
    }


def synthetic_batch(batch: int, length: int) -> dict:
    """Without the original's batch: Part A 80% of each row, loss on Part B (its has ~18%)."""
    generator = torch.Generator().manual_seed(0)
    sep = int(length * 0.8)
    tokens = torch.randint(0, 50257, (batch, length), generator=generator)
    block = (torch.arange(length) >= sep).long()
    positions = torch.stack([torch.arange(length).clamp(max=sep - 1), block.cumsum(0) * block])
    return {
        "tokens": tokens,
        "targets": tokens.roll(-1, 1),
        "loss_mask": block.expand(batch, -1),
        "position_ids": positions.expand(batch, -1, -1),
        "sep": torch.full((batch,), sep),
    }


def _timed(fn, times: dict, key: str):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        times[key] = times.get(key, 0.0) + time.perf_counter() - start
        return result

    return wrapper


def ours_step(shape: str, options, batch: dict):
    """A zero-argument training step of ours, and the dict its parts' seconds accumulate in."""
    layers, hidden, heads, _ = SHAPES[shape]
    size = batch["tokens"].shape[0]
    argv = ["--block-lm", "--num-layers", str(layers), "--hidden-size", str(hidden)]
    argv += ["--num-attention-heads", str(heads), "--seq-length", str(SEQ)]
    argv += ["--max-position-embeddings", str(SEQ), "--batch-size", str(size)]
    argv += ["--lr-decay-style", "constant", "--warmup", "0", "--seed", "1234"]
    argv += ["--bf16"] if options.bf16 else []
    argv += ["--checkpoint-activations"] if options.checkpoint_activations else []
    argv += ["--compile"] if options.compile else []
    args = parse_args(argv)
    device = initialize_distributed(args.parallel.model_parallel_size)
    set_random_seed(1234, device)
    model = GLMModel(args.model_config(VOCAB), seed=1234).to(device)
    engine = build_engine(model, args.engine_config(), train_iters=WARMUP + options.reps + 1)
    times: dict = {}
    forward = _timed(lm_forward_step, times, "forward")
    engine.ds.backward = _timed(engine.ds.backward, times, "backward")
    engine.clip_gradients = _timed(engine.clip_gradients, times, "clip")
    engine.ds.step = _timed(engine.ds.step, times, "optimizer")
    batch = {k: v.to(device) for k, v in batch.items()}
    state, loop = TrainState(), args.loop_config()

    def batches():
        while True:
            yield batch

    data = batches()
    return (lambda: train_step(engine, data, forward, loop, state)["loss"]), times, model


def scheme_loss(model, batch: dict) -> torch.Tensor:
    """GLM's forward arithmetic on our modules' weights (see the module docstring)."""
    t, tokens, sep = model.transformer, batch["tokens"], batch["sep"]
    b, length = tokens.shape
    pos = batch["position_ids"]
    hidden = model.word_embeddings(tokens) + t.position_embeddings(pos[:, 0])
    hidden = t.embedding_dropout(hidden + t.block_position_embeddings(pos[:, 1]))
    rows, cols = torch.arange(length).view(-1, 1), torch.arange(length).view(1, -1)
    mask = ((cols <= rows) | (cols < sep.view(-1, 1, 1))).float().unsqueeze(1)  # (B, 1, L, L)
    for layer in t.layers:
        attention = layer.attention
        qkv = attention.query_key_value(layer.input_layernorm(hidden))
        q, k, v = qkv.view(b, length, 3, attention.heads, -1).permute(2, 0, 3, 1, 4)
        scores = torch.matmul(q, k.transpose(-1, -2) / attention.head_dim**0.5)
        scores = scores * mask - 65504.0 * (1.0 - mask)
        probs = torch.nn.functional.dropout(torch.softmax(scores, -1), 0.1, True)
        context = torch.matmul(probs, v).transpose(1, 2).reshape(b, length, -1)
        hidden = hidden + attention.output_dropout(attention.dense(context))
        hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
    logits = torch.nn.functional.linear(t.final_layernorm(hidden), model.word_embeddings.weight)
    losses = torch.nn.functional.cross_entropy(
        logits.float().flatten(0, 1), batch["targets"].flatten(), reduction="none"
    )
    mask = batch["loss_mask"].flatten().float()
    return (losses * mask).sum() / mask.sum()


def scheme_step(shape: str, batch: dict):
    """The same step in GLM's scheme: no DeepSpeed, unfused AdamW (as the original on CPU)."""
    layers, hidden, heads, _ = SHAPES[shape]
    argv = ["--block-lm", "--num-layers", str(layers), "--hidden-size", str(hidden)]
    argv += ["--num-attention-heads", str(heads), "--max-position-embeddings", str(SEQ)]
    model = GLMModel(parse_args(argv).model_config(VOCAB), seed=1234).train()
    optimizer = torch.optim.AdamW(param_groups(model, 0.01), lr=1e-4, foreach=False)
    times: dict = {}
    loss_fn = _timed(scheme_loss, times, "forward")
    backward = _timed(torch.Tensor.backward, times, "backward")
    clip = _timed(torch.nn.utils.clip_grad_norm_, times, "clip")
    update = _timed(optimizer.step, times, "optimizer")

    def step() -> float:
        optimizer.zero_grad()
        loss = loss_fn(model, batch)
        backward(loss)
        clip(model.parameters(), 1.0, foreach=False)
        update()
        return float(loss)

    return step, times, model


def worker(options) -> None:
    """Ours (or the scheme) in this fresh process: warm-up, timed steps, JSON out."""
    torch.set_num_threads(options.threads)
    shape = options.shapes[0]
    size = options.batch_size or SHAPES[shape][3]
    batch = original_batch(options.batch_npz) if options.batch_npz else synthetic_batch(size, SEQ)
    make = scheme_step if options.impl == "scheme" else ours_step
    step, times, model = make(shape, batch) if make is scheme_step else make(shape, options, batch)
    cuda = torch.cuda.is_available() and make is ours_step
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    start = time.perf_counter()
    losses = [step()]  # with --compile, this first step also compiles the layers
    first_step = time.perf_counter() - start
    losses += [step() for _ in range(WARMUP - 1)]
    runs = []
    for _ in range(options.reps):
        times.clear()
        sync()
        start = time.perf_counter()
        losses.append(step())
        sync()
        runs.append(dict(times, total=time.perf_counter() - start))
    params = sum(p.numel() for p in model.parameters())
    result = {
        "shape": shape,
        "params": params,
        "batch": list(batch["tokens"].shape),
        "batch_source": "original" if options.batch_npz else "synthetic",
        "loss_tokens": int(batch["loss_mask"].sum()),
        "losses": losses,
        "first_step_s": first_step,
        "runs": runs,
        "peak_rss_self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if cuda:
        result["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    if peak_flops():
        layers, hidden = SHAPES[shape][:2]
        seconds = sbs.median(r["total"] for r in runs)
        flops = flops_per_token(params, layers, hidden, SEQ)
        result["mfu"] = size * SEQ / seconds * flops / peak_flops()
    sbs.write_json(options.worker, result)


def _ours_median(key: str):
    def get(run: sbs.Run) -> float:
        steps = run.data["runs"]
        if key == "step":
            return sbs.median(r["total"] - r.get("clip", 0.0) for r in steps)
        return sbs.median(r.get(key, 0.0) for r in steps)

    return get


def _tokens_per_s(key: str):
    def get(run: sbs.Run) -> float:
        b, t = run.data["batch"]
        return b * t / _ours_median(key)(run)

    return get


def _original(shape: str, key: str):
    return lambda run: run.data["train"][shape][key]["median"]


def metrics(shape: str) -> list[sbs.Metric]:
    rows = [
        sbs.Metric(
            "tokens/s, fwd+bwd+AdamW",
            "tok/s",
            _tokens_per_s("step"),
            _original(shape, "tokens_per_s"),
        ),
        sbs.Metric(
            "tokens/s, with clipping",
            "tok/s",
            _tokens_per_s("total"),
            lambda r: _tokens_original(r, shape),
        ),
        sbs.Metric(
            "step, fwd+bwd+AdamW",
            "s",
            _ours_median("step"),
            _original(shape, "step_seconds"),
            "time",
        ),
    ]
    names = {
        "forward": "forward_seconds",
        "backward": "backward_seconds",
        "clip": "clip_grad_norm_seconds",
        "optimizer": "adamw_step_seconds",
    }
    for part in PARTS:
        rows.append(
            sbs.Metric(f"  {part}", "s", _ours_median(part), _original(shape, names[part]), "time")
        )
    return [*rows, sbs.peak_rss_metric()]


def _tokens_original(run: sbs.Run, shape: str) -> float:
    r = run.data["train"][shape]
    return r["batch"]["B"] * r["batch"]["T"] / r["step_with_clip_seconds"]["median"]


def worker_args(shape: str, options) -> list[str]:
    args = ["--shapes", shape, "--reps", str(options.reps), "--threads", str(options.threads)]
    args += ["--batch-size", str(options.batch_size)] if options.batch_size else []
    args += ["--bf16"] if options.bf16 else []
    args += ["--checkpoint-activations"] if options.checkpoint_activations else []
    args += ["--compile"] if options.compile else []
    return args


def comparable(shape: str, options) -> str | None:
    """Why the original cannot run this configuration, or None."""
    if shape not in ORIGINAL_SHAPES:
        return f"the original's bench has no {shape} config"
    if options.batch_size not in (None, SHAPES[shape][3]) or options.bf16 or options.threads != 2:
        return "the original's bench runs its own batch size, fp32, 2 threads only"
    if options.checkpoint_activations:
        return "the original's bench does not checkpoint activations"
    return None


def compare(shape: str, options, original: sbs.Original | None) -> None:
    """Original, ours, original again on one shape; prints the table."""
    why_not = comparable(shape, options) if original else "--skip-original"
    extra: list[sbs.Run] = []

    def run_original(label: str, keep: bool) -> sbs.Run:
        args = ["--train-configs", shape]
        return sbs.run_original(original, "train", args, options.reps, f"{shape} {label}", keep)

    def run_ours(first: sbs.Run | None) -> sbs.Run:
        args = worker_args(shape, options)
        if first is not None:
            meta = first.data["train"][shape]["batch"]
            args += ["--batch-npz", f"{first.data['kept_dir']}/train_batches/{meta['file']}"]
        if options.scheme_baseline:
            extra.append(
                sbs.run_ours(
                    Path(__file__),
                    [*args, "--impl", "scheme"],
                    options.threads,
                    f"{shape} GLM's scheme, here",
                )
            )
        return sbs.run_ours(Path(__file__), args, options.threads, f"{shape} ours")

    first, mine, second = sbs.side_by_side(None if why_not else run_original, run_ours)
    layers, hidden, heads, _ = SHAPES[shape]
    b, t = mine.data["batch"]
    print(
        f"\n{shape}: {layers} x {hidden}, {heads} heads, {mine.data['params'] / 1e6:.0f}M "
        f"parameters, batch {b} x {t}, {'bf16' if options.bf16 else 'fp32'}, "
        f"{options.threads} threads; median of {options.reps} steps after {WARMUP} warm-up; "
        f"batch: {mine.data['batch_source']} ({mine.data['loss_tokens']} loss tokens)"
    )
    if why_not:
        print(f"original not run: {why_not}")
    sbs.print_table(sbs.TABLE_HEADER, sbs.comparison_table(metrics(shape), first, mine, second))
    for run in [first, mine, second]:
        if run is not None:
            losses = run.data["train"][shape]["losses"] if run is not mine else run.data["losses"]
            print(f"{run.label}: losses {', '.join(f'{x:.3f}' for x in losses)}")
    compiled = " (--compile: compilation included)" if options.compile else ""
    print(f"ours first step{compiled}: {mine.data['first_step_s']:.1f} s")
    for key in ("mfu", "peak_gpu_gib"):
        if key in mine.data:
            print(f"ours {key}: {mine.data[key]:.3g}")
    for run in extra:
        rate = _tokens_per_s("step")(run)
        print(
            f"{run.label} (same process as its model, no DeepSpeed; the arithmetic scheme "
            f"alone): {rate:.0f} tok/s fwd+bwd+AdamW, peak RSS {run.peak_rss_mib:,.0f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["small", "base"], choices=list(SHAPES))
    parser.add_argument("--batch-size", type=int, help="default: the shape's (small 4, base 2)")
    parser.add_argument("--reps", type=int, default=3, help="timed steps per run (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--checkpoint-activations", action="store_true")
    parser.add_argument(
        "--compile", action="store_true", help="ours with --compile (the original is eager)"
    )
    parser.add_argument("--skip-original", action="store_true", help="measure ours alone")
    parser.add_argument(
        "--scheme-baseline",
        action="store_true",
        help="add GLM's scheme re-implemented here (CPU, fp32)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--impl", default="ours", choices=("ours", "scheme"), help=argparse.SUPPRESS
    )
    parser.add_argument("--batch-npz", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        worker(options)
        return
    original = None if options.skip_original else sbs.locate_original()
    for shape in options.shapes:
        compare(shape, options, original)


if __name__ == "__main__":
    main()
