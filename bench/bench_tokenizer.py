"""GPT-2 encoding throughput of `GLMTokenizer` against the original GLM's, on one CPU core.

Usage: python bench/bench_tokenizer.py [--shared DIR] [--repeats N] [--skip-original]

In one invocation: the original GLM's `GPT2BPETokenizer.EncodeAsIds` (through the shared
reference tools, see bench/side_by_side.py), ours, the original again. Prints tokens/s (wall
clock, best of `--repeats`; the original's: median) per corpus for `encode` (one call per
document) and `encode_batch` (chunks of 1024 documents), cold (a freshly built tokenizer, first
pass, empty caches) and warm (second pass). Documents are paragraphs (blank-line separated), as
the original's bench splits them, or lines for a file without blank lines. The goal is >= 3x the
original cold.

The "python BPE" columns (insight, not the baseline) time GLM's scheme re-implemented here on the
same documents in the same process: the GPT-2 regex split, each word's bytes spelled as
characters, the lowest-ranked merge applied until none is left, and a per-word cache (cold: a
fresh cache). "ours cold / scheme cold", the median over repeats of pairs timed back to back, is
the steadier figure on a loaded machine.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

# One core: the Rust thread pool must be sized before `tokenizers` is first used.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench import side_by_side as sbs  # noqa: E402
from data_utils.tokenization import GLMTokenizer, TokenizerConfig, build_tokenizer  # noqa: E402
from data_utils.tokenization.backends import _BYTE_TO_CHAR, GPT2_SPLIT  # noqa: E402

BATCH = 1024
ORIGINAL_CORPORA = ("tinyshakespeare.txt", "moby_dick.txt")  # those the original's bench reads


def load_documents(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    docs = [d for d in text.split("\n\n") if d.strip()]
    return docs if len(docs) > 1 else [d for d in text.splitlines() if d.strip()]


class PythonBPE:
    """GLM's scheme of GPT-2 encoding in plain Python, the baseline of the speed goal."""

    def __init__(self, vocab_dir: Path) -> None:
        self.ids = json.loads((vocab_dir / "gpt2-vocab.json").read_text(encoding="utf-8"))
        lines = (vocab_dir / "gpt2-merges.txt").read_text(encoding="utf-8").splitlines()
        pairs = [tuple(line.split()) for line in lines if line and not line.startswith("#")]
        self.ranks = {pair: rank for rank, pair in enumerate(pairs)}
        self.cache: dict[str, list[str]] = {}

    def bpe(self, word: str) -> list[str]:
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        unranked = len(self.ranks)
        while len(parts) > 1:
            pairs = list(pairwise(parts))
            best = min(pairs, key=lambda pair: self.ranks.get(pair, unranked))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self.cache[word] = parts
        return parts

    def encode(self, text: str) -> list[int]:
        ids = []
        for word in GPT2_SPLIT.findall(text):
            spelled = "".join(_BYTE_TO_CHAR[b] for b in word.encode("utf-8"))
            ids.extend(self.ids[piece] for piece in self.bpe(spelled))
        return ids


def encode_each(tok: GLMTokenizer | PythonBPE, docs: list[str]) -> int:
    return sum(len(tok.encode(d)) for d in docs)


def encode_batched(tok: GLMTokenizer, docs: list[str]) -> int:
    return sum(
        len(ids)
        for k in range(0, len(docs), BATCH)
        for ids in tok.encode_batch(docs[k : k + BATCH])
    )


def timed(
    fn: Callable[[GLMTokenizer, list[str]], int], tok: GLMTokenizer | PythonBPE, docs: list[str]
) -> tuple[int, float]:
    start = time.perf_counter()  # wall clock, as the original's bench; best of repeats
    n = fn(tok, docs)
    return n, time.perf_counter() - start


def bench_corpus(cfg: TokenizerConfig, docs: list[str], repeats: int) -> dict[str, float]:
    """Best-of-`repeats` tokens/s per (encoder, cold/warm) and the median paired cold ratio.

    Each repeat times ours and the baseline back to back, so a pair shares the machine's state.
    """
    baseline = PythonBPE(Path(str(cfg.tokenizer_path)))
    ours = build_tokenizer(cfg)
    if [baseline.encode(d) for d in docs] != [ours.encode(d) for d in docs]:
        raise SystemExit("the baseline encoder disagrees with GLMTokenizer: fix it before timing")
    rates: dict[str, float] = {}
    ratios: list[float] = []
    runs: list[tuple[str, Callable[[], GLMTokenizer | PythonBPE], Callable]] = [
        ("encode", lambda: build_tokenizer(cfg), encode_each),
        ("encode_batch", lambda: build_tokenizer(cfg), encode_batched),
        ("python BPE", lambda: PythonBPE(Path(str(cfg.tokenizer_path))), encode_each),
    ]
    for _ in range(repeats):
        cold_this_repeat = {}
        for name, build, fn in runs:
            tok = build()
            n, seconds = timed(fn, tok, docs)
            cold_this_repeat[name] = n / seconds
            n, seconds = timed(fn, tok, docs)
            rates[f"{name} warm"] = max(rates.get(f"{name} warm", 0.0), n / seconds)
            rates[f"{name} cold"] = max(rates.get(f"{name} cold", 0.0), cold_this_repeat[name])
        ratios.append(cold_this_repeat["encode"] / cold_this_repeat["python BPE"])
    rates["tokens"] = float(n)
    rates["cold ratio"] = statistics.median(ratios)
    return rates


