"""Seq2seq data: detokenisation, readers and their errors, source templates, sample layouts
(the padding fix and its legacy layout), the CSV converter, ROUGE and SQuAD metrics."""

import json

import numpy as np
import pytest
import torch

from data_utils.tokenization import build_tokenizer
from scripts.convert_cnndm_csv import convert
from tasks import get_task
from tasks.glm_samples import collate_samples
from tasks.seq2seq.detokenize import detokenize_cnndm, detokenize_gigaword, ptb_retokenize
from tasks.seq2seq.inputs import EncodedExample, Seq2SeqDataset, Seq2SeqTokens
from tasks.seq2seq.metrics import clean_prediction, rouge_files, rouge_scores, squad_scores
from tasks.seq2seq.readers import iter_squad, read_source_target
from tasks.seq2seq.squad import first_answers, tokenize_with_offsets
from tasks.seq2seq.task import build_split
from tests.reference import load_tiny_model
from tests.task_helpers import config_for
from training.arguments import parse_args

TOKENS = Seq2SeqTokens(cls=101, mask=103, sop=201, eop=202, eos=0, pad=7)
TINY = [
    "--block-lm",
    "--num-layers",
    "2",
    "--hidden-size",
    "64",
    "--num-attention-heads",
    "4",
    "--max-position-embeddings",
    "256",
    "--seq-length",
    "256",
    "--tokenizer-type",
    "GPT2BPETokenizer",
    "--task-mask",
]


def seq2seq_args(vocab_dir, data_dir, *extra, task="cnn_dm"):
    return parse_args(
        [*TINY, "--tokenizer-path", str(vocab_dir), "--task", task, "--data-dir", str(data_dir)]
        + ["--src-seq-length", "64", "--tgt-seq-length", "12", *extra]
    )


@pytest.fixture(scope="module")
def gpt2(vocab_dir):
    return build_tokenizer(
        parse_args([*TINY, "--tokenizer-path", str(vocab_dir)]).tokenizer_config()
    )


def test_detokenizers():
    cnn = "-LRB- CNN -RRB- `` It 's over , '' he said . <S_SEP> Fans do n't care ."
    assert detokenize_cnndm(cnn, is_target=True) == (
        "( CNN ) \" It's over , \" he said . [SEP] Fans don't care ."
    )
    # GLM keeps the two spaces a removed source <S_SEP> leaves (they tokenise differently)
    assert detokenize_cnndm("a <S_SEP> b", is_target=False) == "a  b"
    assert detokenize_gigaword("-lrb- UNK -rrb- rises <unk> %") == "( [UNK] ) rises [UNK] %"
    assert detokenize_gigaword("at&amp;t &lt;b&gt; &amp;lt;") == "at&t <b> <"
    # GLM's re-tokenisation of WordPiece outputs before ROUGE (PTB style)
    wordpiece = "he said \" it ' s 3 , 000 - year old u . s . ' s don ' t . . . \" ok"
    assert ptb_retokenize(wordpiece) == ("he said `` it 's 3,000-year old u.s. 's do n't ... '' ok")
    assert ptb_retokenize("- a - - b ( - ) c") == "- a -- b ( - ) c"


def test_sample_layout_and_the_padding_fix():
    example = EncodedExample(0, (101, 103, 50, 51), (1,), ((60, 61, 202),), "ref")
    fixed = Seq2SeqDataset([example], TOKENS, src_len=8, tgt_len=5)[0]
    assert fixed.input_ids.tolist() == [101, 103, 50, 51, 201, 60, 61]
    assert fixed.sep == 4
    assert fixed.position_ids.tolist() == [[0, 1, 2, 3, 1, 1, 1], [0, 0, 0, 0, 1, 2, 3]]
    assert fixed.target_ids.tolist()[4:] == [60, 61, 202]
    legacy = Seq2SeqDataset([example], TOKENS, 8, 5, legacy_padding=True)[0]
    assert legacy.sep == 8 and len(legacy) == 13
    assert legacy.input_ids.tolist()[:11] == [101, 103, 50, 51, 7, 7, 7, 7, 201, 60, 61]
    assert legacy.loss_mask.tolist() == [0] * 8 + [1, 1, 1, 0, 0]


