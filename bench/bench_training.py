"""Training throughput: tokens/s, step time and peak memory of full DeepSpeed training steps.

    python bench/bench_training.py                      # CPU: tiny and GLM-Base shapes, fp32
    python bench/bench_training.py --shapes large --bf16 --batch-size 8   # GPU: adds MFU

Each step is a real optimizer step through ``training.loop.train_step`` (forward, vocab-parallel
cross-entropy, backward, clipping, AdamW) on batches shaped like GLM pretraining batches (GPT-2
vocabulary, Part A of 80% of the sequence). The first steps warm up and are not timed.

``--baseline`` adds a row for GLM's own computation on the same weights and batches, in the same
run (no DeepSpeed, as GLM's CPU runs): the float attention mask multiplied in and -65504 added,
explicit softmax and dropout, logits and cross-entropy at every position, per-parameter
gradient clipping and the unfused AdamW. Absolute speeds move with the machine and its load;
the ratio of the two rows measured side by side is the steadier figure.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model import GLMModel  # noqa: E402
from mpu import initialize_distributed, set_random_seed  # noqa: E402
from training.arguments import parse_args  # noqa: E402
from training.engine import build_engine, param_groups  # noqa: E402
from training.log import flops_per_token, peak_flops  # noqa: E402
from training.loop import TrainState, lm_forward_step, train_step  # noqa: E402

SHAPES = {  # layers, hidden, heads
    "tiny": (4, 256, 8),
    "base": (12, 768, 12),
    "large": (24, 1024, 16),
}
VOCAB = 50304


def batches(batch: int, length: int, device):
    generator = torch.Generator().manual_seed(0)
    sep = int(length * 0.8)
    while True:
        tokens = torch.randint(0, 50257, (batch, length), generator=generator)
        block = (torch.arange(length) >= sep).long()
        positions = torch.stack([torch.arange(length).clamp(max=sep - 1), block.cumsum(0) * block])
        yield {
            "tokens": tokens.to(device),
            "targets": tokens.roll(-1, 1).to(device),
            "loss_mask": block.float().expand(batch, -1).to(device),
            "position_ids": positions.expand(batch, -1, -1).to(device),
            "sep": torch.full((batch,), sep, device=device),
        }


def glm_scheme_loss(model, batch: dict) -> torch.Tensor:
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
    mask = batch["loss_mask"].flatten()
    return (losses * mask).sum() / mask.sum()


def run_glm_scheme(shape: str, options) -> dict:
    layers, hidden, heads = SHAPES[shape]
    config = parse_args(
        [
            "--block-lm",
            "--num-layers",
            str(layers),
            "--hidden-size",
            str(hidden),
            "--num-attention-heads",
            str(heads),
            "--max-position-embeddings",
            str(options.seq_length),
        ]
    ).model_config(VOCAB)
    model = GLMModel(config, seed=1).train()
    optimizer = torch.optim.AdamW(param_groups(model, 0.01), lr=1e-4, foreach=False)
    data = batches(options.batch_size, options.seq_length, torch.device("cpu"))

    def step():
        glm_scheme_loss(model, next(data)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=False)
        optimizer.step()
        optimizer.zero_grad()

    for _ in range(options.warmup):
        step()
    start = time.perf_counter()
    for _ in range(options.steps):
        step()
    seconds = (time.perf_counter() - start) / options.steps
    return {
        "shape": f"{shape}, GLM's scheme",
        "tokens/s": options.batch_size * options.seq_length / seconds,
        "s/step": seconds,
    }


def run(shape: str, options) -> dict:
    layers, hidden, heads = SHAPES[shape]
    argv = [
        "--block-lm",
        "--num-layers",
        str(layers),
        "--hidden-size",
        str(hidden),
        "--num-attention-heads",
        str(heads),
        "--seq-length",
        str(options.seq_length),
        "--max-position-embeddings",
        str(options.seq_length),
        "--batch-size",
        str(options.batch_size),
        "--lr-decay-style",
        "constant",
        "--warmup",
        "0",
    ]
    if options.bf16:
        argv.append("--bf16")
    if options.checkpoint_activations:
        argv.append("--checkpoint-activations")
    args = parse_args(argv)
    device = initialize_distributed(args.parallel.model_parallel_size)
    set_random_seed(1, device)
    model = GLMModel(args.model_config(VOCAB), seed=1).to(device)
    engine = build_engine(model, args.engine_config(), train_iters=options.steps + options.warmup)
    data, state = batches(options.batch_size, options.seq_length, device), TrainState()
    for _ in range(options.warmup):
        train_step(engine, data, lm_forward_step, args.loop_config(), state)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(options.steps):
        train_step(engine, data, lm_forward_step, args.loop_config(), state)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / options.steps
    tokens = options.batch_size * options.seq_length
    params = sum(p.numel() for p in model.parameters())
    peak = peak_flops()
    result = {
        "shape": f"{shape} ({layers}x{hidden}, {params / 1e6:.0f}M)",
        "tokens/s": tokens / seconds,
        "s/step": seconds,
        "peak RSS GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }
    if device.type == "cuda":
        result["peak GPU GB"] = torch.cuda.max_memory_allocated() / 2**30
    if peak:
        flops = flops_per_token(params, layers, hidden, options.seq_length)
        result["MFU"] = tokens / seconds * flops / peak
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["tiny", "base"], choices=list(SHAPES))
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--seq-length", type=int, default=512)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--checkpoint-activations", action="store_true")
    parser.add_argument("--baseline", action="store_true", help="add GLM's scheme (CPU, fp32)")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    rows = []
    for shape in options.shapes:
        rows.append(run(shape, options))
        if options.baseline:
            rows.append(run_glm_scheme(shape, options))
    keys = list(dict.fromkeys(k for row in rows for k in row))
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        cells = [
            f"{row[k]:.3g}" if isinstance(row.get(k), float) else str(row.get(k, "")) for k in keys
        ]
        print("| " + " | ".join(cells) + " |")
    print(
        f"batch {options.batch_size} x seq {options.seq_length}, "
        f"{'bf16' if options.bf16 else 'fp32'}, {options.threads} threads, "
        f"{options.steps} timed steps after {options.warmup} warm-up"
    )


if __name__ == "__main__":
    main()
