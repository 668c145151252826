"""Peak memory of the checkpoint tools on real-size checkpoints, ours beside the original GLM's.

    python bench/bench_checkpoint_memory.py WORK                  # GLM-Large shape, fp16
    python bench/bench_checkpoint_memory.py WORK --shape 2b       # GLM-2B shape (4 GB)
    python bench/bench_checkpoint_memory.py WORK --skip-original --tools gen

Writes a synthetic checkpoint in GLM's layout (``{'module': ..., 'iteration': 0}`` under a
``release`` tag, fp16, random weights) into WORK, then runs each tool in its own fresh process
and reads that process's peak RSS from ``os.wait4``: our ``change_mp.py`` 1 -> 4 and 4 -> 1,
``generate_samples.py --load-pretrained --bf16`` (one new token: its wall time is the time to
the first token, start-up included), the Hugging Face export and import, and the original's
``change_mp.py`` on the same files. The original runs from a ``git archive`` extraction of the
repository named by $GLM_REF_GIT, with $REFHARNESS_VENV's python (see the set-up in
``$GLM_SHARED/tools/reference/README.md``); nothing of it is kept.

Outputs are checked: our MP-4 shards equal the original's tensor by tensor, 4 -> 1 and export ->
import give back the input bit for bit, and the generation loader's weights equal the file's
cast to bf16 (what reading it whole and casting gave).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

MIB = 1 << 20
SHAPES = {
    "large": "--num-layers 24 --hidden-size 1024 --num-attention-heads 16 "
    "--max-position-embeddings 512 --block-lm --tokenizer-type BertWordPieceTokenizer "
    "--tokenizer-model-type bert-large-uncased",
    "2b": "--num-layers 36 --hidden-size 2048 --num-attention-heads 32 "
    "--max-position-embeddings 1024 --block-lm --task-mask --tokenizer-type GPT2BPETokenizer",
}
HF_NAMES = {"large": "glm-large", "2b": "glm-2b"}
TOOLS = ("torch", "mp14", "mp41", "gen", "export", "import")
SHARD = "mp_rank_{:02d}_model_states.pt"


@dataclass
class Run:
    peak_mib: float
    seconds: float


# Spawns the tool and prints its peak RSS in KiB. A child started by fork/vfork inherits, at
# exec, the peak of the process it was started from (Linux counts the old memory map's high
# water mark): started from this bench, which holds torch and loaded tensors, every tool would
# look at least as large as the bench. This starter imports nothing large.
STARTER = """
import os, subprocess, sys
with open(sys.argv[1], "w") as log:
    pid = subprocess.Popen(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT).pid
    _, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def measure(command: list[str], log: Path, cwd: Path = REPO) -> Run:
    """Run ``command`` in a fresh process: its own peak RSS and wall time."""
    start = time.perf_counter()
    starter = [sys.executable, "-c", STARTER, str(log), *command]
    result = subprocess.run(starter, cwd=cwd, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    code, peak_kib = map(int, result.stdout.split())
    if code:
        raise SystemExit(f"{' '.join(command)} failed (exit {code}); see {log}")
    return Run(peak_kib / 1024, seconds)


def model_flags(shape: str, vocab: str) -> list[str]:
    return [*SHAPES[shape].split(), "--tokenizer-path", vocab]


def write_checkpoint(folder: Path, shape: str, vocab: str) -> int:
    """A random fp16 checkpoint of ``shape`` in GLM's layout; returns its parameter count.
    The shapes come from our model built on the meta device with the padded vocabulary, whose
    padding rows are zero, as in a trained GLM (random ones could be decoded: not a token)."""
    from checkpoint_io.inference import build_empty_model
    from data_utils.tokenization import build_tokenizer
    from training.arguments import parse_args

    args = parse_args(model_flags(shape, vocab))
    tokenizer = build_tokenizer(args.tokenizer_config())
    model = build_empty_model(args.model_config(tokenizer.vocab_size))
    generator = torch.Generator().manual_seed(0)
    module = {}
    for key, meta in model.state_dict().items():
        tensor = torch.empty(meta.shape, dtype=torch.float16)
        if key.endswith("layernorm.weight"):
            tensor.fill_(1.0)
        elif key.endswith("bias"):
            tensor.zero_()
        else:
            for row in tensor.view(-1, meta.shape[-1]).split(1024):  # bounded fp32 temporaries
                row.copy_(torch.randn(row.shape, generator=generator) * 0.02)
        if key == "word_embeddings.weight":
            tensor[tokenizer.num_tokens :] = 0  # padding rows: greedy decoding never picks them
        module[key] = tensor
    (folder / "release").mkdir(parents=True, exist_ok=True)
    (folder / "latest_checkpointed_iteration.txt").write_text("release")
    torch.save({"module": module, "iteration": 0}, folder / "release" / SHARD.format(0))
    return sum(t.numel() for t in module.values())


def extract_original(work: Path) -> tuple[str, Path]:
    """The original's python and a folder holding its ``change_mp.py``, or a one-line exit."""
    ref_git = os.environ.get("GLM_REF_GIT")
    python = Path(os.environ.get("REFHARNESS_VENV", "/tmp/refharness/venv")) / "bin/python"
    if not ref_git or not python.exists():
        raise SystemExit(
            "the original needs GLM_REF_GIT (a git copy of github.com/THUDM/GLM) and "
            "$REFHARNESS_VENV (default /tmp/refharness/venv): see the set-up in "
            "$GLM_SHARED/tools/reference/README.md, or pass --skip-original"
        )
    folder = Path(tempfile.mkdtemp(prefix="glm-original-", dir=work))
    archive = subprocess.run(
        ["git", "--git-dir", ref_git, "archive", "HEAD", "change_mp.py"],
        capture_output=True,
        check=True,
    ).stdout
    with tempfile.TemporaryFile() as handle:
        handle.write(archive)
        handle.seek(0)
        with tarfile.open(fileobj=handle) as files:
            files.extractall(folder, filter="data")
    return str(python), folder


def modules_equal(left: Path, right: Path) -> bool:
    """Two shards hold the same tensors, bit for bit (read mapped, one tensor at a time)."""
    a = torch.load(left, mmap=True, weights_only=True)["module"]
    b = torch.load(right, mmap=True, weights_only=True)["module"]
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a
    )


