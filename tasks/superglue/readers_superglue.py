"""Readers of task data files into ``InputExample`` lists: the SuperGLUE JSON-lines formats.

Every malformed record is a ``DataError`` naming the file, the line and the field, e.g.
``train.jsonl:7: field 'label' is 'maybe', expected one of entailment, not_entailment``.
"""

from __future__ import annotations

import random
from pathlib import Path

from tasks.cloze_samples import InputExample
from tasks.task_io import DataError, Record, read_jsonl


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
