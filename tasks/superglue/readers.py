"""Readers of task data files into ``InputExample`` lists: the SuperGLUE JSON-lines formats.

Every malformed record is a ``DataError`` naming the file, the line and the field, e.g.
``train.jsonl:7: field 'label' is 'maybe', expected one of entailment, not_entailment``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tasks.data_utils import InputExample


class DataError(ValueError):
    """A task data file that cannot be read; the message names file, line and field."""


class Record:
    """One parsed line of a data file, whose accessors name the file and line on error."""

    def __init__(self, data: Any, path: Path, line: int):
        if not isinstance(data, dict):
            raise DataError(f"{path}:{line}: expected a JSON object, got {type(data).__name__}")
        self.data, self.path, self.line = data, path, line

    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def get(self, *keys: str, kind: type | tuple[type, ...] = object, default: Any = ...) -> Any:
        """``data[k1][k2]...``; a missing key (without a default) or wrong type is an error."""
        value: Any = self.data
        for depth, key in enumerate(keys):
            if not isinstance(value, dict) or key not in value:
                if default is not ...:
                    return default
                name = ".".join(keys[: depth + 1])
                raise DataError(f"{self.where()}: missing field '{name}'")
            value = value[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise DataError(
                f"{self.where()}: field '{'.'.join(keys)}' is {value!r}, expected {_kind(kind)}"
            )
        return value

    def label(self, labels: tuple[str, ...], key: str = "label", lower: bool = False) -> str | None:
        """The label as a string from ``labels`` (None when the record has none: test data)."""
        if key not in self.data:
            return None
        label = str(self.data[key])
        label = label.lower() if lower else label
        if label not in labels:
            raise DataError(
                f"{self.where()}: field '{key}' is {self.data[key]!r}, "
                f"expected one of {', '.join(labels)}"
            )
        return label


def _kind(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {str: "a string", int: "an integer", list: "a list", dict: "an object"}.get(k, k.__name__)
        for k in kinds
    )


def check_file(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"task data file {path} does not exist: check --data-dir")
    return path


def read_jsonl(path: Path) -> Iterator[Record]:
    """Records of a JSON-lines file (blank lines skipped); an empty file is an error."""
    count = 0
    with check_file(path).open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{line_number}: not valid JSON ({error.msg})") from None
            count += 1
            yield Record(data, path, line_number)
    if count == 0:
        raise DataError(f"{path}: the file is empty, expected one JSON object per line")


def read_pairs(path: Path, split: str, labels: tuple[str, ...], keys=("premise", "hypothesis")):
    """RTE, CB, AX-b/AX-g: ``text_a``/``text_b`` from two string fields."""
    examples = []
    for rec in read_jsonl(path):
        idx = rec.get("idx", default=len(examples))
        examples.append(
            InputExample(
                guid=f"{split}-{idx}",
                text_a=rec.get(keys[0], kind=str),
                text_b=rec.get(keys[1], kind=str),
                label=rec.label(labels),
                idx=idx,
            )
        )
    return examples


def read_boolq(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    return [
        InputExample(
            guid=f"{split}-{rec.get('idx')}",
            text_a=rec.get("passage", kind=str),
            text_b=rec.get("question", kind=str),
            label=rec.label(labels, lower=True),
            idx=rec.get("idx"),
        )
        for rec in read_jsonl(path)
    ]


def read_wic(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    return [
        InputExample(
            guid=f"{split}-{rec.get('idx')}",
            text_a=rec.get("sentence1", kind=str),
            text_b=rec.get("sentence2", kind=str),
            label=rec.label(labels, lower=True),
            meta={"word": rec.get("word", kind=str)},
            idx=int(rec.get("idx")),
        )
        for rec in read_jsonl(path)
    ]


def read_copa(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    """COPA; training data gains a mirrored copy of every example (choices swapped, label
    flipped), which doubles it and removes any position bias."""
    examples = []
    for rec in read_jsonl(path):
        question = rec.get("question", kind=str)
        if question not in ("cause", "effect"):
            raise DataError(
                f"{rec.where()}: field 'question' is {question!r}, expected cause or effect"
            )
        meta = {
            "choice1": rec.get("choice1", kind=str),
            "choice2": rec.get("choice2", kind=str),
            "question": question,
        }
        idx = rec.get("idx")
        examples.append(
            InputExample(
                f"{split}-{idx}",
                rec.get("premise", kind=str),
                None,
                rec.label(labels),
                meta,
                idx,
                num_choices=2,
            )
        )
    if split == "train":
        mirrored = [
            InputExample(
                ex.guid + "m",
                ex.text_a,
                None,
                "1" if ex.label == "0" else "0",
                {
                    "choice1": ex.meta["choice2"],
                    "choice2": ex.meta["choice1"],
                    "question": ex.meta["question"],
                },
                ex.idx,
                num_choices=2,
            )
            for ex in examples
        ]
        examples += mirrored
    return examples


def read_multirc(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    """One example per (passage, question, answer); ``idx`` = [passage, question, answer]."""
    examples = []
    for rec in read_jsonl(path):
        passage_idx = rec.get("idx")
        text = rec.get("passage", "text", kind=str)
        for q_number, question in enumerate(rec.get("passage", "questions", kind=list)):
            q = Record(question, rec.path, rec.line)
            for answer in q.get("answers", kind=list):
                a = Record(answer, rec.path, rec.line)
                q_idx, a_idx = q.get("idx", default=q_number), a.get("idx")
                meta = {
                    "passage_idx": passage_idx,
                    "question_idx": q_idx,
                    "answer_idx": a_idx,
                    "answer": a.get("text", kind=str),
                }
                examples.append(
                    InputExample(
                        f"{split}-p{passage_idx}-q{q_idx}-a{a_idx}",
                        text,
                        q.get("question", kind=str),
                        a.label(labels),
                        meta,
                        [passage_idx, q_idx, a_idx],
                    )
                )
    return examples


def _record_passage(rec: Record) -> tuple[str, list[str]]:
    """The passage (``@highlight`` lines as "- " items) and its entities, sorted."""
    text = rec.get("passage", "text", kind=str)
    entities = set()
    for span in rec.get("passage", "entities", kind=list):
        s = Record(span, rec.path, rec.line)
        entities.add(text[s.get("start", kind=int) : s.get("end", kind=int) + 1])
    return text.replace("@highlight\n", "- "), sorted(entities)


def _record_question(rec: Record, question) -> tuple[str, object, list[str]]:
    q = Record(question, rec.path, rec.line)
    query = q.get("query", kind=str)
    if "@placeholder" not in query:
        raise DataError(f"{rec.where()}: field 'qas.query' has no @placeholder")
    answers = q.get("answers", kind=list, default=[])
    texts = {Record(a, rec.path, rec.line).get("text", kind=str) for a in answers}
    return query, q.get("idx"), sorted(texts)


def read_record(
    path: Path, split: str, labels: tuple[str, ...], seed: int = 42, max_train_candidates: int = 10
) -> list[InputExample]:
    """ReCoRD. Training: one example per correct answer, its candidates the answer followed by
    up to 9 other entities (shuffled with ``seed``), gold index 0. Evaluation: one example per
    query over all entities (sorted), scored by EM/F1 of the chosen entity."""
    shuffler = random.Random(seed)
    examples = []
    for rec in read_jsonl(path):
        idx = rec.get("idx")
        text, entities = _record_passage(rec)
        for question in rec.get("qas", kind=list):
            query, q_idx, answers = _record_question(rec, question)
            meta = {"passage_idx": idx, "question_idx": q_idx}
            if split != "train":
                meta.update(candidates=entities, answers=answers)
                guid = f"{split}-p{idx}-q{q_idx}"
                examples.append(InputExample(guid, text, query, "1", meta, q_idx, len(entities)))
                continue
            for a_idx, answer in enumerate(answers):
                others = [e for e in entities if e not in answers]
                if len(others) > max_train_candidates - 1:
                    shuffler.shuffle(others)
                    others = others[: max_train_candidates - 1]
                meta = {**meta, "candidates": [answer, *others], "answers": [answer]}
                guid = f"{split}-p{idx}-q{q_idx}-a{a_idx}"
                ex = InputExample(
                    guid, text, query, "0", meta, [idx, q_idx, a_idx], len(others) + 1
                )
                examples.append(ex)
    return examples


def repair_wsc_spans(text: str, meta: dict, where: str) -> str:
    """Fix the off-by-one word indices of some WSC records: span1 may be shifted by one word;
    span2 (the pronoun) too, or glued to the next characters ("it's" for "it"), in which case
    that word is split. Updates ``meta`` and returns the (re-joined) text."""
    words = text.split()
    lower = text.lower().split()
    span1 = meta["span1_text"].lower().split()
    i1, i2, pronoun = meta["span1_index"], meta["span2_index"], meta["span2_text"]
    if lower[i1 : i1 + len(span1)] != span1:
        for offset in (-1, 1):
            if i1 + offset >= 0 and lower[i1 + offset : i1 + offset + len(span1)] == span1:
                i1 += offset
                break

    def word(k: int) -> str | None:
        return words[k] if 0 <= k < len(words) else None

    if word(i2) != pronoun:
        for offset in (-1, 1):
            if word(i2 + offset) == pronoun:
                i2 += offset
                break
        current = word(i2)
        if current is not None and current != pronoun and current.startswith(pronoun):
            words[i2 : i2 + 1] = [current[: len(pronoun)], current[len(pronoun) :]]
    if word(i2) != pronoun:
        raise DataError(
            f"{where}: field 'target.span2_text' {pronoun!r} is not at word "
            f"{meta['span2_index']} of the text (found {word(i2)!r})"
        )
    meta["span1_index"], meta["span2_index"] = i1, i2
    return " ".join(words)


def read_wsc(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    """WSC (and the WSC-negative variant, whose records carry ``candidates``)."""
    examples = []
    for rec in read_jsonl(path):
        idx = rec.get("idx")
        meta = {
            key: rec.get("target", key, kind=kind)
            for key, kind in (
                ("span1_text", str),
                ("span2_text", str),
                ("span1_index", int),
                ("span2_index", int),
            )
        }
        if "candidates" in rec.data:
            texts = [
                Record(c, rec.path, rec.line).get("text", kind=str)
                for c in rec.get("candidates", kind=list)
            ]
            meta["candidates"] = list(dict.fromkeys(texts))
        text = repair_wsc_spans(rec.get("text", kind=str), meta, rec.where())
        examples.append(InputExample(f"{split}-{idx}", text, None, rec.label(labels), meta, idx))
    return examples