def shards_equal(left: Path, right: Path, count: int) -> bool:
    """The folders ``left`` and ``right`` hold ``count`` equal shards."""
    return all(modules_equal(left / SHARD.format(r), right / SHARD.format(r)) for r in range(count))


def generation_weights_exact(checkpoint: Path, shape: str, vocab: str) -> bool:
    """The generation loader's bf16 weights equal the file's tensors cast to bf16."""
    from checkpoint_io.inference import load_inference_model
    from data_utils.tokenization import build_tokenizer
    from training.arguments import parse_args

    args = parse_args(model_flags(shape, vocab))
    tokenizer = build_tokenizer(args.tokenizer_config())
    config = args.model_config(tokenizer.vocab_size, parallel_output=False)
    model = load_inference_model(config, checkpoint, torch.device("cpu"), torch.bfloat16, True)
    saved = torch.load(checkpoint / "release" / SHARD.format(0), mmap=True, weights_only=True)[
        "module"
    ]
    state = model.state_dict()
    return state.keys() == saved.keys() and all(
        torch.equal(state[k], saved[k].to(torch.bfloat16)) for k in saved
    )


@dataclass
class Row:
    tool: str
    ours: Run
    original: Run | None
    reference: str  # what the peak is compared with
    reference_bytes: int


class Bench:
    """Runs the tools on one checkpoint in ``work``, ours and (if given) the original's."""

    def __init__(self, work: Path, shape: str, vocab: str, original: tuple[str, Path] | None):
        self.work, self.shape, self.vocab, self.original = work, shape, vocab, original
        self.checkpoint = work / shape
        self.rows: list[Row] = []
        self.checks: dict[str, bool] = {}
        self.file_bytes = (self.checkpoint / "release" / SHARD.format(0)).stat().st_size

    def ours(self, name: str, *arguments: str | Path) -> Run:
        command = [sys.executable, *map(str, arguments)]
        return measure(command, self.work / f"{name}.log")

    def theirs(self, name: str, *arguments: str | Path) -> Run | None:
        if self.original is None:
            return None
        python, folder = self.original
        command = [python, *map(str, arguments)]
        return measure(command, self.work / f"{name}-original.log", cwd=folder)

    def fresh(self, *names: str) -> list[Path]:
        paths = [self.work / name for name in names]
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
        return paths

    def run_torch(self) -> None:
        script = ("-c", "import torch")
        ours, theirs = self.ours("torch", *script), self.theirs("torch", *script)
        self.rows.append(Row("python + import torch", ours, theirs, "-", 0))

    def run_mp14(self) -> None:
        # The original reads a folder of shards (it cannot parse a ``release`` tag) and writes
        # ``<folder>_MP<n>`` beside it.
        ours_out, theirs_out = self.fresh("ours_mp4", f"{self.shape}/release_MP4")
        ours = self.ours("mp14", "change_mp.py", self.checkpoint, 4, "--out", ours_out)
        theirs = self.theirs("mp14", "change_mp.py", self.checkpoint / "release", 4)
        self.rows.append(Row("change_mp 1 -> 4", ours, theirs, "checkpoint", self.file_bytes))
        if theirs is not None:
            self.checks["MP 4 shards equal the original's"] = shards_equal(
                ours_out / "release", theirs_out, 4
            )

    def run_mp41(self) -> None:
        ours_in, theirs_in = self.work / "ours_mp4", self.checkpoint / "release_MP4"
        (ours_out,) = self.fresh("ours_mp1")
        if not ours_in.exists() or (self.original and not theirs_in.exists()):
            self.run_mp14()
        ours = self.ours("mp41", "change_mp.py", ours_in, 1, "--out", ours_out)
        theirs = None
        if self.original is not None:
            self.fresh(f"{self.shape}/release_MP4_MP1")
            theirs = self.theirs("mp41", "change_mp.py", theirs_in, 1)
        self.rows.append(Row("change_mp 4 -> 1", ours, theirs, "checkpoint", self.file_bytes))
        self.checks["1 -> 4 -> 1 gives the input back"] = shards_equal(
            ours_out / "release", self.checkpoint / "release", 1
        )

    def run_gen(self) -> None:
        prompt = self.work / "prompt.txt"
        prompt.write_text("The capital of France is [MASK] .\n")
        flags = [*model_flags(self.shape, self.vocab), "--load-pretrained", self.checkpoint]
        flags += ["--bf16", "--top-k", "1", "--out-seq-length", "1", "--input-file", prompt]
        flags += ["--output-file", self.work / "fills.jsonl"]
        ours = self.ours("gen", "generate_samples.py", *flags)
        weights = self.file_bytes // 2 * 2  # fp16 file: as many bytes as the bf16 weights
        self.rows.append(Row("generate --bf16 (1 token)", ours, None, "bf16 weights", weights))
        self.checks["generation weights = file cast to bf16"] = generation_weights_exact(
            self.checkpoint, self.shape, self.vocab
        )

    def run_export(self) -> None:
        (hf,) = self.fresh("hf")
        script = "scripts/convert_glm_checkpoint_to_transformers.py"
        name = HF_NAMES[self.shape]
        arguments = (script, self.checkpoint, name, "--tokenizer-path", self.vocab, "--out", hf)
        ours = self.ours("export", *arguments)
        self.rows.append(Row("HF export", ours, None, "checkpoint", self.file_bytes))

    def run_import(self) -> None:
        hf, (imported,) = self.work / "hf", self.fresh("imported")
        if not hf.exists():
            self.run_export()
        ours = self.ours("import", "scripts/convert_transformers_to_glm.py", hf, "--out", imported)
        self.rows.append(Row("HF import", ours, None, "checkpoint", self.file_bytes))
        self.checks["export -> import gives the input back"] = shards_equal(
            imported / "release", self.checkpoint / "release", 1
        )