def test_fixed_layout_ignores_source_padding_legacy_does_not(reference_dir):
    """The padding fix: a sample's loss does not depend on --src-seq-length any more."""
    model = load_tiny_model(reference_dir, "gpt2", "glm-tiny-gpt2")
    example = EncodedExample(0, (50259, 50264, 318, 257, 3797), (1,), ((464, 3290, 50258),), "")
    tokens = Seq2SeqTokens(50259, 50264, 50257, 50258, 50256, 50256)

    def loss(src_len, legacy):
        sample = Seq2SeqDataset([example], tokens, src_len, 4, legacy)[0]
        args = parse_args(
            ["--label-smoothing", "0.1", "--task", "cnn_dm"]
            + ["--src-seq-length", str(src_len), "--tgt-seq-length", "4"]
        )
        spec = get_task("cnn_dm")
        return float(
            spec.forward_step(collate_samples([sample]), model, config_for(args))[0].detach()
        )

    assert loss(8, False) == pytest.approx(loss(40, False), abs=1e-6)
    assert abs(loss(8, True) - loss(40, True)) > 1e-4


def test_batched_samples_train_like_single_ones(reference_dir, tmp_path, vocab_dir, gpt2):
    """Per-sample ``sep`` in one batch: each row's loss equals its loss alone."""
    model = load_tiny_model(reference_dir, "gpt2", "glm-tiny-gpt2")
    (tmp_path / "train.source").write_text("A short one.\nA much longer source text here.\n")
    (tmp_path / "train.target").write_text("short\nlonger target\n")
    args = seq2seq_args(vocab_dir, tmp_path, "--epochs", "1", "--label-smoothing", "0.1")
    spec = get_task("cnn_dm")
    train = build_split(config_for(args, gpt2), gpt2, 0)
    alone = [
        float(spec.forward_step(collate_samples([train[i]]), model, config_for(args))[0].detach())
        for i in (0, 1)
    ]
    batch = collate_samples([train[0], train[1]])
    assert batch["sep"].tolist() == [train[0].sep, train[1].sep] and train[0].sep < train[1].sep
    logits = model(batch["input_ids"], batch["position_ids"], batch["sep"])
    losses = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), batch["target_ids"], reduction="none", label_smoothing=0.1
    )
    rows = (losses * batch["loss_mask"]).sum(1) / batch["loss_mask"].sum(1)
    np.testing.assert_allclose(rows.detach().numpy(), alone, rtol=1e-5)


def test_summary_source_template(tmp_path, vocab_dir, gpt2):
    (tmp_path / "val.source").write_text("The cat sat on the mat all day long .\n")
    (tmp_path / "val.target").write_text("Cat sits . <S_SEP> All day .\n")
    args = seq2seq_args(vocab_dir, tmp_path, "--epochs", "0")
    dataset = build_split(config_for(args, gpt2), gpt2, 1)
    example = dataset.examples[0]
    assert example.source[:2] == (gpt2.cls_id, gpt2.smask_id)
    assert (
        gpt2.decode(list(example.source[2:])) == " Content: The cat sat on the mat all day long ."
    )
    assert example.mask_positions == (1,)
    assert gpt2.decode(list(example.targets[0])) == " Cat sits . [SEP] All day .<|endofpiece|>"
    assert example.reference == "Cat sits . [SEP] All day ."


def test_source_is_cut_at_its_end_and_target_at_tgt_len(tmp_path, vocab_dir, gpt2):
    (tmp_path / "test.source").write_text(" ".join(["word"] * 200) + "\n")
    (tmp_path / "test.target").write_text(" ".join(["summary"] * 50) + "\n")
    args = seq2seq_args(vocab_dir, tmp_path, "--epochs", "0")
    test = get_task("cnn_dm").build_datasets(config_for(args, gpt2), gpt2).test
    assert len(test.examples[0].source) == 64
    assert len(test.examples[0].targets[0]) == 12 and test.examples[0].targets[0][-1] != 50258


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("a\nb\n", "x\n", r"val\.source has 2 lines but .*val\.target has 1"),
        ("a\n\nb\n", "x\ny\nz\n", r"val\.source:2: empty line"),
        ("", "x\n", r"val\.source is empty"),
    ],
)
def test_malformed_source_target_files(tmp_path, source, target, message):
    (tmp_path / "val.source").write_text(source)
    (tmp_path / "val.target").write_text(target)
    with pytest.raises(ValueError, match=message):
        read_source_target(tmp_path, "val")


