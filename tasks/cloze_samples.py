"""Shared pieces of the task datasets: examples, the cloze input layout, and batch collation.

A sample is a dict of NumPy arrays and ints. Samples with a choice dimension (one row per
candidate answer, or per answer segment) hold every array as ``[R, ...]``; fast-decode samples
hold one context and per-row ``dec_*`` arrays. ``collate`` pads rows and lengths and returns a
batch of tensors (keys listed in ``collate``'s docstring).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class InputExample:
    """One task example as read from a data file (labels are strings, as in the files)."""

    guid: str
    text_a: str
    text_b: str | None = None
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    idx: Any = -1
    num_choices: int = 1
    origin: str = ""  # "file:line" it was read from, for error messages


def num_special_tokens(has_answer: bool) -> int:
    """``[CLS]`` + ``[eos]`` (+ the lone ``[sop]`` when no answer follows the context)."""
    return 2 + int(not has_answer)


def build_cloze_input(
    tokens_a: Sequence[int],
    tokens_b: Sequence[int] | None,
    answer: Sequence[int] | None,
    max_seq_length: int,
    tokenizer,
    block_position: bool = True,
    mask_id: int | None = None,
) -> dict[str, Any]:
    """The cloze layout of GLM finetuning::

        Part A = [CLS] A B [eos]                      (cut to max_len - 1 before the eos)
        Part B = [sop] answer[:-1]                    (only [sop] without an answer)
        positions: 0..sep-1, then the [MASK] position for every Part B token
        block positions: 0 for Part A, 1..|answer| for Part B (all 1 without block_position)
        target_ids / logit_mask: the answer tokens at Part B positions (single token: the sop)

    The mask position is that of the last ``mask_id`` (default ``[MASK]``) in Part A.
    """
    ids = [tokenizer.cls_id, *tokens_a, *(tokens_b or [])]
    if len(ids) >= max_seq_length - 1:
        ids = ids[: max_seq_length - 1]
    ids.append(tokenizer.eos_id)
    sep = len(ids)
    mask_id = tokenizer.mask_id if mask_id is None else mask_id
    if mask_id not in ids:
        raise ValueError(
            f"the pattern's [MASK] was cut off at --seq-length {max_seq_length}: "
            "raise --seq-length or mark more of the pattern shortenable"
        )
    mask_position = len(ids) - 1 - ids[::-1].index(mask_id)
    answer = list(answer) if answer else []
    part_b = [tokenizer.sop_id, *answer[:-1]]
    length = sep + len(part_b)
    positions = np.concatenate([np.arange(sep), np.full(len(part_b), mask_position)])
    if block_position:
        blocks = np.concatenate([np.zeros(sep), np.arange(1, len(part_b) + 1)])
    else:
        blocks = np.concatenate([np.zeros(sep), np.ones(len(part_b))])
    target_ids = np.zeros(length, dtype=np.int64)
    logit_mask = np.zeros(length, dtype=np.int64)
    if answer:
        target_ids[sep:] = answer
    logit_mask[sep:] = 1
    return {
        "input_ids": np.asarray(ids + part_b, dtype=np.int64),
        "position_ids": np.stack([positions, blocks]).astype(np.int64),
        "sep": sep,
        "target_ids": target_ids,
        "logit_mask": logit_mask,
    }


def stack_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Rows of one example (``build_cloze_input`` outputs) -> ``[R, ...]`` arrays, padded to
    the longest row."""
    length = max(len(r["input_ids"]) for r in rows)
    return {key: np.stack([_pad_last(np.asarray(r[key]), length) for r in rows]) for key in rows[0]}


def _pad_last(array: np.ndarray, length: int, value: int = 0) -> np.ndarray:
    if array.ndim == 0 or array.shape[-1] == length:
        return array
    width = [(0, 0)] * (array.ndim - 1) + [(0, length - array.shape[-1])]
    return np.pad(array, width, constant_values=value)


# Keys whose last axis is the sequence (padded to the longest in the batch with these values).
SEQUENCE_PAD = {
    "input_ids": 0,
    "position_ids": 0,
    "target_ids": 0,
    "logit_mask": 0,
    "loss_mask": 0,
    "dec_input_ids": 0,
    "dec_position_ids": 0,
    "dec_target_ids": 0,
    "dec_logit_mask": 0,
}


def _row_keys(sample: Mapping[str, Any]) -> list[str]:
    if "dec_input_ids" in sample:
        return [k for k in sample if k.startswith("dec_")]
    if np.ndim(sample["input_ids"]) == 2:
        return [k for k, v in sample.items() if isinstance(v, np.ndarray)]
    return []


def _pad_rows(sample: dict[str, Any], rows: int) -> dict[str, Any]:
    """Repeat row 0 until the sample has ``rows`` rows; add its ``row_mask``."""
    keys = _row_keys(sample)
    have = len(sample[keys[0]])
    out = dict(sample)
    for key in keys:
        extra = np.repeat(sample[key][:1], rows - have, axis=0)
        out[key] = np.concatenate([sample[key], extra]) if rows > have else sample[key]
    out["row_mask"] = (np.arange(rows) < have).astype(np.int64)
    return out


def collate(
    samples: Sequence[Mapping[str, Any]], pad_values: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """Batch samples: ``uid`` stays a list, sequence keys are padded to the batch's longest
    (``SEQUENCE_PAD``, overridable by ``pad_values``), everything else is stacked.

    Choice samples are padded to the batch's largest row count by repeating their first row;
    ``row_mask [b, R]`` marks real rows and ``choice_mask [b, C]`` real choices (from
    ``num_choices``; equal to ``row_mask`` unless answers are split into segments).
    Padding tokens only ever follow real ones inside Part B, so the causal mask keeps them
    out of every real position's attention.
    """
    pads = {**SEQUENCE_PAD, **(pad_values or {})}
    samples = [dict(s) for s in samples]
    uids = [s.pop("uid", None) for s in samples]
    if _row_keys(samples[0]):
        rows = max(len(s[_row_keys(s)[0]]) for s in samples)
        samples = [_pad_rows(s, rows) for s in samples]
        choices = max(int(s.get("num_choices", rows)) for s in samples)
        for s in samples:
            have = int(s.get("num_choices", s["row_mask"].sum()))
            s["choice_mask"] = (np.arange(choices) < have).astype(np.int64)
    batch: dict[str, Any] = {"uid": uids}
    for key in samples[0]:
        values = [np.asarray(s[key]) for s in samples]
        if key in pads:
            length = max(v.shape[-1] for v in values)
            values = [_pad_last(v, length, pads[key]) for v in values]
        batch[key] = torch.from_numpy(np.stack(values))
    return batch