def print_table(rows: list[Row], checks: dict[str, bool]) -> None:
    print(
        f"{'tool':28}{'ours MiB':>10}{'orig MiB':>10}{'ratio':>7}{'vs':>14}{'MiB':>8}"
        f"{'ratio':>7}{'ours s':>8}{'orig s':>8}"
    )
    for row in rows:
        theirs = row.original
        ratio = f"{row.ours.peak_mib / theirs.peak_mib:.2f}" if theirs else "-"
        size = row.reference_bytes / MIB
        to_size = f"{row.ours.peak_mib / size:.2f}" if size else "-"
        print(
            f"{row.tool:28}{row.ours.peak_mib:10.0f}"
            f"{theirs.peak_mib if theirs else float('nan'):10.0f}{ratio:>7}"
            f"{row.reference:>14}{size:8.0f}{to_size:>7}{row.ours.seconds:8.1f}"
            f"{theirs.seconds if theirs else float('nan'):8.1f}"
        )
    for check, passed in checks.items():
        print(f"check: {check}: {'yes' if passed else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="folder for the checkpoints and outputs")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="large")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--skip-original", action="store_true")
    parser.add_argument("--vocab", default=os.path.join(os.environ.get("GLM_SHARED", ""), "vocab"))
    options = parser.parse_args()
    options.work.mkdir(parents=True, exist_ok=True)
    checkpoint = options.work / options.shape
    if not (checkpoint / "release" / SHARD.format(0)).exists():
        count = write_checkpoint(checkpoint, options.shape, options.vocab)
        print(f"wrote {checkpoint}: {count:,} parameters")
    original = None if options.skip_original else extract_original(options.work)
    bench = Bench(options.work, options.shape, options.vocab, original)
    try:
        for tool in options.tools:
            getattr(bench, f"run_{tool}")()
    finally:
        if original is not None:
            shutil.rmtree(original[1], ignore_errors=True)
    print_table(bench.rows, bench.checks)


if __name__ == "__main__":
    main()
