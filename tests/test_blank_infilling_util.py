"""Helpers shared by the blank-infilling tests (no tests here): read a batch row back.

`decode_row` splits one row of a `GLMBatch` into Part A and its Part-B blocks using only the
layout contract (sep, `[sop]` tokens, loss mask), independently of how the builder works;
`reconstruct` puts the blanks back; `check_row` asserts every layout invariant of spec §7.5.
"""

from dataclasses import dataclass

import numpy as np

from data_utils.blank_infilling.batch import GLMBatch
from data_utils.blank_infilling.spans import RaggedBatch
from data_utils.blank_infilling.token_spans import batch_regions


@dataclass
class Block:
    start: int  # index of the block's [sop] in the row
    slot: int  # Part-A index of the block's mask token
    inputs: np.ndarray
    targets: np.ndarray
    loss: np.ndarray
    positions: np.ndarray
    block_positions: np.ndarray
    suffix: bool  # gpt suffix: targets end with the text itself, not [eop]


@dataclass
class Row:
    tokens: np.ndarray  # the real (unpadded) part of every field
    targets: np.ndarray
    loss: np.ndarray
    positions: np.ndarray  # [2, L]
    sep: int
    blocks: list[Block]


def decode_row(batch: GLMBatch, i: int, sop_ids: set[int], eop_id: int) -> Row:
    """Row `i` of a 2-D-position batch, cut to its real length and split into blocks."""
    sep = int(batch.sep[i])
    loss = batch.loss_mask[i].numpy()
    length = sep + int((batch.position_ids[i, 1, sep:] > 0).sum())  # padding has block pos 0
    tokens = batch.tokens[i, :length].numpy()
    targets = batch.targets[i, :length].numpy()
    positions = batch.position_ids[i, :, :length].numpy()
    starts = [j for j in range(sep, length) if int(tokens[j]) in sop_ids]
    assert length == sep or starts[0] == sep, "Part B must start with a [sop]"
    blocks = []
    for a, b in zip(starts, [*starts[1:], length], strict=True):
        blocks.append(
            Block(
                start=a,
                slot=int(positions[0, a]),
                inputs=tokens[a:b],
                targets=targets[a:b],
                loss=loss[a:b],
                positions=positions[0, a:b],
                block_positions=positions[1, a:b],
                suffix=int(targets[b - 1]) != eop_id,
            )
        )
    return Row(tokens, targets, loss[:length], positions, sep, blocks)


def span_length(block: Block) -> int:
    return len(block.targets) if block.suffix else len(block.targets) - 1


def reconstruct(row: Row, offset: int = 0) -> np.ndarray:
    """Part A with every mask replaced by its block's tokens: the original sample."""
    fills = {b.slot - offset: b.targets[: span_length(b)] for b in row.blocks}
    part_a = row.tokens[: row.sep]
    pieces = [fills[j] if j in fills else part_a[j : j + 1] for j in range(row.sep)]
    return np.concatenate(pieces) if pieces else part_a


def spans_of(row: Row, offset: int = 0) -> list[tuple[int, int]]:
    """`(start, end)` in the original sample of each block, in Part-B order."""
    by_slot = sorted(row.blocks, key=lambda b: b.slot)
    start_of, shift = {}, 0
    for b in by_slot:
        start_of[b.slot] = b.slot - offset + shift
        shift += span_length(b) - 1
    return [(start_of[b.slot], start_of[b.slot] + span_length(b)) for b in row.blocks]


def check_row(
    row: Row,
    original: np.ndarray,
    mask_ids: set[int],
    eop_id: int,
    block_positions: bool = True,
    offset: int = 0,
) -> None:
    """Every layout invariant: reconstruction, positions, block positions, sep, loss mask."""
    np.testing.assert_array_equal(reconstruct(row, offset), original)
    assert row.sep == len(original) - sum(span_length(b) - 1 for b in row.blocks)
    np.testing.assert_array_equal(row.positions[0, : row.sep], np.arange(row.sep) + offset)
    assert not row.positions[1, : row.sep].any() and not row.loss[: row.sep].any()
    np.testing.assert_array_equal(row.targets[: row.sep], row.tokens[: row.sep])
    slots = [b.slot - offset for b in row.blocks]
    assert len(set(slots)) == len(slots), "two blocks share a mask"
    masks_in_a = np.flatnonzero(np.isin(row.tokens[: row.sep], list(mask_ids)))
    assert sorted(slots) == masks_in_a.tolist(), "masks in Part A and blocks disagree"
    for b in row.blocks:
        n = len(b.inputs)
        assert (b.positions == b.slot).all()
        expected = np.arange(1, n + 1) if block_positions else np.ones(n)
        np.testing.assert_array_equal(b.block_positions, expected)
        np.testing.assert_array_equal(b.inputs[1:], b.targets[:-1])
        if not b.suffix:
            assert b.targets[-1] == eop_id and (b.loss == 1).all()
    spans = np.array(sorted(spans_of(row, offset))).reshape(-1, 2)
    assert (spans[1:, 0] >= spans[:-1, 1]).all(), "spans overlap"


def document_regions(tokens: np.ndarray, eos_id: int, cls_id: int) -> np.ndarray:
    """`[d, 2]` maskable `(start, end)` of each document of one sample."""
    batch = RaggedBatch.from_samples([(tokens, np.ones_like(tokens))])
    return batch_regions(batch, eos_id, cls_id)[:, 1:]
