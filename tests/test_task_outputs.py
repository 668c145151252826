"""What an evaluation writes, on the shared dev files with the tiny reference checkpoint:
metrics on GLM's scales (MultiRC F1a/EM fractions, ReCoRD EM/F1 percent), prediction files in
the SuperGLUE submission format (COPA integer labels, MultiRC nested, ReCoRD entity texts),
and the per-example score files beside them."""

import json

import pytest

from data_utils.tokenization import build_tokenizer
from tasks import get_task
from tasks.pretrained import load_pretrained
from tests.task_helpers import config_for
from training.arguments import parse_args

TINY = [
    *("--block-lm", "--task-mask", "--num-layers", "2", "--hidden-size", "64"),
    *("--num-attention-heads", "4", "--max-position-embeddings", "256"),
    *("--tokenizer-type", "GPT2BPETokenizer", "--cloze-eval", "--seq-length", "128"),
    *("--epochs", "0", "--eval-batch-size", "4"),
]
FOLDERS = {"copa": "COPA", "multirc": "MultiRC", "record": "ReCoRD"}


@pytest.fixture(scope="module")
def tokenizer(vocab_dir):
    return build_tokenizer(
        parse_args([*TINY, "--tokenizer-path", str(vocab_dir)]).tokenizer_config()
    )


def evaluate(shared_dir, reference_dir, tokenizer, task, tmp_path, count):
    """Evaluate ``task`` on the first ``count`` records of its dev32 file, as a val.jsonl."""
    lines = (shared_dir / "eval/superglue" / FOLDERS[task] / "dev32.jsonl").read_text()
    data = tmp_path / task
    data.mkdir()
    (data / "val.jsonl").write_text("".join(lines.splitlines(keepends=True)[:count]))
    args = parse_args(
        [*TINY, "--tokenizer-path", str(shared_dir / "vocab"), "--task", task]
        + ["--data-dir", str(data)]
    )
    spec, config = get_task(task), config_for(args, tokenizer)
    dev = spec.build_datasets(config, tokenizer).dev
    model = spec.build_model(config, tokenizer)
    load_pretrained(model, reference_dir / "checkpoints" / "glm-tiny-gpt2", 0, 1)
    results = spec.evaluate(model, dev, config, tokenizer, "dev", tmp_path)
    records = [json.loads(x) for x in lines.splitlines()[:count]]
    predictions = [json.loads(x) for x in (tmp_path / f"{task}-dev.jsonl").read_text().splitlines()]
    scores = (tmp_path / f"{task}-dev.scores.jsonl").read_text().splitlines()
    return results, records, predictions, [json.loads(x) for x in scores]


def test_copa_predictions_are_integers(shared_dir, reference_dir, tokenizer, tmp_path):
    results, records, predictions, scores = evaluate(
        shared_dir, reference_dir, tokenizer, "copa", tmp_path, 8
    )
    assert [list(p) for p in predictions] == [["idx", "label"]] * 8
    assert [p["idx"] for p in predictions] == [r["idx"] for r in records]
    assert all(type(p["label"]) is int and p["label"] in (0, 1) for p in predictions)
    right = sum(p["label"] == r["label"] for p, r in zip(predictions, records, strict=True))
    assert results == {"accuracy": 100 * right / 8}  # accuracy stays in percent
    assert [s["label"] for s in scores] == [r["label"] for r in records]
    assert [s["choices"] for s in scores] == [[r["choice1"], r["choice2"]] for r in records]


def test_multirc_nested_predictions_and_fraction_metrics(
    shared_dir, reference_dir, tokenizer, tmp_path
):
    results, records, predictions, scores = evaluate(
        shared_dir, reference_dir, tokenizer, "multirc", tmp_path, 3
    )
    assert [p["idx"] for p in predictions] == [r["idx"] for r in records]
    for prediction, record in zip(predictions, records, strict=True):
        questions = record["passage"]["questions"]
        assert list(prediction) == ["idx", "passage"]
        assert [q["idx"] for q in prediction["passage"]["questions"]] == [
            q["idx"] for q in questions
        ]
        for predicted, question in zip(prediction["passage"]["questions"], questions, strict=True):
            assert [a["idx"] for a in predicted["answers"]] == [
                a["idx"] for a in question["answers"]
            ]
            assert all(type(a["label"]) is int for a in predicted["answers"])
    pairs = [(s["prediction"], s["label"]) for s in scores]
    hits = sum(p == y == 1 for p, y in pairs)
    f1a = 2 * hits / (sum(p == 1 for p, _ in pairs) + sum(y == 1 for _, y in pairs))
    assert results["f1a"] == pytest.approx(f1a) and 0 < results["f1a"] <= 1  # a fraction
    assert 0 <= results["em"] <= 1  # a fraction too
    assert results["acc"] == pytest.approx(100 * sum(p == y for p, y in pairs) / len(pairs))


def test_record_predictions_are_entities_and_em_f1_percent(
    shared_dir, reference_dir, tokenizer, tmp_path
):
    results, records, predictions, scores = evaluate(
        shared_dir, reference_dir, tokenizer, "record", tmp_path, 4
    )
    queries = [q for r in records for q in r["qas"]]
    assert [p["idx"] for p in predictions] == [q["idx"] for q in queries]
    for prediction, score in zip(predictions, scores, strict=True):
        assert list(prediction) == ["idx", "label"] and prediction["label"] in score["choices"]
        best = max(range(len(score["scores"])), key=lambda i: score["scores"][i])
        assert score["choices"][best] == prediction["label"] == score["prediction"]
    exact = sum(s["prediction"] in s["label"] for s in scores)
    assert exact >= 1  # one of the 4 is right, so the scale shows: 25.0, not 0.25
    assert results["EM"] == pytest.approx(100 * exact / len(scores))  # percent, as GLM's
    assert results["EM"] <= results["F1"] <= 100
