"""The README's main job: pretrain a tiny GLM on CPU from offline text, then fill blanks with it.

    python scripts/demo.py                       # the standard library's documentation
    python scripts/demo.py --corpus my_text.txt  # your own text (.txt, .jsonl, folders, globs)

Steps, each a command you can run yourself (they are printed): build a corpus, train a byte-level
BPE tokenizer with GLM's command tokens, preprocess into a token store, pretrain
config/ds_block_tiny_cpu.sh with a progress bar, and fill [MASK] / [sMASK] / [gMASK] blanks.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_utils.corpora import (  # noqa: E402
    Document,  # noqa: E402
    ReaderConfig,
    iter_units,
    parse_unit,
    resolve_inputs,
)

PROMPTS = {
    "stdlib": [
        "The [MASK] statement is used to leave a loop early.",
        "Return a new list containing all [MASK] from the iterable in ascending order.",
        "An exception is raised with the [MASK] statement.",
        "Open the file and return a [MASK] object.",
        "This module provides [gMASK]",
    ],
    "custom": ["The [MASK] is here.", "It was a [MASK] day.", "[gMASK]"],
}

# Greedy decoding suits a small model's short blank fills; forbidding any repeated bigram stops
# the [gMASK] continuation from looping on one token (a tiny model's usual failure).
DECODING = ["--top-k", "1", "--no-repeat-ngram-size", "2", "--out-seq-length", "24"]


def step(title: str, command: list[str], env: dict | None = None) -> None:
    print(f"\n== {title}\n$ {' '.join(command)}", flush=True)
    result = subprocess.run(command, cwd=REPO, env={**os.environ, **(env or {})})
    if result.returncode:
        print(f"demo: step '{title}' failed with exit code {result.returncode}", file=sys.stderr)
        sys.exit(result.returncode)


def plain_text(inputs: list[str], output: Path) -> None:
    """The documents of ``inputs`` as plain text, for tokenizer training."""
    with open(output, "w") as handle:
        for path, reader in resolve_inputs(inputs, ReaderConfig()):
            for unit in iter_units(path, reader):
                for _, item in parse_unit(unit):
                    if isinstance(item, Document):
                        handle.write(item.text + "\n\n")


def newest_run(save_dir: Path) -> Path:
    runs = [p for p in save_dir.iterdir() if (p / "latest_checkpointed_iteration.txt").is_file()]
    return max(runs, key=lambda p: p.stat().st_mtime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", nargs="+", help="your text instead of the stdlib docs")
    parser.add_argument("--work-dir", default="work_dirs/demo")
    parser.add_argument("--train-iters", type=int, default=5000)
    parser.add_argument("--vocab-size", type=int, default=8000)
    options = parser.parse_args()
    work = (REPO / options.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    corpus = options.corpus
    if corpus is None:
        corpus = [str(work / "corpus.jsonl")]
        step(
            "corpus: the Python standard library's documentation",
            [python, "scripts/build_stdlib_corpus.py", "--output", corpus[0]],
        )
    corpus = [str(Path(c).resolve()) for c in corpus]
    plain_text(corpus, work / "tokenizer-text.txt")
    step(
        "tokenizer: byte-level BPE with GLM's command tokens",
        [
            python,
            "scripts/train_tokenizer.py",
            "--input",
            str(work / "tokenizer-text.txt"),
            "--vocab-size",
            str(options.vocab_size),
            "--out",
            str(work / "tokenizer"),
        ],
    )
    step(
        "preprocess: a memory-mapped token store",
        [
            python,
            "scripts/preprocess_data.py",
            "--input",
            *corpus,
            "--output",
            str(work / "store"),
            "--tokenizer-type",
            "ByteBPETokenizer",
            "--tokenizer-path",
            str(work / "tokenizer"),
            "--workers",
            "2",
            "--overwrite",
            "--sentence-splitter",
            "tokens",
        ],
    )
    env = {
        "GLM_TRAIN_DATA": str(work / "store"),
        "GLM_TOKENIZER_PATH": str(work / "tokenizer"),
        "SAVE_PATH": str(work / "checkpoints"),
        "TRAIN_ITERS": str(options.train_iters),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    step(
        "pretrain: a tiny GLM on the CPU",
        ["bash", "scripts/pretrain_cpu.sh", "config/ds_block_tiny_cpu.sh"],
        env,
    )
    run = newest_run(work / "checkpoints")
    plot(run, work / "training_curves.png")
    fill(work, run, options.corpus is None, env)


def plot(run: Path, out: Path) -> None:
    """Draw the run's training curves beside the demo's other outputs and print where."""
    step("curves: training and validation losses", plot_command(run, out))


def plot_command(run: Path, out: Path) -> list[str]:
    return [sys.executable, "scripts/plot_metrics.py", str(run), "--out", str(out)]


def fill(work: Path, run: Path, stdlib: bool, env: dict) -> None:
    prompts = PROMPTS["stdlib" if stdlib else "custom"]
    (work / "prompts.txt").write_text("\n".join(prompts) + "\n")
    options = subprocess.run(
        ["bash", "-c", 'source config/ds_block_tiny_cpu.sh; echo "$gpt_options"'],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    step(
        "fill blanks: greedy decoding with the KV cache, no repeated bigram",
        [
            sys.executable,
            "generate_samples.py",
            *options,
            "--load-pretrained",
            str(run),
            "--input-file",
            str(work / "prompts.txt"),
            "--output-file",
            str(work / "fills.jsonl"),
            *DECODING,
        ],
        env,
    )
    print("\n== blank fills")
    for line in (work / "fills.jsonl").read_text().splitlines():
        record = json.loads(line)
        print(f"  {record['context']}")
        if "error" in record:
            print(f"    error: {record['error']}")
        else:
            print("    fills: " + " | ".join(repr(fill.strip()) for fill in record["fills"]))


if __name__ == "__main__":
    main()
