"""Exact resume through pretrain_glm.py: a run killed with SIGKILL at a random moment after a
checkpoint (or while writing one) and restarted with --load ends with the uninterrupted run's
weights, optimizer state, schedule and RNG state, bit for bit, dropout on, with the real data
loader. One case per row of the matrix CI runs (workers, ZeRO stage, precision, TP size).

Why it holds: the data loaders draw their workers' seeds from a generator of their own, so
building them after the RNG state is restored shifts no dropout mask; the validation stream
resumes after the batches earlier evaluations read.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
ITERS, KILL_AFTER = 12, "8"
FLAGS = ["--block-lm", "--task-mask", "--bert-prob", "0.5", "--gap-sentence-prob", "0.3",
         "--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4",
         "--seq-length", "64", "--max-position-embeddings", "64", "--batch-size", "4",
         "--tokenizer-type", "GPT2BPETokenizer", "--split", "9,1,0", "--lr", "1e-3",
         "--train-iters", str(ITERS), "--save-interval", "4", "--eval-interval", "4",
         "--eval-iters", "1", "--log-interval", "1", "--experiment-name", "run"]  # fmt: skip
CASES = {
    "workers2-zero0-fp32": (1, ["--num-workers", "2"]),
    "workers1-zero2-bf16": (1, ["--num-workers", "1", "--zero-stage", "2", "--bf16"]),
    "workers0-zero3-fp32": (1, ["--num-workers", "0", "--zero-stage", "3"]),
    "workers1-zero0-fp32-tp2": (2, ["--num-workers", "1", "--model-parallel-size", "2"]),
    "workers1-zero3-bf16-dp2": (2, ["--num-workers", "1", "--zero-stage", "3", "--bf16"]),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory, shared_dir):
    work = tmp_path_factory.mktemp("resume")
    (work / "corpus.txt").write_text((shared_dir / "corpora/moby_dick.txt").read_text()[:60_000])
    subprocess.run(
        [sys.executable, str(REPO / "scripts/preprocess_data.py"), "--input",
         str(work / "corpus.txt"), "--output", str(work / "store"), "--tokenizer-type",
         "GPT2BPETokenizer", "--tokenizer-path", str(shared_dir / "vocab"), "--workers", "1",
         "--no-progress"],
        check=True, capture_output=True,
        env={**os.environ, "NLTK_DATA": str(shared_dir / "nltk_data")},
    )  # fmt: skip
    return work / "store"


def _launch(store, vocab, save, procs, extra, env_extra=None) -> subprocess.Popen:
    script = [str(REPO / "pretrain_glm.py")]
    if procs > 1:
        port = random.randint(20000, 60000)
        script = ["-m", "torch.distributed.run", "--nproc-per-node", str(procs),
                  "--master-port", str(port), *script]  # fmt: skip
    argv = [*FLAGS, "--train-data", str(store), "--tokenizer-path", str(vocab), "--save", str(save)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, *script, *argv, *extra], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )  # fmt: skip


def _finish(process: subprocess.Popen) -> None:
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]


def _tracker(save: Path) -> str | None:
    found = list(save.glob("*/latest_checkpointed_iteration.txt"))
    return found[0].read_text() if found else None


def _kill_when(process: subprocess.Popen, ready, delay: float) -> None:
    deadline = time.monotonic() + 300
    while not ready():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the run never reached the kill point"
        time.sleep(0.02)
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _tensors(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of every .pt file in a tag folder (model, optimizer, RNG states)."""

    def flat(value, prefix):
        if torch.is_tensor(value):
            yield prefix, value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from flat(item, f"{prefix}/{key}")
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                yield from flat(item, f"{prefix}/{index}")

    out = {}
    for path in sorted(folder.glob("*.pt")):
        out |= dict(flat(torch.load(path, weights_only=False, map_location="cpu"), path.name))
    return out


def _assert_same_end(reference: Path, resumed: Path) -> None:
    (ref_run,), (res_run,) = reference.iterdir(), resumed.iterdir()
    expected, got = _tensors(ref_run / str(ITERS)), _tensors(res_run / str(ITERS))
    assert expected.keys() == got.keys() and len(expected) > 20
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, different[:5]
    # the log reads as the uninterrupted run's: every step once, the same losses
    assert _losses(res_run / "metrics.jsonl") == _losses(ref_run / "metrics.jsonl")


