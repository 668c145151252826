"""Inputs of the classification head (``--cloze-eval`` off): ``[CLS] A [SEP] B [eos]``.

Which texts form A and B depends on the task (GLM's choices): WiC prefixes the word, WSC marks
the pronoun and pairs the text with span1, MultiRC appends the answer to the question, and the
multiple-choice tasks (COPA, ReCoRD, RACE, SQuAD) give one row per candidate, scored by a
one-output head.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_utils.corpora import punctuation_standardization as standardize
from tasks.cloze_samples import InputExample, stack_rows

CHOICE_TASKS = ("copa", "record", "race", "squad-cloze")


def classifier_texts(task: str, example: InputExample) -> list[tuple[str, str | tuple | None]]:
    """The (A, B) text pairs of an example: one pair, or one per candidate for choice tasks."""
    a, b, meta = example.text_a, example.text_b, example.meta
    if task == "wic":
        return [(meta["word"] + ": " + a, b)]
    if task in ("wsc", "wsc1"):
        words = a.split()
        words[meta["span2_index"]] = "*" + words[meta["span2_index"]] + "*"
        return [(" ".join(words), meta["span1_text"])]
    if task == "multirc":
        return [(a, b + " answer: " + meta["answer"])]
    if task == "copa":
        # GLM standardised COPA's punctuation here, for the classification head only
        joiner = " because" if meta["question"] == "cause" else " so"
        return [(standardize(a) + joiner, standardize(meta[c])) for c in ("choice1", "choice2")]
    if task == "record":
        # GLM appended each candidate's tokens to the query's (its @placeholder left in)
        return [(a, (b, c)) for c in meta["candidates"]]
    if task == "race":
        return [(a, b + " " + c) for c in meta["choices"]]
    if task == "squad-cloze":
        return [(a, b + " " + meta["answer"])]
    return [(a, b)]


def _row(
    tokenizer, text_a: str, text_b: str | tuple[str, ...] | None, max_seq_length: int
) -> dict[str, Any]:
    """``[CLS] A [SEP] B [eos]``; a B given in parts is encoded part by part."""
    ids = [tokenizer.cls_id, *tokenizer.encode(text_a)]
    if text_b is not None:
        parts = (text_b,) if isinstance(text_b, str) else text_b
        ids += [tokenizer.get_command("sep").id, *(t for p in parts for t in tokenizer.encode(p))]
    ids = ids[: max_seq_length - 1] + [tokenizer.eos_id]
    length = len(ids)
    return {
        "input_ids": np.asarray(ids, dtype=np.int64),
        "position_ids": np.stack([np.arange(length), np.zeros(length)]).astype(np.int64),
        "sep": length,
    }


def encode_classification(
    tokenizer, task: str, example: InputExample, labels: tuple[str, ...], max_seq_length: int
) -> dict[str, Any]:
    rows = [_row(tokenizer, a, b, max_seq_length) for a, b in classifier_texts(task, example)]
    if task in CHOICE_TASKS:
        sample = stack_rows(rows)
        label = labels.index(example.label) if task == "copa" and example.label else 0
        sample.update(label=label, num_choices=len(rows))
        return sample
    sample = rows[0]
    sample["label"] = labels.index(example.label) if example.label is not None else 0
    return sample
