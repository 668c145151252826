"""LM task data: the WikiText detokenizer, window coverage, LAMBADA samples, bad input, and
end-to-end LAMBADA / WikiText evaluation on subsamples of the shared eval files."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_utils.tokenization import build_tokenizer
from tasks import get_task
from tasks.language_model.datasets import (
    LambadaDataset,
    LambadaExample,
    LMTokens,
    LMWindowDataset,
    read_lambada,
)
from tasks.language_model.detokenizer import wikitext_detokenize
from tests.reference import load_tiny_model
from tests.task_helpers import config_for
from training.arguments import parse_args

TOKENS = LMTokens(cls=101, mask=103, sop=201, eos=0)
TINY = "--block-lm --num-layers 2 --hidden-size 64 --num-attention-heads 4 "
TINY += (
    "--max-position-embeddings 256 --seq-length 128 --tokenizer-type GPT2BPETokenizer --task-mask"
)


def test_wikitext_detokenizer():
    raw = ' = = Early life = = \n It cost 1 @,@ 000 @.@ 5 dollars ( about 20 ) , the " best " one .'
    assert wikitext_detokenize(raw) == (
        ' == Early life ==\nIt cost 1,000.5 dollars (about 20), the "best" one .'
    )
    assert wikitext_detokenize("the players ' union in N years") == "the players' union in 1 years"


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 120), min_size=1, max_size=4),
    seq_length=st.integers(8, 40),
    data=st.data(),
    unidirectional=st.booleans(),
)
def test_every_token_but_the_first_is_scored_once(lengths, seq_length, data, unidirectional):
    overlap = data.draw(st.integers(1, seq_length - 2))
    documents = [list(range(1000, 1000 + n)) for n in lengths]
    dataset = LMWindowDataset(documents, lengths, TOKENS, seq_length, overlap, unidirectional)
    seen = [[0] * n for n in lengths]
    for index, window in enumerate(dataset.windows):
        sample = dataset[index]
        assert len(sample) == seq_length + 1
        targets = sample.target_ids[sample.loss_mask == 1].tolist()
        positions = list(dataset.scored_positions(index))
        assert targets == [documents[window.document][p] for p in positions]
        for p in positions:
            seen[window.document][p] += 1
    assert all(counts == [0] + [1] * (len(counts) - 1) for counts in seen)


def test_bad_overlap_names_the_flag():
    with pytest.raises(ValueError, match="--overlapping-eval 63"):
        LMWindowDataset([[1, 2, 3]], [3], TOKENS, 64, 63)


def test_lambada_layouts():
    example = LambadaExample(context=(11, 12, 13), answer=(21, 22))
    bi = LambadaDataset([example], TOKENS, seq_length=32)[0]
    assert bi.input_ids.tolist() == [101, 11, 12, 13, 103, 0, 201, 21]
    assert bi.sep == 6
    assert bi.position_ids.tolist() == [[0, 1, 2, 3, 4, 5, 4, 4], [0, 0, 0, 0, 0, 0, 1, 2]]
    assert bi.target_ids.tolist()[6:] == [21, 22] and bi.loss_mask.tolist()[6:] == [1, 1]
    uni = LambadaDataset([example], TOKENS, seq_length=32, unidirectional=True)[0]
    assert uni.input_ids.tolist() == [101, 11, 103, 0, 201, 12, 13, 21]
    assert uni.target_ids.tolist()[4:] == [12, 13, 21, 22]
    assert uni.loss_mask.tolist()[4:] == [0, 0, 1, 1]
    assert uni.position_ids[0].tolist()[4:] == [2, 2, 2, 2]
    short = LambadaDataset([example], TOKENS, seq_length=7)[0]  # keeps the newest context
    assert short.input_ids.tolist() == [101, 12, 13, 103, 0, 201, 21]


@pytest.fixture(scope="module")
def gpt2(vocab_dir):
    args = parse_args([*TINY.split(), "--tokenizer-path", str(vocab_dir)])
    return build_tokenizer(args.tokenizer_config())


def test_lambada_strict_and_non_strict(tmp_path, gpt2):
    path = tmp_path / "l.jsonl"
    path.write_text(json.dumps({"text": "He looked at the  lighthouse"}) + "\n")
    strict = read_lambada(path, gpt2)[0]
    assert gpt2.decode(list(strict.context)) == "He looked at the"
    assert gpt2.decode(list(strict.answer)) == " lighthouse"
    loose = read_lambada(path, gpt2, strict=False)[0]
    assert len(loose.answer) == 1 and list(loose.context + loose.answer) == gpt2.encode(
        "He looked at the  lighthouse"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "a b"}\n{"txt": "c d"}\n', r"l\.jsonl:2: missing field 'text'"),
        ('{"text": "a b"}\n{"text": 3}\n', r"l\.jsonl:2: field 'text' must be str"),
        ('{"text": "a b"}\nnot json\n', r"l\.jsonl:2: not valid JSON"),
        ('{"text": "single"}\n', r"l\.jsonl:1: field 'text' needs a context"),
        ("\n\n", r"l\.jsonl is empty"),
    ],
)
def test_malformed_lambada_names_file_line_field(tmp_path, gpt2, content, message):
    path = tmp_path / "l.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_lambada(path, gpt2)


def test_missing_and_empty_lm_files(tmp_path, vocab_dir, gpt2):
    base = [*TINY.split(), "--tokenizer-path", str(vocab_dir), "--task", "wikitext"]
    with pytest.raises(FileNotFoundError, match="nope.txt does not exist"):
        args = parse_args([*base, "--valid-data", str(tmp_path / "nope.txt")])
        get_task("wikitext").build_datasets(config_for(args, gpt2), gpt2)
    (tmp_path / "empty.txt").write_text(" \n")
    args = parse_args([*base, "--valid-data", str(tmp_path / "empty.txt")])
    with pytest.raises(ValueError, match="empty.txt is empty"):
        get_task("wikitext").build_datasets(config_for(args, gpt2), gpt2)
    with pytest.raises(ValueError, match="exactly one --valid-data"):
        get_task("wikitext").build_datasets(config_for(parse_args(base), gpt2), gpt2)


def _evaluate(task, path, vocab_dir, reference_dir, *extra, output_dir=None):
    args = parse_args(
        [*TINY.split(), "--tokenizer-path", str(vocab_dir), "--task", task]
        + ["--valid-data", str(path), "--eval-batch-size", "8", *extra]
    )
    tokenizer = build_tokenizer(args.tokenizer_config())
    spec = get_task(task)
    dataset = spec.build_datasets(config_for(args, tokenizer), tokenizer).test
    model = load_tiny_model(reference_dir, "gpt2", "glm-tiny-gpt2")
    return dataset, spec.evaluate(
        model, dataset, config_for(args, tokenizer), tokenizer, "test", output_dir
    )


@pytest.mark.parametrize("extra", [(), ("--unidirectional",)])
def test_lambada_end_to_end_on_subsample(tmp_path, shared_dir, vocab_dir, reference_dir, extra):
    lines = (shared_dir / "eval/lambada/lambada_test_first500.jsonl").read_text().splitlines()
    (tmp_path / "lambada.jsonl").write_text("\n".join(lines[:12]) + "\n")
    dataset, metrics = _evaluate(
        "lambda",
        tmp_path / "lambada.jsonl",
        vocab_dir,
        reference_dir,
        "--seq-length",
        "128",
        *extra,
        output_dir=tmp_path / "out",
    )
    assert len(dataset) == 12
    assert 0.0 <= metrics["accuracy"] <= 100.0
    assert metrics["accuracy"] * 12 / 100 == pytest.approx(round(metrics["accuracy"] * 12 / 100))
    lines = (tmp_path / "out" / "test.scores.jsonl").read_text().splitlines()
    scores = [json.loads(line) for line in lines]
    assert [s["id"] for s in scores] == list(range(12))
    assert 100 * sum(s["correct"] for s in scores) / 12 == pytest.approx(metrics["accuracy"])
    assert all(s["score"] == pytest.approx(sum(s["token_scores"])) for s in scores)
    assert all(s["score"] < 0 for s in scores)


def test_wikitext_end_to_end_on_subsample(tmp_path, shared_dir, vocab_dir, reference_dir):
    raw = (shared_dir / "eval/wikitext-2/valid.txt").read_text().split("\n")[:12]
    (tmp_path / "wiki.tokens").write_text("\n".join(raw))
    dataset, metrics = _evaluate(
        "wikitext",
        tmp_path / "wiki.tokens",
        vocab_dir,
        reference_dir,
        "--seq-length",
        "128",
        "--overlapping-eval",
        "64",
    )
    words = len("\n".join(raw).strip().split(" "))
    assert dataset.num_original_tokens == words and len(dataset.documents) == 1
    tokens = len(dataset.documents[0]) - 1
    assert metrics["adjusted ppl"] == pytest.approx(
        math.exp(min(20, metrics["avg loss"] * tokens / (words - 1))), rel=1e-9
    )
    assert 0 < metrics["avg loss"] < 30
