"""Zero-shot multiple choice: input layouts (bidirectional and unidirectional), data errors, and
the COPA converter (the end-to-end run is in test_finetune.py)."""

import json
import runpy
import sys
from pathlib import Path

import pytest

from data_utils.tokenization import TokenizerConfig, build_tokenizer
from tasks.cloze_samples import InputExample
from tasks.superglue.multichoice import encode_multichoice, read_multichoice
from tasks.task_io import DataError

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
    record = {"inputs_pretokenized": "x", "choices_pretokenized": ["a", "b"]}
    path.write_text(json.dumps({**record, "label": 1}) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DataError, match=r"data.jsonl:2: missing field 'label' \(1 of 2"):
        read_multichoice([path])  # half-labelled data would silently lose its accuracy
    path.write_text(json.dumps(record) + "\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.json").write_text(json.dumps(record) + "\n")
    with pytest.raises(DataError, match="two files would both write multichoice-data.jsonl"):
        read_multichoice([path, tmp_path / "sub" / "data.json"])


def test_copa_converter_script(shared_dir, tmp_path, monkeypatch):
    converted = tmp_path / "copa_multichoice.jsonl"
    source = shared_dir / "eval/superglue/COPA/dev32.jsonl"
    script = REPO / "scripts" / "convert_copa_multichoice.py"
    monkeypatch.setattr(sys, "argv", [str(script), str(source), str(converted)])
    runpy.run_path(str(script), run_name="__main__")
    records = [json.loads(line) for line in converted.read_text().splitlines()]
    first = json.loads(source.read_text().splitlines()[0])
    assert len(records) == 32 and records[0]["label"] == first["label"]
    connective = "because" if first["question"] == "cause" else "so"
    assert records[0]["inputs_pretokenized"].endswith(" " + connective)
    assert len(records[0]["choices_pretokenized"]) == 2
