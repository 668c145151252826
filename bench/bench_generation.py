"""Speed of KV-cache decoding on CPU: ms per generated token and time to first token.

Usage: python bench/bench_generation.py [--threads 2] [--context 400] [--new-tokens 128]
                                        [--batch-sizes 1 8] [--repeats 3] [--no-baseline]

A randomly initialised GLM of 6 layers, hidden 512, 8 heads, GPT-2 vocabulary (50304 padded),
fp32, greedy. The context (Part A) is encoded once into the cache, then ``[sop]`` and each new
token are fed one position at a time. "first token" is the context pass plus the first step;
"ms/step" is the mean time of the remaining steps (one token per row each); "ms/token" divides
it by the batch size. Stop tokens are disabled so every run generates ``--new-tokens`` tokens.
Best of ``--repeats`` runs. The KV-cache model uses ``GLMModel.use_decoding_layout()`` (weight
matrices stored transposed), as ``generate_samples.py`` does on CPU. The goal is <= 17 ms per
token at batch 1 (GLM's mems-based decoding takes about 52 ms on these machines).

The "mems" rows time GLM's own decoding scheme on the same weights, in the same run: it keeps
each layer's input hidden states and, every step, applies LayerNorm and the QKV projection to
the whole memory again. On a shared machine the absolute numbers move with the load; the ratio
between the two schemes measured side by side is the steadier figure.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from model import GLMConfig, GLMModel  # noqa: E402
from model.generation import GenerationConfig, generate_span, prefill  # noqa: E402


def build_model() -> GLMModel:
    config = GLMConfig(
        num_layers=6,
        hidden_size=512,
        num_attention_heads=8,
        vocab_size=50304,
        max_sequence_length=1024,
        parallel_output=False,
    )
    return GLMModel(config, seed=1234).eval()


def run_once(model: GLMModel, batch: int, context: int, new_tokens: int) -> tuple[float, float]:
    """(seconds to the first token, seconds for all the steps after it)."""
    gen = torch.Generator().manual_seed(0)
    contexts = torch.randint(0, 50000, (batch, context), generator=gen).tolist()
    config = GenerationConfig(out_seq_length=1, top_k=1)
    rest = GenerationConfig(out_seq_length=new_tokens - 1, top_k=1)
    mask = torch.full((batch,), context - 1)
    with torch.no_grad():
        start = time.perf_counter()
        cache = model.make_kv_cache(batch, context + new_tokens)
        prefill(model, cache, contexts, pad_id=0)
        first = generate_span(model, cache, torch.full((batch,), 50257), mask, config, ())
        ttft = time.perf_counter() - start
        tokens = torch.tensor([s.ids[-1] for s in first])
        start = time.perf_counter()
        spans = generate_span(model, cache, tokens, mask, rest, ())
        decode = time.perf_counter() - start
    assert all(len(s.ids) == new_tokens - 1 for s in spans)
    return ttft, decode


def mems_step(model: GLMModel, mems: list[torch.Tensor], token: torch.Tensor, position: int):
    """One step of mems-based decoding: each layer re-projects its whole memory to keys and
    values. ``mems[i]`` is layer i's input for all earlier positions; returns logits and the
    grown memories."""
    t = model.transformer
    ids = torch.full_like(token, position)
    hidden = model.word_embeddings(token) + t.position_embeddings(ids)
    hidden = hidden + t.block_position_embeddings(torch.ones_like(token))
    grown = []
    for layer, mem in zip(t.layers, mems, strict=True):
        grown.append(torch.cat([mem, hidden], dim=1))
        attention = layer.attention
        qkv = attention.query_key_value(layer.input_layernorm(grown[-1]))  # (B, M+1, 3 h)
        b, length, _ = qkv.shape
        qkv = qkv.view(b, length, 3, attention.heads, attention.head_dim).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)
        context = F.scaled_dot_product_attention(query[:, :, -1:], key, value)
        context = context.transpose(1, 2).reshape(b, 1, -1)
        hidden = hidden + attention.dense(context)
        hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
    logits = F.linear(t.final_layernorm(hidden), model.word_embeddings.weight)
    return logits[:, -1], grown


def run_mems(model: GLMModel, batch: int, context: int, new_tokens: int) -> tuple[float, float]:
    """The same measurement for mems-based decoding (greedy, positions as in GLM)."""
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 50000, (batch, context), generator=gen)
    positions = torch.stack([torch.arange(context), torch.zeros(context, dtype=torch.long)])
    with torch.no_grad():
        start = time.perf_counter()
        t = model.transformer
        hidden = model.word_embeddings(tokens) + t.embed_positions(positions.expand(batch, 2, -1))
        mems = []
        for layer in t.layers:
            mems.append(hidden)
            hidden = layer(hidden, None)
        token = torch.full((batch, 1), 50257)
        logits, mems = mems_step(model, mems, token, context - 1)
        ttft = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(new_tokens - 1):
            token = logits.argmax(-1, keepdim=True)
            logits, mems = mems_step(model, mems, token, context - 1)
        decode = time.perf_counter() - start
    return ttft, decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=400)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true", help="skip the mems-based rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    baseline = build_model()  # GLM's scheme on the default weight layout, as GLM stores it
    model = build_model().use_decoding_layout()
    run_once(model, 1, 16, 4)  # warm-up
    print(
        f"threads {args.threads}, context {args.context}, {args.new_tokens} new tokens, "
        f"best of {args.repeats}"
    )
    print(
        f"{'scheme':>8} | {'batch':>5} | {'first token ms':>14} | {'ms/step':>8} | {'ms/token':>8}"
    )
    schemes = [("kv-cache", run_once, model)]
    if not args.no_baseline:
        schemes.append(("mems", run_mems, baseline))
    for batch in args.batch_sizes:
        for name, run, net in schemes:
            runs = [run(net, batch, args.context, args.new_tokens) for _ in range(args.repeats)]
            ttft = min(r[0] for r in runs)
            step = min(r[1] for r in runs) / (args.new_tokens - 1)
            print(
                f"{name:>8} | {batch:>5} | {ttft * 1e3:>14.1f} | {step * 1e3:>8.2f} | "
                f"{step / batch * 1e3:>8.2f}"
            )


if __name__ == "__main__":
    main()
