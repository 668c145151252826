"""Zero-shot multiple choice: input layouts (bidirectional and unidirectional), data errors, and
COPA converted to the multichoice format scored end to end."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from data_utils.tokenization import TokenizerConfig, build_tokenizer
from tasks.data_utils import InputExample
from tasks.multichoice import encode_multichoice, read_multichoice
from tasks.superglue.readers import DataError
from tests.distributed import run_distributed

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tok(vocab_dir):
    return build_tokenizer(
        TokenizerConfig("GPT2BPETokenizer", tokenizer_path=str(vocab_dir), task_mask=True)
    )


def example(text="The sky is", choices=("blue", "a green thing")):
    return InputExample("g", text, meta={"choices": list(choices)}, label="0")


def test_bidirectional_layout(tok):
    sample = encode_multichoice(tok, example(), 32, unidirectional=False)
    text, choice = tok.encode("The sky is"), tok.encode("a green thing")
    row = sample["input_ids"][1]
    sep = int(sample["sep"][1])
    expected = [tok.cls_id, *text, tok.mask_id, tok.eos_id, tok.sop_id, *choice[:-1]]
    assert row[: len(expected)].tolist() == expected and sep == len(text) + 3
    assert sample["target_ids"][1][sample["logit_mask"][1] == 1].tolist() == choice  # no eop
    assert sample["num_choices"] == 2


def test_bidirectional_keeps_the_end_of_long_inputs(tok):
    sample = encode_multichoice(tok, example(("word " * 50).strip()), 16, unidirectional=False)
    lengths = [len(tok.encode(c)) for c in ("blue", "a green thing")]
    assert int(sample["sep"][0]) == 16 - max(lengths)  # [CLS] + last tokens + [MASK] + [eos]
    assert sample["input_ids"][0][int(sample["sep"][0]) - 3] == tok.encode(" word")[0]
    assert sample["logit_mask"].sum(-1).tolist() == lengths


def test_unidirectional_layout(tok):
    sample = encode_multichoice(tok, example(), 32, unidirectional=True)
    text, choice = tok.encode("The sky is"), tok.encode("blue")
    length = 3 + len(text) + len(choice) - 1
    row = sample["input_ids"][0][:length].tolist()
    assert row == [tok.cls_id, tok.gmask_id, tok.sop_id, *text, *choice[:-1]]
    assert int(sample["sep"][0]) == 2
    positions = sample["position_ids"][0][:, :length]
    assert positions[0].tolist() == [0, 1] + [1] * (length - 2)
    assert positions[1].tolist() == [0, 0, *range(1, length - 1)]
    assert sample["target_ids"][0][sample["logit_mask"][0] == 1].tolist() == choice


def test_malformed_multichoice_data(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"inputs_pretokenized": "x", "choices_pretokenized": ["a"], "label": 3}\n')
    with pytest.raises(DataError, match="data.jsonl:1: field 'label' is 3"):
        read_multichoice([path])
    path.write_text('{"choices_pretokenized": ["a"], "label": 0}\n')
    with pytest.raises(DataError, match="data.jsonl:1: missing field 'inputs_pretokenized'"):
        read_multichoice([path])


def _zero_shot(rank, world, argv):
    import finetune_glm

    return finetune_glm.main(argv)


@pytest.mark.slow
def test_copa_as_multichoice_zero_shot(shared_dir, reference_dir, tmp_path):
    converted = tmp_path / "copa_multichoice.jsonl"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "convert_copa_multichoice.py"),
            str(shared_dir / "eval/superglue/COPA/dev32.jsonl"),
            str(converted),
        ],
        check=True,
        cwd=REPO,
    )
    records = [json.loads(line) for line in converted.read_text().splitlines()]
    assert len(records) == 32 and len(records[0]["choices_pretokenized"]) == 2
    argv = [
        "--block-lm",
        "--num-layers",
        "2",
        "--hidden-size",
        "64",
        "--num-attention-heads",
        "4",
        "--max-position-embeddings",
        "256",
        "--tokenizer-type",
        "GPT2BPETokenizer",
        "--task-mask",
        "--tokenizer-path",
        str(shared_dir / "vocab"),
        "--load-pretrained",
        str(reference_dir / "checkpoints" / "glm-tiny-gpt2"),
        "--task",
        "multichoice",
        "--test-data",
        str(converted),
        "--epochs",
        "0",
        "--seq-length",
        "64",
        "--eval-batch-size",
        "16",
        "--summary-dir",
        str(tmp_path),
        "--experiment-name",
        "mc",
    ]
    results = run_distributed(_zero_shot, 1, tmp_path, argv)[0]
    assert 0.0 <= results["accuracy"] <= 100.0
    saved = json.loads((tmp_path / "runs" / "mc" / "test_results.json").read_text())
    assert saved == {"accuracy": results["accuracy"], "type": "test"}
    predictions = (tmp_path / "runs" / "mc" / "test.jsonl").read_text().splitlines()
    assert [json.loads(p)["idx"] for p in predictions] == list(range(32))
