"""Task data readers (SuperGLUE, GLUE, CLUE), their error messages, and batch collation."""

import json

import numpy as np
import pytest
import torch

from tasks.cloze_samples import InputExample, build_cloze_input, collate
from tasks.superglue.dataset import wsc_groups
from tasks.superglue.processors import get_examples, split_path
from tasks.superglue.readers_superglue import repair_wsc_spans
from tasks.task_io import DataError

SUPERGLUE = ["BoolQ", "CB", "COPA", "MultiRC", "RTE", "ReCoRD", "WSC", "WiC"]


@pytest.fixture(scope="module")
def superglue(shared_dir):
    return shared_dir / "eval" / "superglue"


@pytest.mark.parametrize("folder", SUPERGLUE)
def test_every_superglue_split_reads(superglue, folder):
    task = folder.lower()
    for split in ("train", "dev"):
        examples = get_examples(task, superglue / folder, split, few_superglue=True)
        assert examples and all(ex.label is not None for ex in examples)


def test_few_superglue_file_naming(tmp_path):
    assert split_path("rte", tmp_path, "dev").name == "val.jsonl"
    assert split_path("rte", tmp_path, "dev", few_superglue=True).name == "dev32.jsonl"
    assert split_path("rte", tmp_path, "test", few_superglue=True).name == "val.jsonl"
    assert split_path("afqmc", tmp_path, "dev", few_superglue=True).name == "dev.json"


def test_copa_train_is_mirrored(superglue):
    examples = get_examples("copa", superglue / "COPA", "train", few_superglue=True)
    half = len(examples) // 2
    original, mirror = examples[0], examples[half]
    assert len(examples) == 64 and mirror.guid == original.guid + "m"
    assert mirror.meta["choice1"] == original.meta["choice2"]
    assert {original.label, mirror.label} == {"0", "1"}
    assert len(get_examples("copa", superglue / "COPA", "dev", few_superglue=True)) == 32


def test_multirc_one_example_per_answer(superglue):
    examples = get_examples("multirc", superglue / "MultiRC", "dev", few_superglue=True)
    records = [json.loads(line) for line in (superglue / "MultiRC" / "dev32.jsonl").open()]
    answers = sum(len(q["answers"]) for r in records for q in r["passage"]["questions"])
    assert len(examples) == answers
    assert examples[0].idx == [
        records[0]["idx"],
        examples[0].meta["question_idx"],
        examples[0].meta["answer_idx"],
    ]


def test_record_train_candidates_and_dev_entities(superglue):
    train = get_examples("record", superglue / "ReCoRD", "train", few_superglue=True)
    for example in train:
        candidates = example.meta["candidates"]
        assert candidates[0] == example.meta["answers"][0] and len(candidates) <= 10
        assert example.label == "0"
    again = get_examples("record", superglue / "ReCoRD", "train", few_superglue=True)
    assert [e.meta["candidates"] for e in again] == [e.meta["candidates"] for e in train]
    dev = get_examples("record", superglue / "ReCoRD", "dev", few_superglue=True)
    assert all(e.meta["candidates"] == sorted(e.meta["candidates"]) for e in dev)
    assert all("@highlight\n" not in e.text_a for e in dev)


def test_wsc_span_repair():
    text = "Then the dog barked because it's hungry"
    meta = {"span1_text": "the dog", "span1_index": 1, "span2_text": "it", "span2_index": 5}
    repaired = repair_wsc_spans(text, meta, "f:1")
    assert repaired.split()[5:7] == ["it", "'s"] and meta["span2_index"] == 5
    meta = {"span1_text": "the dog", "span1_index": 2, "span2_text": "barked", "span2_index": 4}
    assert repair_wsc_spans(text, meta, "f:1") == text
    assert (meta["span1_index"], meta["span2_index"]) == (1, 3)
    with pytest.raises(DataError, match="f:1: field 'target.span2_text' 'she'"):
        repair_wsc_spans(text, dict(meta, span2_text="she"), "f:1")


