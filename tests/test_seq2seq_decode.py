"""Seq2seq decoding end to end: CNN/DM converted by our script, beam search on the tiny
reference model, hyps/refs files and ROUGE; batched = one by one; TP=2 equals TP=1 (gloo)."""

import csv
import json

from data_utils.tokenization import build_tokenizer
from scripts.convert_cnndm_csv import convert
from tasks import get_task
from tasks.seq2seq.decoding import decode_dataset
from tasks.seq2seq.task import build_split
from tests.reference import load_tiny_model
from tests.task_helpers import config_for
from training.arguments import parse_args

TINY = [
    "--block-lm",
    "--num-layers=2",
    "--hidden-size=64",
    "--num-attention-heads=4",
    "--max-position-embeddings=256",
    "--seq-length=256",
    "--tokenizer-type=GPT2BPETokenizer",
    "--task-mask",
]
DECODING = ["--num-beams=3", "--length-penalty=0.7", "--no-repeat-ngram-size=3"]
DECODING += ["--min-tgt-length=2", "--eval-batch-size=3", "--epochs=0"]


def cnndm_folder(shared_dir, folder, rows: int):
    """The first ``rows`` CNN/DM examples, converted to test.source/test.target."""
    with (shared_dir / "eval/cnn_dm/cnn_dailymail_sample50.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        kept = [row for _, row in zip(range(rows), reader, strict=False)]
    small = folder / "small.csv"
    with small.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(kept)
    convert(small, folder, "test", " <S_SEP> ")
    return folder


def cnndm_setup(shared_dir, vocab_dir, folder, *extra, rows=5):
    cnndm_folder(shared_dir, folder, rows)
    args = parse_args(
        [*TINY, "--tokenizer-path", str(vocab_dir), "--task", "cnn_dm", "--data-dir", str(folder)]
        + ["--src-seq-length=96", "--tgt-seq-length=8", *DECODING, *extra]
    )
    tokenizer = build_tokenizer(args.tokenizer_config())
    return args, tokenizer, build_split(config_for(args, tokenizer), tokenizer, 2)


def test_cnndm_end_to_end_writes_hyps_refs_and_rouge(
    tmp_path, shared_dir, vocab_dir, reference_dir
):
    args, tokenizer, test = cnndm_setup(shared_dir, vocab_dir, tmp_path, rows=3)
    model = load_tiny_model(reference_dir, "gpt2", "glm-tiny-gpt2")
    metrics = get_task("cnn_dm").evaluate(
        model, test, config_for(args, tokenizer), tokenizer, "test", tmp_path / "out"
    )
    assert set(metrics) == {"rouge-1", "rouge-2", "rouge-l"}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())  # fractions, as GLM's
    hyps = (tmp_path / "out/test.jsonl.hyps").read_text().splitlines()
    refs = (tmp_path / "out/test.jsonl.refs").read_text().splitlines()
    assert len(hyps) == len(refs) == 3 and all(hyps)
    assert refs[0].startswith("Bishop John Folda") and "[SEP]" in refs[0]
    for line in hyps:  # at least --min-tgt-length tokens, at most --tgt-seq-length
        assert 2 <= len(tokenizer.encode(line)) <= 8
    scores = [json.loads(x) for x in (tmp_path / "out/test.scores.jsonl").read_text().splitlines()]
    assert [s["id"] for s in scores] == [0, 1, 2] and [s["label"] for s in scores] == refs
    for scored, hyp in zip(scores, hyps, strict=True):
        ranked = scored["hypotheses"]
        assert len(ranked) == 3 and ranked[0]["text"] == scored["prediction"] == hyp  # 3 beams
        assert [h["score"] for h in ranked] == sorted((h["score"] for h in ranked), reverse=True)
        assert all(h["score"] < 0 for h in ranked)  # length-normalised log-probabilities


def test_batched_decoding_equals_one_at_a_time(tmp_path, vocab_dir, reference_dir):
    """Sources of different lengths share a batch: padding is hidden, beams are per row."""
    (tmp_path / "test.source").write_text(
        "Short.\nA longer source text , with more words .\nMid one here .\n"
    )
    (tmp_path / "test.target").write_text("a\nb\nc\n")
    args = parse_args(
        [*TINY, "--tokenizer-path", str(vocab_dir), "--task", "cnn_dm", "--data-dir", str(tmp_path)]
        + ["--src-seq-length=32", "--tgt-seq-length=6", *DECODING]
    )
    tokenizer = build_tokenizer(args.tokenizer_config())
    test = build_split(config_for(args, tokenizer), tokenizer, 2)
    assert len({len(test.context(i)) for i in range(3)}) == 3
    model = load_tiny_model(reference_dir, "gpt2", "glm-tiny-gpt2")
    config = config_for(args).generation
    assert decode_dataset(model, test, config, 3) == decode_dataset(model, test, config, 1)
