"""One GLM sample as numpy arrays (Part A, then Part B segments), and its batch collation.

Every generative task (LM windows, LAMBADA, seq2seq, blank infilling) feeds GLM the same way:
Part A (``sep`` tokens, bidirectional, positions ``0..sep-1``, block position 0) is followed
by one or more Part B segments, each ``[sop] + tokens`` at the position of its mask token with
block positions ``1..n``, predicting ``tokens + [eop]`` (or the next text tokens) causally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Segment:
    """One Part B span: what is fed, what is predicted, which targets count."""

    mask_position: int  # index of its mask token in Part A: the position of every span token
    input_ids: Sequence[int]  # [sop] + tokens[:-1]
    target_ids: Sequence[int]  # tokens (same length as input_ids)
    loss_mask: Sequence[int]  # 1 = scored target


@dataclass(frozen=True)
class GLMSample:
    input_ids: np.ndarray  # [L] int64
    position_ids: np.ndarray  # [2, L] int64: position, block position
    target_ids: np.ndarray  # [L] int64 (0 where nothing is predicted)
    loss_mask: np.ndarray  # [L] int64
    sep: int  # Part A length
    uid: int = 0
    pad_id: int = 0  # the token that pads this sample in a batch

    def __len__(self) -> int:
        return len(self.input_ids)


def build_sample(
    part_a: Sequence[int],
    segments: Sequence[Segment],
    pad_id: int,
    length: int | None = None,
    uid: int = 0,
) -> GLMSample:
    """Concatenate Part A and the segments, then right-pad to ``length`` (padding has
    positions 0, targets 0, loss 0; causal Part B never looks at it)."""
    ids, positions, blocks = list(part_a), list(range(len(part_a))), [0] * len(part_a)
    targets, loss = [0] * len(part_a), [0] * len(part_a)
    for seg in segments:
        if not len(seg.input_ids) == len(seg.target_ids) == len(seg.loss_mask):
            raise ValueError("a Part B segment needs as many inputs as targets and loss flags")
        ids += seg.input_ids
        positions += [seg.mask_position] * len(seg.input_ids)
        blocks += range(1, len(seg.input_ids) + 1)
        targets += seg.target_ids
        loss += seg.loss_mask
    if length is not None:
        if len(ids) > length:
            raise ValueError(f"a sample of {len(ids)} tokens does not fit in {length}")
        extra = length - len(ids)
        ids += [pad_id] * extra
        for column in (positions, blocks, targets, loss):
            column += [0] * extra
    return GLMSample(
        input_ids=np.asarray(ids, dtype=np.int64),
        position_ids=np.asarray([positions, blocks], dtype=np.int64),
        target_ids=np.asarray(targets, dtype=np.int64),
        loss_mask=np.asarray(loss, dtype=np.int64),
        sep=len(part_a),
        uid=uid,
        pad_id=pad_id,
    )


def collate_samples(samples: Sequence[GLMSample], pad_id: int | None = None) -> dict:
    """Tensors ``input_ids/target_ids/loss_mask [b, L]``, ``position_ids [b, 2, L]``,
    ``sep [b]`` and the ``uid`` list; shorter samples are right-padded to the longest (with
    ``pad_id``, default the first sample's)."""
    pad_id = samples[0].pad_id if pad_id is None else pad_id
    width = max(len(s) for s in samples)
    b = len(samples)
    input_ids = np.full((b, width), pad_id, dtype=np.int64)
    position_ids = np.zeros((b, 2, width), dtype=np.int64)
    target_ids = np.zeros((b, width), dtype=np.int64)
    loss_mask = np.zeros((b, width), dtype=np.int64)
    for row, s in enumerate(samples):
        n = len(s)
        input_ids[row, :n] = s.input_ids
        position_ids[row, :, :n] = s.position_ids
        target_ids[row, :n] = s.target_ids
        loss_mask[row, :n] = s.loss_mask
    return {
        "input_ids": torch.from_numpy(input_ids),
        "position_ids": torch.from_numpy(position_ids),
        "target_ids": torch.from_numpy(target_ids),
        "loss_mask": torch.from_numpy(loss_mask),
        "sep": torch.tensor([s.sep for s in samples], dtype=torch.long),
        "uid": [s.uid for s in samples],
    }
