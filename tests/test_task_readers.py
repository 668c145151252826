"""Task readers read what GLM read: the punctuation standardisation exactly where GLM's readers
applied it, every label checked before anything runs, and a file that is not UTF-8 reported as
one line naming it.

The expected token ids of the BoolQ and CNN/DM examples were computed by the original GLM code
(THUDM/GLM 4f61ed7, its ``SuperGlueDataset`` and ``Seq2SeqDataset``) with its GPT-2 tokenizer.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from data_utils.tokenization import build_tokenizer
from scripts.convert_cnndm_csv import convert
from tasks.seq2seq.readers import read_cnndm, read_gigaword, read_source_target, read_xsum
from tasks.seq2seq.task import build_split
from tasks.superglue.dataset import build_task_dataset
from tasks.superglue.processors import get_examples
from tasks.task_io import DataError
from tests.task_helpers import config_for
from training.arguments import parse_args

REPO = Path(__file__).resolve().parents[1]
TINY = [
    *("--block-lm", "--task-mask", "--num-layers", "2", "--hidden-size", "64"),
    *("--num-attention-heads", "4", "--max-position-embeddings", "256", "--seq-length", "256"),
    *("--tokenizer-type", "GPT2BPETokenizer"),
]
QUOTES = "\u201cA\u201d \u2018b\u2019 1\u20132 x\u2014y"  # curly quotes, en dash, em dash
STANDARD = "\"A\" 'b' 1-2 x\u2014y"  # GLM maps all but the em dash


@pytest.fixture(scope="module")
def gpt2(vocab_dir):
    return build_tokenizer(
        parse_args([*TINY, "--tokenizer-path", str(vocab_dir)]).tokenizer_config()
    )


def test_boolq_en_dash_tokenises_as_glm(shared_dir, vocab_dir, gpt2):
    """Line 14 of the BoolQ training file opens with "qualification \u2013 UEFA"."""
    args = parse_args(
        [*TINY, "--tokenizer-path", str(vocab_dir), "--task", "BoolQ", "--cloze-eval"]
        + ["--data-dir", str(shared_dir / "eval/superglue/BoolQ"), "--pattern-id", "0"]
    )
    dataset = build_task_dataset("train", gpt2, config_for(args, gpt2))
    index = next(i for i, ex in enumerate(dataset.examples) if ex.idx == 9317)
    ids = dataset[index]["input_ids"].tolist()
    # " FIFA World Cup qualification - UEFA Group G": GLM's ids (" \u2013" would be 784)
    glm = [21285, 2159, 5454, 28587, 532, 40858, 4912, 402]
    assert ids[2 : 2 + len(glm)] == glm


def test_cnndm_curly_quotes_tokenise_as_glm(shared_dir, vocab_dir, gpt2, tmp_path):
    """Article 11 of the CNN/DM sample has "you\u2019re" in its first sentence."""
    csv = shared_dir / "eval/cnn_dm/cnn_dailymail_sample50.csv"
    convert(csv, tmp_path, "val", " <S_SEP> ")
    args = parse_args(
        [*TINY, "--tokenizer-path", str(vocab_dir), "--task", "cnn_dm"]
        + ["--data-dir", str(tmp_path), "--src-seq-length", "192", "--tgt-seq-length", "32"]
    )
    source = build_split(config_for(args, gpt2), gpt2, 1).examples[10].source
    # "[CLS] [sMASK] Content: By . Ellie Zolfagharifard . Take a look at a map today, and
    # you're likely to see that North": GLM's ids (the raw \u2019 is three byte tokens)
    glm = [50259, 50264, 14041, 25, 2750, 764, 44801, 1168, 4024, 363, 9869, 361, 446, 764]
    glm += [7214, 257, 804, 379, 257, 3975, 1909, 11, 290, 345, 821, 1884, 284, 766, 326, 2258]
    assert list(source[:30]) == glm


def _write(folder: Path, name: str, records) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


SUPERGLUE_RECORDS = {
    "rte": {"idx": 0, "premise": QUOTES, "hypothesis": QUOTES, "label": "entailment"},
    "boolq": {"idx": 0, "passage": QUOTES, "question": QUOTES, "label": True},
    "wic": {
        "idx": 0,
        "word": QUOTES,
        "sentence1": QUOTES,
        "sentence2": QUOTES,
        "label": False,
    },
    "copa": {
        "idx": 0,
        "premise": QUOTES,
        "choice1": QUOTES,
        "choice2": "b",
        "question": "cause",
        "label": 0,
    },
    "multirc": {
        "idx": 0,
        "passage": {
            "text": QUOTES,
            "questions": [
                {"idx": 0, "question": QUOTES, "answers": [{"idx": 0, "text": QUOTES, "label": 1}]}
            ],
        },
    },
    "record": {
        "idx": 0,
        "passage": {"text": QUOTES, "entities": [{"start": 0, "end": 2}]},
        "qas": [{"idx": 0, "query": QUOTES + " @placeholder", "answers": [{"text": QUOTES}]}],
    },
    "wsc": {
        "idx": 0,
        "text": "He said \u201cit\u201d",
        "target": {"span1_text": "He", "span1_index": 0, "span2_text": "said", "span2_index": 1},
        "label": True,
    },
}


def test_superglue_readers_standardise_what_glm_did(tmp_path):
    """Standardised: RTE premise/hypothesis, BoolQ passage/question, WiC sentences, MultiRC
    passage/question/answer, ReCoRD passage/entities/query/answers, WSC text. As read: the
    WiC word and all of COPA (GLM standardised COPA only for the classification head)."""
    out = {}
    for task, record in SUPERGLUE_RECORDS.items():
        _write(tmp_path / task, "train.jsonl", [record])
        out[task] = get_examples(task, tmp_path / task, "train")[0]
    assert out["rte"].text_a == out["rte"].text_b == STANDARD
    assert out["boolq"].text_a == out["boolq"].text_b == STANDARD
    assert out["wic"].text_a == out["wic"].text_b == STANDARD
    assert out["wic"].meta["word"] == QUOTES
    assert out["copa"].text_a == out["copa"].meta["choice1"] == QUOTES
    multirc = out["multirc"]
    assert multirc.text_a == multirc.text_b == multirc.meta["answer"] == STANDARD
    record = out["record"]
    assert record.text_a == STANDARD and record.text_b == STANDARD + " @placeholder"
    assert record.meta["candidates"] == [STANDARD, '"A"'] and record.meta["answers"] == [STANDARD]
    assert out["wsc"].text_a == 'He said "it"'


def test_other_readers_standardise_what_glm_did(tmp_path):
    """GLUE/CSV/X-Stance texts and CNN/DM, CNN/DM-original and Gigaword sources and targets are
    standardised; CLUE, RACE, XSum and the source/target files of customization/extraction
    are not."""
    tsv = tmp_path / "sst2"
    tsv.mkdir()
    (tsv / "train.tsv").write_text(f"sentence\tlabel\n{QUOTES}\t1\n", encoding="utf-8")
    assert get_examples("sst2", tsv, "train")[0].text_a == STANDARD
    csv = tmp_path / "yelp"
    csv.mkdir()
    (csv / "train.csv").write_text(f'"2","{QUOTES}"\n', encoding="utf-8")
    assert get_examples("yelp-polarity", csv, "train")[0].text_a == STANDARD
    afqmc = {"sentence1": QUOTES, "sentence2": QUOTES, "label": "1"}
    _write(tmp_path / "afqmc", "train.json", [afqmc])
    assert get_examples("afqmc", tmp_path / "afqmc", "train")[0].text_a == QUOTES

    pairs = tmp_path / "pairs"
    pairs.mkdir()
    (pairs / "train.source").write_text(f" {QUOTES} <S_SEP> -LRB- x\n", encoding="utf-8")
    (pairs / "train.target").write_text(f"{QUOTES} <S_SEP> UNK\n", encoding="utf-8")
    cnndm = read_cnndm(pairs, "train")[0]
    assert (cnndm.source, cnndm.target) == (STANDARD + "  ( x", STANDARD + " [SEP] UNK")
    gigaword = read_gigaword(pairs, "train")[0]
    assert gigaword.target == STANDARD + " <S_SEP> [UNK]"
    assert read_source_target(pairs, "train")[0].source == QUOTES + " <S_SEP> -LRB- x"

    xsum = tmp_path / "xsum"
    xsum.mkdir()
    (xsum / "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json").write_text('{"train": ["d1"]}')
    document = f"[SN]URL[SN]\nu\n[SN]FIRST-SENTENCE[SN]\n {QUOTES} \n[SN]RESTBODY[SN]\na  b\n\nc\n"
    (xsum / "d1.summary").write_text(document, encoding="utf-8")
    example = read_xsum(xsum, "train")[0]
    assert (example.source, example.target) == ("a  b c", QUOTES)


@pytest.mark.parametrize(
    ("task", "record", "field"),
    [
        ("rte", {"idx": 3, "premise": "a", "hypothesis": "b"}, "'label'"),
        ("boolq", {"idx": 3, "passage": "a", "question": "b"}, "'label'"),
        ("copa", {**SUPERGLUE_RECORDS["copa"], "label": None}, "'label'"),
        ("wsc", {k: v for k, v in SUPERGLUE_RECORDS["wsc"].items() if k != "label"}, "'label'"),
        (
            "multirc",
            {
                "idx": 0,
                "passage": {
                    "text": "t",
                    "questions": [
                        {"idx": 0, "question": "q", "answers": [{"idx": 0, "text": "a"}]}
                    ],
                },
            },
            "'passage.questions[0].answers[0].label'",
        ),
        (
            "record",
            {**SUPERGLUE_RECORDS["record"], "qas": [{"idx": 0, "query": "@placeholder"}]},
            "'qas[0].answers'",
        ),
    ],
)
@pytest.mark.parametrize("split", ["train", "dev"])
def test_a_missing_label_stops_reading_with_file_line_field(tmp_path, task, record, field, split):
    if record.get("label", "") is None:
        record = {k: v for k, v in record.items() if k != "label"}
    name = {"train": "train.jsonl", "dev": "val.jsonl"}[split]
    good = SUPERGLUE_RECORDS[task]
    path = _write(tmp_path, name, [good, record])
    with pytest.raises(DataError) as error:
        get_examples(task, tmp_path, split)
    message = str(error.value)
    assert message.startswith(f"{path}:2: ") and field in message and "\n" not in message


def test_test_data_is_labelled_all_or_none(tmp_path):
    unlabelled = {"idx": 0, "passage": "p", "question": "q"}
    _write(tmp_path, "test.jsonl", [unlabelled, {**unlabelled, "idx": 1}])
    assert [ex.label for ex in get_examples("boolq", tmp_path, "test")] == [None, None]
    path = _write(tmp_path, "test.jsonl", [{**unlabelled, "label": True}, unlabelled])
    with pytest.raises(DataError, match=rf"^{path}:2: missing field 'label' \(1 of 2"):
        get_examples("boolq", tmp_path, "test")
    clue = tmp_path / "clue"
    path = _write(clue, "dev.json", [{"sentence1": "a", "sentence2": "b"}])
    with pytest.raises(DataError, match=rf"^{path}:1: missing field 'label': train and dev"):
        get_examples("afqmc", clue, "dev")


@pytest.mark.parametrize("name", ["train.jsonl", "train.tsv", "train.source"])
def test_a_latin1_file_is_one_line_naming_it(tmp_path, name):
    good = {
        "train.jsonl": b'{"idx": 0, "passage": "p", "question": "q", "label": true}\n',
        "train.tsv": b"sentence\tlabel\n",
    }.get(name, b"a\n")
    path = tmp_path / name
    path.write_bytes(good + "caf\u00e9\n".encode("latin-1"))
    (tmp_path / "train.target").write_text("x\ny\n")
    with pytest.raises(DataError) as error:
        if name == "train.jsonl":
            get_examples("boolq", tmp_path, "train")
        elif name == "train.tsv":
            get_examples("sst2", tmp_path, "train")
        else:
            read_source_target(tmp_path, "train")
    assert str(error.value).startswith(f"{path}:2: not UTF-8 text (byte 0xe9)")


def test_finetune_on_a_latin1_dev_file_exits_with_one_line(tmp_path, shared_dir):
    data = tmp_path / "BoolQ"
    data.mkdir()
    (data / "dev32.jsonl").write_bytes(
        json.dumps({"idx": 0, "passage": "caf\u00e9", "question": "q", "label": True})
        .replace("\\u00e9", "\u00e9")
        .encode("latin-1")
        + b"\n"
    )
    argv = [*TINY, "--tokenizer-path", str(shared_dir / "vocab"), "--task", "BoolQ"]
    argv += ["--cloze-eval", "--few-superglue", "--data-dir", str(data), "--epochs", "0"]
    argv += ["--eval-valid", "--summary-dir", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, str(REPO / "finetune_glm.py"), *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"finetune_glm.py: error: {data / 'dev32.jsonl'}:1: not UTF-8 text")