TIMING = ("train/tokens_per_sec", "train/step_time", "train/mfu")


def _losses(path: Path) -> list[dict]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


@pytest.fixture(scope="module")
def straight(store, vocab_dir, tmp_path_factory):
    """The uninterrupted run of a case (run once per module)."""
    runs = {}

    def run(case: str) -> Path:
        if case not in runs:
            runs[case] = tmp_path_factory.mktemp("straight")
            _finish(_launch(store, vocab_dir, runs[case], *CASES[case]))
        return runs[case]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_killed_pretraining_resumes_bit_for_bit(case, store, straight, tmp_path, vocab_dir):
    procs, extra = CASES[case]
    killed = _launch(store, vocab_dir, tmp_path / "killed", procs, extra)
    delay = random.Random(case).uniform(0.0, 0.6)  # some steps after checkpoint 8, or none
    _kill_when(killed, lambda: _tracker(tmp_path / "killed") == KILL_AFTER, delay)
    (run,) = (tmp_path / "killed").iterdir()
    _finish(_launch(store, vocab_dir, tmp_path / "killed", procs, [*extra, "--load", str(run)]))
    _assert_same_end(straight(case), tmp_path / "killed")


SLOW_SAVE = """
import time, torch
_save = torch.save
def _slow(obj, f, *args, **kwargs):
    if ".incomplete/8" in str(f):
        time.sleep(30)
    return _save(obj, f, *args, **kwargs)
torch.save = _slow
"""


@pytest.mark.slow
def test_a_kill_while_saving_keeps_the_previous_checkpoint(store, straight, tmp_path, vocab_dir):
    """SIGKILL while checkpoint 8 is being written: the run still points at 4, nothing named
    8 looks finished, and --load continues from 4 to the uninterrupted run's end."""
    case = "workers2-zero0-fp32"
    extra = CASES[case][1]
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_SAVE)
    pythonpath = os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])
    killed = _launch(store, vocab_dir, tmp_path / "killed", 1, extra, {"PYTHONPATH": pythonpath})
    _kill_when(killed, lambda: any((tmp_path / "killed").glob("*/.incomplete/8/*")), 0.5)
    (run,) = (tmp_path / "killed").iterdir()
    assert _tracker(tmp_path / "killed") == "4" and not (run / "8").exists()
    _finish(_launch(store, vocab_dir, tmp_path / "killed", 1, [*extra, "--load", str(run)]))
    _assert_same_end(straight(case), tmp_path / "killed")


FINETUNE = ["--block-lm", "--num-layers", "2", "--hidden-size", "64",
            "--num-attention-heads", "4",
            "--max-position-embeddings", "256", "--tokenizer-type", "GPT2BPETokenizer",
            "--task-mask", "--log-interval", "1", "--epochs", "3", "--save-epoch", "1",
            "--lr", "1e-3", "--experiment-name", "run",
            "--seed", "7"]  # fmt: skip


def _copa(shared_dir: Path, folder: Path) -> list[str]:
    folder.mkdir()
    source = shared_dir / "eval/superglue/COPA"
    lines = (source / "train.jsonl").read_text().splitlines(keepends=True)
    (folder / "train.jsonl").write_text("".join(lines[:16]))
    (folder / "dev32.jsonl").write_text((source / "dev32.jsonl").read_text())
    return ["--task", "COPA", "--cloze-eval", "--few-superglue", "--seq-length", "64",
            "--data-dir", str(folder), "--batch-size", "4", "--num-workers", "2", "--bf16",
            "--zero-stage", "2"]  # fmt: skip


def _cnndm(shared_dir: Path, folder: Path) -> list[str]:
    from tests.test_seq2seq_decode import cnndm_folder

    folder.mkdir()
    cnndm_folder(shared_dir, folder, rows=6)
    for split in ("train", "val"):
        for ext in ("source", "target"):
            (folder / f"{split}.{ext}").write_text((folder / f"test.{ext}").read_text())
    return ["--task", "cnn_dm", "--data-dir", str(folder), "--src-seq-length", "64",
            "--tgt-seq-length", "4", "--seq-length", "128", "--batch-size", "2",
            "--eval-batch-size", "6", "--label-smoothing", "0.1", "--num-workers", "1",
            "--no-validation"]  # fmt: skip


