"""scripts/demo.py: its decoding settings, its training-curves step, and the whole job run short."""

import json
import os
import subprocess
import sys

from scripts.demo import DECODING, REPO, plot_command


def _flag_names() -> set[str]:
    """Every flag the framework's tables declare, from the module's source (cheap, no parsing)."""
    source = (REPO / "training" / "flags.py").read_text()
    return {name for name in DECODING if name.startswith("--") and f'"{name}"' in source}


def test_decoding_forbids_loops_and_uses_real_flags():
    names = [item for item in DECODING if item.startswith("--")]
    assert set(names) == _flag_names(), "every decoding setting must be a generate_samples flag"
    settings = dict(zip(DECODING[::2], DECODING[1::2], strict=True))
    # A repeated bigram is forbidden, so no token can appear three times in a row.
    assert 2 <= int(settings["--no-repeat-ngram-size"]) <= 3
    assert settings["--top-k"] == "1"


def test_plot_step_writes_the_picture_where_the_demo_says(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    records = [
        {"step": 10, "train/loss": 6.0, "train/lr": 1e-3},
        {"step": 20, "val/loss": 5.1, "val/acc_bert": 0.3, "val/acc_bert_most_frequent": 0.05},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "training_curves.png"
    done = subprocess.run(plot_command(run, out), cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert f"training curves: {out}" in done.stdout


def test_demo_runs_end_to_end_on_a_few_iterations(tmp_path):
    """The README's main job, every step as a user runs it (corpus, tokenizer, token store,
    pretraining through scripts/pretrain_cpu.sh, curves, blank filling), 20 iterations."""
    work = tmp_path / "demo"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "scripts/demo.py", "--work-dir", str(work), "--train-iters", "20"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning" not in done.stderr, "the demo's own config must not trip a flag warning"
    fills = [json.loads(line) for line in (work / "fills.jsonl").read_text().splitlines()]
    assert len(fills) == 5 and all("fills" in record and "error" not in record for record in fills)
    assert "== blank fills" in done.stdout and done.stdout.count("    fills: ") == 5
    assert (work / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    run = next((work / "checkpoints").iterdir())
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in records if "val/loss" in r][-1]
    assert final["step"] == 20 and "val/acc_bert_text" in final
