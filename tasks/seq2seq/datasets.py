"""Building the encoded examples of each seq2seq task for a split (train, dev, test).

``TASK_INPUTS`` maps a task name to how its files are read and its sources laid out, which
mask token marks the span to generate, and how predictions are scored. Every encoder is
``(folder, split, tokenizer, tokens, lengths, config) -> list[EncodedExample]`` where ``split``
is the file name of the split (``val`` for CNN/DM's dev set, ``dev`` for SQuAD's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tasks.seq2seq.blanks import encode_blank_split, encode_extraction
from tasks.seq2seq.inputs import (
    EncodedExample,
    Seq2SeqTokens,
    customization_source,
    encode_single_span,
    summary_source,
)
from tasks.seq2seq.readers import (
    iter_squad,
    read_cnndm,
    read_cnndm_original,
    read_gigaword,
    read_source_target,
    read_xsum,
)
from tasks.seq2seq.squad import encode_cmrc, encode_question_generation, encode_squad


@dataclass(frozen=True)
class Lengths:
    src: int
    tgt: int


Encoder = Callable[[Path, str, object, Seq2SeqTokens, Lengths, object], list[EncodedExample]]


@dataclass(frozen=True)
class TaskInputs:
    encode: Encoder
    mask: str  # "task": [sMASK] with --task-mask; "gmask": [gMASK] with it; "plain": [MASK]
    scoring: str  # "rouge", "squad", "cmrc" or "blank"
    splits: tuple[str, str, str] = ("train", "val", "test")  # file names of train/dev/test


def _single_span(reader, build_source) -> Encoder:
    def encode(folder, split, tokenizer, tokens, lengths, config):
        examples = reader(folder, split)
        return encode_single_span(
            examples, tokenizer, tokens, lengths.src, lengths.tgt, build_source
        )

    return encode


def _squad(version: str, drop_unanswered_on_train: bool) -> Encoder:
    """SQuAD ``train-v{version}.json`` / ``dev-v{version}.json`` (test = dev)."""

    def encode(folder, split, tokenizer, tokens, lengths, config):
        name = f"{'train' if split == 'train' else 'dev'}-v{version}.json"
        drop = drop_unanswered_on_train and split == "train"
        questions = iter_squad(folder / name)
        return encode_squad(questions, tokenizer, tokens, lengths.src, lengths.tgt, drop)

    return encode


def _question_generation(folder, split, tokenizer, tokens, lengths, config):
    questions = iter_squad(folder / f"{split}.json")
    return encode_question_generation(questions, tokenizer, tokens, lengths.src, lengths.tgt)


def _cmrc(folder, split, tokenizer, tokens, lengths, config):
    """``train.json`` / ``dev.json`` (test = dev: CMRC's test answers are not public)."""
    questions = iter_squad(folder / f"{'train' if split == 'train' else 'dev'}.json")
    require = split != "test"
    return encode_cmrc(questions, tokenizer, tokens, lengths.src, lengths.tgt, require)


def _extraction(folder, split, tokenizer, tokens, lengths, config):
    examples = read_source_target(folder, split)
    pair = (lengths.src, lengths.tgt)
    return encode_extraction(examples, folder / f"{split}.source", tokenizer, tokens, pair)


def _blank(folder, split, tokenizer, tokens, lengths, config):
    ratio, pair = config.blank_maskratio, (lengths.src, lengths.tgt)
    return encode_blank_split(folder, split, ratio, config.run.seed, tokenizer, tokens, pair)


_JSON_SPLITS = ("train", "dev", "test")
_VALID_SPLITS = ("train", "valid", "test")

TASK_INPUTS: dict[str, TaskInputs] = {
    "cnn_dm": TaskInputs(_single_span(read_cnndm, summary_source), "task", "rouge"),
    "cnn_dm_original": TaskInputs(
        _single_span(read_cnndm_original, summary_source), "task", "rouge"
    ),
    "gigaword": TaskInputs(_single_span(read_gigaword, summary_source), "task", "rouge"),
    "xsum": TaskInputs(_single_span(read_xsum, summary_source), "task", "rouge"),
    "customization": TaskInputs(
        _single_span(read_source_target, customization_source), "task", "rouge"
    ),
    "squad_generation": TaskInputs(_question_generation, "task", "rouge", _JSON_SPLITS),
    "squad": TaskInputs(_squad("2.0", False), "task", "squad", _JSON_SPLITS),
    "squad_v1": TaskInputs(_squad("1.1", True), "task", "squad", _JSON_SPLITS),
    "cmrc": TaskInputs(_cmrc, "plain", "cmrc", _JSON_SPLITS),
    "extraction": TaskInputs(_extraction, "plain", "blank", _VALID_SPLITS),
    "blank": TaskInputs(_blank, "gmask", "blank", _VALID_SPLITS),
}


def mask_id(tokenizer, kind: str, task_mask: bool) -> int:
    if task_mask and kind == "task":
        return tokenizer.smask_id
    if task_mask and kind == "gmask":
        return tokenizer.gmask_id
    return tokenizer.mask_id
