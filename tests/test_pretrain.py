"""pretrain_glm.py end to end on CPU, and every pretraining preset parses."""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from training.arguments import parse_args

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "config").glob("ds_block*.sh"))


def _options(config: Path, env: dict | None = None) -> list[str]:
    script = f'source "{config}"; printf "%s" "$gpt_options"'
    out = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )
    return shlex.split(out.stdout)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_preset_parses(config):
    args = parse_args(_options(config))
    assert args.model.block_lm
    assert args.train.train_iters > 0
    if "tiny" not in config.stem:
        assert args.optim.fp16 and args.parallel.deepspeed_json is not None


def test_large_preset_has_glm_large_hyperparameters():
    args = parse_args(_options(REPO / "config/ds_block_large.sh"))
    assert (args.model.num_layers, args.model.hidden_size, args.model.num_attention_heads) == (
        24,
        1024,
        16,
    )
    assert (args.optim.lr, args.optim.adam_beta2, args.optim.adam_eps, args.optim.weight_decay) == (
        2e-4,
        0.98,
        1e-6,
        0.1,
    )
    assert (args.train.batch_size, args.schedule.lr_decay_iters, args.schedule.warmup) == (
        16,
        160000,
        0.05,
    )
    ten_b = parse_args(_options(REPO / "config/ds_block_10B.sh", {"MP_SIZE": "4"}))
    assert ten_b.parallel.zero_stage == 2 and ten_b.parallel.model_parallel_size == 4
    assert (ten_b.masking.bert_prob, ten_b.masking.gap_sentence_prob) == (0.5, 0.3)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory, shared_dir):
    """A byte-level BPE and a token store built from part of Moby Dick."""
    work = tmp_path_factory.mktemp("pretrain")
    text = (shared_dir / "corpora/moby_dick.txt").read_text()[:200_000]
    (work / "corpus.txt").write_text(text)
    run = [
        sys.executable,
        str(REPO / "scripts/train_tokenizer.py"),
        "--input",
        str(work / "corpus.txt"),
        "--vocab-size",
        "1000",
        "--out",
        str(work / "tok"),
    ]
    subprocess.run(run, check=True, capture_output=True)
    run = [
        sys.executable,
        str(REPO / "scripts/preprocess_data.py"),
        "--input",
        str(work / "corpus.txt"),
        "--output",
        str(work / "store"),
        "--tokenizer-type",
        "ByteBPETokenizer",
        "--tokenizer-path",
        str(work / "tok"),
        "--workers",
        "1",
        "--no-progress",
    ]
    subprocess.run(
        run,
        check=True,
        capture_output=True,
        env={"NLTK_DATA": str(shared_dir / "nltk_data"), "PATH": "/usr/bin:/bin"},
    )
    return work


def _pretrain(work: Path, iters: int, *extra: str) -> subprocess.CompletedProcess:
    argv = [
        "--block-lm",
        "--task-mask",
        "--bert-prob",
        "0.5",
        "--gap-sentence-prob",
        "0.3",
        "--num-layers",
        "2",
        "--hidden-size",
        "32",
        "--num-attention-heads",
        "4",
        "--seq-length",
        "64",
        "--max-position-embeddings",
        "64",
        "--batch-size",
        "4",
        "--tokenizer-type",
        "ByteBPETokenizer",
        "--tokenizer-path",
        str(work / "tok"),
        "--train-data",
        str(work / "store"),
        "--split",
        "9,1,0",
        "--num-workers",
        "0",
        "--train-iters",
        str(iters),
        "--save-interval",
        "2",
        "--eval-interval",
        "2",
        "--eval-iters",
        "1",
        "--log-interval",
        "1",
        "--save",
        str(work / "ckpt"),
        "--experiment-name",
        "tiny",
        "--lr",
        "1e-3",
        *extra,
    ]
    return subprocess.run(
        [sys.executable, str(REPO / "pretrain_glm.py"), *argv],
        capture_output=True,
        text=True,
        cwd=work,
        timeout=600,
    )


@pytest.mark.slow
def test_pretrain_saves_logs_and_resumes(tiny_corpus):
    first = _pretrain(tiny_corpus, 2)
    assert first.returncode == 0, first.stderr[-3000:]
    run_dirs = list((tiny_corpus / "ckpt").iterdir())
    assert len(run_dirs) == 1
    run = run_dirs[0]
    assert (run / "latest_checkpointed_iteration.txt").read_text() == "2"
    assert (run / "2" / "mp_rank_00_model_states.pt").is_file()
    config = json.loads((run / "2" / "config.json").read_text())
    assert config["model"]["num_layers"] == 2
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"train/loss", "train/lr", "train/tokens_per_sec"} <= set(metrics[0])
    validation = [m for m in metrics if "val/loss" in m]
    assert validation
    for record in validation:  # accuracy beside its most-frequent-token floor, per objective
        assert 0 <= record["val/acc"] <= 1 and 0 < record["val/acc_most_frequent"] <= 1
        modes = [k[len("val/loss_") :] for k in record if k.startswith("val/loss_")]
        assert modes and all(f"val/acc_{m}_most_frequent" in record for m in modes)
        assert all(0 <= record[f"val/acc_{m}_first"] <= 1 for m in modes)  # [sop] targets
    assert list(run.glob("events.out.tfevents*"))

    second = _pretrain(tiny_corpus, 4, "--load", str(run), "--keep-last-n", "1")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "loaded" in second.stderr and "at iteration 2" in second.stderr
    assert (run / "latest_checkpointed_iteration.txt").read_text() == "4"
    assert sorted(p.name for p in run.iterdir() if p.name.isdigit()) == ["4"]


def test_missing_store_is_a_clear_error(tiny_corpus):
    result = _pretrain(tiny_corpus, 1, "--train-data", str(tiny_corpus / "nope"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("pretrain_glm.py: error: no token store at")
    assert "preprocess_data.py" in last