def original_rate(corpus: str, cache: str):
    """The original's GPT-2 tokens/s on one corpus split into paragraphs, as ours is."""

    def get(run: sbs.Run) -> float:
        for r in run.data["tok"]["results"]:
            key = (r["tokenizer"], r["corpus"], r["granularity"], r["bpe_cache"])
            if key == ("GPT2BPETokenizer", corpus, "paragraphs", cache):
                return r["tokens_per_s"]["median"]
        raise KeyError(corpus)

    return get


def metrics(corpora: list[str]) -> list[sbs.Metric]:
    rows = []
    for corpus in corpora:
        for column in ("encode cold", "encode warm", "encode_batch cold", "encode_batch warm"):
            cache = column.split()[1]
            rows.append(
                sbs.Metric(
                    f"{corpus} {column}",
                    "tok/s",
                    lambda run, corpus=corpus, column=column: run.data[corpus][column],
                    original_rate(corpus, cache),
                )
            )
    return rows


def run_ours(cfg: TokenizerConfig, paths: list[Path], repeats: int) -> sbs.Run:
    """Ours in this process (pinned to one core), with the same-process scheme baseline."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    start, results = time.perf_counter(), {}
    for path in paths:
        docs = load_documents(path)
        results[path.name] = dict(bench_corpus(cfg, docs, repeats), docs=len(docs))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return sbs.Run("ours", results, peak, time.perf_counter() - start)


def print_ours(run: sbs.Run, repeats: int) -> None:
    columns = (
        "encode cold",
        "encode warm",
        "encode_batch cold",
        "encode_batch warm",
        "python BPE cold",
        "python BPE warm",
    )
    print(
        f"\nours and GLM's scheme re-implemented here (same process, back to back), tokens/s, "
        f"1 core, best of {repeats}; cold ratio: median of paired runs"
    )
    header = [
        "corpus",
        "docs",
        "tokens",
        *columns,
        "ours cold / scheme cold",
    ]
    rows = []
    for corpus, rates in run.data.items():
        cells = [f"{rates[c] / 1e3:.0f}k" for c in columns]
        rows.append(
            [corpus, str(rates["docs"]), str(int(rates["tokens"])), *cells]
            + [f"{rates['cold ratio']:.2f}x"]
        )
    sbs.print_table(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_shared = os.environ.get("GLM_SHARED", str(REPO_ROOT.parent / "shared"))
    parser.add_argument("--shared", default=default_shared, help="the shared data folder")
    parser.add_argument("--repeats", type=int, default=5, help="best of N runs")
    parser.add_argument("--skip-original", action="store_true", help="measure ours alone")
    args = parser.parse_args()
    os.environ["GLM_SHARED"] = args.shared
    original = None if args.skip_original else sbs.locate_original()
    shared = Path(args.shared)
    cfg = TokenizerConfig(
        tokenizer_type="GPT2BPETokenizer", tokenizer_path=str(shared / "vocab"), task_mask=True
    )
    paths = sorted((shared / "corpora").glob("*.txt"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"GPT-2 encoding, 1 core, wall clock; load average before the runs: {load}")

    def run_original(label: str, keep: bool) -> sbs.Run:
        extra = ["--tok-corpora", *ORIGINAL_CORPORA, "--tok-granularity", "paragraphs"]
        return sbs.run_original(original, "tok", extra, args.repeats, label, keep)

    first, mine, second = sbs.side_by_side(
        run_original if original else None, lambda _: run_ours(cfg, paths, args.repeats)
    )
    print_ours(mine, args.repeats)
    print(
        "\nagainst the original GLM (its GPT2BPETokenizer.EncodeAsIds per paragraph, median of "
        f"{args.repeats}; ours best of {args.repeats}): {sbs.describe_runs([first, mine, second])}"
    )
    if original is None:
        print("original not run: --skip-original")
    names = [p.name for p in paths if p.name in ORIGINAL_CORPORA]  # the rest: above, ours alone
    sbs.print_table(sbs.TABLE_HEADER, sbs.comparison_table(metrics(names), first, mine, second))


if __name__ == "__main__":
    main()
