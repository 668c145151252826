"""Readers of task data files into ``InputExample`` lists: the SuperGLUE JSON-lines formats.

Text fields go through GLM's punctuation standardisation (curly quotes to straight ones, en
dash to ``-``) exactly where GLM's readers applied it: RTE/CB/AX premise and hypothesis, BoolQ
passage and question, WiC sentences (not the word), WSC text (not the spans), MultiRC passage,
question and answer, ReCoRD passage, entities, query and answers. COPA is read as it is (GLM
standardised it only for the classification head, see ``classification.py``).

Every malformed record is a ``DataError`` naming the file, the line and the field, e.g.
``train.jsonl:7: field 'label' is 'maybe', expected one of entailment, not_entailment``; a
train or dev example without its label is one too.
"""

from __future__ import annotations

import random
from pathlib import Path

from data_utils.corpora import punctuation_standardization as standardize
from tasks.cloze_samples import InputExample
from tasks.task_io import DataError, Record, label_required, read_jsonl


def _int_idx(rec: Record, default: int) -> object:
    """The record's ``idx``; a numeric string becomes an int (GLM's RTE/CB rule), any other
    string the record's position in the file."""
    idx = rec.get("idx", default=default)
    if isinstance(idx, str):
        return int(idx) if idx.strip().lstrip("-").isdigit() else default
    return idx


def read_pairs(path: Path, split: str, labels: tuple[str, ...], keys=("premise", "hypothesis")):
    """RTE, CB, AX-b/AX-g: ``text_a``/``text_b`` from two string fields."""
    examples = []
    for rec in read_jsonl(path):
        idx = _int_idx(rec, len(examples))
        examples.append(
            InputExample(
                guid=f"{split}-{idx}",
                text_a=standardize(rec.get(keys[0], kind=str)),
                text_b=standardize(rec.get(keys[1], kind=str)),
                label=rec.label(labels, required=label_required(split)),
                idx=idx,
                origin=rec.where(),
            )
        )
    return examples


def read_boolq(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    return [
        InputExample(
            guid=f"{split}-{rec.get('idx')}",
            text_a=standardize(rec.get("passage", kind=str)),
            text_b=standardize(rec.get("question", kind=str)),
            label=rec.label(labels, lower=True, required=label_required(split)),
            idx=rec.get("idx"),
            origin=rec.where(),
        )
        for rec in read_jsonl(path)
    ]


def read_wic(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    return [
        InputExample(
            guid=f"{split}-{rec.get('idx')}",
            text_a=standardize(rec.get("sentence1", kind=str)),
            text_b=standardize(rec.get("sentence2", kind=str)),
            label=rec.label(labels, lower=True, required=label_required(split)),
            meta={"word": rec.get("word", kind=str)},
            idx=int(rec.get("idx", kind=(int, str))),
            origin=rec.where(),
        )
        for rec in read_jsonl(path)
    ]


def _mirrored(example: InputExample) -> InputExample:
    """A COPA example with its choices swapped and its label flipped."""
    meta = example.meta
    return InputExample(
        example.guid + "m",
        example.text_a,
        None,
        "1" if example.label == "0" else "0",
        {"choice1": meta["choice2"], "choice2": meta["choice1"], "question": meta["question"]},
        example.idx,
        num_choices=2,
        origin=example.origin,
    )


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
        label = rec.label(labels, required=label_required(split))
        examples.append(
            InputExample(
                f"{split}-{idx}",
                rec.get("premise", kind=str),
                None,
                label,
                meta,
                idx,
                2,
                rec.where(),
            )
        )
    if split == "train":
        examples += [_mirrored(ex) for ex in examples]
    return examples


def read_multirc(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    """One example per (passage, question, answer); ``idx`` = [passage, question, answer]."""
    examples = []
    for rec in read_jsonl(path):
        passage_idx = rec.get("idx")
        text = standardize(rec.get("passage", "text", kind=str))
        for q_number, question in enumerate(rec.get("passage", "questions", kind=list)):
            q = rec.nested(question, "passage", "questions", q_number)
            for a_number, answer in enumerate(q.get("answers", kind=list)):
                a = q.nested(answer, "answers", a_number)
                q_idx, a_idx = q.get("idx", default=q_number), a.get("idx")
                meta = {
                    "passage_idx": passage_idx,
                    "question_idx": q_idx,
                    "answer_idx": a_idx,
                    "answer": standardize(a.get("text", kind=str)),
                }
                examples.append(
                    InputExample(
                        f"{split}-p{passage_idx}-q{q_idx}-a{a_idx}",
                        text,
                        standardize(q.get("question", kind=str)),
                        a.label(labels, required=label_required(split)),
                        meta,
                        [passage_idx, q_idx, a_idx],
                        origin=rec.where(),
                    )
                )
    return examples


def _record_passage(rec: Record) -> tuple[str, list[str]]:
    """The passage (``@highlight`` lines as "- " items) and its entities, sorted. The
    standardisation maps characters one to one, so entity offsets stay valid."""
    text = standardize(rec.get("passage", "text", kind=str))
    entities = set()
    for number, span in enumerate(rec.get("passage", "entities", kind=list)):
        s = rec.nested(span, "passage", "entities", number)
        entities.add(text[s.get("start", kind=int) : s.get("end", kind=int) + 1])
    return text.replace("@highlight\n", "- "), sorted(entities)


def _record_question(rec: Record, number: int, split: str) -> tuple[str, object, list[str]]:
    """A query, its idx and its answers (which train and dev queries must have)."""
    q = rec.nested(rec.data["qas"][number], "qas", number)
    query = standardize(q.get("query", kind=str))
    if "@placeholder" not in query:
        raise DataError(f"{rec.where()}: field 'qas[{number}].query' has no @placeholder")
    answers = q.get("answers", kind=list, default=[])
    if not answers and label_required(split):
        raise DataError(
            f"{rec.where()}: field 'qas[{number}].answers' is missing or empty: "
            "train and dev queries need their answers (only test data may go without)"
        )
    texts = {
        standardize(q.nested(a, "answers", k).get("text", kind=str)) for k, a in enumerate(answers)
    }
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
        for number in range(len(rec.get("qas", kind=list))):
            query, q_idx, answers = _record_question(rec, number, split)
            meta = {"passage_idx": idx, "question_idx": q_idx}
            if split != "train":
                # the label is a dummy; unanswered (test) queries have none, so no metrics
                meta.update(candidates=entities, answers=answers)
                guid, label = f"{split}-p{idx}-q{q_idx}", "1" if answers else None
                examples.append(
                    InputExample(guid, text, query, label, meta, q_idx, len(entities), rec.where())
                )
                continue
            for a_idx, answer in enumerate(answers):
                others = [e for e in entities if e not in answers]
                if len(others) > max_train_candidates - 1:
                    shuffler.shuffle(others)
                    others = others[: max_train_candidates - 1]
                meta = {**meta, "candidates": [answer, *others], "answers": [answer]}
                guid = f"{split}-p{idx}-q{q_idx}-a{a_idx}"
                ex = InputExample(
                    guid, text, query, "0", meta, [idx, q_idx, a_idx], len(others) + 1, rec.where()
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
                rec.nested(c, "candidates", k).get("text", kind=str)
                for k, c in enumerate(rec.get("candidates", kind=list))
            ]
            meta["candidates"] = list(dict.fromkeys(texts))
        text = repair_wsc_spans(standardize(rec.get("text", kind=str)), meta, rec.where())
        label = rec.label(labels, required=label_required(split))
        examples.append(
            InputExample(f"{split}-{idx}", text, None, label, meta, idx, origin=rec.where())
        )
    return examples
