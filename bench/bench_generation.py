"""Decoding speed against the original GLM: ms per new token, prefill time and peak RSS.

    python bench/bench_generation.py                  # original, ours, original (batch 1)
    python bench/bench_generation.py --batch-sizes 1 8 --reps 5
    python bench/bench_generation.py --skip-original  # ours alone, quick

The original's bench case ``mask128``: a randomly initialised GLM of 6 layers, hidden 512,
8 heads, 512 positions, GPT-2 vocabulary (50304 padded), fp32, 2 threads; a 400-token context
with the blank in the middle, 128 new tokens, greedy, stop tokens never chosen. "prefill" is
the context pass, "decode" the 128 one-token steps ([sop] first), "incl. prefill" both over
128. The original runs its ``generate_samples.py`` (mems-based decoding); ours fills a KV cache
(``prefill``, ``generate_span``) with ``GLMModel.use_decoding_layout()``, as
``generate_samples.py`` does on CPU. One warm-up fill, then the median of ``--reps`` fills.
Batch sizes above 1 are ours alone (the original's interactive loop fills one text).

``--scheme-baseline`` adds a third process: GLM's mems-based decoding re-implemented here on
our modules (each step re-applies LayerNorm and the QKV projection to the whole memory): the
cost of the scheme alone, apart from the original's code around it.
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import side_by_side as sbs  # noqa: E402
from common.memory import use_huge_pages  # noqa: E402
from model import GLMConfig, GLMModel  # noqa: E402
from model.generation import GenerationConfig, generate_span, prefill  # noqa: E402

CONTEXT = 400
NEW_TOKENS = 128
SOP = 50257


def build_model() -> GLMModel:
    config = GLMConfig(
        num_layers=6,
        hidden_size=512,
        num_attention_heads=8,
        vocab_size=50304,
        max_sequence_length=512,
        parallel_output=False,
    )
    return GLMModel(config, seed=1234).eval()


def contexts(batch: int) -> torch.Tensor:
    return torch.randint(0, 50000, (batch, CONTEXT), generator=torch.Generator().manual_seed(0))


def run_kv(model: GLMModel, batch: int, new_tokens: int) -> tuple[float, float]:
    """(prefill seconds, decode seconds) of one fill with the KV cache."""
    rows = contexts(batch).tolist()
    mask = torch.full((batch,), CONTEXT // 2)
    config = GenerationConfig(out_seq_length=new_tokens, top_k=1)
    with torch.no_grad():
        start = time.perf_counter()
        cache = model.make_kv_cache(batch, CONTEXT + new_tokens)
        prefill(model, cache, rows, pad_id=0)
        middle = time.perf_counter()
        spans = generate_span(model, cache, torch.full((batch,), SOP), mask, config, ())
        end = time.perf_counter()
    assert all(len(s.ids) == new_tokens for s in spans)
    return middle - start, end - middle


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


def run_mems(model: GLMModel, batch: int, new_tokens: int) -> tuple[float, float]:
    """The same fill with mems-based decoding (greedy, positions as in GLM)."""
    tokens = contexts(batch)
    positions = torch.stack([torch.arange(CONTEXT), torch.zeros(CONTEXT, dtype=torch.long)])
    with torch.no_grad():
        start = time.perf_counter()
        t = model.transformer
        hidden = model.word_embeddings(tokens) + t.embed_positions(positions.expand(batch, 2, -1))
        mems = []
        for layer in t.layers:
            mems.append(hidden)
            hidden = layer(hidden, None)
        middle = time.perf_counter()
        token = torch.full((batch, 1), SOP)
        for _ in range(new_tokens):
            logits, mems = mems_step(model, mems, token, CONTEXT // 2)
            token = logits.argmax(-1, keepdim=True)
        end = time.perf_counter()
    return middle - start, end - middle


def worker(options) -> None:
    """Ours (or the mems scheme) in this fresh process: one warm-up fill, then timed fills."""
    torch.set_num_threads(options.threads)
    use_huge_pages()  # as generate_samples.py does before it builds the model
    if options.impl == "mems":  # GLM's scheme on the default weight layout, as GLM stores it
        model, fill = build_model(), run_mems
    else:
        model, fill = build_model().use_decoding_layout(), run_kv
    result = {"batches": {}}
    for batch in options.batch_sizes:
        fill(model, batch, NEW_TOKENS)  # warm-up
        runs = [fill(model, batch, NEW_TOKENS) for _ in range(options.reps)]
        result["batches"][str(batch)] = [{"prefill": p, "decode": d} for p, d in runs]
    result["peak_rss_self_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sbs.write_json(options.worker, result)


def _ours(batch: int, what: str):
    def get(run: sbs.Run) -> float:
        runs = run.data["batches"][str(batch)]
        if what == "prefill":
            return 1000 * sbs.median(r["prefill"] for r in runs)
        if what == "decode":
            return 1000 * sbs.median(r["decode"] for r in runs) / NEW_TOKENS
        return 1000 * sbs.median(r["prefill"] + r["decode"] for r in runs) / NEW_TOKENS

    return get


def metrics(batch: int) -> list[sbs.Metric]:
    original = batch == 1

    def ref(key: str, scale: float = 1.0):
        return (lambda run: scale * run.data["gen"]["mask128"][key]["median"]) if original else None

    rows = [
        sbs.Metric(
            f"batch {batch}: ms/new token, decode",
            "ms",
            _ours(batch, "decode"),
            ref("ms_per_new_token_decode"),
            "time",
        ),
        sbs.Metric(
            f"batch {batch}: ms/new token, incl. prefill",
            "ms",
            _ours(batch, "total"),
            ref("ms_per_new_token_total"),
            "time",
        ),
        sbs.Metric(
            f"batch {batch}: prefill (context pass)",
            "ms",
            _ours(batch, "prefill"),
            ref("prefill_seconds", 1000.0),
            "time",
        ),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1])
    parser.add_argument("--reps", type=int, default=3, help="timed fills per run (median)")
    parser.add_argument("--skip-original", action="store_true", help="measure ours alone")
    parser.add_argument(
        "--scheme-baseline",
        action="store_true",
        help="add GLM's mems-based decoding re-implemented here",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--impl", default="ours", choices=("ours", "mems"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        worker(options)
        return
    original = None if options.skip_original else sbs.locate_original()
    args = ["--threads", str(options.threads), "--reps", str(options.reps), "--batch-sizes"]
    args += [str(b) for b in options.batch_sizes]
    script = Path(__file__)

    def run_original(label: str, keep: bool) -> sbs.Run:
        gen = ["--gen-cases", "mask128"]
        return sbs.run_original(original, "gen", gen, options.reps, label, keep)

    def run_ours(first: sbs.Run | None) -> sbs.Run:
        return sbs.run_ours(script, args, options.threads, "ours")

    runs = sbs.side_by_side(original and run_original, run_ours)
    print(
        f"\ndecoding: 6 x 512, context {CONTEXT}, {NEW_TOKENS} new tokens, greedy, fp32, "
        f"{options.threads} threads; median of {options.reps} fills after 1 warm-up; "
        f"{sbs.describe_runs(list(runs))}"
    )
    rows = [m for b in options.batch_sizes for m in metrics(b)] + [sbs.peak_rss_metric()]
    sbs.print_table(sbs.TABLE_HEADER, sbs.comparison_table(rows, *runs))
    if options.scheme_baseline:
        mems = sbs.run_ours(script, [*args, "--impl", "mems"], options.threads, "mems scheme")
        cells = ", ".join(f"batch {b}: {_ours(b, 'decode')(mems):.1f}" for b in options.batch_sizes)
        print(
            f"GLM's mems scheme re-implemented here (its own process; the decoding scheme "
            f"alone): ms/new token decode {cells}; peak RSS {mems.peak_rss_mib:,.0f} MiB"
        )


if __name__ == "__main__":
    main()
