"""Readers of the classification formats beyond SuperGLUE: GLUE TSVs, text-classification
CSVs (AG News, Yahoo, Yelp), X-Stance and the CLUE JSON-lines files (AFQMC, TNEWS, CLUEWSC).

As in GLM, the GLUE, CSV and X-Stance texts go through the punctuation standardisation (curly
quotes to straight ones, en dash to ``-``); the Chinese CLUE texts are read as they are.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from data_utils.corpora import punctuation_standardization as standardize
from tasks.cloze_samples import InputExample
from tasks.task_io import DataError, label_required, read_jsonl, read_text


def _rows(path: Path, delimiter: str, skip_header: bool) -> list[tuple[int, list[str]]]:
    text = read_text(path, "task data, one example per line")
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    rows = list(enumerate(reader, start=1))
    rows = [(n, row) for n, row in rows if row]
    rows = rows[1:] if skip_header else rows
    if not rows:
        raise DataError(f"{path}: the file is empty, expected one example per line")
    return rows


def _cell(path: Path, line: int, row: list[str], column: int, name: str) -> str:
    if not -len(row) <= column < len(row):
        raise DataError(f"{path}:{line}: missing field '{name}' (column {column + 1})")
    return row[column]


def check_label(path: Path, line: int, label: str, labels: tuple[str, ...]) -> str:
    if label not in labels:
        raise DataError(
            f"{path}:{line}: field 'label' is {label!r}, expected one of {', '.join(labels)}"
        )
    return label


# GLUE TSV layouts: task -> (text_a column, text_b column or None, label column, header?) for
# labelled files and (text_a, text_b) for the unlabelled test files.
GLUE_COLUMNS = {
    "mnli": ((8, 9, -1, True), (8, 9)),
    "sst2": ((0, None, 1, True), (1, None)),
    "cola": ((3, None, 1, False), (1, None)),
    "mrpc": ((3, 4, 0, True), (3, 4)),
    "qqp": ((3, 4, 5, True), (1, 2)),
    "qnli": ((1, 2, -1, True), (1, 2)),
}


def read_glue(path: Path, split: str, labels: tuple[str, ...], task: str) -> list[InputExample]:
    labelled, unlabelled = GLUE_COLUMNS[task]
    has_label = split != "test"
    a, b = labelled[:2] if has_label else unlabelled
    examples = []
    for line, row in _rows(path, "\t", skip_header=labelled[3] or not has_label):
        label = None
        if has_label:
            label = check_label(path, line, _cell(path, line, row, labelled[2], "label"), labels)
        text_b = standardize(_cell(path, line, row, b, "text_b")) if b is not None else None
        examples.append(
            InputExample(
                f"{split}-{line}",
                standardize(_cell(path, line, row, a, "text_a")),
                text_b,
                label,
                idx=len(examples),
                origin=f"{path}:{line}",
            )
        )
    return examples


def read_text_classification(
    path: Path, split: str, labels: tuple[str, ...], task: str
) -> list[InputExample]:
    """AG News ``label,headline,body``; Yahoo ``label,title,body,answer``; Yelp ``label,text``."""
    examples = []
    for line, row in _rows(path, ",", skip_header=False):
        label = check_label(path, line, _cell(path, line, row, 0, "label"), labels)
        if task == "agnews":
            text_a = _cell(path, line, row, 1, "headline").replace("\\", " ")
            text_b = _cell(path, line, row, 2, "body").replace("\\", " ")
        elif task == "yahoo":
            title, body = _cell(path, line, row, 1, "title"), _cell(path, line, row, 2, "body")
            text_a = " ".join([title, body]).replace("\\n", " ").replace("\\", " ")
            text_b = _cell(path, line, row, 3, "answer").replace("\\n", " ").replace("\\", " ")
        else:
            text_a = _cell(path, line, row, 1, "text").replace("\\n", " ").replace("\\", " ")
            text_b = None
        text_a, text_b = standardize(text_a), standardize(text_b) if text_b is not None else None
        examples.append(
            InputExample(
                f"{split}-{line}", text_a, text_b, label, idx=len(examples), origin=f"{path}:{line}"
            )
        )
    return examples


def read_xstance(path: Path, split: str, labels: tuple[str, ...], language: str | None = None):
    """X-Stance ``question``/``comment``; ``language`` keeps only that language's records."""
    examples = []
    for rec in read_jsonl(path):
        if language is not None and rec.get("language", kind=str) != language:
            continue
        examples.append(
            InputExample(
                f"{split}-{rec.line}",
                standardize(rec.get("question", kind=str)),
                standardize(rec.get("comment", kind=str)),
                rec.label(labels, required=label_required(split)),
                idx=rec.get("id", default=rec.line),
                origin=rec.where(),
            )
        )
    return examples


def read_clue_pairs(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    """AFQMC ``sentence1``/``sentence2``; ``idx`` is the record's position in the file (0..),
    as GLM numbered them (CLUE's test ``id`` is that position)."""
    examples = []
    for rec in read_jsonl(path):
        idx = len(examples)
        examples.append(
            InputExample(
                f"{split}-{idx}",
                rec.get("sentence1", kind=str),
                rec.get("sentence2", kind=str),
                rec.label(labels, required=label_required(split)),
                idx=idx,
                origin=rec.where(),
            )
        )
    return examples


def read_tnews(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    """TNEWS ``sentence``/``keywords``; ``idx`` as for AFQMC."""
    examples = []
    for rec in read_jsonl(path):
        idx = len(examples)
        examples.append(
            InputExample(
                f"{split}-{idx}",
                rec.get("sentence", kind=str),
                rec.get("keywords", kind=str, default=""),
                rec.label(labels, required=label_required(split)),
                idx=idx,
                origin=rec.where(),
            )
        )
    return examples


def read_cluewsc(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    """CLUEWSC: character-level span indices; the text is checked to hold both spans."""
    examples = []
    for rec in read_jsonl(path):
        text = rec.get("text", kind=str)
        meta = {
            key: rec.get("target", key, kind=kind)
            for key, kind in (
                ("span1_text", str),
                ("span2_text", str),
                ("span1_index", int),
                ("span2_index", int),
            )
        }
        for n in ("1", "2"):
            start, span = meta[f"span{n}_index"], meta[f"span{n}_text"]
            if text[start : start + len(span)] != span:
                raise DataError(
                    f"{rec.where()}: field 'target.span{n}_text' {span!r} is not "
                    f"at character {start} of the text"
                )
        idx = rec.get("id", default=rec.get("idx", default=len(examples)))
        label = rec.label(labels, lower=True, required=label_required(split))
        examples.append(
            InputExample(f"{split}-{idx}", text, None, label, meta, idx, origin=rec.where())
        )
    return examples


def check_examples(examples: list[InputExample], path: Path, split: str) -> list[InputExample]:
    """A split must hold examples; train and dev examples all carry labels, test examples all
    or none (a half-labelled file would silently lose its metrics)."""
    if not examples:
        raise DataError(f"{path}: holds no examples for this task")
    missing = [ex for ex in examples if ex.label is None]
    if missing and (label_required(split) or len(missing) < len(examples)):
        where = missing[0].origin or str(path)
        raise DataError(
            f"{where}: missing field 'label' ({len(missing)} of {len(examples)} examples have "
            "none): label every example, or none in unlabelled test data"
        )
    return examples