def _finetune(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(REPO / "finetune_glm.py"), *argv], stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("task", ["copa-workers2-zero2-bf16", "cnndm-workers1-zero0-fp32"])
def test_killed_finetuning_resumes_bit_for_bit(task, tmp_path, shared_dir, reference_dir):
    task_flags = (_copa if task.startswith("copa") else _cnndm)(shared_dir, tmp_path / "data")
    checkpoint = reference_dir / "checkpoints/glm-tiny-gpt2"

    def argv(name: str, *extra: str) -> list[str]:
        return [*FINETUNE, *task_flags, "--tokenizer-path", str(shared_dir / "vocab"),
                "--load-pretrained", str(checkpoint), "--save", str(tmp_path / name),
                "--summary-dir", str(tmp_path / name), *extra]  # fmt: skip

    _finish(_finetune(argv("straight")))
    killed = _finetune(argv("killed"))
    delay = random.Random(task).uniform(0.0, 1.0)
    _kill_when(killed, lambda: _tracker(tmp_path / "killed") is not None, delay)  # epoch 1
    _finish(_finetune(argv("killed", "--load", str(tmp_path / "killed" / "run"))))
    final = _tracker(tmp_path / "straight")
    assert _tracker(tmp_path / "killed") == final
    expected = _tensors(tmp_path / "straight/run" / final)
    got = _tensors(tmp_path / "killed/run" / final)
    assert expected.keys() == got.keys() and len(expected) > 20
    assert not [k for k in expected if not torch.equal(expected[k], got[k])]
    for name in ("results.json", "test_results.json"):  # dev results and the final test
        ours = tmp_path / "killed/runs/run" / name
        assert (
            not ours.exists()
            or ours.read_text() == (tmp_path / "straight/runs/run" / name).read_text()
        )


def _first_batch_loss(store: Path, vocab: Path, checkpoint: Path) -> float:
    """The loss of the released weights on pretraining's first batch, computed here."""
    import pretrain_glm
    from tests.reference import load_tiny_model
    from training.arguments import parse_args
    from training.loop import TrainState, lm_forward_step, model_parallel_batches

    argv = [*FLAGS, "--train-data", str(store), "--tokenizer-path", str(vocab),
            "--max-position-embeddings", "256", "--hidden-dropout", "0",
            "--attention-dropout", "0", "--num-workers", "0"]  # fmt: skip
    args = parse_args(argv)
    from data_utils.tokenization import build_tokenizer

    tokenizer = build_tokenizer(args.tokenizer_config())
    train, _ = pretrain_glm.build_loaders(args, tokenizer, TrainState())
    batch = next(model_parallel_batches(train, torch.device("cpu")))
    model = load_tiny_model(checkpoint.parents[1], "gpt2", checkpoint.name)
    with torch.no_grad():
        return float(lm_forward_step(batch, model)[0])


@pytest.mark.slow
def test_pretraining_starts_from_released_weights(store, tmp_path, vocab_dir, reference_dir):
    """--load-pretrained: step 1's loss is the released model's loss on that batch (MP 1 with
    ZeRO-3, and the MP=2 checkpoint at TP 2), at iteration 0 with a new optimizer."""
    import mpu

    checkpoint = reference_dir / "checkpoints/glm-tiny-gpt2"
    expected = _first_batch_loss(store, vocab_dir, checkpoint)
    mpu.destroy_model_parallel()
    common = ["--max-position-embeddings", "256", "--hidden-dropout", "0",
              "--attention-dropout", "0", "--num-workers", "0", "--train-iters", "1"]  # fmt: skip
    for name, procs, extra in (
        ("mp1", 1, ["--zero-stage", "3", "--load-pretrained", str(checkpoint)]),
        ("mp2", 2, ["--model-parallel-size", "2", "--load-pretrained", f"{checkpoint}_MP2"]),
    ):
        process = _launch(store, vocab_dir, tmp_path / name, procs, [*common, *extra])
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        assert "starting from the weights of" in err and "iteration 0" in err
        (run,) = (tmp_path / name).iterdir()
        first = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
        assert first["step"] == 1
        assert first["train/loss"] == pytest.approx(expected, abs=1e-5), name