def test_missing_split_file_and_flags(tmp_path, vocab_dir, gpt2):
    args = seq2seq_args(vocab_dir, tmp_path, "--epochs", "0")
    with pytest.raises(FileNotFoundError, match=r"test\.source does not exist"):
        get_task("cnn_dm").build_datasets(config_for(args, gpt2), gpt2)
    args = parse_args([*TINY, "--tokenizer-path", str(vocab_dir), "--task", "cnn_dm"])
    with pytest.raises(ValueError, match="--src-seq-length and --tgt-seq-length"):
        get_task("cnn_dm").build_datasets(config_for(args, gpt2), gpt2)


def test_squad_reader_names_the_bad_record(tmp_path):
    qas = [{"id": "q1", "question": "Who?", "answers": [{"text": "Al", "answer_start": 0}]}]
    data = {"data": [{"paragraphs": [{"context": "Al ran.", "qas": [*qas, {"id": "q2"}]}]}]}
    (tmp_path / "dev.json").write_text(json.dumps(data))
    with pytest.raises(
        ValueError,
        match=r"dev\.json: data\[0\]\.paragraphs\[0\]\.qas\[1\]: "
        r"missing field 'question'",
    ):
        list(iter_squad(tmp_path / "dev.json"))


def test_squad_windows_and_answers(tmp_path, vocab_dir, gpt2):
    context = " ".join(f"w{i}" for i in range(60)) + " Paris is the capital."
    start = context.index("Paris")
    qas = [
        {"id": "q1", "question": "What?", "answers": [{"text": "Paris", "answer_start": start}]},
        {"id": "q2", "question": "None?", "answers": [], "is_impossible": True},
    ]
    data = {"data": [{"paragraphs": [{"context": context, "qas": qas}]}]}
    (tmp_path / "dev-v2.0.json").write_text(json.dumps(data))
    args = seq2seq_args(vocab_dir, tmp_path, "--epochs", "0", task="squad")
    test = get_task("squad").build_datasets(config_for(args, gpt2), gpt2).test
    q1 = [e for e in test.examples if e.meta["qid"] == "q1"]
    assert len(q1) > 1 and [e.reference for e in q1].count("Paris") >= 1
    assert {e.reference for e in q1} <= {"Paris", "N/A"}
    assert all(len(e.source) <= 64 for e in test.examples)
    assert all(e.source[e.mask_positions[0]] == gpt2.smask_id for e in test.examples)
    ids, spans = tokenize_with_offsets(gpt2, "Hello  big world")
    assert gpt2.decode(ids) == " Hello big world" and spans[-1] == (11, 16)


def test_rouge_postprocessing_and_scores():
    text = "one two three [SEP] the cat sat on the mat [SEP] the cat sat on a mat today"
    assert clean_prediction(text, fix=None) == "the cat sat on the mat"
    # GLM compares with all earlier sentences together (lower-cased), not one by one
    first, second = "Alpha beta gamma delta epsilon", "zeta eta theta iota kappa"
    text = f"{first} [SEP] {second} [SEP] alpha beta gamma zeta eta theta"
    assert clean_prediction(text, fix=None) == f"{first}\n{second}"
    # WordPiece outputs are re-tokenised PTB-style before the filters
    assert clean_prediction("a b c don ' t [SEP] x y", fix="ptb") == "a b c do n't"
    # GLM's own rouge_metric on these (THUDM/GLM 4f61ed7): its argument order matters for
    # the summary-level ROUGE-L
    predictions = [
        "the cat sat on the mat today [SEP] a dog ran far away from it",
        "police say the man was arrested on friday night",
    ]
    references = [
        "a dog ran away from the cat [SEP] the cat sat on a mat",
        "the man was arrested by police on friday",
    ]
    glm = {
        "rouge-1": 0.8191721132897604,
        "rouge-2": 0.5066666666666667,
        "rouge-l": 0.7233115468409587,
    }
    assert rouge_scores(predictions, references) == pytest.approx(glm, abs=1e-12)
    same = rouge_scores(["the cat sat on the mat"], ["the cat sat on the mat"])
    assert same == {"rouge-1": 1.0, "rouge-2": 1.0, "rouge-l": 1.0}  # fractions, as GLM's
    partial = rouge_scores(["the cat sat on the mat"], ["a dog sat on the rug"], postprocess=False)
    assert partial["rouge-1"] == pytest.approx(0.5) and partial["rouge-2"] == pytest.approx(0.4)


