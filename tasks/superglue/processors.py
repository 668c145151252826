"""The data processors: task name -> label order, file names per split, and the reader.

``get_examples(task, data_dir, split, few_superglue)`` reads a split; label index = position in
``Processor.labels``. SuperGLUE splits are ``train.jsonl``, ``val.jsonl`` (dev) and
``test.jsonl``; with ``--few-superglue`` (FewGLUE) dev is ``dev32.jsonl`` and test ``val.jsonl``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from tasks.cloze_samples import InputExample
from tasks.superglue import readers_classification as C
from tasks.superglue import readers_reading as RC
from tasks.superglue import readers_superglue as R

SUPERGLUE_FILES = {"train": "train.jsonl", "dev": "val.jsonl", "test": "test.jsonl"}
FEW_SUPERGLUE_FILES = {"train": "train.jsonl", "dev": "dev32.jsonl", "test": "val.jsonl"}
GLUE_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
CLUE_FILES = {"train": "train.json", "dev": "dev.json", "test": "test.json"}
CSV_FILES = {"train": "train.csv", "dev": "test.csv", "test": "test.csv"}


@dataclass(frozen=True)
class Processor:
    labels: tuple[str, ...]
    reader: Callable[[Path, str, tuple[str, ...]], list[InputExample]]
    files: Mapping[str, str] = field(default_factory=lambda: SUPERGLUE_FILES)
    superglue: bool = True  # --few-superglue applies


def _superglue(labels, reader) -> Processor:
    return Processor(tuple(labels), reader)


def _glue(task: str, labels, files=GLUE_FILES) -> Processor:
    return Processor(tuple(labels), partial(C.read_glue, task=task), files, superglue=False)


def _csv(task: str, labels) -> Processor:
    return Processor(
        tuple(labels), partial(C.read_text_classification, task=task), CSV_FILES, False
    )


def _xstance(language: str | None) -> Processor:
    files = {"train": "train.jsonl", "dev": "test.jsonl", "test": "test.jsonl"}
    return Processor(("FAVOR", "AGAINST"), partial(C.read_xstance, language=language), files, False)


RTE_LABELS = ("entailment", "not_entailment")
PROCESSORS: dict[str, Processor] = {
    "rte": _superglue(RTE_LABELS, R.read_pairs),
    "cb": _superglue(("entailment", "contradiction", "neutral"), R.read_pairs),
    "ax-b": Processor(
        RTE_LABELS, partial(R.read_pairs, keys=("sentence1", "sentence2")), {"test": "AX-b.jsonl"}
    ),
    "ax-g": Processor(RTE_LABELS, R.read_pairs, {"test": "AX-g.jsonl"}),
    "wic": _superglue(("false", "true"), R.read_wic),
    "wsc": _superglue(("False", "True"), R.read_wsc),
    "wsc1": _superglue(("False", "True"), R.read_wsc),
    "boolq": _superglue(("false", "true"), R.read_boolq),
    "copa": _superglue(("0", "1"), R.read_copa),
    "multirc": _superglue(("0", "1"), R.read_multirc),
    "record": _superglue(("0", "1"), R.read_record),
    "mnli": _glue(
        "mnli",
        ("contradiction", "entailment", "neutral"),
        {"train": "train.tsv", "dev": "dev_matched.tsv", "test": "test_matched.tsv"},
    ),
    "mnli-mm": _glue(
        "mnli",
        ("contradiction", "entailment", "neutral"),
        {"train": "train.tsv", "dev": "dev_mismatched.tsv", "test": "test_mismatched.tsv"},
    ),
    "sst2": _glue("sst2", ("0", "1")),
    "cola": _glue("cola", ("0", "1")),
    "mrpc": _glue("mrpc", ("0", "1")),
    "qqp": _glue("qqp", ("0", "1")),
    "qnli": _glue("qnli", RTE_LABELS),
    "agnews": _csv("agnews", [str(i) for i in range(1, 5)]),
    "yahoo": _csv("yahoo", [str(i) for i in range(1, 11)]),
    "yelp-polarity": _csv("yelp", ("1", "2")),
    "yelp-full": _csv("yelp", [str(i) for i in range(1, 6)]),
    "xstance": _xstance(None),
    "xstance-de": _xstance("de"),
    "xstance-fr": _xstance("fr"),
    "race": Processor(
        ("A", "B", "C", "D"), RC.read_race, {"train": "train", "dev": "dev", "test": "test"}, False
    ),
    "squad-cloze": Processor(
        ("0",),
        RC.read_squad_cloze,
        {"train": "train-v2.0.json", "dev": "dev-v2.0.json", "test": "dev-v2.0.json"},
        False,
    ),
    "afqmc": Processor(("0", "1"), C.read_clue_pairs, CLUE_FILES, False),
    "tnews": Processor(
        tuple(
            str(i)
            for i in (100, 101, 102, 103, 104, 106, 107, 108, 109, 110, 112, 113, 114, 115, 116)
        ),
        C.read_tnews,
        CLUE_FILES,
        False,
    ),
    "cluewsc": Processor(("false", "true"), C.read_cluewsc, CLUE_FILES, False),
}


def split_path(task: str, data_dir: str | Path, split: str, few_superglue: bool = False) -> Path:
    """Where ``split`` of ``task`` lives (it may not exist)."""
    processor = PROCESSORS[task]
    files = FEW_SUPERGLUE_FILES if few_superglue and processor.superglue else processor.files
    if split not in files:
        raise ValueError(f"task {task} has no {split} split (it has {', '.join(files)})")
    return Path(data_dir) / files[split]


def get_examples(
    task: str, data_dir: str | Path, split: str, few_superglue: bool = False
) -> list[InputExample]:
    """Read ``split`` (train, dev or test) of ``task`` from ``data_dir``."""
    processor = PROCESSORS[task]
    path = split_path(task, data_dir, split, few_superglue)
    return C.check_examples(processor.reader(path, split, processor.labels), path, split)
