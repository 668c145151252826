"""scripts/plot_metrics.py: a run's metrics.jsonl drawn as training curves."""

import json

import pytest

from scripts.plot_metrics import main, read_series


def _run(tmp_path):
    records = [
        {"step": 10, "train/loss": 6.0, "train/loss_bert": 6.2, "train/lr": 1e-3},
        {"step": 20, "train/loss": 5.0, "train/loss_gpt": 4.8, "train/lr": 5e-4},
        {"step": 20, "val/loss": 5.1, "val/loss_bert": 5.3, "val/acc_bert": 0.2}
        | {"val/acc_bert_most_frequent": 0.05, "val/ppl": 164.0},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return tmp_path


def test_curves_are_drawn_next_to_the_metrics(tmp_path, capsys):
    run = _run(tmp_path)
    assert read_series(run / "metrics.jsonl")["train/loss"] == [(10, 6.0), (20, 5.0)]
    out = main([str(run)])
    assert out == run / "training_curves.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert capsys.readouterr().out.strip() == f"training curves: {out}"


def test_a_folder_without_metrics_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metrics.jsonl does not exist" in err