def test_squad_scores_and_first_answers():
    predictions = first_answers(["a", "a", "b", "c"], ["N/A", "The Paris", "n / a", "1,000 men"])
    assert predictions == {"a": "The Paris", "b": "", "c": "1,000 men"}
    scores = squad_scores(predictions, {"a": ["Paris"], "b": [], "c": ["1000 soldiers"]})
    assert scores["EM"] == pytest.approx(200 / 3)
    assert scores["F1"] == pytest.approx(100 * (1 + 1 + 0.5) / 3)  # "1000" of two words
    chinese = squad_scores({"q": "踢爆。"}, {"q": ["踢爆"]}, char_level=True)
    assert chinese == {"EM": 100.0, "F1": 100.0}


def test_cnndm_csv_converter(tmp_path, shared_dir):
    count = convert(
        shared_dir / "eval/cnn_dm/cnn_dailymail_sample50.csv", tmp_path, "test", " <S_SEP> "
    )
    sources = (tmp_path / "test.source").read_text().splitlines()
    targets = (tmp_path / "test.target").read_text().splitlines()
    assert count == len(sources) == len(targets) == 50
    assert "<S_SEP>" in targets[0] and "\n" not in sources[0]
    (tmp_path / "bad.csv").write_text("id,article,highlights\n1,some text,\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: empty field 'highlights'"):
        convert(tmp_path / "bad.csv", tmp_path, "x", " ")
    (tmp_path / "cols.csv").write_text("id,article\n1,x\n")
    with pytest.raises(ValueError, match=r"cols\.csv:1: missing column 'highlights'"):
        convert(tmp_path / "cols.csv", tmp_path, "x", " ")


def test_rouge_of_files(tmp_path):
    (tmp_path / "h").write_text("the cat sat on the mat [SEP] it was fine\nabc\n")
    (tmp_path / "r").write_text("a cat sat on a mat [SEP] it was fine\nabc\n")
    scores = rouge_files(tmp_path / "h", tmp_path / "r")
    assert scores["rouge-1"] == pytest.approx((7 / 9 + 1) / 2)
    (tmp_path / "r").write_text("one line\n")
    with pytest.raises(ValueError, match="has 2 lines but"):
        rouge_files(tmp_path / "h", tmp_path / "r")


def test_cmrc_source_template(tmp_path, shared_dir, vocab_dir):
    data = json.loads((shared_dir / "eval/cmrc2018/cmrc2018_trial.json").read_text())
    data["data"] = data["data"][:2]
    (tmp_path / "dev.json").write_text(json.dumps(data, ensure_ascii=False))
    args = parse_args(
        ["--block-lm", "--task-mask", "--tokenizer-type=ChineseSPTokenizer", "--seq-length=256"]
        + ["--tokenizer-path", str(vocab_dir), "--task=cmrc", "--data-dir", str(tmp_path)]
        + ["--src-seq-length=96", "--tgt-seq-length=16", "--epochs=0"]
    )
    tokenizer = build_tokenizer(args.tokenizer_config())
    test = get_task("cmrc").build_datasets(config_for(args, tokenizer), tokenizer).test
    first = test.examples[0]
    assert tokenizer.decode(list(first.source[: first.mask_positions[0] + 1])) == (
        "[CLS]问题:生命数耗完即算为什么?答案:[MASK]"  # always [MASK], even with --task-mask
    )
    assert all(len(e.source) <= 96 for e in test.examples)
    assert first.reference == "踢爆" and first.meta["answers"] == ["踢爆"]


def test_question_generation_window_keeps_the_answer(tmp_path, vocab_dir, gpt2):
    context = " ".join(f"filler{i}" for i in range(80)) + " The answer is Paris. " + "end " * 80
    start = context.index("Paris")
    qas = [
        {
            "id": "q",
            "question": "What is it?",
            "answers": [{"text": "Paris", "answer_start": start}],
        }
    ]
    (tmp_path / "test.json").write_text(
        json.dumps({"data": [{"paragraphs": [{"context": context, "qas": qas}]}]})
    )
    args = seq2seq_args(vocab_dir, tmp_path, "--epochs", "0", task="squad_generation")
    example = (
        get_task("squad_generation").build_datasets(config_for(args, gpt2), gpt2).test.examples[0]
    )
    text = gpt2.decode(list(example.source))
    assert len(example.source) <= 64 and "Paris" in text.split(" Question:")[0]
    assert text.endswith(" Question:[sMASK] Answer: Paris")
    assert example.reference == "What is it?"
