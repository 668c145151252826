"""Blank infilling tasks: random word masking, the multi-span sample layout, extraction
targets and their errors, the Yahoo test files, and greedy left-to-right filling."""

import random

import pytest

from data_utils.tokenization import build_tokenizer
from tasks import get_task
from tasks.seq2seq.blanks import mask_words
from tasks.seq2seq.decoding import blank_generation, decode_blanks, decode_dataset
from tasks.seq2seq.task import build_split
from tests.reference import load_tiny_model
from tests.task_helpers import config_for
from training.arguments import parse_args

BERT = [
    "--block-lm",
    "--num-layers=2",
    "--hidden-size=64",
    "--num-attention-heads=4",
    "--max-position-embeddings=256",
    "--seq-length=256",
    "--tokenizer-type=BertWordPieceTokenizer",
    "--tokenizer-model-type=bert-base-uncased",
]
TEXTS = [
    "the quick brown fox jumps over the lazy dog near the river bank today",
    "alice was beginning to get very tired of sitting by her sister on the bank",
]


def blank_args(vocab_dir, folder, *extra, task="blank"):
    return parse_args(
        [*BERT, "--tokenizer-path", str(vocab_dir), "--task", task, "--data-dir", str(folder)]
        + ["--src-seq-length=40", "--tgt-seq-length=12", "--eval-batch-size=2", *extra]
    )


def test_mask_words_merges_adjacent_words():
    for seed in range(20):
        text = " ".join(f"w{i}" for i in range(30))
        masked, blanks = mask_words(text, 0.3, random.Random(seed), "[MASK]")
        assert masked.split().count("[MASK]") == len(blanks)
        assert sum(len(b.split()) for b in blanks) == 9  # int(30 * 0.3) words
        assert "[MASK] [MASK]" not in masked  # adjacent words form one blank
        rebuilt = iter(blanks)
        words = [next(rebuilt) if w == "[MASK]" else w for w in masked.split()]
        assert " ".join(words) == text


@pytest.fixture(scope="module")
def bert(vocab_dir):
    return build_tokenizer(
        parse_args([*BERT, "--tokenizer-path", str(vocab_dir)]).tokenizer_config()
    )


def test_blank_samples_hold_one_span_per_mask(tmp_path, vocab_dir, bert):
    (tmp_path / "train.txt").write_text("\n".join(TEXTS) + "\n")
    args = blank_args(vocab_dir, tmp_path, "--blank-maskratio=0.3")
    train = build_split(config_for(args, bert), bert, 0)
    assert build_split(config_for(args, bert), bert, 0).examples == train.examples  # seeded
    for index, example in enumerate(train.examples):
        assert example.source[0] == bert.cls_id and example.source[-1] == bert.eos_id
        assert [example.source[m] for m in example.mask_positions] == [bert.mask_id] * len(
            example.targets
        )
        sample = train[index]
        part_b = slice(sample.sep, len(sample))
        positions, blocks = sample.position_ids[0, part_b], sample.position_ids[1, part_b]
        expected_positions, expected_blocks = [], []
        for mask, target in zip(example.mask_positions, example.targets, strict=True):
            expected_positions += [mask] * len(target)
            expected_blocks += range(1, len(target) + 1)
            assert target[-1] == bert.eop_id
        assert positions.tolist() == expected_positions and blocks.tolist() == expected_blocks
        inputs = sample.input_ids[part_b].tolist()
        assert inputs.count(bert.sop_id) == len(example.targets)


def test_extraction_targets_and_their_errors(tmp_path, vocab_dir, bert):
    (tmp_path / "valid.source").write_text("the [MASK] sat on the [MASK] .\n")
    (tmp_path / "valid.target").write_text("cat|mat\n")
    args = blank_args(vocab_dir, tmp_path, task="extraction")
    example = build_split(config_for(args, bert), bert, 1).examples[0]
    assert [bert.decode(list(t[:-1])) for t in example.targets] == ["cat", "mat"]
    (tmp_path / "valid.target").write_text("cat\n")
    with pytest.raises(ValueError, match=r"valid\.source:1: 2 \[MASK\] in the source but 1 blanks"):
        build_split(config_for(args, bert), bert, 1)


def test_blank_test_split_reads_the_marked_file(tmp_path, vocab_dir, bert):
    (tmp_path / "test.txt").write_text("\n".join(TEXTS) + "\n")
    (tmp_path / "blank").mkdir()
    marked = tmp_path / "blank/test.maskratio0.1.blank"
    marked.write_text("the quick <blank> jumps over _UNK\nalice was <blank> tired\n")
    args = blank_args(vocab_dir, tmp_path, "--epochs=0")
    test = get_task("blank").build_datasets(config_for(args, bert), bert).test
    assert [len(e.mask_positions) for e in test.examples] == [1, 1]
    assert bert.token_to_id("[UNK]") in test.examples[0].source
    assert test.examples[1].reference == TEXTS[1]
    marked.write_text("only one line\n")
    with pytest.raises(ValueError, match=r"test\.maskratio0\.1\.blank has 1 lines but"):
        get_task("blank").build_datasets(config_for(args, bert), bert)


def test_blank_filling_end_to_end(tmp_path, vocab_dir, reference_dir, bert):
    (tmp_path / "valid.txt").write_text("\n".join(TEXTS) + "\n")
    args = blank_args(vocab_dir, tmp_path, "--blank-maskratio=0.2", "--tgt-seq-length=5")
    dev = build_split(config_for(args, bert), bert, 1)
    model = load_tiny_model(reference_dir, "bert", "glm-tiny-bert")
    metrics = get_task("blank").evaluate(
        model, dev, config_for(args, bert), bert, "dev", tmp_path / "out"
    )
    assert set(metrics) == {"rouge-1", "rouge-2", "rouge-l"}
    assert (tmp_path / "out/dev.jsonl.refs").read_text().splitlines() == TEXTS
    hyps = (tmp_path / "out/dev.jsonl.hyps").read_text().splitlines()
    alone = decode_dataset(
        model, dev, blank_generation(config_for(args).generation), 1, decode_blanks
    )
    assert hyps == [bert.decode(ids) for ids in alone]  # batched fills = one at a time
    for example, ids in zip(dev.examples, alone, strict=True):
        assert bert.mask_id not in ids and bert.eop_id not in ids
        assert len(ids) >= len(example.source) - 2 - len(example.mask_positions)
