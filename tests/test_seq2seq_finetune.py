"""finetune_glm.py end to end on CPU for this family: CNN/DM (converted by our script)
finetuned for two steps from the tiny checkpoint then decoded (hyps/refs, ROUGE,
test_results.json), and zero-shot LM evaluation with ``--epochs 0`` writing the reference's
scores with ``--legacy-lm-denominator``."""

import json

import pytest

from tests.distributed import run_distributed
from tests.test_seq2seq_decode import cnndm_folder

TINY = [
    *("--block-lm", "--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4"),
    *("--max-position-embeddings", "256", "--tokenizer-type", "GPT2BPETokenizer", "--task-mask"),
    *("--log-interval", "1", "--save-epoch", "1000", "--seed", "1234"),
]


def _finetune(rank, world, argv_list):
    import finetune_glm

    return [finetune_glm.main(argv) for argv in argv_list]


@pytest.mark.slow
def test_cnndm_finetunes_and_lm_evaluates(shared_dir, reference_dir, tmp_path):
    data = tmp_path / "cnn_dm"
    data.mkdir()
    cnndm_folder(shared_dir, data, rows=4)
    for split in ("train", "val"):  # the same four examples serve every split here
        for ext in ("source", "target"):
            (data / f"{split}.{ext}").write_text((data / f"test.{ext}").read_text())
    common = [*TINY, "--tokenizer-path", str(shared_dir / "vocab"), "--summary-dir", str(tmp_path)]
    checkpoint = str(reference_dir / "checkpoints" / "glm-tiny-gpt2")
    cnndm = [
        *common,
        *("--task", "cnn_dm", "--data-dir", str(data), "--load-pretrained", checkpoint),
        *(
            "--src-seq-length",
            "64",
            "--tgt-seq-length",
            "6",
            "--num-beams",
            "2",
            "--seq-length",
            "128",
        ),
        *("--epochs", "1", "--batch-size", "2", "--lr", "1e-3", "--label-smoothing", "0.1"),
        *("--eval-batch-size", "4", "--experiment-name", "cnndm"),
    ]
    lm_json = json.loads((reference_dir / "gpt2/lm/lm.json").read_text())["modes"]["bi"]
    lm = [
        *common,
        *("--task", "language_model", "--valid-data", str(reference_dir / "gpt2/lm/documents.txt")),
        *("--load-pretrained", checkpoint, "--seq-length", "64", "--overlapping-eval", "32"),
        *("--eval-batch-size", "4", "--epochs", "0", "--legacy-lm-denominator"),
        *("--experiment-name", "lm"),
    ]
    cnndm_results, lm_results = run_distributed(_finetune, 1, tmp_path, [cnndm, lm])[0]

    runs = tmp_path / "runs"
    final = json.loads((runs / "cnndm" / "test_results.json").read_text())
    assert final["type"] == "test" and final["rouge-1"] == cnndm_results["rouge-1"]
    assert json.loads((runs / "cnndm" / "results.json").read_text())["type"] == "validation"
    hyps = (runs / "cnndm" / "test.jsonl.hyps").read_text().splitlines()
    assert (
        len(hyps) == 4 and len((runs / "cnndm" / "test.jsonl.refs").read_text().splitlines()) == 4
    )
    scores = json.loads((runs / "lm" / "test_results.json").read_text())
    for key in ("avg loss", "ppl", "adjusted ppl"):
        assert scores[key] == pytest.approx(lm_json["reference_score"][key], rel=1e-5)
    assert lm_results["avg loss"] == scores["avg loss"]