def test_wsc_negative_groups_of_nine():
    example = InputExample("g", "t", meta={"candidates": [str(i) for i in range(20)]})
    groups = wsc_groups([example])
    assert [len(g.meta["candidates"]) for g in groups] == [9, 9, 9]
    assert groups[2].meta["candidates"] == ["18", "19", "0", "1", "2", "3", "4", "5", "6"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        (
            '{"premise": "p", "label": "entailment", "idx": 0}\n',
            "train.jsonl:1: missing field 'hypothesis'",
        ),
        (
            '{"premise": "p", "hypothesis": "h", "label": "maybe", "idx": 0}\n',
            "train.jsonl:1: field 'label' is 'maybe', expected one of entailment, not_entailment",
        ),
        (
            '\n{"premise": "p", "hypothesis": 3, "label": "entailment", "idx": 0}\n',
            "train.jsonl:2: field 'hypothesis' is 3, expected a string",
        ),
        ("{not json\n", "train.jsonl:1: not valid JSON"),
    ],
)
def test_malformed_jsonl_names_file_line_field(tmp_path, content, message):
    (tmp_path / "train.jsonl").write_text(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace("?", r"\?")):
        get_examples("rte", tmp_path, "train")


def test_missing_file_and_nested_field(tmp_path):
    with pytest.raises(FileNotFoundError, match="val.jsonl does not exist: check --data-dir"):
        get_examples("rte", tmp_path, "dev")
    (tmp_path / "train.jsonl").write_text('{"idx": 1, "passage": {"questions": []}}\n')
    with pytest.raises(DataError, match="train.jsonl:1: missing field 'passage.text'"):
        get_examples("multirc", tmp_path, "train")


def test_glue_tsv_and_clue(tmp_path):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\nnice movie\t1\nbad\t2\n")
    with pytest.raises(DataError, match="train.tsv:3: field 'label' is '2'"):
        get_examples("sst2", tmp_path, "train")
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nnice movie\t1\n")
    assert get_examples("sst2", tmp_path, "dev")[0].text_a == "nice movie"
    (tmp_path / "dev.json").write_text('{"sentence1": "a", "sentence2": "b", "label": "1"}\n')
    assert get_examples("afqmc", tmp_path, "dev")[0].label == "1"


def test_build_cloze_input_layout(vocab_dir):
    from data_utils.tokenization import TokenizerConfig, build_tokenizer

    tok = build_tokenizer(TokenizerConfig("GPT2BPETokenizer", tokenizer_path=str(vocab_dir)))
    row = build_cloze_input([7, tok.mask_id, 8], [9], [20, 21, tok.eop_id], 64, tok)
    assert row["input_ids"].tolist() == [
        tok.cls_id,
        7,
        tok.mask_id,
        8,
        9,
        tok.eos_id,
        tok.sop_id,
        20,
        21,
    ]
    assert row["sep"] == 6
    assert row["position_ids"].tolist() == [[0, 1, 2, 3, 4, 5, 2, 2, 2], [0] * 6 + [1, 2, 3]]
    assert row["target_ids"].tolist() == [0] * 6 + [20, 21, tok.eop_id]
    assert row["logit_mask"].tolist() == [0] * 6 + [1, 1, 1]
    single = build_cloze_input([tok.mask_id], None, None, 64, tok, block_position=False)
    assert single["input_ids"].tolist()[-1] == tok.sop_id and single["logit_mask"][-1] == 1
    assert single["position_ids"][1].tolist() == [0, 0, 0, 1]
    with pytest.raises(ValueError, match="was cut off"):
        build_cloze_input([5] * 70 + [tok.mask_id], None, None, 64, tok)


def _choice_sample(rows: int, length: int, uid: int, **extra):
    ids = np.arange(rows * length).reshape(rows, length) + 1
    return {
        "input_ids": ids,
        "sep": np.full(rows, 2),
        "label": 0,
        "num_choices": rows,
        "uid": uid,
        **extra,
    }


def test_collate_pads_choices_and_lengths():
    batch = collate([_choice_sample(2, 3, 0), _choice_sample(3, 5, 1)])
    assert batch["uid"] == [0, 1]
    assert batch["input_ids"].shape == (2, 3, 5)
    assert torch.equal(batch["input_ids"][0, 2, :3], batch["input_ids"][0, 0, :3])  # row 0 again
    assert batch["input_ids"][0, 0, 3:].tolist() == [0, 0]
    assert batch["row_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    assert batch["choice_mask"].tolist() == batch["row_mask"].tolist()


def test_collate_with_segments_masks_rows_and_choices_separately():
    sample = _choice_sample(3, 4, 0, segment_id=np.array([0, 0, 1]))
    sample["num_choices"] = 2
    batch = collate([sample, _choice_sample(1, 4, 1, segment_id=np.array([0]))])
    assert batch["row_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["choice_mask"].tolist() == [[1, 1], [1, 0]]
    assert batch["segment_id"].tolist() == [[0, 0, 1], [0, 0, 0]]
